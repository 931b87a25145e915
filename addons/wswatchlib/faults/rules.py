"""Fault rules: parse wswatch fault-injection YAML into validated, immutable specs.

This module is pure (no mitmproxy imports). User-written rule files become frozen
dataclasses once, at load time, so the addon only ever handles values that are
known to be valid, and a typo is reported with the file, the rule and the dotted
field instead of surfacing as a broken connection later.
"""

from __future__ import annotations

import enum
import ipaddress
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, ClassVar, Final

from ..options.config_fields import (
    REQUIRED,
    Check,
    ConfigFileError,
    FieldError,
    Fields,
    at_least,
    boolean,
    choice,
    integer,
    locate,
    nonempty,
    number,
    parse_yaml,
    read_text,
    regex,
    show,
    string,
)

#: Preset file shipped with wswatch: ``<repo>/config/faults/presets.yaml``.
DEFAULT_PRESETS_PATH: Final = (
    Path(__file__).absolute().parents[3] / "config" / "faults" / "presets.yaml"
)

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

_ID_PATTERN: Final = re.compile(r"[a-z0-9][a-z0-9._-]*")


class FaultRulesError(ValueError):
    """A rules or presets file is unreadable or invalid; the message locates the problem."""


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


class Direction(enum.StrEnum):
    """Which message flow of a WebSocket an action disturbs."""

    #: Messages sent by the client toward the server.
    CLIENT_TO_SERVER = "client_to_server"
    #: Messages sent by the server toward the client.
    SERVER_TO_CLIENT = "server_to_client"
    #: Messages in both directions.
    BOTH = "both"


class Toward(enum.StrEnum):
    """Which peer(s) a ``close`` action sends its close frame to."""

    #: Only the client gets the close frame.
    CLIENT = "client"
    #: Only the server gets the close frame.
    SERVER = "server"
    #: Both peers get the close frame.
    BOTH = "both"


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
class _Action:
    """Shared behaviour of the action specs; the YAML parameter names are the field names."""

    kind: ClassVar[str]
    phase: ClassVar[Phase]

    def params(self) -> dict[str, Any]:
        """The parameters as JSON-able data, for logs and runtime-control output."""
        return {spec.name: _plain(getattr(self, spec.name)) for spec in fields(self)}


@dataclass(frozen=True, slots=True)
class Reject(_Action):
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
class Delay(_Action):
    """Hold the upgrade request for ``ms`` (plus up to ``jitter_ms``), then let it pass."""

    kind: ClassVar[str] = "delay"
    phase: ClassVar[Phase] = Phase.HANDSHAKE
    ms: int
    jitter_ms: int = 0


@dataclass(frozen=True, slots=True)
class Hang(_Action):
    """Never answer the upgrade; close the connection after ``max_s`` if given."""

    kind: ClassVar[str] = "hang"
    phase: ClassVar[Phase] = Phase.HANDSHAKE
    max_s: float | None = None


@dataclass(frozen=True, slots=True)
class Reset(_Action):
    """Reset the TCP connection before answering the upgrade."""

    kind: ClassVar[str] = "reset"
    phase: ClassVar[Phase] = Phase.HANDSHAKE


@dataclass(frozen=True, slots=True)
class CloseBeforeAnswer(_Action):
    """Close the connection cleanly before answering the upgrade."""

    kind: ClassVar[str] = "close_before_answer"
    phase: ClassVar[Phase] = Phase.HANDSHAKE


@dataclass(frozen=True, slots=True)
class Bad101(_Action):
    """Answer ``101`` with a defect a strict client must refuse.

    ``subprotocol`` is set only for the ``unrequested_subprotocol`` defect.
    """

    kind: ClassVar[str] = "bad_101"
    phase: ClassVar[Phase] = Phase.HANDSHAKE
    defect: Bad101Defect
    subprotocol: str | None = None


@dataclass(frozen=True, slots=True)
class Html(_Action):
    """Answer the upgrade with an HTML page, like a captive portal or a misrouted proxy."""

    kind: ClassVar[str] = "html"
    phase: ClassVar[Phase] = Phase.HANDSHAKE
    status: int = 200
    body: str = CAPTIVE_PORTAL_HTML


