"""The steps of a `script` action, as frozen specs (pure).

`wait` (for seconds, for N messages from a side, for one message a `MessageMatch` describes),
`send` (text or JSON templates, or binary bytes, to a peer), `swallow` (the message the wait
matched is not forwarded), `close` (a code and reason toward one peer or both) and `drop`
(no close frame). script_rules.py reads them from rule files; script.py runs them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from .directions import Toward
from .matching import MessageMatch
from .templates import plain_json


class Side(enum.StrEnum):
    """Whose messages a `wait` counts or looks for."""

    CLIENT = "client"
    SERVER = "server"
    ANY = "any"

    def includes(self, from_client: bool) -> bool:
        return self is Side.ANY or (self is Side.CLIENT) == from_client


class Peer(enum.StrEnum):
    """Who a `send` step's message goes to."""

    CLIENT = "client"
    SERVER = "server"


@dataclass(frozen=True, slots=True)
class WaitSeconds:
    """Wait `s` seconds (from when the step is reached)."""

    s: float

    def describe(self) -> dict[str, Any]:
        return {"wait": {"s": self.s}}


@dataclass(frozen=True, slots=True)
class WaitMessages:
    """Wait until `count` messages came from `side` (counted from when the step is reached)."""

    count: int
    side: Side = Side.ANY

    def describe(self) -> dict[str, Any]:
        return {"wait": {"messages": self.count, "from": self.side.value}}


@dataclass(frozen=True, slots=True)
class WaitMessage:
    """Wait for one message from `side` that `match` describes."""

    match: MessageMatch
    side: Side = Side.ANY

    def describe(self) -> dict[str, Any]:
        return {"wait": {"message": {"from": self.side.value, **self.match.describe()}}}


class BodyKind(enum.StrEnum):
    TEXT = "text"
    JSON = "json"
    BINARY_B64 = "binary_b64"


@dataclass(frozen=True, slots=True)
class Send:
    """Send a message to `to`: a text `Template`, a JSON template (parsed), or binary bytes."""

    to: Peer
    kind: BodyKind
    body: Any

    def describe(self) -> dict[str, Any]:
        if self.kind is BodyKind.BINARY_B64:
            shown: Any = f"<{len(self.body)} bytes>"
        else:  # a text template or a JSON one, written back as the user wrote it
            shown = plain_json(self.body)
        return {"send": {"to": self.to.value, self.kind.value: shown}}


@dataclass(frozen=True, slots=True)
class Swallow:
    """The message that satisfied the previous wait is not forwarded."""

    def describe(self) -> dict[str, Any]:
        return {"swallow": {}}


@dataclass(frozen=True, slots=True)
class CloseStep:
    """Close the WebSocket with a code and reason toward one peer or both."""

    code: int = 1000
    reason: str = ""
    toward: Toward = Toward.BOTH

    def describe(self) -> dict[str, Any]:
        return {"close": {"code": self.code, "reason": self.reason, "toward": self.toward.value}}


@dataclass(frozen=True, slots=True)
class DropStep:
    """Drop the connection without a close frame (both peers see 1006)."""

    def describe(self) -> dict[str, Any]:
        return {"drop": {}}


Wait = WaitSeconds | WaitMessages | WaitMessage
Step = WaitSeconds | WaitMessages | WaitMessage | Send | Swallow | CloseStep | DropStep
#: Steps after which nothing can run: the connection is over.
FINAL_STEPS = (CloseStep, DropStep)
