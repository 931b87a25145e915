"""What a fault does, decided without touching a flow: frozen actions and plain facts in, an
effect out, the way wsproto's `Connection.send` returns bytes for the caller to write.

The addons (`handshake_faults`, `connection_faults`) apply these effects to mitmproxy's flows;
everything that decides lives here, so each decision has a fast unit test. Every timing decision
takes the current time as an argument (a clock reading), so delays, stalls, throttles, hangs and
`after_s` are tested with a fake clock.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable
from dataclasses import dataclass

from ..rfc6455 import CloseCode
from ..watch.network_errors import InjectedEnd
from .payloads import corrupt, truncate
from .spec import (
    Action,
    Bad101,
    Bad101Defect,
    Close,
    CloseBeforeAnswer,
    Delay,
    Direction,
    Drop,
    Hang,
    Html,
    MessageFault,
    MessageOp,
    MessageType,
    PongFault,
    PongOp,
    Redirect,
    Reject,
    Reset,
    Stall,
    Toward,
)

# Handshake faults ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Respond:
    """Answer the upgrade request with this response instead of asking the upstream."""

    status: int
    body: str
    headers: tuple[tuple[str, str], ...]
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Wait:
    """Hold the request this long, then let it through."""

    seconds: float


@dataclass(frozen=True, slots=True)
class HoldRequest:
    """Never answer: hold the request until the client gives up, or `max_s` passes."""

    max_s: float | None


@dataclass(frozen=True, slots=True)
class EndConnection:
    """End the client's connection without an answer; with `reset`, as a TCP RST."""

    end: InjectedEnd
    reset: bool = False


@dataclass(frozen=True, slots=True)
class Spoil101:
    """Let the request through and spoil the upstream's 101 (see `spoiled_101`)."""

    action: Bad101


HandshakeEffect = Respond | Wait | HoldRequest | EndConnection | Spoil101


def handshake_effect(action: Action, jitter: random.Random) -> HandshakeEffect:
    """What a handshake action does to the upgrade request (`jitter` draws a delay's jitter)."""
    if isinstance(action, Reject):
        return Respond(action.status, action.body, action.headers, action.reason)
    if isinstance(action, Html):
        return Respond(action.status, action.body, (("content-type", "text/html; charset=utf-8"),))
    if isinstance(action, Redirect):
        return Respond(action.status, "", (("location", action.location),))
    if isinstance(action, Delay):
        extra = jitter.uniform(0, action.jitter_ms) if action.jitter_ms else 0
        return Wait((action.ms + extra) / 1000)
    if isinstance(action, Hang):
        return HoldRequest(action.max_s)
    if isinstance(action, Reset):
        return EndConnection(InjectedEnd.RESET, reset=True)
    if isinstance(action, CloseBeforeAnswer):
        return EndConnection(InjectedEnd.CLOSE)
    if isinstance(action, Bad101):
        return Spoil101(action)
    raise ValueError(f"{action.kind} is not a handshake action")


class HoldOutcome(enum.Enum):
    """Where a held request stands (`hold_outcome`)."""

    HOLDING = "holding"
    CLIENT_GAVE_UP = "client_gave_up"
    EXPIRED = "expired"


def hold_outcome(now: float, deadline: float | None, client_gone: bool) -> HoldOutcome:
    """A held request ends when the client gives up (first, if both happen at once) or when its
    deadline passes; None holds it for as long as the client waits."""
    if client_gone:
        return HoldOutcome.CLIENT_GAVE_UP
    if deadline is not None and now >= deadline:
        return HoldOutcome.EXPIRED
    return HoldOutcome.HOLDING


#: A header edit on the 101: set the header to the value, or remove it (None).
HeaderEdit = tuple[str, str | None]

#: The Sec-WebSocket-Accept a `wrong_accept` 101 carries: base64 of b"wswatch-wrong-accept",
#: 20 bytes like a real SHA-1 accept, so only a client that checks the value refuses it.
WRONG_ACCEPT = "d3N3YXRjaC13cm9uZy1hY2NlcHQ="


def spoiled_101(action: Bad101) -> tuple[HeaderEdit, ...]:
    """The edits that give the upstream's 101 the action's defect (RFC 6455 section 4.1: a
    client must fail the connection on each of them)."""
    defect = action.defect
    if defect is Bad101Defect.WRONG_ACCEPT:
        return (("Sec-WebSocket-Accept", WRONG_ACCEPT),)
    if defect is Bad101Defect.MISSING_UPGRADE:
        return (("Upgrade", None),)
    if defect is Bad101Defect.MISSING_CONNECTION:
        return (("Connection", None),)
    return (("Sec-WebSocket-Protocol", action.subprotocol or "wswatch-unrequested"),)


# Connection faults --------------------------------------------------------------------------


def timer_s(action: Action) -> float | None:
    """Seconds after the connection starts at which a close, drop or stall fires (`after_s`)."""
    if isinstance(action, Close | Drop | Stall):
        return action.after_s
    return None