@dataclass(frozen=True, slots=True)
class Redirect(_Action):
    """Answer the upgrade with an HTTP redirect to ``location``."""

    kind: ClassVar[str] = "redirect"
    phase: ClassVar[Phase] = Phase.HANDSHAKE
    location: str
    status: int = 302


@dataclass(frozen=True, slots=True)
class Close(_Action):
    """Send a close frame once ``after_messages`` or ``after_s`` is reached, whichever is first."""

    kind: ClassVar[str] = "close"
    phase: ClassVar[Phase] = Phase.CONNECTION
    code: int = 1000
    reason: str = ""
    after_messages: int | None = None
    after_s: float | None = None
    toward: Toward = Toward.BOTH


@dataclass(frozen=True, slots=True)
class Drop(_Action):
    """Drop the TCP connection without a close frame once the trigger is reached."""

    kind: ClassVar[str] = "drop"
    phase: ClassVar[Phase] = Phase.CONNECTION
    after_messages: int | None = None
    after_s: float | None = None


@dataclass(frozen=True, slots=True)
class Stall(_Action):
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
class MessageFault(_Action):
    """Disturb individual messages selected by direction, type, ``pattern`` and ``probability``.

    ``pattern`` is searched in the message content; binary content is decoded as latin-1.
    ``delay_ms`` is set only for ``do: delay`` and ``truncate_to`` only for ``do: truncate``.
    """

    kind: ClassVar[str] = "messages"
    phase: ClassVar[Phase] = Phase.CONNECTION
    do: MessageOp
    direction: Direction = Direction.BOTH
    type: MessageType = MessageType.ANY
    pattern: re.Pattern[str] | None = None
    probability: float = 1.0
    delay_ms: int | None = None
    truncate_to: int | None = None


@dataclass(frozen=True, slots=True)
class PongFault(_Action):
    """Suppress or delay pong frames, to exercise heartbeat timeouts."""

    kind: ClassVar[str] = "pongs"
    phase: ClassVar[Phase] = Phase.CONNECTION
    do: PongOp
    delay_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Throttle(_Action):
    """Limit forwarding in ``direction`` to ``bytes_per_s``."""

    kind: ClassVar[str] = "throttle"
    phase: ClassVar[Phase] = Phase.CONNECTION
    bytes_per_s: int
    direction: Direction = Direction.BOTH


HandshakeAction = Reject | Delay | Hang | Reset | CloseBeforeAnswer | Bad101 | Html | Redirect
ConnectionAction = Close | Drop | Stall | MessageFault | PongFault | Throttle
Action = HandshakeAction | ConnectionAction

#: Actions a ``when.at_s`` moment can apply: the ones that end a connection.
MOMENT_ACTIONS: Final = (Close, Drop)

#: ``when`` fields that keep a meaning at a moment: they pick which open connections it strikes.
AT_S_COMBINES_WITH: Final = ("probability", "seed", "times", "per")

#: The close code that means "no close frame": a ``drop`` (RFC 6455 section 7.4.1).
NO_FRAME_CODE: Final = 1006


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


def parse_rules_text(text: str, path: str, presets: Mapping[str, Mapping]) -> list[Rule]:
    """Parse one rules document; *path* is only used in messages and :attr:`Rule.source`."""
    return _parse_rules(text, path, presets, {})


def parse_action(value: object, where: str, presets: Mapping[str, Mapping]) -> Action:
    """One action mapping on its own (a client's fault header); errors start with *where*."""
    try:
        return _action(value, presets)
    except ValueError as e:
        raise FaultRulesError(locate(where, error=e)) from None


def disconnect_action(code: int, reason: str = "") -> Close | Drop:
    """The action that ends a connection at once with *code*: a ``drop`` for 1006 (no close
    frame), else a ``close`` whose code and reason are checked as ``close.code``/``close.reason``.
    """
    if code == NO_FRAME_CODE:
        if reason:
            raise FieldError("reason", f"not allowed with code {NO_FRAME_CODE} (no close frame)")
        return Drop()
    if not _sendable(code):
        raise FieldError(
            "code", f"must be {NO_FRAME_CODE} (drop) or {_SENDABLE_CLOSE_CODES_TEXT}, got {code}"
        )
    try:
        return Close(code=code, reason=_close_reason(reason))
    except ValueError as e:
        raise FieldError("reason", str(e)) from None


