"""What a fault rule is: its match, its schedule fields, its action, and how a request matches.

Pure (no mitmproxy imports): frozen dataclasses and enums that rules.py builds from the user's
YAML once, at load time, and that the schedule and the fault addons act on.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, fields
from fnmatch import fnmatchcase
from typing import Any, ClassVar, Final

from .directions import Direction, Toward
from .matching import MessageMatch
from .steps import Step

#: Body of an ``html`` action that does not give one: what a captive portal serves.
CAPTIVE_PORTAL_HTML: Final = """\
<!DOCTYPE html>
<html>
<head><title>Sign in to Guest Wi-Fi</title></head>
<body>
<h1>Welcome to Guest Wi-Fi</h1>
<p>Please accept the terms of use to continue.</p>
<form method="post" action="/login"><button type="submit">Accept and connect</button></form>
</body>
</html>
"""


class Phase(enum.Enum):
    """Which part of a connection an action disturbs; the addon hooks each phase separately."""

    #: The HTTP upgrade request, before any ``101 Switching Protocols`` is sent.
    HANDSHAKE = "handshake"
    #: The established WebSocket, after the ``101``.
    CONNECTION = "connection"


class Scheme(enum.StrEnum):
    """URL scheme of the WebSocket request."""

    #: Plain-text WebSocket.
    WS = "ws"
    #: WebSocket over TLS.
    WSS = "wss"


class Per(enum.StrEnum):
    """Scope of a rule's schedule state (attempt and hit counters, active faults, random stream)."""

    #: One state shared by every client.
    GLOBAL = "global"
    #: An independent state per client IP address.
    CLIENT = "client"


class MessageType(enum.StrEnum):
    """Which WebSocket message types a ``messages`` action applies to."""

    #: Text messages only.
    TEXT = "text"
    #: Binary messages only.
    BINARY = "binary"
    #: Text and binary messages.
    ANY = "any"


class MessageOp(enum.StrEnum):
    """What a ``messages`` action does to a selected message."""

    #: Swallow the message.
    DROP = "drop"
    #: Forward the message after ``delay_ms``.
    DELAY = "delay"
    #: Forward the message twice.
    DUPLICATE = "duplicate"
    #: Forward only the first ``truncate_to`` bytes (of a text, whole UTF-8 characters only).
    TRUNCATE = "truncate"
    #: Forward the message with one byte in 64 flipped (a text arrives as invalid UTF-8).
    CORRUPT = "corrupt"


class PongOp(enum.StrEnum):
    """What a ``pongs`` action does to pong frames."""

    #: Swallow pongs, so the peer's heartbeat times out.
    SUPPRESS = "suppress"
    #: Forward pongs after ``delay_ms``.
    DELAY = "delay"


class Bad101Defect(enum.StrEnum):
    """How a ``bad_101`` action breaks the ``101 Switching Protocols`` response."""

    #: ``Sec-WebSocket-Accept`` does not match the request's key.
    WRONG_ACCEPT = "wrong_accept"
    #: No ``Upgrade: websocket`` header.
    MISSING_UPGRADE = "missing_upgrade"
    #: No ``Connection: Upgrade`` header.
    MISSING_CONNECTION = "missing_connection"
    #: A ``Sec-WebSocket-Protocol`` the client did not offer.
    UNREQUESTED_SUBPROTOCOL = "unrequested_subprotocol"


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Match:
    """Which upgrade requests a rule applies to: every field that is set must match.

    ``path_glob``/``path_regex`` and ``client``/``client_network`` are the two readings of
    the YAML ``path`` and ``client`` fields; at most one of each pair drives matching.
    """

    host: str | None = None
    path_glob: str | None = None
    path_regex: re.Pattern[str] | None = None
    scheme: Scheme | None = None
    client: str | None = None
    client_network: Network | None = None
    headers: tuple[tuple[str, str], ...] = ()
    subprotocol: str | None = None


@dataclass(frozen=True, slots=True)
class Window:
    """Seconds since session start during which a rule may fire: ``[start_s, end_s)``."""

    start_s: float | None = None
    end_s: float | None = None

    def contains(self, elapsed_s: float) -> bool:
        """Whether *elapsed_s* lies inside the window (an omitted bound is open)."""
        return (self.start_s is None or elapsed_s >= self.start_s) and (
            self.end_s is None or elapsed_s < self.end_s
        )


