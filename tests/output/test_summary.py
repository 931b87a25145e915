"""Session summary: attempts per host and outcome, top failure reasons, closes and injections,
counted from the events as written."""

from __future__ import annotations

from typing import Any

import pytest
from wswatchlib.output.summary import SessionSummary, failure_reason

DG = "api.deepgram.com"
LOCAL = "localhost"


def handshake(host: str, outcome: str, **fields: Any) -> dict[str, Any]:
    """A written ws.handshake event with the fields the summary reads."""
    return {"event": "ws.handshake", "host": host, "outcome": outcome, **fields}


def closed(code: int | None, clean: bool, **fields: Any) -> dict[str, Any]:
    return {"event": "ws.closed", "close_code": code, "clean": clean, **fields}


def fed(*written: dict[str, Any]) -> SessionSummary:
    summary = SessionSummary()
    for event in written:
        summary.observe(event)
    return summary


DG_401 = {"status": 401, "error": "Invalid credentials.", "reason": "Unauthorized"}
REFUSED = {"failure": "refused", "reason": "connection refused"}


def sample() -> SessionSummary:
    """Four attempts on two hosts and three closes, two of them with injected faults."""
    return fed(
        handshake(DG, "accepted"),
        handshake(DG, "rejected", **DG_401, injected=True, rule_id="auth"),
        handshake(DG, "rejected", **DG_401),
        handshake(LOCAL, "failed", **REFUSED),
        closed(1000, True),
        closed(1006, False, injected=True, rule_id="drop"),
        closed(None, False),
        {"event": "fault.injected", "rule_id": "auth", "injected": True},
    )


def test_fields_count_attempts_per_host_and_outcome() -> None:
    """Attempts are counted in total and per host and outcome, hosts sorted."""
    fields = sample().fields()
    assert fields["attempts"] == 4
    assert fields["hosts"] == {DG: {"accepted": 1, "rejected": 2}, LOCAL: {"failed": 1}}
    assert list(fields["hosts"]) == [DG, LOCAL]


def test_fields_count_closes_by_code_and_cleanliness() -> None:
    """Closes are counted by code, abnormal ones marked, a missing code shown as 'none'."""
    assert sample().fields()["closes"] == {"1000": 1, "1006 (abnormal)": 1, "none (abnormal)": 1}


def test_fields_count_injections_and_rule_hits() -> None:
    """Injected handshakes and closes are counted, and each rule's hits."""
    fields = sample().fields()
    assert (fields["injected"], fields["rule_hits"]) == (2, {"auth": 1, "drop": 1})


def test_rule_hit_without_injection_counts_only_the_rule() -> None:
    """A rule that matched without injecting counts a hit but no injection."""
    summary = fed(handshake(DG, "accepted", rule_id="observe"))
    assert (summary.injected, dict(summary.rule_hits)) == (0, {"observe": 1})


def test_accepted_and_reasonless_attempts_add_no_failure_reason() -> None:
    """Only attempts that did not succeed and have a reason count as failure reasons."""
    summary = fed(
        handshake(DG, "accepted", problems=[]),
        handshake(DG, "invalid", problems=["response_bad_accept"]),
    )
    assert summary.fields()["top_failure_reasons"] == [
        {"reason": "response_bad_accept", "count": 1}
    ]


def test_top_failure_reasons_most_frequent_first_and_limited() -> None:
    """Reasons are listed by count, ties in first-seen order, cut at `top`."""
    summary = fed(*(handshake(DG, "failed", failure=kind, reason="r") for kind in "bacacad"))
    assert summary.fields(top=3)["top_failure_reasons"] == [
        {"reason": "a: r", "count": 3},
        {"reason": "c: r", "count": 2},
        {"reason": "b: r", "count": 1},
    ]


def test_table_lines() -> None:
    """The table has a header, one row per host with counts per outcome, then the top reasons."""
    assert sample().table() == [
        "host              accepted  rejected    failed   invalid",
        "api.deepgram.com         1         2         0         0",
        "localhost                0         0         1         0",
        "top failure reasons:",
        "     2  401 Invalid credentials.",
        "     1  refused: connection refused",
    ]