def load_rule_files(
    paths: Sequence[str | os.PathLike[str]],
    presets: Mapping[str, Mapping] | None = None,
) -> list[Rule]:
    """Load rule files in order; ids must be unique across all of them.

    *presets* defaults to the shipped :data:`DEFAULT_PRESETS_PATH`.
    """
    if presets is None:
        presets = load_presets(DEFAULT_PRESETS_PATH)
    first_seen: dict[str, str] = {}
    return [
        rule
        for path in paths
        for rule in _parse_rules(_read(path), os.fspath(path), presets, first_seen)
    ]


def load_presets(
    path: str | os.PathLike[str] = DEFAULT_PRESETS_PATH,
) -> dict[str, dict[str, Any]]:
    """Load a presets file: a mapping of preset name to ``reject`` defaults.

    Values are validated like ``reject`` parameters; headers come back as a plain dict.
    """
    where = os.fspath(path)
    document = _load_yaml(_read(path), where)
    if not isinstance(document, Mapping):
        raise FaultRulesError(f"{where}: top level must be a mapping of preset names to presets")
    presets: dict[str, dict[str, Any]] = {}
    for name, raw in document.items():
        try:
            presets[_identifier(name)] = _preset(raw)
        except ValueError as e:
            raise FaultRulesError(locate(where, f"preset {show(name)}", error=e)) from None
    return presets


def _read(path: str | os.PathLike[str]) -> str:
    """File text, with I/O and encoding failures turned into :class:`FaultRulesError`."""
    try:
        return read_text(path)
    except ConfigFileError as e:
        raise FaultRulesError(str(e)) from e


def _load_yaml(text: str, path: str) -> Any:
    """One YAML document, with parse failures turned into :class:`FaultRulesError`."""
    try:
        return parse_yaml(text, path)
    except ConfigFileError as e:
        raise FaultRulesError(str(e)) from e


_TOP_LEVEL_FIELDS: Final = ("rules", "seed")
_RULE_FIELDS: Final = ("id", "description", "enabled", "match", "when", "action")
_MATCH_FIELDS: Final = ("host", "path", "scheme", "client", "headers", "subprotocol")
_WHEN_FIELDS: Final = (
    "probability",
    "seed",
    "first",
    "after",
    "every",
    "times",
    "window",
    "per",
    "max_active",
    "at_s",
)
_WINDOW_FIELDS: Final = ("start_s", "end_s")
_PRESET_FIELDS: Final = ("status", "reason", "headers", "body")


def _parse_rules(
    text: str, path: str, presets: Mapping[str, Mapping], first_seen: dict[str, str]
) -> list[Rule]:
    """Parse one document, claiming ids in *first_seen* (id -> file) to catch duplicates."""
    document = _load_yaml(text, path)
    if isinstance(document, Mapping):
        unknown = [key for key in document if key not in _TOP_LEVEL_FIELDS]
        if unknown:
            raise FaultRulesError(
                f"{path}: unknown top-level field {show(unknown[0])}"
                f" (expected: {', '.join(_TOP_LEVEL_FIELDS)})"
            )
    if not isinstance(document, Mapping) or not isinstance(document.get("rules"), list):
        raise FaultRulesError(f"{path}: top level must be a mapping with a 'rules' list")
    try:
        file_seed = integer(document.get("seed", 0))
    except ValueError as e:
        raise FaultRulesError(f"{path}: seed: {e}") from None
    rules = []
    for index, entry in enumerate(document["rules"], start=1):
        try:
            rule = _rule(entry, path, file_seed, presets)
            if rule.id in first_seen:
                other = first_seen[rule.id]
                raise FieldError("id", f"duplicate rule id (first defined in {other})")
        except ValueError as e:
            raise FaultRulesError(
                locate(path, f"rule {_rule_label(entry, index)}", error=e)
            ) from None
        first_seen[rule.id] = path
        rules.append(rule)
    return rules


def _rule_label(entry: object, index: int) -> str:
    """``'the-id'`` when the entry has a valid id, else its 1-based position ``#n``."""
    rule_id = entry.get("id") if isinstance(entry, Mapping) else None
    if isinstance(rule_id, str) and _ID_PATTERN.fullmatch(rule_id):
        return repr(rule_id)
    return f"#{index}"


