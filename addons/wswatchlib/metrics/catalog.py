"""Every wswatch metric: name, type, labels, help and buckets, in one table.

Names follow Prometheus conventions (`wswatch_` prefix, base units in the name, `_total` on
counters; prometheus_client adds `_total` itself, so a counter's name here ends without it);
labels take OpenTelemetry's HTTP attribute names with underscores where one exists
(`error_type`, `server_address`). The exporter creates exactly these; the table in
docs/report-and-metrics.md is checked against them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Kind(enum.StrEnum):
    """The Prometheus metric types wswatch uses."""

    #: Only goes up; exposed as NAME_total.
    COUNTER = "counter"
    #: Goes up and down: what is in effect now.
    GAUGE = "gauge"
    #: Observed values in cumulative buckets, with _sum and _count.
    HISTOGRAM = "histogram"


@dataclass(frozen=True, slots=True)
class MetricSpec:
    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()

    @property
    def exposed_name(self) -> str:
        """The family name a scrape shows (counters get `_total` there)."""
        return f"{self.name}_total" if self.kind is Kind.COUNTER else self.name


#: Handshakes take milliseconds to seconds (a `hang` fault or a slow upstream: tens of seconds).
HANDSHAKE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
#: Connections last from a flapping fraction of a second to hours.
CONNECTION_BUCKETS = (0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14400.0)

HANDSHAKES = MetricSpec(
    "wswatch_handshakes",
    Kind.COUNTER,
    "WebSocket upgrade attempts (ws.handshake events), by outcome and answer.",
    ("outcome", "status_class", "error_type", "vendor", "server_address", "injected"),
)
HANDSHAKE_DURATION = MetricSpec(
    "wswatch_handshake_duration_seconds",
    Kind.HISTOGRAM,
    "From an upgrade request's start to its answer or failure (ws.handshake duration_ms).",
    ("outcome",),
    HANDSHAKE_BUCKETS,
)
CONNECTIONS_ACTIVE = MetricSpec(
    "wswatch_connections_active",
    Kind.GAUGE,
    "Upgraded connections open now: accepted handshakes whose ws.closed has not come yet.",
)
CONNECTION_DURATION = MetricSpec(
    "wswatch_connection_duration_seconds",
    Kind.HISTOGRAM,
    "Lifetime of upgraded connections, observed when they close (ws.closed duration_s).",
    (),
    CONNECTION_BUCKETS,
)
CLOSES = MetricSpec(
    "wswatch_connection_closes",
    Kind.COUNTER,
    "Ends of upgraded connections (ws.closed events), by close code, who closed and cleanness.",
    ("close_code", "closed_by", "clean"),
)
MESSAGES = MetricSpec(
    "wswatch_messages",
    Kind.COUNTER,
    "Data messages relayed, counted when their connection closes (ws.closed messages).",
    ("direction",),
)
PAYLOAD_BYTES = MetricSpec(
    "wswatch_message_payload_bytes",
    Kind.COUNTER,
    "Payload bytes of data messages relayed, counted when their connection closes.",
    ("direction",),
)
FAULTS_INJECTED = MetricSpec(
    "wswatch_faults_injected",
    Kind.COUNTER,
    "Faults that took effect (fault.injected events), by rule and action.",
    ("rule_id", "action"),
)
FAULTS_ACTIVE = MetricSpec(
    "wswatch_faults_active",
    Kind.GAUGE,
    "Injected faults in effect now: a handshake fault until its ws.handshake, a connection "
    "fault until its ws.closed.",
    ("rule_id", "action"),
)
VERDICT_FINDINGS = MetricSpec(
    "wswatch_verdict_findings",
    Kind.GAUGE,
    "Clients whose latest client.verdict has a finding of this rule and severity.",
    ("rule", "severity"),
)

CATALOG: tuple[MetricSpec, ...] = (
    HANDSHAKES,
    HANDSHAKE_DURATION,
    CONNECTIONS_ACTIVE,
    CONNECTION_DURATION,
    CLOSES,
    MESSAGES,
    PAYLOAD_BYTES,
    FAULTS_INJECTED,
    FAULTS_ACTIVE,
    VERDICT_FINDINGS,
)
