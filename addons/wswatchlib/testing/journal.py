"""The messages each connection carried, for a test to assert on, in the style of WireMock's
`verify` and mockttp's seen requests.

`MessageJournal` is an addon the test proxy places after wswatch: it notes every connection it
sees open and end, and every message on it (who sent it, whether wswatch injected it or did not
forward it, its content as wswatch keeps it: secrets redacted). The assertions are pure functions
over what it noted; a failure prints every connection's message timeline as the evidence.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mitmproxy import http

from .. import mitm_internals
from ..events import FaultMark
from ..faults.matching import MessageMatch
from ..faults.script_rules import message_match
from ..faults.steps import Side

#: Characters of a text message shown in a timeline line.
SHOWN_CHARS = 72
#: At most this many timeline lines in one failure message.
TIMELINE_LINES = 60


@dataclass(frozen=True, slots=True)
class SeenMessage:
    at: float
    from_client: bool
    is_text: bool
    content: bytes
    #: wswatch sent it (a script or a command), not a peer.
    injected: bool = False
    #: It was not forwarded (a fault dropped or a script swallowed it).
    dropped: bool = False

    def shown(self) -> str:
        if not self.is_text:
            return f"<binary, {len(self.content)} bytes>"
        text = self.content.decode("utf-8", "replace")
        return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 3] + "..."


@dataclass(slots=True)
class SeenConnection:
    number: int
    path: str
    client: str
    opened: float
    messages: list[SeenMessage] = field(default_factory=list)
    closed: float | None = None
    close_code: int | None = None
    closed_by: str | None = None


class MessageJournal:
    """Addon: notes each WebSocket connection and its messages (see the module docstring)."""

    def __init__(self) -> None:
        self._by_flow: dict[str, SeenConnection] = {}
        self.connections: list[SeenConnection] = []

    def websocket_start(self, flow: http.HTTPFlow) -> None:
        peer = flow.client_conn.peername
        seen = SeenConnection(
            number=len(self.connections) + 1,
            path=flow.request.path,
            client=f"{peer[0]}:{peer[1]}" if peer else "?",
            opened=time.time(),
        )
        self._by_flow[flow.id] = seen
        self.connections.append(seen)

    def websocket_message(self, flow: http.HTTPFlow) -> None:
        seen = self._by_flow.get(flow.id)
        if seen is None or flow.websocket is None or not flow.websocket.messages:
            return
        message = flow.websocket.messages[-1]
        if mitm_internals.is_wakeup_message(message):
            return  # wswatch's empty wake-up message, never sent to a peer
        seen.messages.append(
            SeenMessage(
                at=message.timestamp,
                from_client=message.from_client,
                is_text=message.is_text,
                content=bytes(message.content),
                injected=message.injected,
                dropped=message.dropped,
            )
        )

    def websocket_end(self, flow: http.HTTPFlow) -> None:
        seen = self._by_flow.pop(flow.id, None)
        if seen is None or flow.websocket is None:
            return
        seen.closed = flow.websocket.timestamp_end or time.time()
        code = flow.websocket.close_code
        seen.close_code = int(code) if code is not None else None
        mark = FaultMark.of(flow.metadata)
        if mark is not None and mark.closed_by_proxy:
            seen.closed_by = "proxy"
        else:
            seen.closed_by = "client" if flow.websocket.closed_by_client else "server"


def timeline(connections: Sequence[SeenConnection]) -> str:
    """Every connection's messages in time order, relative to the first connection's open."""
    if not connections:
        return "  (no WebSocket connection went through the proxy: did the client use its url?)"
    origin = min(connection.opened for connection in connections)
    lines: list[str] = []
    for connection in connections:
        lines.append(
            f"  +{connection.opened - origin:7.3f} s  #{connection.number} opened {connection.path}"
            f" from {connection.client}"
        )
        for message in connection.messages:
            arrow = "client -> server" if message.from_client else "server -> client"
            notes = "".join(
                (
                    " [injected by wswatch]" if message.injected else "",
                    " [not forwarded]" if message.dropped else "",
                )
            )
            lines.append(
                f"  +{message.at - origin:7.3f} s  #{connection.number} {arrow}  "
                f"{message.shown()}{notes}"
            )
        if connection.closed is not None:
            lines.append(
                f"  +{connection.closed - origin:7.3f} s  #{connection.number} closed "
                f"{connection.close_code if connection.close_code is not None else '-'} "
                f"(by {connection.closed_by})"
            )
    if len(lines) > TIMELINE_LINES:
        lines = [*lines[:TIMELINE_LINES], f"  ... {len(lines) - TIMELINE_LINES} more"]
    return "\n".join(lines)


def _fail(message: str, connections: Sequence[SeenConnection]) -> None:
    __tracebackhide__ = True
    raise AssertionError(f"{message}\nmessages:\n{timeline(connections)}")


def _match_of(spec: Mapping[str, Any] | MessageMatch) -> tuple[MessageMatch, Side | None]:
    """A match written as a script's `wait.message` is (`{"json": {...}}`, `{"text": ...}`...)."""
    if isinstance(spec, MessageMatch):
        return spec, None
    return message_match(spec)


