"""A wswatch event, as the event log writes it, -> the metric updates it makes.

`EventMetrics.updates(event)` is the whole decision: which metric (`catalog`), which label
values (`labels`), add or observe what. It keeps the little state that gauges need, bounded by
what is open now: the flow ids of open connections and of flows with a fault in effect, and the
latest findings of at most `MAX_GRADED_CLIENTS` clients. Messages and bytes are counted from a
connection's `ws.closed` (its `messages` / `bytes` counts), not per message, so the relay's hot
path pays nothing for metrics.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .. import events
from ..events import Outcome
from ..watch.network_errors import FailureKind
from . import catalog, labels
from .catalog import MetricSpec

#: Clients whose latest verdict findings are remembered (least recently graded forgotten first).
MAX_GRADED_CLIENTS = 10_000

#: `closed_by` values of ws.closed.
CLOSERS = frozenset({"client", "server", "proxy"})
#: Severities of verdict findings (verdicts.findings.Severity labels).
#: Label values checked once per event: built once, not per call.
OUTCOMES = frozenset(Outcome)
FAILURE_KINDS = frozenset(FailureKind)
SEVERITIES = frozenset({"info", "warning", "error"})
#: Sides of a connection in ws.closed's per-side counts -> the `direction` label.
DIRECTIONS = {"client": "client_to_server", "server": "server_to_client"}


class Operation(enum.StrEnum):
    """What an update does to its metric."""

    #: Add the value to a counter or gauge.
    ADD = "add"
    #: Observe the value in a histogram.
    OBSERVE = "observe"


@dataclass(frozen=True, slots=True)
class Update:
    metric: MetricSpec
    labels: tuple[str, ...]
    operation: Operation
    value: float


def _add(metric: MetricSpec, *label_values: str, value: float = 1) -> Update:
    return Update(metric, label_values, Operation.ADD, value)


def _observe(metric: MetricSpec, value: float, *label_values: str) -> Update:
    return Update(metric, label_values, Operation.OBSERVE, value)


def _number(value: Any) -> float | None:
    """A non-negative finite number from an event field, else None."""
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < 1e12:
        return float(value)
    return None


class EventMetrics:
    """Turns each written event into metric updates; one per exporter (its label slots and
    gauge state belong to one registry)."""

    def __init__(self) -> None:
        self.vendors = labels.vendors()
        self.server_addresses = labels.server_addresses()
        self.close_codes = labels.close_codes()
        self.fault_rules = labels.fault_rule_ids()
        self.fault_actions = labels.fault_actions()
        self.verdict_rules = labels.verdict_rules()
        #: Flow ids of accepted upgrades whose ws.closed has not come yet.
        self.open_flows: set[Any] = set()
        #: Flow id -> (phase, rule label, action label) of a fault in effect on it.
        self.active_faults: dict[Any, tuple[str, str, str]] = {}
        #: Client id -> the (rule, severity) labels of its latest verdict's findings.
        self.findings: OrderedDict[str, frozenset[tuple[str, str]]] = OrderedDict()

    def updates(self, event: Mapping[str, Any]) -> list[Update]:
        name = event.get("event")
        if name == events.HANDSHAKE:
            return self._handshake(event)
        if name == events.CLOSED:
            return self._closed(event)
        if name == events.FAULT_INJECTED:
            return self._fault(event)
        if name == events.CLIENT_VERDICT:
            return self._verdict(event)
        return []

    def _handshake(self, event: Mapping[str, Any]) -> list[Update]:
        outcome = labels.one_of(event.get("outcome"), OUTCOMES)
        failure = labels.one_of(event.get("failure"), FAILURE_KINDS)
        host = event.get("host")
        found = [
            _add(
                catalog.HANDSHAKES,
                outcome,
                labels.status_class(event.get("status")),
                failure,
                self.vendors.label(event.get("vendor")),
                self.server_addresses.label(host.lower() if isinstance(host, str) else host),
                labels.boolean(event.get("injected")),
            )
        ]
        duration_ms = _number(event.get("duration_ms"))
        if duration_ms is not None:
            found.append(_observe(catalog.HANDSHAKE_DURATION, duration_ms / 1000, outcome))
        flow_id = event.get("flow_id")
        if outcome == Outcome.ACCEPTED and flow_id is not None and flow_id not in self.open_flows:
            self.open_flows.add(flow_id)
            found.append(_add(catalog.CONNECTIONS_ACTIVE))
        found += self._fault_ended(flow_id, "handshake")
        return found

    def _closed(self, event: Mapping[str, Any]) -> list[Update]:
        found = [
            _add(
                catalog.CLOSES,
                self.close_codes.label(event.get("close_code")),
                labels.one_of(event.get("closed_by"), CLOSERS),
                labels.boolean(event.get("clean")),
            )
        ]
        duration_s = _number(event.get("duration_s"))
        if duration_s is not None:
            found.append(_observe(catalog.CONNECTION_DURATION, duration_s))
        for metric, counts in ((catalog.MESSAGES, "messages"), (catalog.PAYLOAD_BYTES, "bytes")):
            per_side = event.get(counts)
            if not isinstance(per_side, Mapping):
                continue  # a raw TCP relay: frames were not parsed
            for side, direction in DIRECTIONS.items():
                count = _number(per_side.get(side))
                if count:
                    found.append(_add(metric, direction, value=count))
        flow_id = event.get("flow_id")
        if flow_id in self.open_flows:
            self.open_flows.discard(flow_id)
            found.append(_add(catalog.CONNECTIONS_ACTIVE, value=-1))
        found += self._fault_ended(flow_id, None)
        return found

    def _fault(self, event: Mapping[str, Any]) -> list[Update]:
        rule = self.fault_rules.label(event.get("rule_id"))
        action = self.fault_actions.label(event.get("action"))
        found = [_add(catalog.FAULTS_INJECTED, rule, action)]
        flow_id = event.get("flow_id")
        if flow_id is not None and flow_id not in self.active_faults:
            phase = str(event.get("phase"))
            self.active_faults[flow_id] = (phase, rule, action)
            found.append(_add(catalog.FAULTS_ACTIVE, rule, action))
        return found

    def _fault_ended(self, flow_id: Any, phase: str | None) -> list[Update]:
        """A handshake fault ends with its flow's ws.handshake, any fault with its ws.closed."""
        active = self.active_faults.get(flow_id)
        if active is None or (phase is not None and active[0] != phase):
            return []
        del self.active_faults[flow_id]
        return [_add(catalog.FAULTS_ACTIVE, active[1], active[2], value=-1)]

    def _verdict(self, event: Mapping[str, Any]) -> list[Update]:
        client_id = str(event.get("client_id"))
        now = frozenset(
            (
                self.verdict_rules.label(finding.get("rule")),
                labels.one_of(finding.get("severity"), SEVERITIES),
            )
            for finding in event.get("findings") or ()
            if isinstance(finding, Mapping)
        )
        before = self.findings.pop(client_id, frozenset())
        self.findings[client_id] = now
        if len(self.findings) > MAX_GRADED_CLIENTS:
            _, forgotten = self.findings.popitem(last=False)
            before_forgotten = [
                _add(catalog.VERDICT_FINDINGS, *pair, value=-1) for pair in sorted(forgotten)
            ]
        else:
            before_forgotten = []
        return [
            *before_forgotten,
            *(_add(catalog.VERDICT_FINDINGS, *pair, value=-1) for pair in sorted(before - now)),
            *(_add(catalog.VERDICT_FINDINGS, *pair) for pair in sorted(now - before)),
        ]