def _rule(entry: object, path: str, file_seed: int, presets: Mapping[str, Mapping]) -> Rule:
    """Build a :class:`Rule` from one entry of the ``rules`` list."""
    spec = Fields(entry, _RULE_FIELDS)
    rule_id = spec.require("id", _identifier)
    description = spec.get("description", string, default="")
    enabled = spec.get("enabled", boolean, default=True)
    match = spec.get("match", _match, default=Match())
    when = spec.get("when", _when, default=When())
    at_moment = when.at_s is not None
    action = spec.require("action", lambda value: _action(value, presets, at_moment=at_moment))
    if at_moment and not isinstance(action, MOMENT_ACTIONS):
        raise FieldError(
            "when.at_s", f"only allowed when the action is close or drop, got {action.kind}"
        )
    return Rule(
        id=rule_id,
        description=description,
        enabled=enabled,
        match=match,
        when=when,
        action=action,
        source=path,
        seed=file_seed if when.seed is None else when.seed,
    )


def _plain(value: object) -> Any:
    """JSON-able form of a spec value (enums by value, regexes by source, tuples as lists)."""
    match value:
        case enum.Enum():
            return value.value
        case re.Pattern():
            return value.pattern
        case tuple():
            return [_plain(item) for item in value]
        case _:
            return value


_COUNT: Final = at_least(0)
_POSITIVE_COUNT: Final = at_least(1)


def _seconds(value: object) -> float:
    """A duration or instant in seconds, zero allowed."""
    amount = number(value)
    if amount < 0:
        raise ValueError(f"must be >= 0, got {show(value)}")
    return amount


def _positive_seconds(value: object) -> float:
    """A duration in seconds that must not be zero."""
    amount = number(value)
    if amount <= 0:
        raise ValueError(f"must be > 0, got {show(value)}")
    return amount


def _probability(value: object) -> float:
    """A probability; 0 is refused because such a rule could never fire."""
    amount = number(value)
    if not 0 < amount <= 1:
        raise ValueError(f"must be > 0 and <= 1, got {show(value)}")
    return amount


def _header_text(value: object) -> str:
    """A string safe to put in an HTTP head: CR or LF would split the response."""
    text = string(value)
    if "\r" in text or "\n" in text:
        raise ValueError("must not contain CR or LF")
    return text


def _header_map(value: object) -> tuple[tuple[str, str], ...]:
    """``{name: value}`` pairs for HTTP headers, in the order written."""
    if not isinstance(value, Mapping):
        raise ValueError(f"must be a mapping, got {show(value)}")
    pairs = []
    for name, text in value.items():
        try:
            checked_name = nonempty(_header_text(name))
        except ValueError as e:
            raise ValueError(f"invalid header name {show(name)}: {e}") from None
        try:
            pairs.append((checked_name, _header_text(text)))
        except ValueError as e:
            raise FieldError(checked_name, str(e)) from None
    return tuple(pairs)


def _identifier(value: object) -> str:
    """A rule id or preset name: lowercase, usable on command lines and in logs unquoted."""
    text = string(value)
    if not _ID_PATTERN.fullmatch(text):
        raise ValueError(f"must match {_ID_PATTERN.pattern}, got {text!r}")
    return text


def _http_status(value: object) -> int:
    """A final HTTP status; 101 is refused because it would complete the upgrade."""
    status = integer(value)
    if not 100 <= status <= 599 or status == 101:
        raise ValueError(f"must be between 100 and 599 (not 101), got {status}")
    return status


_REDIRECT_STATUSES: Final = (301, 302, 303, 307, 308)


def _redirect_status(value: object) -> int:
    """An HTTP status that carries a ``Location``."""
    status = integer(value)
    if status not in _REDIRECT_STATUSES:
        raise ValueError(f"must be one of: {', '.join(map(str, _REDIRECT_STATUSES))}, got {status}")
    return status


_SENDABLE_CLOSE_CODES: Final = (range(1000, 1004), range(1007, 1015), range(3000, 5000))
#: ``1000-1003, 1007-1014 or 3000-4999``, for messages.
_SENDABLE_CLOSE_CODES_TEXT: Final = " or ".join(
    (
        ", ".join(f"{codes.start}-{codes.stop - 1}" for codes in _SENDABLE_CLOSE_CODES[:-1]),
        f"{_SENDABLE_CLOSE_CODES[-1].start}-{_SENDABLE_CLOSE_CODES[-1].stop - 1}",
    )
)


