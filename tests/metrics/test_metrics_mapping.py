"""Events -> metric updates: which metric, which labels, how much (pure)."""

from __future__ import annotations

from typing import Any

import pytest
from wswatchlib.metrics import catalog
from wswatchlib.metrics.mapping import MAX_GRADED_CLIENTS, EventMetrics, Operation, Update


def handshake(**fields: Any) -> dict[str, Any]:
    return {
        "event": "ws.handshake",
        "flow_id": "f1",
        "outcome": "accepted",
        "status": 101,
        "vendor": None,
        "host": "127.0.0.1",
        "duration_ms": 25.0,
        "failure": None,
        "injected": False,
        **fields,
    }


def closed(**fields: Any) -> dict[str, Any]:
    return {
        "event": "ws.closed",
        "flow_id": "f1",
        "close_code": 1000,
        "closed_by": "client",
        "clean": True,
        "duration_s": 2.5,
        "messages": {"client": 3, "server": 2},
        "bytes": {"client": 30, "server": 20},
        **fields,
    }


def added(updates: list[Update], metric: catalog.MetricSpec) -> list[tuple[tuple[str, ...], float]]:
    return [
        (u.labels, u.value) for u in updates if u.metric is metric and u.operation is Operation.ADD
    ]


def test_accepted_handshake_counts_attempt_duration_and_opens_a_connection() -> None:
    """An accepted ws.handshake: one attempt with its labels, its duration in seconds, +1 open."""
    updates = EventMetrics().updates(handshake(vendor="deepgram", host="API.Deepgram.com"))
    assert added(updates, catalog.HANDSHAKES) == [
        (("accepted", "1xx", "none", "deepgram", "api.deepgram.com", "false"), 1)
    ]
    assert [(u.labels, u.value) for u in updates if u.metric is catalog.HANDSHAKE_DURATION] == [
        (("accepted",), 0.025)
    ]
    assert added(updates, catalog.CONNECTIONS_ACTIVE) == [((), 1)]


@pytest.mark.parametrize(
    ("fields", "labels"),
    [
        ({"outcome": "rejected", "status": 401}, ("rejected", "4xx", "none")),
        ({"outcome": "rejected", "status": 503}, ("rejected", "5xx", "none")),
        (
            {"outcome": "failed", "status": None, "failure": "refused"},
            ("failed", "none", "refused"),
        ),
        ({"outcome": "failed", "status": None, "failure": "made-up"}, ("failed", "none", "other")),
        ({"outcome": "invalid", "status": 101}, ("invalid", "1xx", "none")),
        ({"outcome": "surprising", "status": 999}, ("other", "other", "none")),
    ],
)
def test_handshake_outcome_status_class_and_error_type_are_bounded(
    fields: dict[str, Any], labels: tuple[str, ...]
) -> None:
    """Outcome and failure kind from their closed sets, the status as its class, else `other`."""
    updates = EventMetrics().updates(handshake(**fields))
    [(values, _)] = added(updates, catalog.HANDSHAKES)
    assert values[:3] == labels
    assert added(updates, catalog.CONNECTIONS_ACTIVE) == []


def test_close_counts_code_closer_cleanness_duration_messages_bytes_and_closes_the_connection() -> (
    None
):
    """A ws.closed: its close, its duration, its per-direction counts, and -1 open."""
    metrics = EventMetrics()
    metrics.updates(handshake())
    updates = metrics.updates(closed())
    assert added(updates, catalog.CLOSES) == [(("1000", "client", "true"), 1)]
    assert [u.value for u in updates if u.metric is catalog.CONNECTION_DURATION] == [2.5]
    assert added(updates, catalog.MESSAGES) == [
        (("client_to_server",), 3),
        (("server_to_client",), 2),
    ]
    assert added(updates, catalog.PAYLOAD_BYTES) == [
        (("client_to_server",), 30),
        (("server_to_client",), 20),
    ]
    assert added(updates, catalog.CONNECTIONS_ACTIVE) == [((), -1)]


def test_close_without_an_accepted_handshake_does_not_drive_active_connections_negative() -> None:
    """A ws.closed whose flow was never counted open (bad_101, or metrics turned on later)."""
    updates = EventMetrics().updates(closed(flow_id="never-opened"))
    assert added(updates, catalog.CONNECTIONS_ACTIVE) == []
    assert added(updates, catalog.CLOSES) == [(("1000", "client", "true"), 1)]


def test_raw_tcp_close_adds_no_messages_or_bytes() -> None:
    """A raw TCP relay's ws.closed has null counts: nothing is added, and its close counts."""
    updates = EventMetrics().updates(
        closed(messages=None, bytes=None, close_code=None, closed_by=None, clean=False)
    )
    assert added(updates, catalog.MESSAGES) == added(updates, catalog.PAYLOAD_BYTES) == []
    assert added(updates, catalog.CLOSES) == [(("none", "none", "false"), 1)]


def test_close_codes_beyond_their_slots_and_malformed_ones_are_other() -> None:
    """Peers choose 3000-4999 freely: 64 codes keep their label, the rest and junk are `other`."""
    metrics = EventMetrics()
    labels = [
        added(metrics.updates(closed(flow_id=code, close_code=code)), catalog.CLOSES)[0][0][0]
        for code in range(4000, 4070)
    ]
    assert labels[:64] == [str(code) for code in range(4000, 4064)]
    assert labels[64:] == ["other"] * 6
    assert added(metrics.updates(closed(close_code=4000)), catalog.CLOSES)[0][0][0] == "4000"
    assert added(metrics.updates(closed(close_code=99999)), catalog.CLOSES)[0][0][0] == "other"


