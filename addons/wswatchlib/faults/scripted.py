"""Scripted connections: do what each connection's `ScriptRun` (script.py) decides.

Owned by the connection faults addon, which arms a script like any connection fault and hands
its connection's messages here. This module only moves bytes: it feeds the run each message a
peer sent (never one wswatch injected), sends, swallows and closes as the run answers, keeps one
timer per connection for a `wait: {s: ...}`, and logs each step that acted (`fault.injected`
with its step number) and counts the messages it sent on the flow's fault mark, which
`ws.closed` reports as `injected_messages`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from mitmproxy import http, websocket
from wsproto.frame_protocol import Opcode

from .. import events, mitm_internals
from ..redaction.redactor import REDACTED
from . import effects
from .rulebook import ArmedFault, FaultRules
from .script import (
    CloseOut,
    DropOut,
    Effect,
    HandshakeFacts,
    ScriptRun,
    SendOut,
    SwallowOut,
)
from .spec import Close, Drop, Script
from .steps import Peer


@dataclass
class ScriptedConnection:
    armed: ArmedFault
    run: ScriptRun
    timer: asyncio.TimerHandle | None = None
    #: Messages injected and not yet relayed: (toward the server, content), in order.
    in_flight: list[tuple[bool, bytes]] = field(default_factory=list)
    #: A close that waits for `in_flight` to go out first: mitmproxy relays an injected
    #: message in a task of its own, so a close issued at once would overtake it.
    deferred_close: CloseOut | DropOut | None = None

    def cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


def shown_handshake(flow: http.HTTPFlow, secrets: frozenset[str] | set[str]) -> HandshakeFacts:
    """The request's headers and query as a template may use them: a value that holds any
    secret value the request carries (a credential header's, a secret parameter's, a
    cookie's), however short, is `[redacted]` whole; output redaction only scrubs secrets of
    4 characters or more, a template must never send even a shorter one."""
    known = [secret for secret in secrets if secret]

    def shown(value: str) -> str:
        return REDACTED if any(secret in value for secret in known) else value

    headers: dict[str, str] = {}
    for name, value in flow.request.headers.items(multi=True):
        headers.setdefault(name.lower(), shown(value))
    query: dict[str, str] = {}
    for name, value in flow.request.query.items(multi=True):
        query.setdefault(name, shown(value))
    return HandshakeFacts(headers=headers, query=query)


class ScriptedConnections:
    """The scripts running on open connections, by flow id."""

    def __init__(self, rules: FaultRules, clock: Callable[[], float] = time.monotonic) -> None:
        self.rules = rules
        self.clock = clock
        self.running: dict[str, ScriptedConnection] = {}

    def start(self, flow: http.HTTPFlow, armed: ArmedFault) -> None:
        """The connection opened: run the script's first steps."""
        assert isinstance(armed.action, Script)
        _, secrets = self.rules.request_view(flow)
        run = ScriptRun(
            armed.action.steps,
            shown_handshake(flow, secrets),
            clock=self.clock,
            new_uuid=lambda: str(uuid.uuid4()),
            now_ms=lambda: int(time.time() * 1000),
        )
        earlier = self.running.get(flow.id)
        if earlier is not None:  # a command's new script replaces the one it ran before
            earlier.cancel_timer()
        scripted = self.running[flow.id] = ScriptedConnection(armed, run)
        self._act(flow, scripted, run.start(), None)

    def message(self, flow: http.HTTPFlow, message: websocket.WebSocketMessage) -> None:
        """A peer's message is being relayed (never an injected one)."""
        scripted = self.running.get(flow.id)
        if scripted is None or scripted.run.finished:
            return
        done = scripted.run.message(message.from_client, message.content, message.is_text)
        self._act(flow, scripted, done, message)

    def relayed(self, flow: http.HTTPFlow, message: websocket.WebSocketMessage) -> None:
        """An injected message is being relayed: once the script's messages have all gone
        out, a close that waited for them goes out behind them."""
        scripted = self.running.get(flow.id)
        if scripted is None or not scripted.in_flight:
            return
        sent = (message.from_client, message.content)
        if sent in scripted.in_flight:
            scripted.in_flight.remove(sent)
        if not scripted.in_flight and scripted.deferred_close is not None:
            close, scripted.deferred_close = scripted.deferred_close, None
            self._close(flow, scripted.armed, close)

    def end(self, flow: http.HTTPFlow) -> None:
        """The connection ended (or a fault replaced its script): stop the script."""
        scripted = self.running.pop(flow.id, None)
        if scripted is not None:
            scripted.cancel_timer()

    def stop_all(self) -> None:
        for scripted in self.running.values():
            scripted.cancel_timer()
        self.running.clear()

    def _tick(self, flow: http.HTTPFlow) -> None:
        scripted = self.running.get(flow.id)
        if scripted is None:
            return
        scripted.timer = None
        self._act(flow, scripted, scripted.run.tick(), None)

    def _act(
        self,
        flow: http.HTTPFlow,
        scripted: ScriptedConnection,
        done: list[Effect],
        message: websocket.WebSocketMessage | None,
    ) -> None:
        for effect in done:
            if isinstance(effect, SendOut):
                if self._send(flow, scripted.armed, effect):
                    scripted.in_flight.append((effect.to is Peer.SERVER, effect.content))
            elif isinstance(effect, SwallowOut) and message is not None:
                message.drop()
                self.rules.step_acted(flow, scripted.armed, effect.step, {"swallow": {}})
            elif isinstance(effect, CloseOut | DropOut):
                if scripted.in_flight:
                    scripted.deferred_close = effect
                else:
                    self._close(flow, scripted.armed, effect)
        deadline = scripted.run.deadline
        if deadline is not None and scripted.timer is None and flow.id in self.running:
            delay = max(0.0, deadline - self.clock())
            scripted.timer = asyncio.get_running_loop().call_later(delay, self._tick, flow)

    def _send(self, flow: http.HTTPFlow, armed: ArmedFault, effect: SendOut) -> bool:
        to_server = effect.to is Peer.SERVER
        kind = Opcode.TEXT if effect.is_text else Opcode.BINARY
        sent = websocket.WebSocketMessage(kind, to_server, effect.content)
        details = {"send": {"to": effect.to.value, "bytes": len(effect.content)}}
        if not mitm_internals.inject_message(flow, sent):
            self.rules.not_applied(flow, armed, "the connection had already ended")
            return False
        self.rules.step_acted(flow, armed, effect.step, details)
        events.FaultMark.count(flow.metadata, f"sent_to_{effect.to.value}")
        return True

    def _close(self, flow: http.HTTPFlow, armed: ArmedFault, effect: CloseOut | DropOut) -> None:
        if isinstance(effect, CloseOut):
            action: Close | Drop = Close(effect.code, effect.reason, toward=effect.toward)
            details = {
                "close": {"code": effect.code, "reason": effect.reason, "toward": effect.toward}
            }
        else:
            action = Drop()
            details = {"drop": {}}
        close = effects.close_effect(action)
        self.rules.step_acted(flow, armed, effect.step, details)
        # Marked first: mitmproxy 12 may run the whole close before close_websocket returns.
        events.FaultMark.change(flow.metadata, closed_by_proxy=True)
        if mitm_internals.close_websocket(flow, close.code, close.reason, close.as_client):
            return
        events.FaultMark.change(flow.metadata, closed_by_proxy=False)
        self.rules.not_applied(flow, armed, "the connection had already ended")