def _sendable(code: int) -> bool:
    """Whether an endpoint may send *code* (RFC 6455 section 7.4, IANA registry)."""
    return any(code in codes for codes in _SENDABLE_CLOSE_CODES)


def _close_code(value: object) -> int:
    """A close code an endpoint may send."""
    code = integer(value)
    if not _sendable(code):
        raise ValueError(
            f"must be {_SENDABLE_CLOSE_CODES_TEXT}"
            f" (1004-1006, 1015 and 1016-2999 are reserved), got {code}"
        )
    return code


def _close_reason(value: object) -> str:
    """A close reason that fits a control frame: 125 payload bytes minus the 2-byte code."""
    reason = string(value)
    size = len(reason.encode("utf-8"))
    if size > 123:
        raise ValueError(f"must be at most 123 UTF-8 bytes, got {size}")
    return reason


def _path(value: object) -> tuple[str | None, re.Pattern[str] | None]:
    """``(glob, None)``, or ``(None, regex)`` for values written ``re:<regex>``."""
    text = nonempty(value)
    if text.startswith("re:"):
        return None, regex(text.removeprefix("re:"))
    return text, None


def _client(value: object) -> tuple[str, Network | None]:
    """``(text, network)`` for a CIDR such as ``10.0.0.0/8``, ``(glob, None)`` otherwise."""
    text = nonempty(value)
    if "/" not in text:
        return text, None
    try:
        return text, ipaddress.ip_network(text)
    except ValueError as e:
        raise ValueError(f"invalid CIDR network: {e}") from None


def _match(value: object) -> Match:
    """Host globs and header names are lowercased here, once, so matching compares directly."""
    spec = Fields(value, _MATCH_FIELDS)
    host = spec.get("host", nonempty)
    path_glob, path_regex = spec.get("path", _path, default=(None, None))
    client, client_network = spec.get("client", _client, default=(None, None))
    headers = spec.get("headers", _header_map, default=())
    return Match(
        host=None if host is None else host.lower(),
        path_glob=path_glob,
        path_regex=path_regex,
        scheme=spec.get("scheme", choice(Scheme)),
        client=client,
        client_network=client_network,
        headers=tuple((name.lower(), glob) for name, glob in headers),
        subprotocol=spec.get("subprotocol", nonempty),
    )


def _window(value: object) -> Window:
    """An empty or inverted window is refused: it would silently never (or always) fire."""
    spec = Fields(value, _WINDOW_FIELDS)
    window = Window(start_s=spec.get("start_s", _seconds), end_s=spec.get("end_s", _seconds))
    if window.start_s is None and window.end_s is None:
        raise ValueError("missing required field (one of start_s, end_s)")
    start_s, end_s = window.start_s, window.end_s
    if start_s is not None and end_s is not None and start_s >= end_s:
        raise ValueError(f"start_s must be less than end_s, got {start_s:g} >= {end_s:g}")
    return window


def _when(value: object) -> When:
    """Also refuses first/after/every combinations that leave no attempt to fire on."""
    spec = Fields(value, _WHEN_FIELDS)
    when = When(
        probability=spec.get("probability", _probability),
        seed=spec.get("seed", integer),
        first=spec.get("first", _POSITIVE_COUNT),
        after=spec.get("after", _COUNT),
        every=spec.get("every", _POSITIVE_COUNT),
        times=spec.get("times", _POSITIVE_COUNT),
        window=spec.get("window", _window),
        per=spec.get("per", choice(Per), default=Per.GLOBAL),
        max_active=spec.get("max_active", _POSITIVE_COUNT),
        at_s=spec.get("at_s", _positive_seconds),
    )
    if when.at_s is not None:
        excluded = [
            name
            for name in _WHEN_FIELDS
            if name in spec and name not in {"at_s", *AT_S_COMBINES_WITH}
        ]
        if excluded:
            raise ValueError(
                f"at_s cannot be combined with {excluded[0]}"
                f" (it combines with: {', '.join(AT_S_COMBINES_WITH)})"
            )
    if when.first is not None:
        candidates = range((when.after or 0) + 1, when.first + 1)
        if not any(attempt % (when.every or 1) == 0 for attempt in candidates):
            raise ValueError("first, after and every leave no attempt on which the rule can fire")
    return when


