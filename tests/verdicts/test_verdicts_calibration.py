"""Calibration: scripted reconnect schedules of real libraries and bad clients, each graded as
the issue's calibration facts say it should be (the table of expected findings is below)."""

from __future__ import annotations

import io
import json
import random
from collections.abc import Callable

import pytest
from verdict_streams import T0, Stream, reconnect_loop
from wswatchlib.verdicts.analysis import analyse, write_json
from wswatchlib.verdicts.findings import FLEET

Expected = dict[str, set[tuple[str, str]]]


def one_client(delays: list[float], recover: bool = True, tail_s: float = 10.0, **loop) -> Stream:
    """Client "c" through *delays*, the log ending *tail_s* after its last attempt."""
    stream = Stream()
    last = reconnect_loop(stream, "c", delays, recover=recover, **loop)
    stream.end(last + tail_s)
    return stream


def hot_loop() -> Stream:
    return one_client([0.05] * 30)


def constant_1s() -> Stream:
    return one_client([1.0] * 10)


def signalr() -> Stream:
    # SignalR JS default: 0, 2, 10, 30 s, then stops reconnecting.
    return one_client([0, 2, 10, 30], recover=False, tail_s=300)


def phoenix() -> Stream:
    # Phoenix JS default reconnectAfterMs: 10, 50, 100, 150, 200, 250, 500, 1000, 2000, then 5 s.
    return one_client([0.01, 0.05, 0.1, 0.15, 0.2, 0.25, 0.5, 1, 2, 5, 5, 5, 5])


def full_jitter() -> Stream:
    rng = random.Random(7)
    return one_client([rng.uniform(0, min(30, 0.5 * 2**n)) for n in range(10)])


def python_websockets() -> Stream:
    # websockets >= 14: random 0-5 s first, then 3.1 s x 1.618, cap 90 s.
    rng = random.Random(14)
    return one_client([rng.uniform(0, 5)] + [min(90, 3.1 * 1.618**n) for n in range(10)])


def deepgram_sdk() -> Stream:
    # Deepgram JS SDK 5.x: a random 1-5 s base drawn once per process, x1.3, cap 10 s.
    base = random.Random(5).uniform(1, 5)
    return one_client([min(10, base * 1.3**n) for n in range(10)])


def ignores_retry_after() -> Stream:
    # Exponential with +-20 % jitter, but against 429 + Retry-After: 10 it retries sooner.
    rng = random.Random(429)
    delays = [1.6**n * rng.uniform(0.8, 1.2) for n in range(5)]
    return one_client(delays, close_code=None, status=429, retry_after=10)


def retries_401_forever() -> Stream:
    return one_client([1.0] * 20, recover=False, close_code=None, status=401, tail_s=1)


def fleet(spread_s: float, seed: int) -> Stream:
    """20 clients closed with 1012 within 0.2 s, each reconnecting after uniform(0, spread_s)."""
    rng = random.Random(seed)
    stream = Stream()
    for number in range(20):
        reconnect_loop(
            stream,
            f"c{number:02}",
            [rng.uniform(0, spread_s)],
            at=T0 + 60 + number * 0.01,
            close_code=1012,
        )
    stream.end(T0 + 200)
    return stream


NOTHING: set[tuple[str, str]] = set()

CALIBRATION: list[tuple[str, Callable[[], Stream], Expected]] = [
    (
        "hot loop 50 ms",
        hot_loop,
        {"c": {("hot-loop", "error"), ("growth", "warning"), ("jitter", "warning")}},
    ),
    ("constant 1 s", constant_1s, {"c": {("growth", "warning"), ("jitter", "warning")}}),
    ("SignalR 0, 2, 10, 30 s, stop", signalr, {"c": {("growth", "info")}}),
    (
        "Phoenix 10 ms ... 2 s, then 5 s",
        phoenix,
        {"c": {("growth", "info"), ("jitter", "warning")}},
    ),
    ("full-jitter exponential", full_jitter, {"c": {("growth", "info")}}),
    (
        "python websockets >= 14",
        python_websockets,
        {"c": {("growth", "info"), ("jitter", "warning")}},
    ),
    ("Deepgram JS SDK", deepgram_sdk, {"c": {("growth", "info"), ("jitter", "warning")}}),
    (
        "ignores Retry-After",
        ignores_retry_after,
        {"c": {("retry-after", "error"), ("growth", "info")}},
    ),
    (
        "retries 401 forever",
        retries_401_forever,
        {"c": {("status-retry", "error"), ("growth", "warning"), ("jitter", "warning")}},
    ),
    ("herd of 20 within 1 s after 1012", lambda: fleet(0.9, 1), {FLEET: {("herd", "error")}}),
    ("well-spread fleet (0-5 s)", lambda: fleet(5.0, 2), {FLEET: {("herd", "info")}}),
]


@pytest.mark.parametrize(
    ("build", "expected"), [pytest.param(b, e, id=n) for n, b, e in CALIBRATION]
)
def test_schedule_is_labelled_as_expected(build: Callable[[], Stream], expected: Expected) -> None:
    """Each calibration schedule gets exactly the expected (rule, severity) findings per client."""
    verdicts = analyse(build().events)
    found: Expected = {}
    for finding in verdicts.findings:
        found.setdefault(finding.client_id, set()).add((finding.rule, finding.severity.label))
    assert found == expected, [f.summary for f in verdicts.findings]


@pytest.mark.parametrize("build", [pytest.param(b, id=n) for n, b, _ in CALIBRATION])
def test_the_order_of_events_does_not_change_the_verdicts(build: Callable[[], Stream]) -> None:
    """The analysis reads files one after the other without merging them by time (so a fleet's
    log never sits in memory whole): shuffled events give the same verdicts, byte for byte."""
    events = build().events
    shuffled = list(events)
    random.Random(16).shuffle(shuffled)
    in_order, out_of_order = io.StringIO(), io.StringIO()
    write_json(analyse(events), 0, in_order)
    write_json(analyse(shuffled), 0, out_of_order)
    assert out_of_order.getvalue() == in_order.getvalue()
    assert (
        in_order.getvalue()
        == json.dumps({**analyse(events).fields(), "skipped_lines": 0}, indent=2) + "\n"
    )