@dataclass(frozen=True, slots=True)
class When:
    """Conditions on a matching attempt, all of which must hold for the rule to fire.

    ``seed`` is kept as written; :attr:`Rule.seed` holds the value actually used.
    ``at_s`` (``close`` and ``drop`` only) makes the rule a moment of the session instead:
    at ``at_s`` seconds it strikes every open connection it matches, once; each of them
    counts as one attempt for ``probability``, ``times`` and ``per``, the only conditions
    it combines with (:data:`AT_S_COMBINES_WITH`).
    """

    probability: float | None = None
    seed: int | None = None
    first: int | None = None
    after: int | None = None
    every: int | None = None
    times: int | None = None
    window: Window | None = None
    per: Per = Per.GLOBAL
    max_active: int | None = None
    at_s: float | None = None


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """What :func:`matches` needs to know about an upgrade request, as plain data.

    Header names are lowercase; ``path`` may carry a query string, which is ignored.
    """

    host: str
    path: str
    scheme: str
    client_ip: str
    headers: tuple[tuple[str, str], ...]
    subprotocols: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """Shared behaviour of the action specs; the YAML parameter names are the field names."""

    kind: ClassVar[str]
    phase: ClassVar[Phase]

    def params(self) -> dict[str, Any]:
        """The parameters as JSON-able data, for logs and runtime-control output."""
        return {spec.name: _plain(getattr(self, spec.name)) for spec in fields(self)}


@dataclass(frozen=True, slots=True)
class Reject(ActionSpec):
    """Answer the upgrade with a plain HTTP response instead of ``101``.

    An empty ``reason`` lets the addon use the standard phrase for ``status``;
    ``preset`` only records which preset supplied the defaults.
    """

    kind: ClassVar[str] = "reject"
    phase: ClassVar[Phase] = Phase.HANDSHAKE
    status: int
    reason: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    body: str = ""
    preset: str | None = None


@dataclass(frozen=True, slots=True)
class Delay(ActionSpec):
    """Hold the upgrade request for ``ms`` (plus up to ``jitter_ms``), then let it pass."""

    kind: ClassVar[str] = "delay"
    phase: ClassVar[Phase] = Phase.HANDSHAKE
    ms: int
    jitter_ms: int = 0


@dataclass(frozen=True, slots=True)
class Hang(ActionSpec):
    """Never answer the upgrade; close the connection after ``max_s`` if given."""

    kind: ClassVar[str] = "hang"
    phase: ClassVar[Phase] = Phase.HANDSHAKE
    max_s: float | None = None


@dataclass(frozen=True, slots=True)
class Reset(ActionSpec):
    """Reset the TCP connection before answering the upgrade."""

    kind: ClassVar[str] = "reset"
    phase: ClassVar[Phase] = Phase.HANDSHAKE


@dataclass(frozen=True, slots=True)
class CloseBeforeAnswer(ActionSpec):
    """Close the connection cleanly before answering the upgrade."""

    kind: ClassVar[str] = "close_before_answer"
    phase: ClassVar[Phase] = Phase.HANDSHAKE


@dataclass(frozen=True, slots=True)
class Bad101(ActionSpec):
    """Answer ``101`` with a defect a strict client must refuse.

    ``subprotocol`` is set only for the ``unrequested_subprotocol`` defect.
    """

    kind: ClassVar[str] = "bad_101"
    phase: ClassVar[Phase] = Phase.HANDSHAKE
    defect: Bad101Defect
    subprotocol: str | None = None


@dataclass(frozen=True, slots=True)
class Html(ActionSpec):
    """Answer the upgrade with an HTML page, like a captive portal or a misrouted proxy."""

    kind: ClassVar[str] = "html"
    phase: ClassVar[Phase] = Phase.HANDSHAKE
    status: int = 200
    body: str = CAPTIVE_PORTAL_HTML


@dataclass(frozen=True, slots=True)
class Redirect(ActionSpec):
    """Answer the upgrade with an HTTP redirect to ``location``."""

    kind: ClassVar[str] = "redirect"
    phase: ClassVar[Phase] = Phase.HANDSHAKE
    location: str
    status: int = 302


@dataclass(frozen=True, slots=True)
class Close(ActionSpec):
    """Send a close frame once ``after_messages`` or ``after_s`` is reached, whichever is first."""

    kind: ClassVar[str] = "close"
    phase: ClassVar[Phase] = Phase.CONNECTION
    code: int = 1000
    reason: str = ""
    after_messages: int | None = None
    after_s: float | None = None
    toward: Toward = Toward.BOTH


@dataclass(frozen=True, slots=True)
class Drop(ActionSpec):
    """Drop the TCP connection without a close frame once the trigger is reached."""

    kind: ClassVar[str] = "drop"
    phase: ClassVar[Phase] = Phase.CONNECTION
    after_messages: int | None = None
    after_s: float | None = None


@dataclass(frozen=True, slots=True)
class Stall(ActionSpec):
    """Stop forwarding in ``direction`` for ``for_s`` seconds, or forever when omitted.

    Without a trigger the stall starts as soon as the WebSocket is established.
    """

    kind: ClassVar[str] = "stall"
    phase: ClassVar[Phase] = Phase.CONNECTION
    direction: Direction
    after_messages: int | None = None
    after_s: float | None = None
    for_s: float | None = None