def _action(value: object, presets: Mapping[str, Mapping], *, at_moment: bool = False) -> Action:
    """The single action of a rule, dispatched on its key.

    A ``close`` or ``drop`` needs a trigger (``after_messages``/``after_s``), except in a rule
    with ``when.at_s`` (*at_moment*), whose moment is the trigger and which refuses another.
    """
    if not isinstance(value, Mapping):
        raise ValueError(f"must be a mapping, got {show(value)}")
    if len(value) != 1:
        listed = f": {', '.join(map(str, value))}" if value else ""
        raise ValueError(f"exactly one action is required, got {len(value)}{listed}")
    [(kind, params)] = value.items()
    if kind not in _ACTIONS:
        raise ValueError(f"unknown action {show(kind)} (expected one of: {', '.join(_ACTIONS)})")
    cls, parse = _ACTIONS[kind]
    try:
        action = parse(Fields(params, [spec.name for spec in fields(cls)]), presets)
        if isinstance(action, MOMENT_ACTIONS):
            _check_trigger(action, at_moment=at_moment)
        return action
    except FieldError as e:
        raise e.within(kind) from None
    except ValueError as e:
        raise FieldError(kind, str(e)) from None


def _trigger(spec: Fields) -> tuple[int | None, float | None]:
    """``(after_messages, after_s)``, either of which may be omitted."""
    return spec.get("after_messages", _COUNT), spec.get("after_s", _seconds)


def _check_trigger(action: Close | Drop, *, at_moment: bool) -> None:
    """Without a trigger or a moment a ``close`` or ``drop`` would never happen; with both,
    it is unclear which one is meant."""
    triggered = action.after_messages is not None or action.after_s is not None
    if at_moment and triggered:
        given = "after_messages" if action.after_messages is not None else "after_s"
        raise FieldError(given, "not allowed with when.at_s (the moment is the trigger)")
    if not at_moment and not triggered:
        raise ValueError("missing required field (one of after_messages, after_s)")


def _preset_name(presets: Mapping[str, Mapping]) -> Check[str]:
    """A check accepting the names of the loaded presets."""

    def check(value: object) -> str:
        name = string(value)
        if name not in presets:
            known = ", ".join(sorted(presets)) or "no presets are loaded"
            raise ValueError(f"unknown preset {name!r} (expected one of: {known})")
        return name

    return check


def _preset(value: object) -> dict[str, Any]:
    """One validated preset as plain data, holding only the fields it gives."""
    spec = Fields(value, _PRESET_FIELDS)
    checks: dict[str, Check[Any]] = {
        "status": _http_status,
        "reason": _header_text,
        "headers": lambda raw: dict(_header_map(raw)),
        "body": string,
    }
    return {name: spec.require(name, check) for name, check in checks.items() if name in spec}


def _parse_reject(spec: Fields, presets: Mapping[str, Mapping]) -> Reject:
    """Explicit fields override the preset's; headers merge, case-insensitively by name."""
    preset = spec.get("preset", _preset_name(presets))
    defaults = presets[preset] if preset is not None else {}
    explicit = spec.get("headers", _header_map, default=())
    headers = {
        name.lower(): (name, text)
        for name, text in (*defaults.get("headers", {}).items(), *explicit)
    }
    return Reject(
        status=spec.get("status", _http_status, default=defaults.get("status", REQUIRED)),
        reason=spec.get("reason", _header_text, default=defaults.get("reason", "")),
        headers=tuple(headers.values()),
        body=spec.get("body", string, default=defaults.get("body", "")),
        preset=preset,
    )


def _parse_delay(spec: Fields, presets: Mapping[str, Mapping]) -> Delay:
    return Delay(ms=spec.require("ms", _COUNT), jitter_ms=spec.get("jitter_ms", _COUNT, default=0))


def _parse_hang(spec: Fields, presets: Mapping[str, Mapping]) -> Hang:
    return Hang(max_s=spec.get("max_s", _positive_seconds))


def _parse_reset(spec: Fields, presets: Mapping[str, Mapping]) -> Reset:
    return Reset()


def _parse_close_before_answer(spec: Fields, presets: Mapping[str, Mapping]) -> CloseBeforeAnswer:
    return CloseBeforeAnswer()


