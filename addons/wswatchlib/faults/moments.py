"""Addon: faults that strike every open connection at once: `when.at_s` moments of the session
and the `wswatch.disconnect_all` command. It picks the connections (a moment's rule must match
and decide to fire for each); the connection faults close them (`ConnectionFaults.strike`).
"""

from __future__ import annotations

import asyncio
import logging

from mitmproxy import command, exceptions

from .. import mitm_internals
from .connection_faults import ConnectionFaults
from .rulebook import ArmedFault, FaultRules, request_facts
from .rules import disconnect_action
from .spec import matches

logger = logging.getLogger("wswatch")

#: The rule id reported for connections closed by the `wswatch.disconnect_all` command.
DISCONNECT_ALL = "wswatch.disconnect_all"


class Moments:
    def __init__(self, rules: FaultRules, connections: ConnectionFaults) -> None:
        self.rules = rules
        self.connections = connections
        self.moment_timers: list[asyncio.TimerHandle] = []
        rules.on_install.append(self._arm_moments)

    def done(self) -> None:
        for timer in self.moment_timers:
            timer.cancel()
        mitm_internals.remove_send_filter(
            mitm_internals.keep_abnormal_closes_abnormal, DISCONNECT_ALL
        )

    @command.command("wswatch.disconnect_all")
    def disconnect_all(self, code: int, reason: str = "") -> int:
        """Close every open WebSocket now with a close code (1006: drop, no close frame)."""
        try:
            action = disconnect_action(code, reason)
        except ValueError as error:
            raise exceptions.CommandError(f"{DISCONNECT_ALL}: {error}") from None
        mitm_internals.add_send_filter(mitm_internals.keep_abnormal_closes_abnormal, DISCONNECT_ALL)
        targets = self.connections.strikable()
        for flow in targets:
            client_ip = flow.client_conn.peername[0] if flow.client_conn.peername else ""
            self.connections.strike(flow, ArmedFault(DISCONNECT_ALL, action, client_ip))
        logger.info(f"{DISCONNECT_ALL}: closing {len(targets)} WebSocket(s) with {code}")
        return len(targets)

    def _arm_moments(self) -> None:
        """(Re)arm one timer per `at_s` moment still to come, for the rules now loaded."""
        for timer in self.moment_timers:
            timer.cancel()
        loop = asyncio.get_running_loop()
        self.moment_timers = [
            loop.call_later(delay, self._moment, rule_id)
            for rule_id, delay in self.rules.schedule.moments()
        ]

    def _moment(self, rule_id: str) -> None:
        """An `at_s` moment: strike each open WebSocket the rule matches and decides to hit."""
        schedule = self.rules.schedule
        if not schedule.take_moment(rule_id):
            return
        rule = self.rules.rule(rule_id)
        for flow in self.connections.strikable():
            facts = request_facts(flow)
            # decide() counts an attempt, so it is asked only for connections it could strike.
            if matches(rule.match, facts) and schedule.decide(rule.id, facts.client_ip):
                self.connections.strike(flow, ArmedFault(rule.id, rule.action, facts.client_ip))
