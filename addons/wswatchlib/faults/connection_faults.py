"""Addon: connection faults, from the 101 to the connection's end.

A fault is armed in `websocket_start` (or parked earlier, when a client asked for it with the
fault header) and acts per message or on a timer; `effects` decides what each message, timer and
pong gets. `strike` closes a connection at once for `moments.py` (`when.at_s` moments and the
`wswatch.disconnect_all` command), observe-only ones too (through the TCP relays, which have no
message layer). Whatever mitmproxy has no public API for goes through `mitm_internals`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import wsproto.events
from mitmproxy import http, websocket
from mitmproxy.proxy.layers import websocket as websocket_layer

from .. import events, mitm_internals
from . import effects
from .rulebook import ArmedFault, FaultRules
from .scripted import ScriptedConnections
from .spec import Close, Drop, MessageFault, Phase, PongFault, Script, Stall, Throttle

logger = logging.getLogger("wswatch")

#: This addon's name as an owner of send filters, while rules or the fault header may act.
FAULTS = "faults"


@dataclass
class LiveFault:
    """A fault armed on one open connection, with the state its action needs."""

    armed: ArmedFault
    fired: bool = False
    #: Data messages seen so far, both directions (what `after_messages` counts).
    messages: int = 0
    stall: effects.StallWindow = field(default_factory=effects.StallWindow)
    held: list[websocket.WebSocketMessage] = field(default_factory=list)
    pacer: effects.Pacer | None = None
    timer: asyncio.Task[None] | None = None

    def cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()


def _redelivered(flow: http.HTTPFlow, from_client: bool) -> None:
    """Count a held message delivered later on the flow's mark (so it is not counted dropped)."""
    side = "client" if from_client else "server"
    events.FaultMark.count(flow.metadata, f"redelivered_{side}")