@dataclass(frozen=True, slots=True)
class MessageFault(ActionSpec):
    """Disturb individual messages selected by direction, type, ``pattern`` and ``probability``.

    ``pattern`` is searched in the message content; binary content is decoded as latin-1.
    ``match`` selects as a script's ``wait.message`` does (substring, regex, JSON subset,
    binary length); both may be given, and both must hold.
    ``delay_ms`` is set only for ``do: delay`` and ``truncate_to`` only for ``do: truncate``.
    """

    kind: ClassVar[str] = "messages"
    phase: ClassVar[Phase] = Phase.CONNECTION
    do: MessageOp
    direction: Direction = Direction.BOTH
    type: MessageType = MessageType.ANY
    pattern: re.Pattern[str] | None = None
    match: MessageMatch | None = None
    probability: float = 1.0
    delay_ms: int | None = None
    truncate_to: int | None = None


@dataclass(frozen=True, slots=True)
class PongFault(ActionSpec):
    """Suppress or delay pong frames, to exercise heartbeat timeouts."""

    kind: ClassVar[str] = "pongs"
    phase: ClassVar[Phase] = Phase.CONNECTION
    do: PongOp
    delay_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Throttle(ActionSpec):
    """Limit forwarding in ``direction`` to ``bytes_per_s``."""

    kind: ClassVar[str] = "throttle"
    phase: ClassVar[Phase] = Phase.CONNECTION
    bytes_per_s: int
    direction: Direction = Direction.BOTH


@dataclass(frozen=True, slots=True)
class Script(ActionSpec):
    """Run `steps` on each matching connection; `presets` names the presets expanded in them."""

    kind: ClassVar[str] = "script"
    phase: ClassVar[Phase] = Phase.CONNECTION
    steps: tuple[Step, ...]
    presets: tuple[str, ...] = ()

    def params(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"steps": [step.describe() for step in self.steps]}
        if self.presets:
            shown["presets"] = list(self.presets)
        return shown


HandshakeAction = Reject | Delay | Hang | Reset | CloseBeforeAnswer | Bad101 | Html | Redirect
ConnectionAction = Close | Drop | Stall | MessageFault | PongFault | Throttle | Script
Action = HandshakeAction | ConnectionAction

#: Actions a ``when.at_s`` moment can apply: the ones that end a connection.
MOMENT_ACTIONS: Final = (Close, Drop)

#: ``when`` fields that keep a meaning at a moment: they pick which open connections it strikes.
AT_S_COMBINES_WITH: Final = ("probability", "seed", "times", "per")


@dataclass(frozen=True, slots=True)
class Rule:
    """One validated fault rule; ``seed`` is resolved from ``when.seed``, the file seed or 0."""

    id: str
    description: str
    enabled: bool
    match: Match
    when: When
    action: Action
    source: str
    seed: int


def matches(match: Match, facts: RequestFacts) -> bool:
    """Whether every field set in *match* agrees with *facts* (unset fields match anything).

    Host globs ignore case; path, header-value and subprotocol globs do not.
    Globs are :mod:`fnmatch` patterns, so ``*`` also matches ``/``.
    """
    path = facts.path.partition("?")[0]
    return (
        (match.host is None or fnmatchcase(facts.host.lower(), match.host))
        and (match.path_glob is None or fnmatchcase(path, match.path_glob))
        and (match.path_regex is None or match.path_regex.search(path) is not None)
        and (match.scheme is None or facts.scheme.lower() == match.scheme)
        and _client_matches(match, facts.client_ip)
        and all(_header_matches(facts.headers, name, glob) for name, glob in match.headers)
        and (
            match.subprotocol is None
            or any(fnmatchcase(offered, match.subprotocol) for offered in facts.subprotocols)
        )
    )


def _client_matches(match: Match, client_ip: str) -> bool:
    """Compare the client address, unwrapping IPv4-mapped IPv6 as dual-stack listeners report it."""
    if match.client is None:
        return True
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return match.client_network is None and fnmatchcase(client_ip, match.client)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if match.client_network is not None:
        return address in match.client_network
    return fnmatchcase(str(address), match.client)


def _header_matches(headers: Iterable[tuple[str, str]], name: str, glob: str) -> bool:
    """Whether any value of header *name* (repeated headers included) matches *glob*."""
    return any(key.lower() == name and fnmatchcase(value, glob) for key, value in headers)


def _plain(value: object) -> Any:
    """JSON-able form of a spec value (enums by value, regexes by source, tuples as lists)."""
    match value:
        case MessageMatch():
            return value.describe()
        case enum.Enum():
            return value.value
        case re.Pattern():
            return value.pattern
        case tuple():
            return [_plain(item) for item in value]
        case _:
            return value
