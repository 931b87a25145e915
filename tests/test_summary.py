"""Session summary: attempts per host and outcome, top failure reasons, closes and injections."""

from __future__ import annotations

from wswatchlib.summary import SessionSummary

DG = "api.deepgram.com"
LOCAL = "localhost"


def sample() -> SessionSummary:
    """Four attempts on two hosts and three closes, two of them with injected faults."""
    summary = SessionSummary()
    summary.record_handshake(DG, "accepted", None, False, None)
    summary.record_handshake(DG, "rejected", "401 Invalid credentials.", True, "auth")
    summary.record_handshake(DG, "rejected", "401 Invalid credentials.", False, None)
    summary.record_handshake(LOCAL, "failed", "refused: connection refused", False, None)
    summary.record_close(1000, True, False, None)
    summary.record_close(1006, False, True, "drop")
    summary.record_close(None, False, False, None)
    return summary


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
    summary = SessionSummary()
    summary.record_handshake(DG, "accepted", None, False, "observe")
    assert (summary.injected, dict(summary.rule_hits)) == (0, {"observe": 1})


def test_accepted_and_reasonless_attempts_add_no_failure_reason() -> None:
    """Only attempts that did not succeed and have a reason count as failure reasons."""
    summary = SessionSummary()
    summary.record_handshake(DG, "accepted", "should not count", False, None)
    summary.record_handshake(DG, "rejected", None, False, None)
    summary.record_handshake(DG, "invalid", "response_bad_accept", False, None)
    assert summary.fields()["top_failure_reasons"] == [
        {"reason": "response_bad_accept", "count": 1}
    ]


def test_top_failure_reasons_most_frequent_first_and_limited() -> None:
    """Reasons are listed by count, ties in first-seen order, cut at `top`."""
    summary = SessionSummary()
    for reason in ["b", "a", "c", "a", "c", "a", "d"]:
        summary.record_handshake(DG, "failed", reason, False, None)
    assert summary.fields(top=3)["top_failure_reasons"] == [
        {"reason": "a", "count": 3},
        {"reason": "c", "count": 2},
        {"reason": "b", "count": 1},
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
    }