class ConnectionFaults:
    def __init__(self, rules: FaultRules, clock: Callable[[], float] = time.monotonic) -> None:
        self.rules = rules
        self.clock = clock
        #: Picks the bytes `corrupt` flips: seeded, so a session's corruptions repeat.
        self.corruption = random.Random(0)
        #: Faults a client asked for before its 101, by flow id.
        self.parked: dict[str, ArmedFault] = {}
        self.live: dict[str, LiveFault] = {}
        self.open_flows: dict[str, http.HTTPFlow] = {}
        #: Open observe-only connections (no message layer), and how to close one: the
        #: watcher's, set by the wiring.
        self.observed_flows: Callable[[], list[http.HTTPFlow]] = list
        self.close_observed: Callable[[http.HTTPFlow, int, str], bool] = lambda *_: False
        self.pong_faults: dict[str, tuple[http.HTTPFlow, LiveFault]] = {}
        #: Connections running a `script` action (scripted.py does what their steps say), and
        #: those running what a command (`wswatch.send`, `wswatch.preset`) asked for, beside
        #: any fault a rule armed on them.
        self.scripts = ScriptedConnections(rules, clock)
        self.commanded = ScriptedConnections(rules, clock)

    def configure(self, updated: set[str]) -> None:
        if updated & {"wswatch_faults", "wswatch_fault_header"}:
            # A drop must reach the peers as a drop, whatever wswatch_faithful_close says.
            if self.rules.active:
                mitm_internals.add_send_filter(mitm_internals.keep_abnormal_closes_abnormal, FAULTS)
                mitm_internals.add_send_filter(self._pong_filter, FAULTS)
            else:
                mitm_internals.remove_send_filter(
                    mitm_internals.keep_abnormal_closes_abnormal, FAULTS
                )
                mitm_internals.remove_send_filter(self._pong_filter, FAULTS)

    def done(self) -> None:
        for live in self.live.values():
            live.cancel_timer()
        self.scripts.stop_all()
        self.commanded.stop_all()
        mitm_internals.remove_send_filter(self._pong_filter, FAULTS)
        mitm_internals.remove_send_filter(mitm_internals.keep_abnormal_closes_abnormal, FAULTS)

    # Before the 101 -------------------------------------------------------------------------

    def park(self, flow: http.HTTPFlow, armed: ArmedFault) -> None:
        """Keep a fault the client asked for until its connection starts."""
        self.parked[flow.id] = armed

    def may_act_on_connection(self, flow: http.HTTPFlow) -> bool:
        """Whether a connection fault could act on this flow's WebSocket: its client asked for
        one, or a connection-phase rule (an `at_s` moment too) matches it, whatever the rule's
        schedule would decide. Such a connection needs mitmproxy's message layer."""
        return flow.id in self.parked or self.rules.may_match_connection(flow)

    def response(self, flow: http.HTTPFlow) -> None:
        if flow.response is None or flow.response.status_code != 101:
            self.error(flow)  # no upgrade: a fault parked for this flow will never start

    def error(self, flow: http.HTTPFlow) -> None:
        parked = self.parked.pop(flow.id, None)
        if parked is not None:
            self.rules.release(parked)

    # Everyone at once: `moments.py` picks the connections, this addon closes them ------------

    def strikable(self) -> list[http.HTTPFlow]:
        """Every open connection no fault is closing yet, on either relay."""
        open_websockets = [flow for flow in self.open_flows.values() if self._closable(flow)]
        return open_websockets + self.observed_flows()

    def open_websockets(self) -> list[http.HTTPFlow]:
        """Every WebSocket open on mitmproxy's message layer (what can be sent into)."""
        return [
            flow
            for flow in self.open_flows.values()
            if flow.websocket is not None and flow.websocket.timestamp_end is None
        ]

    @staticmethod
    def _closable(flow: http.HTTPFlow) -> bool:
        """An open WebSocket that no fault is closing already."""
        mark = events.FaultMark.of(flow.metadata)
        return (
            flow.websocket is not None
            and flow.websocket.timestamp_end is None
            and not (mark and mark.closed_by_proxy)
        )

    def strike(self, flow: http.HTTPFlow, armed: ArmedFault) -> None:
        """Close `flow` now with `armed` (a close or drop), in place of any fault armed on it.

        The earlier fault's held-message count is kept, so `ws.closed` still counts as dropped
        only what never arrived. A connection relayed as TCP has no message layer: the TCP relays
        (`relay/relays.py`) close it with a frame to each peer.
        """
        assert isinstance(armed.action, Close | Drop)
        if flow.websocket is None:
            close = effects.close_effect(armed.action)
            # Marked first, as in _fire: the close may be reported before close_observed returns.
            self.rules.mark(flow, armed)
            self._set_closed_by_proxy(flow, True)
            if not self.close_observed(flow, close.code, close.reason):
                self._set_closed_by_proxy(flow, False)
                self.rules.not_applied(flow, armed, "the connection had already ended")
            return
        previous = self.live.pop(flow.id, None)
        if previous is not None:
            previous.cancel_timer()
            self.scripts.end(flow)
            self.rules.release(previous.armed)
        earlier = events.FaultMark.of(flow.metadata)
        live = self.live[flow.id] = LiveFault(armed)
        self.rules.mark(flow, armed)
        if earlier is not None:
            mark = events.FaultMark.of(flow.metadata)
            assert mark is not None
            dataclasses.replace(
                mark,
                redelivered_client=earlier.redelivered_client,
                redelivered_server=earlier.redelivered_server,
            ).put(flow.metadata)
        self._fire(flow, live)

    # Connection faults ----------------------------------------------------------------------

    def websocket_start(self, flow: http.HTTPFlow) -> None:
        self.open_flows[flow.id] = flow
        armed = self.parked.pop(flow.id, None) or self.rules.choose(flow, Phase.CONNECTION)
        if armed is None:
            return
        live = self.live[flow.id] = LiveFault(armed)
        action = armed.action
        if isinstance(action, Script):
            # Marked by its first step that acts: a script that only waits claims nothing.
            self.scripts.start(flow, armed)
            return
        self.rules.mark(flow, armed)
        if isinstance(action, Throttle):
            live.pacer = effects.Pacer(action.bytes_per_s)
        seconds = effects.timer_s(action)
        if seconds is not None:
            live.timer = asyncio.get_running_loop().create_task(self._after(flow, live, seconds))
        elif effects.stalls_from_start(action):
            self._start_stall(flow, live)
        if isinstance(action, PongFault):
            self.pong_faults[flow.client_conn.id] = (flow, live)

    async def _after(self, flow: http.HTTPFlow, live: LiveFault, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self._fire(flow, live)

    def _fire(self, flow: http.HTTPFlow, live: LiveFault) -> None:
        """The moment a close, drop or stall takes effect."""
        action = live.armed.action
        if isinstance(action, Stall):
            if not live.stall.holding:
                self._start_stall(flow, live)
            return
        if live.fired:
            return
        live.fired = True
        assert isinstance(action, Close | Drop)
        close = effects.close_effect(action)
        # Marked first: mitmproxy 12 may run the whole close, `websocket_end` included, before
        # close_websocket returns.
        self._set_closed_by_proxy(flow, True)
        if mitm_internals.close_websocket(flow, close.code, close.reason, close.as_client):
            return
        self._set_closed_by_proxy(flow, False)
        if flow.websocket is None or flow.websocket.timestamp_end is not None:
            self.rules.not_applied(flow, live.armed, "the connection had already ended")
        else:
            why = "mitmproxy's WebSocket layer for it was not found"
            self.rules.not_applied(flow, live.armed, why)

    @staticmethod
    def _set_closed_by_proxy(flow: http.HTTPFlow, closed: bool) -> None:
        events.FaultMark.change(flow.metadata, closed_by_proxy=closed)

    def _start_stall(self, flow: http.HTTPFlow, live: LiveFault) -> None:
        action = live.armed.action
        assert isinstance(action, Stall)
        live.stall.start(self.clock(), action.for_s)
        if action.for_s is not None:
            live.timer = asyncio.get_running_loop().create_task(
                self._end_stall(flow, live, action.for_s)
            )

    async def _end_stall(self, flow: http.HTTPFlow, live: LiveFault, seconds: float) -> None:
        await asyncio.sleep(seconds)
        live.stall.end()
        held, live.held = live.held, []
        for message in held:
            self._deliver_held(flow, message)

    @staticmethod
    def _deliver_held(flow: http.HTTPFlow, message: websocket.WebSocketMessage) -> None:
        """Deliver a message a stall or delay held back (dropped on arrival): counted as
        redelivered, so `ws.closed` does not count it as dropped."""
        if mitm_internals.inject_message(flow, message):
            _redelivered(flow, message.from_client)

    def websocket_message(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        """Synchronous on the per-message path; only a throttle wait is handed back to await."""
        assert flow.websocket is not None
        mitm_internals.forget_verbatim(flow)  # sent by now, unless its message was dropped
        message = flow.websocket.messages[-1]
        if mitm_internals.is_wakeup_message(message):
            message.drop()
            return None
        mitm_internals.restore_injected_text(flow, message)
        if message.injected:
            self.scripts.relayed(flow, message)
            self.commanded.relayed(flow, message)
        else:
            self.commanded.message(flow, message)
        live = self.live.get(flow.id)
        if live is None or message.injected:
            return None
        action = live.armed.action
        if isinstance(action, Script):
            self.scripts.message(flow, message)
            return None
        live.messages += 1
        if effects.fires_on_message(action, live.messages):
            self._fire(flow, live)
        if isinstance(action, Stall) and live.stall.holding:
            if effects.covers(action.direction, message.from_client):
                message.drop()
                if live.stall.keeps_held:
                    live.held.append(message)
        elif isinstance(action, MessageFault):
            self._message_fault(flow, live, action, message)
        elif (
            isinstance(action, Throttle)
            and live.pacer is not None
            and effects.covers(action.direction, message.from_client)
        ):
            wait = live.pacer.wait_s(self.clock(), len(message.content))
            if wait > 0:
                return asyncio.sleep(wait)
        return None

    def _message_fault(
        self,
        flow: http.HTTPFlow,
        live: LiveFault,
        action: MessageFault,
        message: websocket.WebSocketMessage,
    ) -> None:
        armed = live.armed
        effect = effects.message_effect(
            action,
            effects.MessageFacts(message.from_client, message.is_text, message.content),
            lambda: self.rules.sample(armed, action.probability),
            self.corruption,
        )
        if isinstance(effect, effects.DropMessage):
            message.drop()
        elif isinstance(effect, effects.Duplicate):
            mitm_internals.inject_message(flow, message)
        elif isinstance(effect, effects.Rewrite):
            message.content = effect.content
            if message.is_text:
                # mitmproxy would re-decode the bytes, putting replacement characters where
                # they are not UTF-8: they go out exactly as they are.
                mitm_internals.send_text_verbatim(flow, message)
        elif isinstance(effect, effects.DelayBy):
            message.drop()
            held = websocket.WebSocketMessage(message.type, message.from_client, message.content)
            asyncio.get_running_loop().call_later(effect.seconds, self._deliver_held, flow, held)

    def _pong_filter(
        self, connection: websocket_layer.WebsocketConnection, event: wsproto.events.Event
    ) -> bool:
        """SendFilter: hold back or swallow pongs going to a client whose flow has a pong fault."""
        if not isinstance(event, wsproto.events.Pong) or mitm_internals.is_released_pong(event):
            return True
        entry = self.pong_faults.get(connection.conn.id)
        if entry is None:
            return True
        flow, live = entry
        assert isinstance(live.armed.action, PongFault)
        hold_s = effects.pong_hold_s(live.armed.action)
        if hold_s is not None:
            asyncio.get_running_loop().call_later(
                hold_s, mitm_internals.release_pong, flow, bytes(event.payload)
            )
        return False

    def websocket_end(self, flow: http.HTTPFlow) -> None:
        self.open_flows.pop(flow.id, None)
        mitm_internals.forget_verbatim(flow)
        mitm_internals.forget_injected_text(flow)
        live = self.live.pop(flow.id, None)
        self.pong_faults.pop(flow.client_conn.id, None)
        self.scripts.end(flow)
        self.commanded.end(flow)
        if live is not None:
            live.cancel_timer()
            self.rules.release(live.armed)