@pytest.mark.parametrize(
    "planted",
    [
        "ws://127.0.0.1/x?token=SECRET",
        "Bearer SECRET",
        "[REDACTED]",
        "deepgram SECRET",
        "a" * 300,
    ],
)
def test_free_text_in_vendor_host_or_rule_fields_never_becomes_a_label(planted: str) -> None:
    """A field holding text that is not a name (a URL, a credential, a marker) is `other`."""
    metrics = EventMetrics()
    updates = [
        *metrics.updates(handshake(vendor=planted, host=planted)),
        *metrics.updates(
            {
                "event": "fault.injected",
                "flow_id": "f2",
                "rule_id": planted,
                "action": planted,
                "phase": "handshake",
            }
        ),
        *metrics.updates(
            {
                "event": "client.verdict",
                "client_id": planted,
                "findings": [{"rule": planted, "severity": planted}],
            }
        ),
    ]
    values = {value for update in updates for value in update.labels}
    assert planted not in values
    assert "other" in values


def test_handshake_fault_is_active_until_its_flows_handshake() -> None:
    """fault.injected counts once and is in effect until the flow's ws.handshake."""
    metrics = EventMetrics()
    injected = metrics.updates(
        {
            "event": "fault.injected",
            "flow_id": "f1",
            "rule_id": "deny",
            "action": "reject",
            "phase": "handshake",
        }
    )
    assert added(injected, catalog.FAULTS_INJECTED) == [(("deny", "reject"), 1)]
    assert added(injected, catalog.FAULTS_ACTIVE) == [(("deny", "reject"), 1)]
    ended = metrics.updates(handshake(outcome="rejected", status=401, injected=True))
    assert added(ended, catalog.FAULTS_ACTIVE) == [(("deny", "reject"), -1)]
    assert added(ended, catalog.HANDSHAKES)[0][0][5] == "true"


def test_connection_fault_is_active_until_its_flows_close() -> None:
    """A connection fault stays in effect past the handshake, until ws.closed."""
    metrics = EventMetrics()
    metrics.updates(handshake())
    metrics.updates(
        {
            "event": "fault.injected",
            "flow_id": "f1",
            "rule_id": "cut",
            "action": "close",
            "phase": "connection",
        }
    )
    assert added(metrics.updates(handshake(flow_id="f9")), catalog.FAULTS_ACTIVE) == []
    ended = metrics.updates(closed(closed_by="proxy", close_code=1011))
    assert added(ended, catalog.FAULTS_ACTIVE) == [(("cut", "close"), -1)]


def test_verdict_findings_gauge_follows_each_clients_latest_verdict() -> None:
    """A finding counts once per client while its latest verdict has it, not per grading."""
    metrics = EventMetrics()

    def verdict(client: str, *rules: str) -> list[tuple[tuple[str, ...], float]]:
        findings = [{"rule": rule, "severity": "error"} for rule in rules]
        return added(
            metrics.updates({"event": "client.verdict", "client_id": client, "findings": findings}),
            catalog.VERDICT_FINDINGS,
        )

    assert verdict("c-1", "hot-loop") == [(("hot-loop", "error"), 1)]
    assert verdict("c-1", "hot-loop") == []
    assert verdict("c-1", "retry-after") == [
        (("hot-loop", "error"), -1),
        (("retry-after", "error"), 1),
    ]
    assert verdict("c-2", "retry-after") == [(("retry-after", "error"), 1)]


def test_verdict_findings_of_clients_past_the_bound_are_forgotten_oldest_first() -> None:
    """Memory is bounded: the least recently graded client's findings leave the gauge."""
    metrics = EventMetrics()
    for number in range(MAX_GRADED_CLIENTS):
        metrics.updates(
            {
                "event": "client.verdict",
                "client_id": f"c-{number}",
                "findings": [{"rule": "jitter", "severity": "warning"}],
            }
        )
    updates = metrics.updates({"event": "client.verdict", "client_id": "new", "findings": []})
    assert added(updates, catalog.VERDICT_FINDINGS) == [(("jitter", "warning"), -1)]
    assert len(metrics.findings) == MAX_GRADED_CLIENTS


@pytest.mark.parametrize("name", ["session.summary", "fault.rules_loaded", "fault.rules_rejected"])
def test_events_without_metrics_make_no_updates(name: str) -> None:
    """Only handshakes, closes, injected faults and verdicts are counted."""
    assert EventMetrics().updates({"event": name, "rules": ["a"]}) == []


def test_every_update_names_a_catalogued_metric_with_one_value_per_label() -> None:
    """The mapping never makes an update the exporter could not apply."""
    metrics = EventMetrics()
    updates = [
        *metrics.updates(handshake()),
        *metrics.updates(
            {
                "event": "fault.injected",
                "flow_id": "f1",
                "rule_id": "r",
                "action": "close",
                "phase": "connection",
            }
        ),
        *metrics.updates(closed()),
        *metrics.updates(
            {
                "event": "client.verdict",
                "client_id": "c",
                "findings": [{"rule": "cap", "severity": "warning"}],
            }
        ),
    ]
    assert {u.metric for u in updates} == set(catalog.CATALOG)
    for update in updates:
        assert len(update.labels) == len(update.metric.labels), update
        assert update.metric.kind is not catalog.Kind.COUNTER or update.value > 0