def stalls_from_start(action: Action) -> bool:
    """A stall with no trigger holds messages from the first one on."""
    return isinstance(action, Stall) and action.after_s is None and action.after_messages is None


def fires_on_message(action: Action, messages: int) -> bool:
    """Whether the `messages`-th data message (both directions counted) fires the action."""
    return (
        isinstance(action, Close | Drop | Stall)
        and action.after_messages is not None
        and messages >= action.after_messages
    )


@dataclass(frozen=True, slots=True)
class CloseWith:
    """Close the WebSocket with `code` and `reason` (1006: drop it, no close frame), as if
    the client (`as_client`) or the server had sent that Close."""

    code: int
    reason: str
    as_client: bool


def close_effect(action: Close | Drop) -> CloseWith:
    """How a close or drop ends the connection. A close toward the server acts as the client."""
    if isinstance(action, Close):
        return CloseWith(action.code, action.reason, as_client=action.toward is Toward.SERVER)
    return CloseWith(int(CloseCode.ABNORMAL_CLOSURE), "", as_client=False)


def covers(direction: Direction, from_client: bool) -> bool:
    """Whether a fault for `direction` applies to a message from the client (or server)."""
    if direction is Direction.BOTH:
        return True
    return (direction is Direction.CLIENT_TO_SERVER) == from_client


@dataclass(slots=True)
class StallWindow:
    """A stall holds messages from `start` until `end`, which its timer calls `for_s` later
    (never, without `for_s`). Held messages go out in order when it ends, and anything arriving
    before then is held behind them, so the stall ends by its timer, not by a clock reading."""

    until: float | None = None

    @property
    def holding(self) -> bool:
        return self.until is not None

    def start(self, now: float, for_s: float | None) -> None:
        self.until = float("inf") if for_s is None else now + for_s

    @property
    def keeps_held(self) -> bool:
        """Held messages are kept for delivery when the stall has an end, swallowed otherwise."""
        return self.until is not None and self.until != float("inf")

    def end(self) -> None:
        self.until = None


@dataclass(slots=True)
class Pacer:
    """A throttle: messages leave at most `bytes_per_s`; each waits until the previous ones'
    bytes have had their time."""

    bytes_per_s: int
    next_send_at: float = 0.0

    def wait_s(self, now: float, size: int) -> float:
        """How long a message of `size` bytes arriving at `now` waits before it is sent."""
        start = max(now, self.next_send_at)
        self.next_send_at = start + size / self.bytes_per_s
        return start - now


@dataclass(frozen=True, slots=True)
class MessageFacts:
    """What a message fault looks at."""

    from_client: bool
    is_text: bool
    content: bytes


class Pass:
    """Leave the message alone."""


class DropMessage:
    """Do not forward the message."""


class Duplicate:
    """Forward the message, then a copy of it."""


@dataclass(frozen=True, slots=True)
class Rewrite:
    """Forward `content` in place of the message's content."""

    content: bytes


@dataclass(frozen=True, slots=True)
class DelayBy:
    """Hold the message back and deliver it `seconds` later."""

    seconds: float


MessageEffect = Pass | DropMessage | Duplicate | Rewrite | DelayBy

PASS, DROP, DUPLICATE = Pass(), DropMessage(), Duplicate()


def searchable(message: MessageFacts) -> str:
    """What a `pattern` is searched in: the text, or binary content decoded as latin-1."""
    if message.is_text:
        return message.content.decode("utf-8", errors="replace")
    return message.content.decode("latin-1")


def selects(action: MessageFault, message: MessageFacts) -> bool:
    """Whether `message` is one the action is for: direction, type, pattern and match."""
    if not covers(action.direction, message.from_client):
        return False
    if action.type is not MessageType.ANY and (action.type is MessageType.TEXT) != message.is_text:
        return False
    if action.pattern is not None and action.pattern.search(searchable(message)) is None:
        return False
    return action.match is None or action.match.matches(message.content, message.is_text)


def message_effect(
    action: MessageFault, message: MessageFacts, sample: Callable[[], bool], rng: random.Random
) -> MessageEffect:
    """What a `messages` fault does to one message. `sample` is asked (once) only for a message
    the action selects and only when its probability is below 1; `rng` picks corrupted bytes."""
    if not selects(action, message) or (action.probability < 1 and not sample()):
        return PASS
    op = action.do
    if op is MessageOp.DROP:
        return DROP
    if op is MessageOp.DUPLICATE:
        return DUPLICATE
    if op is MessageOp.TRUNCATE:
        assert action.truncate_to is not None
        return Rewrite(truncate(message.content, action.truncate_to, message.is_text))
    if op is MessageOp.CORRUPT:
        return Rewrite(corrupt(message.content, rng, message.is_text))
    assert action.delay_ms is not None
    return DelayBy(action.delay_ms / 1000)


def pong_hold_s(action: PongFault) -> float | None:
    """How long a pong toward the client is held back; None: it is swallowed."""
    if action.do is PongOp.DELAY and action.delay_ms is not None:
        return action.delay_ms / 1000
    return None
