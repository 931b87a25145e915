"""Addon: the fault rules in force, and what every fault shares.

Owns the `wswatch_faults` and `wswatch_fault_header` options, the rule files and their reload
(checked every second), the schedule that decides whether a matching rule fires, the runtime
commands (`wswatch.faults`, `wswatch.fault.enable|disable|reset`), and how a fault is recorded:
its mark on the flow (`events.FaultMark`) and its `fault.injected` / `fault.not_applied` events.
The handshake and connection fault addons ask it which fault applies and act on the answer.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mitmproxy import command, ctx, exceptions, http

from .. import events
from ..options.errors import logs_option_errors_until_running
from ..output.event_log import EventLog
from ..text import split_tokens
from ..watch.handshake import header_map
from .header import HEADER, parse_fault_header
from .rules import FaultRulesError, load_presets, load_rule_files
from .schedule import FaultSchedule
from .spec import Action, Phase, RequestFacts, Rule, matches

logger = logging.getLogger("wswatch")

#: The rule id reported for faults a client asked for with the fault header.
CLIENT_REQUESTED = "client-requested"

#: How often rule files are checked for changes on disk, in seconds.
RELOAD_POLL_S = 1.0

#: The redacted `ws://` URL of a flow and the secret values its request carries.
RequestView = Callable[[http.HTTPFlow], tuple[str, frozenset[str]]]


@dataclass
class ArmedFault:
    """A fault chosen for one flow: its rule, its action and the client it counts for."""

    rule_id: str
    action: Action
    client_ip: str
    released: bool = False


@dataclass(frozen=True, slots=True)
class BadFaultHeader:
    """A client asked for a fault with a header wswatch cannot parse: it gets a 400 saying why."""

    message: str


def request_facts(flow: http.HTTPFlow) -> RequestFacts:
    """What a rule's `match` looks at in a flow's upgrade request."""
    headers = header_map(flow.request.headers)
    return RequestFacts(
        host=flow.request.host,
        path=flow.request.path.split("?", 1)[0],
        scheme="wss" if flow.request.scheme == "https" else "ws",
        client_ip=flow.client_conn.peername[0] if flow.client_conn.peername else "",
        headers=tuple(headers.items()),
        subprotocols=tuple(split_tokens(headers.get("sec-websocket-protocol"))),
    )


@logs_option_errors_until_running
class FaultRules:
    def __init__(self, event_log: EventLog, request_view: RequestView) -> None:
        self.event_log = event_log
        self.request_view = request_view
        self.rules: list[Rule] = []
        self.schedule = FaultSchedule([])
        self.presets: dict[str, dict[str, Any]] = {}
        self.file_stamps: dict[str, float | None] = {}
        self.reload_task: asyncio.Task[None] | None = None
        #: Called once the proxy runs and whenever the rules change while it runs.
        self.on_install: list[Callable[[], None]] = []

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

    @property
    def active(self) -> bool:
        """Whether any fault can happen: rules are loaded, or clients may ask for one."""
        return bool(self.rules) or bool(ctx.options.wswatch_fault_header)

    def _install(self, rules: list[Rule]) -> None:
        self.rules = rules
        self.schedule.replace_rules(rules)
        if self.reload_task is not None:  # at start-up the event log is not configured yet
            self._installed()

    def _installed(self) -> None:
        if self.rules:
            self.event_log.emit(
                "fault.rules_loaded",
                {
                    "rules": [rule.id for rule in self.rules],
                    "files": sorted({r.source for r in self.rules}),
                },
            )
        for listener in self.on_install:
            listener()

    @staticmethod
    def _stamp(path: str) -> float | None:
        try:
            return os.stat(path).st_mtime_ns
        except OSError:
            return None

    def running(self) -> None:
        self._installed()
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

    # Choosing a fault -----------------------------------------------------------------------

    def choose(self, flow: http.HTTPFlow, phase: Phase) -> ArmedFault | None:
        """The first rule of `phase` that matches this flow and decides to fire."""
        if not self.rules:  # the usual case: no facts to gather
            return None
        facts = request_facts(flow)
        for rule in self.rules:
            # decide() counts an attempt, so it is asked only once the rule matches.
            if (
                rule.action.phase is phase
                and rule.when.at_s is None  # a moment strikes open connections
                and matches(rule.match, facts)
                and self.schedule.decide(rule.id, facts.client_ip)
            ):
                return ArmedFault(rule.id, rule.action, facts.client_ip)
        return None

    def may_match_connection(self, flow: http.HTTPFlow) -> bool:
        """Whether a connection-phase rule (an `at_s` moment too) matches this flow, whatever
        the rule's schedule would decide."""
        connection_rules = [rule for rule in self.rules if rule.action.phase is Phase.CONNECTION]
        if not connection_rules:
            return False
        facts = request_facts(flow)
        return any(matches(rule.match, facts) for rule in connection_rules)

    def rule(self, rule_id: str) -> Rule:
        return next(rule for rule in self.rules if rule.id == rule_id)

    def client_requested(self, flow: http.HTTPFlow) -> ArmedFault | BadFaultHeader | None:
        """The fault a client asked for (header stripped), a 400 for a bad header, or None."""
        if not ctx.options.wswatch_fault_header or HEADER not in flow.request.headers:
            return None
        value = flow.request.headers.pop(HEADER)
        client_ip = flow.client_conn.peername[0] if flow.client_conn.peername else ""
        try:
            return ArmedFault(CLIENT_REQUESTED, parse_fault_header(value, self.presets), client_ip)
        except FaultRulesError as error:
            return BadFaultHeader(f"wswatch: {error}\n")

    def sample(self, armed: ArmedFault, probability: float) -> bool:
        """One seeded draw of a message fault's `probability` for its rule (and client); a
        fault the client asked for always applies."""
        if armed.rule_id == CLIENT_REQUESTED:
            return True
        return self.schedule.sample(armed.rule_id, armed.client_ip, probability)

    def release(self, armed: ArmedFault) -> None:
        """The fault is over: its rule's `max_active` counts one fewer (once per fault)."""
        if not armed.released and armed.rule_id != CLIENT_REQUESTED:
            self.schedule.release(armed.rule_id, armed.client_ip)
        armed.released = True

    # Recording a fault ----------------------------------------------------------------------

    def mark(self, flow: http.HTTPFlow, armed: ArmedFault) -> None:
        """Mark `flow` as disturbed by `armed` and log `fault.injected`."""
        events.FaultMark(armed.rule_id, armed.action.kind).put(flow.metadata)
        self._log_injected(flow, armed, {"params": armed.action.params()})

    def step_acted(
        self, flow: http.HTTPFlow, armed: ArmedFault, step: int, details: dict[str, Any]
    ) -> None:
        """A script's step acted on `flow`: mark the flow (from its first acting step on, so a
        script that only waited claims nothing) and log `fault.injected` for that step."""
        if events.FaultMark.of(flow.metadata) is None:
            events.FaultMark(armed.rule_id, armed.action.kind).put(flow.metadata)
        self._log_injected(flow, armed, {"step": step, "params": details})

    def _log_injected(self, flow: http.HTTPFlow, armed: ArmedFault, what: dict[str, Any]) -> None:
        url, secrets = self.request_view(flow)
        self.event_log.emit(
            events.FAULT_INJECTED,
            {
                "rule_id": armed.rule_id,
                "action": armed.action.kind,
                "phase": armed.action.phase.value,
                **what,
                "url": url,
            },
            flow_id=flow.id,
            secrets=secrets,
            level=logging.WARNING,
        )

    def not_applied(self, flow: http.HTTPFlow, armed: ArmedFault, why: str) -> None:
        """Say that a fault could not act, so no event claims an effect the peers never saw."""
        url, secrets = self.request_view(flow)
        self.event_log.emit(
            events.FAULT_NOT_APPLIED,
            {"rule_id": armed.rule_id, "action": armed.action.kind, "why": why, "url": url},
            flow_id=flow.id,
            secrets=secrets,
            level=logging.WARNING,
        )
