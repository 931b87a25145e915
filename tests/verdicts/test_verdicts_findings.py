"""Findings: severity order, JSON fields, bounded evidence; the table of a fleet."""

from __future__ import annotations

from verdict_streams import T0, Stream, reconnect_loop
from wswatchlib.verdicts.analysis import analyse
from wswatchlib.verdicts.findings import EVIDENCE_LIMIT, Finding, Severity, bounded
from wswatchlib.verdicts.table import render


def test_severities_are_ordered() -> None:
    """error > warning > info, so --fail-on warning also fails on errors."""
    assert Severity.ERROR > Severity.WARNING > Severity.INFO


def test_finding_fields_are_json_ready() -> None:
    """A finding's fields carry the severity as its lower-case label."""
    finding = Finding("hot-loop", Severity.ERROR, "c", "fast", {"n": 1}, "slow down")
    assert finding.fields() == {
        "rule": "hot-loop",
        "severity": "error",
        "client_id": "c",
        "summary": "fast",
        "evidence": {"n": 1},
        "hint": "slow down",
    }


def test_long_evidence_is_bounded() -> None:
    """Evidence lists keep EVIDENCE_LIMIT items and say how many more there were."""
    assert bounded(list(range(EVIDENCE_LIMIT + 5)))[-1] == "... 5 more"
    assert len(bounded(list(range(EVIDENCE_LIMIT + 5)))) == EVIDENCE_LIMIT + 1


def test_table_has_a_fleet_row_for_herd_findings() -> None:
    """Fleet findings get their own "(fleet)" row; clients without findings read "ok"."""
    stream = Stream()
    for number in range(5):
        reconnect_loop(stream, f"c{number}", [0.1], at=T0 + 60, close_code=1012)
    stream.end(T0 + 100)
    lines = render(analyse(stream.events)).splitlines()
    assert lines[1].split() == ["c0", "2", "ok", "-"]
    assert lines[6].split() == ["(fleet)", "-", "error", "herd"]


def test_empty_stream_says_so() -> None:
    """No handshake or close events: the table says there was nothing to grade."""
    assert render(analyse([])).splitlines()[-1] == "(no ws.handshake or ws.closed events)"
