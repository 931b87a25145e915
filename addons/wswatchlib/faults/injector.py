"""Addon: inject WebSocket failures on purpose, from rule files or a client's own header.

Decisions are pure (`fault_rules.matches`, `FaultSchedule.decide`); this module applies them in
mitmproxy hooks. Handshake actions act in `request` (or on the 101 in `response`); connection
actions are armed in `websocket_start` and act per message or on a timer. A `when.at_s` rule and
the `wswatch.disconnect_all` command instead strike every open WebSocket at once (kept in
`open_flows`). Whatever mitmproxy has no public API for goes through `mitm_internals`.

Every fault marks its flow (metadata key `events.FAULT_METADATA_KEY`) so the watcher's
`ws.handshake` / `ws.closed` events say `injected: true` and name the rule, and is logged once as
`fault.injected` when it takes effect on a flow.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import wsproto.events
from mitmproxy import command, ctx, exceptions, http, websocket
from mitmproxy.proxy.layers import websocket as websocket_layer

from .. import events, mitm_internals
from ..options.errors import logs_option_errors_until_running
from ..output.event_log import EventLog
from ..watch.handshake import split_tokens
from ..watch.network_errors import InjectedEnd
from ..watch.watcher import header_map, is_upgrade_request
from .header import HEADER, parse_fault_header
from .payloads import corrupt, truncate
from .rules import FaultRulesError, disconnect_action, load_presets, load_rule_files
from .schedule import FaultSchedule
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
    Phase,
    PongFault,
    PongOp,
    Redirect,
    Reject,
    RequestFacts,
    Reset,
    Rule,
    Stall,
    Throttle,
    Toward,
    matches,
)

logger = logging.getLogger("wswatch")

#: The rule id reported for faults a client asked for with the fault header.
CLIENT_REQUESTED = "client-requested"

#: The rule id reported for connections closed by the `wswatch.disconnect_all` command.
DISCONNECT_ALL = "wswatch.disconnect_all"

#: How often rule files are checked for changes on disk, in seconds.
RELOAD_POLL_S = 1.0


@dataclass
class ArmedFault:
    """A fault applied to one flow, with the state its action needs."""

    rule_id: str
    action: Action
    client_ip: str
    released: bool = False
    fired: bool = False
    messages: int = 0
    stall_until: float | None = None
    held: list[websocket.WebSocketMessage] = field(default_factory=list)
    next_send_at: float = 0.0
    timer: asyncio.Task[None] | None = None


@dataclass(frozen=True, slots=True)
class BadFaultHeader:
    """A client asked for a fault with a header wswatch cannot parse: it gets a 400 saying why."""

    message: str


def _direction_covers(direction: Direction, from_client: bool) -> bool:
    if direction is Direction.BOTH:
        return True
    return (direction is Direction.CLIENT_TO_SERVER) == from_client


def _type_covers(message_type: MessageType, message: websocket.WebSocketMessage) -> bool:
    return message_type is MessageType.ANY or (message_type is MessageType.TEXT) == message.is_text


def _searchable(message: websocket.WebSocketMessage) -> str:
    """What a `pattern` is searched in: the text, or binary content decoded as latin-1."""
    if message.is_text:
        return message.content.decode("utf-8", errors="replace")
    return message.content.decode("latin-1")


#: The redacted `ws://` URL of a flow and the secret values its request carries.
RequestView = Callable[[http.HTTPFlow], tuple[str, frozenset[str]]]


@logs_option_errors_until_running
class FaultInjector:
    def __init__(self, event_log: EventLog, request_view: RequestView) -> None:
        self.event_log = event_log
        self.request_view = request_view
        self.rules: list[Rule] = []
        self.schedule = FaultSchedule([])
        self.presets: dict[str, dict[str, Any]] = {}
        self.armed: dict[str, ArmedFault] = {}
        self.open_flows: dict[str, http.HTTPFlow] = {}
        #: Open observe-only connections (no message layer), and how to close one: the
        #: watcher's, set by the wiring.
        self.observed_flows: Callable[[], list[http.HTTPFlow]] = list
        self.close_observed: Callable[[http.HTTPFlow, int, str], bool] = lambda *_: False
        self.moment_timers: list[asyncio.TimerHandle] = []
        self.pending_101: dict[str, ArmedFault] = {}
        self.pong_faults: dict[str, tuple[http.HTTPFlow, ArmedFault]] = {}
        self.file_stamps: dict[str, float | None] = {}
        self.reload_task: asyncio.Task[None] | None = None
        self.jitter = random.Random(0)

    # Options, loading and reloading ---------------------------------------------------------

    def load(self, loader: Any) -> None:
        loader.add_option(
            "wswatch_faults",
            Sequence[str],
            [],
            "Fault rule files (YAML) to load; reloaded when they change on disk.",
        )
        loader.add_option(
            "wswatch_fault_header",
            bool,
            False,
            f"Let clients ask for a fault on their own request with an '{HEADER}' header "
            "(stripped before the request goes upstream).",
        )

    def configure(self, updated: set[str]) -> None:
        if "wswatch_faults" in updated:
            paths = list(ctx.options.wswatch_faults)
            try:
                self.presets = load_presets()
                rules = load_rule_files(paths, self.presets)
            except FaultRulesError as error:
                raise exceptions.OptionsError(f"Cannot load wswatch_faults: {error}") from error
            self._install(rules)
            self.file_stamps = {path: self._stamp(path) for path in paths}
        if updated & {"wswatch_faults", "wswatch_fault_header"}:
            if self.rules or ctx.options.wswatch_fault_header:
                mitm_internals.add_send_filter(mitm_internals.keep_abnormal_closes_abnormal)
                mitm_internals.add_send_filter(self._pong_filter)
            else:
                mitm_internals.remove_send_filter(self._pong_filter)

    def _install(self, rules: list[Rule]) -> None:
        self.rules = rules
        self.schedule.replace_rules(rules)
        if self.reload_task is not None:  # at start-up the event log is not configured yet
            self._announce()
            self._arm_moments()

    def _announce(self) -> None:
        if self.rules:
            self.event_log.emit(
                "fault.rules_loaded",
                {
                    "rules": [rule.id for rule in self.rules],
                    "files": sorted({r.source for r in self.rules}),
                },
            )

    @staticmethod
    def _stamp(path: str) -> float | None:
        try:
            return os.stat(path).st_mtime_ns
        except OSError:
            return None

    def running(self) -> None:
        self._announce()
        self._arm_moments()
        self.reload_task = asyncio.get_running_loop().create_task(self._watch_files())

    async def _watch_files(self) -> None:
        while True:
            await asyncio.sleep(RELOAD_POLL_S)
            stamps = {path: self._stamp(path) for path in self.file_stamps}
            if stamps == self.file_stamps:
                continue
            self.file_stamps = stamps
            try:
                rules = load_rule_files(list(stamps), self.presets)
            except FaultRulesError as error:
                self.event_log.emit(
                    "fault.rules_rejected",
                    {"error": str(error), "kept": [rule.id for rule in self.rules]},
                    level=logging.ERROR,
                )
                continue
            self._install(rules)

    def done(self) -> None:
        if self.reload_task is not None:
            self.reload_task.cancel()
        for timer in self.moment_timers:
            timer.cancel()
        for armed in self.armed.values():
            if armed.timer is not None:
                armed.timer.cancel()
        mitm_internals.remove_send_filter(self._pong_filter)
        mitm_internals.remove_send_filter(mitm_internals.keep_abnormal_closes_abnormal)

    # Runtime control ------------------------------------------------------------------------

    @command.command("wswatch.faults")
    def list_faults(self) -> str:
        """List the fault rules with their counters."""
        lines = [f"{'rule':<28} {'on':<3} {'attempts':>8} {'hits':>6} {'active':>6}  source"]
        for stats in self.schedule.stats():
            lines.append(
                f"{stats['id']:<28} {'yes' if stats['enabled'] else 'no':<3} "
                f"{stats['attempts']:>8} "
                f"{stats['hits']:>6} {stats['active']:>6}  {stats['source']}"
            )
        text = "\n".join(lines)
        logger.info(text)
        return text

    def _known(self, rule_id: str) -> None:
        if rule_id not in {rule.id for rule in self.rules}:
            raise exceptions.CommandError(f"No fault rule {rule_id!r}")

    @command.command("wswatch.fault.enable")
    def enable(self, rule_id: str) -> None:
        """Enable a fault rule."""
        self._known(rule_id)
        self.schedule.set_enabled(rule_id, True)

    @command.command("wswatch.fault.disable")
    def disable(self, rule_id: str) -> None:
        """Disable a fault rule (it stops firing and counting)."""
        self._known(rule_id)
        self.schedule.set_enabled(rule_id, False)

    @command.command("wswatch.fault.reset")
    def reset(self, rule_id: str) -> None:
        """Reset a fault rule's counters and random sequence."""
        self._known(rule_id)
        self.schedule.reset(rule_id)

    @command.command("wswatch.disconnect_all")
    def disconnect_all(self, code: int, reason: str = "") -> int:
        """Close every open WebSocket now with a close code (1006: drop, no close frame)."""
        try:
            action = disconnect_action(code, reason)
        except ValueError as error:
            raise exceptions.CommandError(f"{DISCONNECT_ALL}: {error}") from None
        mitm_internals.add_send_filter(mitm_internals.keep_abnormal_closes_abnormal)
        targets = [flow for flow in self.open_flows.values() if self._closable(flow)]
        targets += self.observed_flows()
        for flow in targets:
            self._strike(flow, ArmedFault(DISCONNECT_ALL, action, self._facts(flow).client_ip))
        logger.info(f"{DISCONNECT_ALL}: closing {len(targets)} WebSocket(s) with {code}")
        return len(targets)

    # Moments of the session (when.at_s) -----------------------------------------------------

    def _arm_moments(self) -> None:
        """(Re)arm one timer per `at_s` moment still to come, for the rules now loaded."""
        for timer in self.moment_timers:
            timer.cancel()
        loop = asyncio.get_running_loop()
        self.moment_timers = [
            loop.call_later(delay, self._moment, rule_id)
            for rule_id, delay in self.schedule.moments()
        ]

    def _moment(self, rule_id: str) -> None:
        """An `at_s` moment: strike each open WebSocket the rule matches and decides to hit."""
        if not self.schedule.take_moment(rule_id):
            return
        rule = next(rule for rule in self.rules if rule.id == rule_id)
        open_websockets = [flow for flow in self.open_flows.values() if self._closable(flow)]
        for flow in open_websockets + self.observed_flows():
            facts = self._facts(flow)
            # decide() counts an attempt, so it is asked only for connections it could strike.
            if matches(rule.match, facts) and self.schedule.decide(rule.id, facts.client_ip):
                self._strike(flow, ArmedFault(rule.id, rule.action, facts.client_ip))

    @staticmethod
    def _closable(flow: http.HTTPFlow) -> bool:
        """An open WebSocket that no fault is closing already."""
        fault = flow.metadata.get(events.FAULT_METADATA_KEY) or {}
        return (
            flow.websocket is not None
            and flow.websocket.timestamp_end is None
            and not fault.get("closed_by_proxy")
        )

    def _strike(self, flow: http.HTTPFlow, armed: ArmedFault) -> None:
        """Close `flow` now with `armed` (a close or drop), in place of any fault armed on it.

        The earlier fault's held-message count is kept, so `ws.closed` still counts as dropped
        only what never arrived. An observe-only connection has no message layer: the watcher
        closes it with a frame to each peer.
        """
        if flow.websocket is None:
            action = armed.action
            code, reason = (action.code, action.reason) if isinstance(action, Close) else (1006, "")
            # Marked first, as in _trigger: the close may be reported before close_observed
            # returns.
            self._mark(flow, armed)
            flow.metadata[events.FAULT_METADATA_KEY]["closed_by_proxy"] = True
            if not self.close_observed(flow, code, reason):
                del flow.metadata[events.FAULT_METADATA_KEY]["closed_by_proxy"]
                self._not_applied(flow, armed, "the connection had already ended")
            return
        previous = self.armed.pop(flow.id, None)
        if previous is not None:
            if previous.timer is not None:
                previous.timer.cancel()
            self._release(previous)
        fault = flow.metadata.get(events.FAULT_METADATA_KEY) or {}
        redelivered = fault.get("redelivered", {"client": 0, "server": 0})
        self.armed[flow.id] = armed
        self._mark(flow, armed)
        flow.metadata[events.FAULT_METADATA_KEY]["redelivered"] = redelivered
        self._trigger(flow, armed)

    # Choosing a fault -----------------------------------------------------------------------

    @staticmethod
    def _facts(flow: http.HTTPFlow) -> RequestFacts:
        headers = header_map(flow.request.headers)
        return RequestFacts(
            host=flow.request.host,
            path=flow.request.path.split("?", 1)[0],
            scheme="wss" if flow.request.scheme == "https" else "ws",
            client_ip=flow.client_conn.peername[0] if flow.client_conn.peername else "",
            headers=tuple(headers.items()),
            subprotocols=tuple(split_tokens(headers.get("sec-websocket-protocol"))),
        )

    def _choose(self, flow: http.HTTPFlow, phase: Phase) -> ArmedFault | None:
        """The first rule of `phase` that matches this flow and decides to fire."""
        if not self.rules:  # the usual case: no facts to gather
            return None
        facts = self._facts(flow)
        for rule in self.rules:
            # decide() counts an attempt, so it is asked only once the rule matches.
            if (
                rule.action.phase is phase
                and rule.when.at_s is None  # a moment strikes open connections, see _moment
                and matches(rule.match, facts)
                and self.schedule.decide(rule.id, facts.client_ip)
            ):
                return ArmedFault(rule.id, rule.action, facts.client_ip)
        return None

    def may_act_on_connection(self, flow: http.HTTPFlow) -> bool:
        """Whether a connection fault could act on this flow's WebSocket: its client asked for
        one, or a connection-phase rule (an `at_s` moment too) matches it, whatever the rule's
        schedule would decide. Such a connection needs mitmproxy's message layer."""
        if flow.id in self.armed:
            return True
        connection_rules = [rule for rule in self.rules if rule.action.phase is Phase.CONNECTION]
        if not connection_rules:
            return False
        facts = self._facts(flow)
        return any(matches(rule.match, facts) for rule in connection_rules)

    def _client_requested(self, flow: http.HTTPFlow) -> ArmedFault | BadFaultHeader | None:
        """The fault a client asked for (header stripped), a 400 for a bad header, or None."""
        if not ctx.options.wswatch_fault_header or HEADER not in flow.request.headers:
            return None
        value = flow.request.headers.pop(HEADER)
        client_ip = flow.client_conn.peername[0] if flow.client_conn.peername else ""
        try:
            return ArmedFault(CLIENT_REQUESTED, parse_fault_header(value, self.presets), client_ip)
        except FaultRulesError as error:
            return BadFaultHeader(f"wswatch: {error}\n")

    def _mark(self, flow: http.HTTPFlow, armed: ArmedFault) -> None:
        flow.metadata[events.FAULT_METADATA_KEY] = {
            "rule_id": armed.rule_id,
            "action": armed.action.kind,
        }
        url, secrets = self.request_view(flow)
        self.event_log.emit(
            events.FAULT_INJECTED,
            {
                "rule_id": armed.rule_id,
                "action": armed.action.kind,
                "phase": armed.action.phase.value,
                "params": armed.action.params(),
                "url": url,
            },
            flow_id=flow.id,
            secrets=secrets,
            level=logging.WARNING,
        )

    def _release(self, armed: ArmedFault) -> None:
        if not armed.released and armed.rule_id != CLIENT_REQUESTED:
            self.schedule.release(armed.rule_id, armed.client_ip)
        armed.released = True

    # Handshake faults -----------------------------------------------------------------------

    async def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return
        if not is_upgrade_request(header_map(flow.request.headers)):
            return
        requested = self._client_requested(flow)
        if isinstance(requested, BadFaultHeader):
            flow.response = http.Response.make(
                400, requested.message, {"content-type": "text/plain"}
            )
            flow.metadata[events.FAULT_METADATA_KEY] = {
                "rule_id": CLIENT_REQUESTED,
                "action": "bad_header",
            }
            return
        if requested is not None and requested.action.phase is Phase.CONNECTION:
            self.armed[flow.id] = requested
            return
        armed = requested or self._choose(flow, Phase.HANDSHAKE)
        if armed is None:
            return
        self._mark(flow, armed)
        try:
            await self._apply_handshake(flow, armed)
        finally:
            if not isinstance(armed.action, Bad101):
                self._release(armed)

    async def _apply_handshake(self, flow: http.HTTPFlow, armed: ArmedFault) -> None:
        action = armed.action
        if isinstance(action, Reject):
            flow.response = http.Response.make(action.status, action.body, dict(action.headers))
            if action.reason:
                flow.response.reason = action.reason
        elif isinstance(action, Html):
            flow.response = http.Response.make(
                action.status, action.body, {"content-type": "text/html; charset=utf-8"}
            )
        elif isinstance(action, Redirect):
            flow.response = http.Response.make(action.status, b"", {"location": action.location})
        elif isinstance(action, Delay):
            jitter = self.jitter.uniform(0, action.jitter_ms) if action.jitter_ms else 0
            await asyncio.sleep((action.ms + jitter) / 1000)
        elif isinstance(action, Hang):
            if await self._hang(flow, action.max_s):
                # Not killed: mitmproxy reports "Client disconnected.", as for a silent upstream.
                return
            self._ended(flow, InjectedEnd.HANG_EXPIRED)
            flow.kill()
        elif isinstance(action, Reset):
            if mitm_internals.reset_client(flow):
                self._ended(flow, InjectedEnd.RESET)
            flow.kill()
        elif isinstance(action, CloseBeforeAnswer):
            self._ended(flow, InjectedEnd.CLOSE)
            flow.kill()
        elif isinstance(action, Bad101):
            self.pending_101[flow.id] = armed

    @staticmethod
    def _ended(flow: http.HTTPFlow, end: InjectedEnd) -> None:
        """Record how this fault ended the flow, so the watcher names the failure for it."""
        flow.metadata[events.FAULT_METADATA_KEY]["ended"] = end.value

    @staticmethod
    async def _hang(flow: http.HTTPFlow, max_s: float | None) -> bool:
        """Hold the request until the client gives up (True), or `max_s` passes (False)."""
        deadline = None if max_s is None else time.monotonic() + max_s
        while deadline is None or time.monotonic() < deadline:
            # timestamp_end is set once mitmproxy has queued the client's disconnect for the flow.
            if flow.client_conn.timestamp_end is not None:
                return True
            await asyncio.sleep(0.05)
        return flow.client_conn.timestamp_end is not None

    def response(self, flow: http.HTTPFlow) -> None:
        if flow.response is None or flow.response.status_code != 101:
            # No upgrade: a connection fault parked for this flow will never start.
            parked = self.armed.pop(flow.id, None)
            if parked is not None:
                self._release(parked)
        armed = self.pending_101.pop(flow.id, None)
        if armed is None or flow.response is None or flow.response.status_code != 101:
            return
        assert isinstance(armed.action, Bad101)
        headers = flow.response.headers
        defect = armed.action.defect
        if defect is Bad101Defect.WRONG_ACCEPT:
            headers["Sec-WebSocket-Accept"] = base64.b64encode(b"wswatch-wrong-accept").decode()
        elif defect is Bad101Defect.MISSING_UPGRADE:
            headers.pop("Upgrade", None)
        elif defect is Bad101Defect.MISSING_CONNECTION:
            headers.pop("Connection", None)
        elif defect is Bad101Defect.UNREQUESTED_SUBPROTOCOL:
            headers["Sec-WebSocket-Protocol"] = armed.action.subprotocol or "wswatch-unrequested"
        self._release(armed)

    def error(self, flow: http.HTTPFlow) -> None:
        for table in (self.pending_101, self.armed):
            armed = table.pop(flow.id, None)
            if armed is not None:
                self._release(armed)

    # Connection faults ----------------------------------------------------------------------

    def websocket_start(self, flow: http.HTTPFlow) -> None:
        self.open_flows[flow.id] = flow
        armed = self.armed.pop(flow.id, None) or self._choose(flow, Phase.CONNECTION)
        if armed is None:
            return
        self.armed[flow.id] = armed
        self._mark(flow, armed)
        flow.metadata[events.FAULT_METADATA_KEY]["redelivered"] = {"client": 0, "server": 0}
        action = armed.action
        if isinstance(action, Close | Drop | Stall) and action.after_s is not None:
            armed.timer = asyncio.get_running_loop().create_task(
                self._after(flow, armed, action.after_s)
            )
        elif isinstance(action, Stall) and action.after_messages is None:
            self._start_stall(flow, armed, action)
        if isinstance(action, PongFault):
            self.pong_faults[flow.client_conn.id] = (flow, armed)

    async def _after(self, flow: http.HTTPFlow, armed: ArmedFault, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self._trigger(flow, armed)

    def _trigger(self, flow: http.HTTPFlow, armed: ArmedFault) -> None:
        """The moment a close, drop or stall takes effect."""
        action = armed.action
        if isinstance(action, Stall):
            if armed.stall_until is None:
                self._start_stall(flow, armed, action)
            return
        if armed.fired:
            return
        armed.fired = True
        # Marked first: mitmproxy 12 may run the whole close, `websocket_end` included, before
        # close_websocket returns.
        mark = flow.metadata[events.FAULT_METADATA_KEY]
        mark["closed_by_proxy"] = True
        if isinstance(action, Close):
            as_client = action.toward is Toward.SERVER
            closing = mitm_internals.close_websocket(
                flow, action.code, action.reason, as_client=as_client
            )
        else:
            closing = mitm_internals.close_websocket(flow, 1006, "", as_client=False)
        if closing:
            return
        del mark["closed_by_proxy"]
        if flow.websocket is None or flow.websocket.timestamp_end is not None:
            self._not_applied(flow, armed, "the connection had already ended")
        else:
            self._not_applied(flow, armed, "mitmproxy's WebSocket layer for it was not found")

    def _not_applied(self, flow: http.HTTPFlow, armed: ArmedFault, why: str) -> None:
        """Say that a fault could not act, so no event claims an effect the peers never saw."""
        url, secrets = self.request_view(flow)
        self.event_log.emit(
            events.FAULT_NOT_APPLIED,
            {"rule_id": armed.rule_id, "action": armed.action.kind, "why": why, "url": url},
            flow_id=flow.id,
            secrets=secrets,
            level=logging.WARNING,
        )

    def _start_stall(self, flow: http.HTTPFlow, armed: ArmedFault, action: Stall) -> None:
        armed.stall_until = (
            float("inf") if action.for_s is None else time.monotonic() + action.for_s
        )
        if action.for_s is not None:
            armed.timer = asyncio.get_running_loop().create_task(
                self._end_stall(flow, armed, action.for_s)
            )

    async def _end_stall(self, flow: http.HTTPFlow, armed: ArmedFault, seconds: float) -> None:
        await asyncio.sleep(seconds)
        armed.stall_until = None
        held, armed.held = armed.held, []
        for message in held:
            self._deliver_held(flow, message)

    @staticmethod
    def _deliver_held(flow: http.HTTPFlow, message: websocket.WebSocketMessage) -> None:
        """Deliver a message a stall or delay held back (dropped on arrival): counted as
        redelivered, so `ws.closed` does not count it as dropped."""
        if mitm_internals.inject_message(flow, message):
            redelivered = flow.metadata[events.FAULT_METADATA_KEY]["redelivered"]
            redelivered["client" if message.from_client else "server"] += 1

    def websocket_message(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        """Synchronous on the per-message path; only a throttle wait is handed back to await."""
        assert flow.websocket is not None
        mitm_internals.forget_verbatim(flow)  # sent by now, unless its message was dropped
        message = flow.websocket.messages[-1]
        if mitm_internals.is_wakeup_message(message):
            message.drop()
            return None
        mitm_internals.restore_injected_text(flow, message)
        armed = self.armed.get(flow.id)
        if armed is None or message.injected:
            return None
        action = armed.action
        armed.messages += 1
        if (
            isinstance(action, Close | Drop | Stall)
            and action.after_messages is not None
            and armed.messages >= action.after_messages
        ):
            self._trigger(flow, armed)
        if isinstance(action, Stall) and armed.stall_until is not None:
            if _direction_covers(action.direction, message.from_client):
                message.drop()
                if armed.stall_until != float("inf"):
                    armed.held.append(message)
        elif isinstance(action, MessageFault):
            self._message_fault(flow, armed, action, message)
        elif isinstance(action, Throttle) and _direction_covers(
            action.direction, message.from_client
        ):
            now = time.monotonic()
            start = max(now, armed.next_send_at)
            armed.next_send_at = start + len(message.content) / action.bytes_per_s
            if start > now:
                return asyncio.sleep(start - now)
        return None

    def _message_fault(
        self,
        flow: http.HTTPFlow,
        armed: ArmedFault,
        action: MessageFault,
        message: websocket.WebSocketMessage,
    ) -> None:
        if not (
            _direction_covers(action.direction, message.from_client)
            and _type_covers(action.type, message)
        ):
            return
        if action.pattern is not None and not action.pattern.search(_searchable(message)):
            return
        if (
            action.probability < 1
            and armed.rule_id != CLIENT_REQUESTED
            and not self.schedule.sample(armed.rule_id, armed.client_ip, action.probability)
        ):
            return
        op = action.do
        if op is MessageOp.DROP:
            message.drop()
        elif op is MessageOp.DUPLICATE:
            mitm_internals.inject_message(flow, message)
        elif op is MessageOp.TRUNCATE:
            assert action.truncate_to is not None
            content = truncate(message.content, action.truncate_to, message.is_text)
            self._rewrite(flow, message, content)
        elif op is MessageOp.CORRUPT:
            self._rewrite(flow, message, corrupt(message.content, self.jitter, message.is_text))
        elif op is MessageOp.DELAY:
            assert action.delay_ms is not None
            message.drop()
            held = websocket.WebSocketMessage(message.type, message.from_client, message.content)
            asyncio.get_running_loop().call_later(
                action.delay_ms / 1000, self._deliver_held, flow, held
            )

    @staticmethod
    def _rewrite(flow: http.HTTPFlow, message: websocket.WebSocketMessage, content: bytes) -> None:
        """Forward `message` with `content`; a text one with exactly these bytes (mitmproxy
        would re-decode them, putting replacement characters where they are not UTF-8)."""
        message.content = content
        if message.is_text:
            mitm_internals.send_text_verbatim(flow, message)

    def _pong_filter(
        self, connection: websocket_layer.WebsocketConnection, event: wsproto.events.Event
    ) -> bool:
        """SendFilter: hold back or swallow pongs going to a client whose flow has a pong fault."""
        if not isinstance(event, wsproto.events.Pong) or mitm_internals.is_released_pong(event):
            return True
        entry = self.pong_faults.get(connection.conn.id)
        if entry is None:
            return True
        flow, armed = entry
        assert isinstance(armed.action, PongFault)
        if armed.action.do is PongOp.DELAY and armed.action.delay_ms is not None:
            asyncio.get_running_loop().call_later(
                armed.action.delay_ms / 1000,
                mitm_internals.release_pong,
                flow,
                bytes(event.payload),
            )
        return False

    def websocket_end(self, flow: http.HTTPFlow) -> None:
        self.open_flows.pop(flow.id, None)
        mitm_internals.forget_verbatim(flow)
        mitm_internals.forget_injected_text(flow)
        armed = self.armed.pop(flow.id, None)
        self.pong_faults.pop(flow.client_conn.id, None)
        if armed is not None:
            if armed.timer is not None:
                armed.timer.cancel()
            self._release(armed)