def _described(spec: Mapping[str, Any] | MessageMatch) -> str:
    match = spec if isinstance(spec, MessageMatch) else message_match(spec)[0]
    return str(match.describe())


def assert_client_sent(
    connections: Sequence[SeenConnection],
    match: Mapping[str, Any] | MessageMatch,
    times: int | None = None,
) -> None:
    """The client sent a message matching `match` (exactly `times` times, when given; at least
    once otherwise), on any connection."""
    __tracebackhide__ = True
    wanted, _ = _match_of(match)
    count = sum(
        1
        for connection in connections
        for message in connection.messages
        if message.from_client
        and not message.injected
        and wanted.matches(message.content, message.is_text)
    )
    if (times is None and count == 0) or (times is not None and count != times):
        expected = f"{times} time(s)" if times is not None else "at least once"
        _fail(
            f"the client sent a message matching {_described(match)} {count} time(s), "
            f"expected {expected}",
            connections,
        )


def assert_client_silent_after_close(connections: Sequence[SeenConnection], code: int) -> None:
    """Once a connection closed with `code`, the client sent no message on any connection
    (it gave up, as a close such as 4401 or 4403 asks)."""
    __tracebackhide__ = True
    closes = [c.closed for c in connections if c.close_code == code and c.closed is not None]
    if not closes:
        _fail(f"no connection closed with {code}: nothing to judge", connections)
    after = min(closes)
    late = [
        message
        for connection in connections
        for message in connection.messages
        if message.from_client and not message.injected and message.at > after
    ]
    if late:
        _fail(
            f"the client sent {len(late)} message(s) after the close {code} "
            f"(first {late[0].at - after:.3f} s after it)",
            connections,
        )


def assert_reconnected_after_message(
    connections: Sequence[SeenConnection],
    match: Mapping[str, Any] | MessageMatch,
    within_s: float,
) -> None:
    """After the first message to the client matching `match` (a Slack `disconnect`, say), the
    client opened a new connection within `within_s` seconds."""
    __tracebackhide__ = True
    wanted, _ = _match_of(match)
    sent = [
        message.at
        for connection in connections
        for message in connection.messages
        if not message.from_client
        and not message.dropped
        and wanted.matches(message.content, message.is_text)
    ]
    if not sent:
        _fail(f"no message matching {_described(match)} reached the client", connections)
    at = min(sent)
    opened = sorted(c.opened for c in connections if c.opened > at)
    if not opened:
        _fail(f"the client did not reconnect after {_described(match)}", connections)
    if opened[0] - at > within_s:
        _fail(
            f"the client reconnected {opened[0] - at:.3f} s after {_described(match)}, later "
            f"than {within_s} s",
            connections,
        )
