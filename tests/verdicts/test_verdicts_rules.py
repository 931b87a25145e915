"""The rules the calibration table does not reach: each flags its failure, and only that."""

from __future__ import annotations

import random

import pytest
from verdict_streams import T0, Stream, reconnect_loop
from wswatchlib.verdicts.analysis import analyse
from wswatchlib.verdicts.findings import Finding
from wswatchlib.verdicts.rules import most_within


def findings(stream: Stream, **idle_timeouts: float) -> list[tuple[str, str, str]]:
    return [
        (f.rule, f.severity.label, f.summary)
        for f in analyse(stream.events, idle_timeouts=idle_timeouts).findings
    ]


def only(stream: Stream) -> Finding:
    [finding] = analyse(stream.events).findings
    return finding


def test_first_retry_above_5_s_is_flagged() -> None:
    """A first reconnect 12 s after an abnormal close is above RFC 6455's 0-5 s."""
    stream = Stream()
    reconnect_loop(stream, "c", [12.0])
    stream.end(T0 + 300)
    assert findings(stream) == [
        ("first-retry", "warning", "waited 12 s before the first retry (RFC 6455 7.2.3: 0-5 s)")
    ]


def test_first_retry_always_the_same_is_flagged() -> None:
    """The same first wait after three abnormal closes is not randomised."""
    stream = Stream()
    for number in range(3):
        reconnect_loop(stream, "c", [1.5], at=T0 + 60 + number * 100)
    stream.end(T0 + 500)
    assert findings(stream) == [
        ("first-retry", "warning", "the first retry always came 1.5 s after the close")
    ]


def test_wait_above_the_cap_is_flagged() -> None:
    """A 200 s wait between retries is beyond gRPC's 120 s cap."""
    stream = Stream()
    reconnect_loop(stream, "c", [2.0, 200.0])
    stream.end(T0 + 600)
    assert findings(stream) == [
        ("cap", "warning", "waited up to 200 s between retries: no cap at or below 120 s")
    ]


def test_terminal_close_retried_is_flagged() -> None:
    """Reconnecting after a server's 1008 (policy violation) is flagged."""
    stream = Stream()
    reconnect_loop(stream, "c", [1.0], close_code=1008)
    stream.end(T0 + 300)
    assert findings(stream) == [
        ("close-retry", "warning", "reconnected 1 times after close 1008, which says not to")
    ]


def test_transient_close_not_retried_is_flagged() -> None:
    """A client that never reconnects after a 1006 gives up after one abnormal close."""
    stream = Stream()
    stream.connect("c", T0, 60.0, code=1006)
    stream.end(T0 + 300)
    assert findings(stream) == [
        ("close-retry", "warning", "did not reconnect after close 1006 within 120 s")
    ]


def test_transient_close_near_the_log_end_is_not_judged() -> None:
    """A 1006 10 s before the log ends says nothing: the client may still have come back."""
    stream = Stream()
    stream.connect("c", T0, 60.0, code=1006)
    stream.end(T0 + 70)
    assert findings(stream) == []


def test_503_not_retried_is_flagged() -> None:
    """A rejected 503 with no later attempt is a temporary failure given up on."""
    stream = Stream()
    stream.handshake("c", T0, "rejected", status=503)
    stream.end(T0 + 300)
    assert findings(stream) == [("status-retry", "warning", "did not retry 503")]


def test_401_retried_with_backoff_is_an_error() -> None:
    """Retrying a 401 with growing waits is as pointless as at full rate: an error (a credential
    does not fix itself; issue 17: the Deepgram JS SDK's slow x1.3 loop)."""
    stream = Stream()
    reconnect_loop(stream, "c", [1.0, 4.0, 16.0], close_code=None, status=401, recover=False)
    stream.end(T0 + 90)
    assert only(stream).summary == "retried 401 3 times"
    assert only(stream).severity.label == "error"


def test_one_retry_after_a_401_is_a_token_refresh_not_a_finding() -> None:
    """One retry (a refreshed token) is within `client_error_retries`; a second is not."""
    once, twice = Stream(), Stream()
    reconnect_loop(once, "c", [2.0], close_code=None, status=401, recover=False)
    reconnect_loop(twice, "c", [2.0, 8.0], close_code=None, status=401, recover=False)
    once.end(T0 + 90)
    twice.end(T0 + 90)
    assert findings(once) == []
    assert only(twice).summary == "retried 401 2 times"


def test_retry_after_obeyed_is_not_flagged() -> None:
    """Waiting at least Retry-After after each 429 passes the rule."""
    stream = Stream()
    reconnect_loop(stream, "c", [5.0, 5.2], close_code=None, status=429, retry_after=5)
    stream.end(T0 + 300)
    assert findings(stream) == []


def test_flapping_backoff_reset_is_flagged() -> None:
    """Connections of 2 s, each followed by the same 0.5 s wait: backoff reset without a
    stable connection."""
    stream = Stream()
    stream.connect("c", T0, 60.0)
    moment = T0 + 60.001
    for _ in range(4):
        stream.connect("c", moment + 0.5, 2.0)
        moment += 0.5 + 2.002
    stream.connect("c", moment + 0.5, None)
    stream.end(moment + 100)
    found = findings(stream)
    assert (
        "flapping",
        "warning",
        "backoff reset after each of 4 connections shorter than 30 s (longest 2 s)",
    ) in found
    assert {rule for rule, _, _ in found} == {"flapping", "growth", "jitter"}


def test_two_handshakes_in_flight_are_flagged() -> None:
    """A second attempt started while the first is still connecting breaks RFC 6455 4.1."""
    stream = Stream()
    stream.handshake("c", T0, "accepted", duration_ms=500)
    stream.handshake("c", T0 + 0.1, "accepted", duration_ms=500)
    stream.end(T0 + 10)
    assert findings(stream) == [
        ("in-flight", "warning", "1 attempts started while another was still connecting")
    ]


def test_idle_gap_at_the_vendor_timeout_is_flagged() -> None:
    """A Deepgram connection whose client was silent 10 s is flagged against its 10 s timeout."""
    stream = Stream()
    stream.connect(
        "c", T0, 12.0, code=1011, client_gap_s=10.02, vendor="deepgram", closed_by="server"
    )
    stream.connect("c", T0 + 13, None)
    stream.end(T0 + 100)
    assert findings(stream, deepgram=10.0) == [
        (
            "idle-gap",
            "warning",
            "silent for 10 s on a deepgram connection that closes after 10 s idle (1 connections)",
        )
    ]
    assert findings(stream) == []


def test_injected_setbacks_are_named_in_the_evidence() -> None:
    """An injected failure grades the client like a real one, and its evidence says injected."""
    stream = Stream()
    reconnect_loop(
        stream, "c", [1.0] * 4, close_code=None, status=401, recover=False, injected=True
    )
    stream.end(T0 + 10)
    [status, *_] = analyse(stream.events).findings
    assert status.rule == "status-retry"
    assert {retry["injected"] for retry in status.evidence["retries"]} == {True}


@pytest.mark.parametrize("seed", range(20))
def testmost_within_a_window_counts_as_the_pairwise_scan_did(seed: int) -> None:
    """The herd's peak, counted with two pointers (linear), equals the count of every pair."""
    rng = random.Random(seed)
    moments = sorted(round(rng.uniform(0, 10), rng.choice((0, 1, 3))) for _ in range(60))
    window = rng.choice((0.0, 0.5, 1.0, 3.0))
    pairwise = max(sum(1 for other in moments if 0 <= other - at <= window) for at in moments)
    assert most_within(moments, window) == pairwise
