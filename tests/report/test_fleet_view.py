"""The fleet view's decisions, alone: which clients get lanes, and the fleet's distributions."""

from __future__ import annotations

from collections import Counter

from wswatchlib.report.fleet_view import (
    ATTEMPT_BARS,
    TIME_BARS,
    WAIT_EDGES_S,
    FleetTally,
    choose_shown,
    fleet_view,
)
from wswatchlib.verdicts.analysis import ClientCount, Verdicts
from wswatchlib.verdicts.findings import Finding, Severity

VERDICTS = Verdicts(
    (
        ClientCount("a", 1, 0),
        ClientCount("b", 9, 2),
        ClientCount("c", 3, 1),
        ClientCount("d", 2, 0),
    ),
    (
        Finding("growth", Severity.INFO, "a", "x"),
        Finding("hot-loop", Severity.ERROR, "c", "x"),
        Finding("jitter", Severity.WARNING, "b", "x"),
    ),
)
ATTEMPTS = Counter({"a": 1, "b": 9, "c": 3, "d": 2})


def test_every_client_fits_no_fleet_view() -> None:
    assert choose_shown(ATTEMPTS, VERDICTS, lanes=4) is None


def test_named_clients_first_then_the_worst_by_severity_then_attempts() -> None:
    assert choose_shown(ATTEMPTS, VERDICTS, lanes=2) == ("c", "b")
    assert choose_shown(ATTEMPTS, VERDICTS, lanes=2, named=["d", "nobody"]) == ("d", "c")
    assert choose_shown(ATTEMPTS, VERDICTS, lanes=1, named=["d", "a"]) == ("d", "a")
    assert choose_shown(ATTEMPTS, None, lanes=3) == ("b", "c", "d")


def test_the_tally_buckets_waits_by_doubling_and_counts_retries_before_retry_after() -> None:
    tally = FleetTally()
    tally.attempt("a", 0.0, None, None)
    tally.attempt("a", 0.1, 0.1, None)  # under the first edge
    tally.attempt("a", 1.5, 1.4, 2.0)  # asked 2 s, waited 1.4: early
    tally.attempt("a", 9.0, 7.5, 5.0)  # asked 5 s, waited 7.5
    tally.attempt("b", 5000.0, 4000.0, None)  # past the last edge
    assert tally.waits == Counter(
        {0: 1, WAIT_EDGES_S.index(2.0): 1, WAIT_EDGES_S.index(8.0): 1, len(WAIT_EDGES_S): 1}
    )
    assert (tally.after_retry_after, tally.early) == (2, 1)


def test_the_view_counts_every_client_once() -> None:
    tally = FleetTally()
    for client, made in ATTEMPTS.items():
        for number in range(made):
            tally.attempt(client, number * 10.0, None, None)
    view = fleet_view(tally, VERDICTS, ("c",), span_s=80.0)
    assert view.clients == 4 and sum(view.attempt_bars) == 4
    assert view.attempt_bars[0] == 1 and view.attempt_bars[ATTEMPT_BARS - 1] == 0
    assert view.attempt_bars[8] == 1  # b: 9 attempts
    assert sum(view.time_bars) == sum(ATTEMPTS.values()) and len(view.time_bars) == TIME_BARS
    assert view.by_worst == {"error": 1, "warning": 1, "info": 1, "ok": 1}
    assert [line.client for line in view.table] == ["c", "b", "a", "d"]
    assert view.table[0].rules == "hot-loop" and view.table[1].episodes == 2