def _parse_bad_101(spec: Fields, presets: Mapping[str, Mapping]) -> Bad101:
    defect = spec.require("defect", choice(Bad101Defect))
    subprotocol = spec.depends(
        "subprotocol",
        nonempty,
        on=defect is Bad101Defect.UNREQUESTED_SUBPROTOCOL,
        condition="defect is 'unrequested_subprotocol'",
        default="wswatch-unrequested",
    )
    return Bad101(defect=defect, subprotocol=subprotocol)


def _parse_html(spec: Fields, presets: Mapping[str, Mapping]) -> Html:
    return Html(
        status=spec.get("status", _http_status, default=200),
        body=spec.get("body", string, default=CAPTIVE_PORTAL_HTML),
    )


def _parse_redirect(spec: Fields, presets: Mapping[str, Mapping]) -> Redirect:
    return Redirect(
        location=spec.require("location", lambda value: nonempty(_header_text(value))),
        status=spec.get("status", _redirect_status, default=302),
    )


def _parse_close(spec: Fields, presets: Mapping[str, Mapping]) -> Close:
    after_messages, after_s = _trigger(spec)
    return Close(
        code=spec.get("code", _close_code, default=1000),
        reason=spec.get("reason", _close_reason, default=""),
        after_messages=after_messages,
        after_s=after_s,
        toward=spec.get("toward", choice(Toward), default=Toward.BOTH),
    )


def _parse_drop(spec: Fields, presets: Mapping[str, Mapping]) -> Drop:
    after_messages, after_s = _trigger(spec)
    return Drop(after_messages=after_messages, after_s=after_s)


def _parse_stall(spec: Fields, presets: Mapping[str, Mapping]) -> Stall:
    direction = spec.require("direction", choice(Direction))
    after_messages, after_s = _trigger(spec)
    return Stall(
        direction=direction,
        after_messages=after_messages,
        after_s=after_s,
        for_s=spec.get("for_s", _positive_seconds),
    )


def _parse_messages(spec: Fields, presets: Mapping[str, Mapping]) -> MessageFault:
    do = spec.require("do", choice(MessageOp))
    return MessageFault(
        do=do,
        direction=spec.get("direction", choice(Direction), default=Direction.BOTH),
        type=spec.get("type", choice(MessageType), default=MessageType.ANY),
        pattern=spec.get("pattern", regex),
        probability=spec.get("probability", _probability, default=1.0),
        delay_ms=spec.depends(
            "delay_ms", _POSITIVE_COUNT, on=do is MessageOp.DELAY, condition="do is 'delay'"
        ),
        truncate_to=spec.depends(
            "truncate_to", _COUNT, on=do is MessageOp.TRUNCATE, condition="do is 'truncate'"
        ),
    )


def _parse_pongs(spec: Fields, presets: Mapping[str, Mapping]) -> PongFault:
    do = spec.require("do", choice(PongOp))
    return PongFault(
        do=do,
        delay_ms=spec.depends(
            "delay_ms", _POSITIVE_COUNT, on=do is PongOp.DELAY, condition="do is 'delay'"
        ),
    )


def _parse_throttle(spec: Fields, presets: Mapping[str, Mapping]) -> Throttle:
    return Throttle(
        bytes_per_s=spec.require("bytes_per_s", _POSITIVE_COUNT),
        direction=spec.get("direction", choice(Direction), default=Direction.BOTH),
    )


_ActionParser = Callable[[Fields, Mapping[str, Mapping]], Action]

#: Action name -> (spec class, whose fields are the allowed parameters; parser).
_ACTIONS: Final[dict[str, tuple[type[_Action], _ActionParser]]] = {
    cls.kind: (cls, parse)
    for cls, parse in (
        (Reject, _parse_reject),
        (Delay, _parse_delay),
        (Hang, _parse_hang),
        (Reset, _parse_reset),
        (CloseBeforeAnswer, _parse_close_before_answer),
        (Bad101, _parse_bad_101),
        (Html, _parse_html),
        (Redirect, _parse_redirect),
        (Close, _parse_close),
        (Drop, _parse_drop),
        (Stall, _parse_stall),
        (MessageFault, _parse_messages),
        (PongFault, _parse_pongs),
        (Throttle, _parse_throttle),
    )
}