def test_table_of_empty_session_is_header_only() -> None:
    """A session without attempts prints only the header, at least as wide as 'host'."""
    assert SessionSummary().table() == ["host  accepted  rejected    failed   invalid"]


def test_empty_session_fields() -> None:
    """A session without attempts has zero counts and empty tables."""
    assert SessionSummary().fields() == {
        "attempts": 0,
        "hosts": {},
        "top_failure_reasons": [],
        "closes": {},
        "injected": 0,
        "rule_hits": {},
        "verdicts": {},
        "findings": [],
        "protocol_violations": {},
    }


def test_connections_on_which_a_peer_broke_rfc6455_are_counted_by_side_and_rule() -> None:
    """Either relay names the rule on ws.closed; the summary counts connections per side and
    rule, and its table lists them."""
    summary = SessionSummary()
    broken = {"event": "ws.closed", "close_code": 1000, "clean": True}
    for violated_by, violation in [
        ("server", "server_masked_frame"),
        ("server", "server_masked_frame"),
        ("client", "client_unmasked_frame"),
    ]:
        summary.observe({**broken, "violation": violation, "violated_by": violated_by})
    summary.observe({**broken})
    assert summary.fields()["protocol_violations"] == {
        "server server_masked_frame": 2,
        "client client_unmasked_frame": 1,
    }
    table = summary.table()
    start = table.index("RFC 6455 violations (connections):")
    assert table[start + 1 : start + 3] == [
        "     2  server server_masked_frame",
        "     1  client client_unmasked_frame",
    ]


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (handshake(DG, "rejected", **DG_401), "401 Invalid credentials."),
        (
            handshake(DG, "rejected", status=503, error=None, reason="Unavailable"),
            "503 Unavailable",
        ),
        (handshake(DG, "rejected", status=418), "418"),
        (handshake(LOCAL, "failed", **REFUSED), "refused: connection refused"),
        (handshake(DG, "invalid", problems=["response_bad_accept", "x"]), "response_bad_accept, x"),
        (handshake(DG, "accepted", problems=[]), None),
    ],
    ids=["rejected-error", "rejected-reason", "rejected-bare", "failed", "invalid", "accepted"],
)
def test_failure_reason_is_read_from_the_written_event(event: dict, expected: str | None) -> None:
    """The reason groups attempts by status and error, failure kind, or problems."""
    assert failure_reason(event) == expected


def test_events_other_than_handshakes_and_closes_are_not_counted() -> None:
    """fault.injected and the like neither count as attempts nor as injections."""
    summary = fed({"event": "fault.injected", "injected": True, "rule_id": "r"})
    assert summary.fields()["attempts"] == 0 and summary.injected == 0


def verdict(client_id: str, worst: str, *findings: tuple[str, str, str]) -> dict[str, Any]:
    """A written client.verdict event with (severity, rule, summary) findings."""
    return {
        "event": "client.verdict",
        "client_id": client_id,
        "worst": worst,
        "findings": [
            {"severity": sev, "rule": rule, "summary": text, "client_id": client_id, "hint": "h"}
            for sev, rule, text in findings
        ],
    }


def test_client_verdicts_are_counted_and_their_findings_listed() -> None:
    """Clients are counted by worst severity; findings keep severity, client, rule, summary."""
    summary = fed(
        verdict("c-1", "error", ("error", "hot-loop", "11 attempts"), ("warning", "jitter", "no")),
        verdict("c-2", "ok"),
        verdict("(fleet)", "info", ("info", "herd", "spread p50 2 s")),
    )
    fields = summary.fields()
    assert fields["verdicts"] == {"error": 1, "ok": 1, "info": 1}
    assert fields["findings"][0] == {
        "severity": "error",
        "client_id": "c-1",
        "rule": "hot-loop",
        "summary": "11 attempts",
    }
    assert fields["attempts"] == 0
    assert summary.table()[-4:] == [
        "client verdicts:",
        "  error    c-1      hot-loop: 11 attempts",
        "  warning  c-1      jitter: no",
        "  info     (fleet)  herd: spread p50 2 s",
    ]
