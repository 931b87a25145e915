"""Addon: handshake faults, applied to the upgrade request (`request`) or the 101 (`response`).

`effects.handshake_effect` decides what a fault does; this addon does it to the flow: answer in
the upstream's place, wait, hold the request, end the client's connection, or spoil the 101. A
connection fault a client asked for with the fault header is handed to the connection faults.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from collections.abc import Coroutine
from typing import Any

from mitmproxy import http

from .. import events, mitm_internals
from ..watch.handshake import requests_websocket
from ..watch.network_errors import InjectedEnd
from . import effects
from .connection_faults import ConnectionFaults
from .rulebook import CLIENT_REQUESTED, ArmedFault, BadFaultHeader, FaultRules
from .spec import Bad101, Phase

#: How often a held request checks whether its client has gone, in seconds.
HOLD_POLL_S = 0.05


class HandshakeFaults:
    def __init__(self, rules: FaultRules, connection_faults: ConnectionFaults) -> None:
        self.rules = rules
        self.connection_faults = connection_faults
        #: Draws a delay's jitter: seeded, so a session's delays repeat run after run.
        self.jitter = random.Random(0)
        #: Flows whose 101 a `bad_101` fault will spoil, by flow id.
        self.pending_101: dict[str, ArmedFault] = {}

    def request(self, flow: http.HTTPFlow) -> Coroutine[Any, Any, None] | None:
        """Plain, so that mitmproxy's `request` hook stays plain for the many requests no fault
        takes; a fault's effect is returned as a coroutine, which mitmproxy awaits."""
        if flow.response or flow.error or not flow.live:
            return None
        if not requests_websocket(flow.request.headers):
            return None
        requested = self.rules.client_requested(flow)
        if isinstance(requested, BadFaultHeader):
            flow.response = http.Response.make(
                400, requested.message, {"content-type": "text/plain"}
            )
            events.FaultMark(CLIENT_REQUESTED, "bad_header").put(flow.metadata)
            return None
        if requested is not None and requested.action.phase is Phase.CONNECTION:
            self.connection_faults.park(flow, requested)
            return None
        armed = requested or self.rules.choose(flow, Phase.HANDSHAKE)
        if armed is None:
            return None
        self.rules.mark(flow, armed)
        return self._applied(flow, armed, effects.handshake_effect(armed.action, self.jitter))

    async def _applied(
        self, flow: http.HTTPFlow, armed: ArmedFault, effect: effects.HandshakeEffect
    ) -> None:
        try:
            await self._apply(flow, armed, effect)
        finally:
            if not isinstance(effect, effects.Spoil101):
                self.rules.release(armed)

    async def _apply(
        self, flow: http.HTTPFlow, armed: ArmedFault, effect: effects.HandshakeEffect
    ) -> None:
        if isinstance(effect, effects.Respond):
            flow.response = http.Response.make(effect.status, effect.body, dict(effect.headers))
            if effect.reason:
                flow.response.reason = effect.reason
        elif isinstance(effect, effects.Wait):
            await asyncio.sleep(effect.seconds)
        elif isinstance(effect, effects.HoldRequest):
            if await self._hold(flow, effect.max_s) is effects.HoldOutcome.CLIENT_GAVE_UP:
                # Not killed: mitmproxy reports "Client disconnected.", as for a silent upstream.
                return
            self._ended(flow, InjectedEnd.HANG_EXPIRED)
            flow.kill()
        elif isinstance(effect, effects.EndConnection):
            if not effect.reset or mitm_internals.reset_client(flow):
                self._ended(flow, effect.end)
            flow.kill()
        else:
            self.pending_101[flow.id] = armed

    @staticmethod
    def _ended(flow: http.HTTPFlow, end: InjectedEnd) -> None:
        """Record how this fault ended the flow, so the watcher names the failure for it."""
        mark = events.FaultMark.of(flow.metadata)
        assert mark is not None
        dataclasses.replace(mark, ended=end.value).put(flow.metadata)

    @staticmethod
    async def _hold(flow: http.HTTPFlow, max_s: float | None) -> effects.HoldOutcome:
        """Hold the request until the client gives up or `max_s` passes."""
        deadline = None if max_s is None else time.monotonic() + max_s
        while True:
            # timestamp_end is set once mitmproxy has queued the client's disconnect for the flow.
            gone = flow.client_conn.timestamp_end is not None
            outcome = effects.hold_outcome(time.monotonic(), deadline, gone)
            if outcome is not effects.HoldOutcome.HOLDING:
                return outcome
            await asyncio.sleep(HOLD_POLL_S)

    def response(self, flow: http.HTTPFlow) -> None:
        armed = self.pending_101.pop(flow.id, None)
        if armed is None or flow.response is None or flow.response.status_code != 101:
            return
        assert isinstance(armed.action, Bad101)
        for name, value in effects.spoiled_101(armed.action):
            if value is None:
                flow.response.headers.pop(name, None)
            else:
                flow.response.headers[name] = value
        self.rules.release(armed)

    def error(self, flow: http.HTTPFlow) -> None:
        armed = self.pending_101.pop(flow.id, None)
        if armed is not None:
            self.rules.release(armed)
