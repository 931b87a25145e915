"""Calibration with real traffic: scripted clients following real libraries' reconnect
schedules (time-scaled) through the real proxy under injected faults, each graded live
(`client.verdict`) and by `wswatch analyse` exactly as the table below expects."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from calibration_clients import (
    DROP_FIRST_CONNECTION,
    ECHO_PATH,
    Labels,
    calibration_proxy,
    live_labels,
    offline_labels,
    reject_attempts,
    reset_retries,
    scripted_client,
    summaries,
    wait_until_logged,
)


@dataclass(frozen=True)
class Case:
    """One scripted client: its real waits, the faults it meets, the time scale, the verdict."""

    delays: tuple[float, ...]
    rules: tuple[dict[str, Any], ...]
    factor: float
    recovers: bool
    expected: Labels


def _full_jitter() -> tuple[float, ...]:
    rng = random.Random(7)
    return tuple(rng.uniform(0, min(30, 0.5 * 2**n)) for n in range(10))


def _per_process_base_x13() -> tuple[float, ...]:
    base = random.Random(5).uniform(1, 5)
    return tuple(min(10, base * 1.3**n) for n in range(10))


def _jittered_x16() -> tuple[float, ...]:
    rng = random.Random(429)
    return tuple(1.6**n * rng.uniform(0.8, 1.2) for n in range(5))


def _dropped_then_reset(retries_reset: int | None) -> tuple[dict[str, Any], ...]:
    return (DROP_FIRST_CONNECTION, reset_retries(retries_reset))


#: The expected verdict of each scripted client (the issue's calibration schedules).
CALIBRATION: dict[str, Case] = {
    # A hot loop is already fast: scaled below a handshake's own duration it would time the
    # proxy, not the client, so it runs at full speed (factor 1).
    "hot loop 50 ms": Case(
        (0.05,) * 30,
        _dropped_then_reset(29),
        1.0,
        True,
        {("hot-loop", "error"), ("growth", "warning"), ("jitter", "warning")},
    ),
    "constant 1 s": Case(
        (1.0,) * 10,
        _dropped_then_reset(9),
        0.1,
        True,
        {("growth", "warning"), ("jitter", "warning")},
    ),
    "SignalR 0, 2, 10, 30 s, stop": Case(
        (0.0, 2.0, 10.0, 30.0), _dropped_then_reset(None), 0.05, False, {("growth", "info")}
    ),
    "Phoenix 10 ms ... 2 s, then 5 s": Case(
        (0.01, 0.05, 0.1, 0.15, 0.2, 0.25, 0.5, 1.0, 2.0, 5.0, 5.0, 5.0, 5.0),
        _dropped_then_reset(12),
        0.1,
        True,
        {("growth", "info"), ("jitter", "warning")},
    ),
    "full-jitter exponential": Case(
        _full_jitter(), _dropped_then_reset(9), 0.05, True, {("growth", "info")}
    ),
    "fixed per-process base x1.3 (Deepgram JS SDK)": Case(
        _per_process_base_x13(),
        _dropped_then_reset(9),
        0.05,
        True,
        {("growth", "info"), ("jitter", "warning")},
    ),
    # Retry-After is whole seconds (RFC 9110 10.2.3), so it is not scaled: the client's
    # scaled waits (0.04-0.4 s) all come before the 1 s it is asked to wait.
    "ignores Retry-After": Case(
        _jittered_x16(),
        (reject_attempts(5, status=429, headers={"Retry-After": "1"}),),
        0.05,
        True,
        {("retry-after", "error"), ("growth", "info")},
    ),
    "retries 401 forever": Case(
        (1.0,) * 20,
        (reject_attempts(None, preset="deepgram-401"),),
        0.1,
        False,
        {("status-retry", "error"), ("growth", "warning"), ("jitter", "warning")},
    ),
}


@pytest.mark.parametrize("case", [pytest.param(c, id=n) for n, c in CALIBRATION.items()])
async def test_scripted_client_through_proxy_is_graded_as_in_table(
    case: Case, tmp_path: Path, confdir: Path
) -> None:
    """Each scripted schedule gets exactly the table's findings, live and from the file."""
    async with calibration_proxy(tmp_path, confdir, case.rules, case.factor) as session:
        url = f"ws://127.0.0.1:{session.proxy.port}{ECHO_PATH}"
        # Its own thread and event loop, so the proxy's work does not delay the client's waits.
        run = await asyncio.to_thread(asyncio.run, scripted_client(url, case.delays, case.factor))
        assert (run.attempts, run.recovered) == (len(case.delays) + 1, case.recovers)
        await wait_until_logged(session.proxy, run.attempts, run.connections)
    live = live_labels(session.proxy)
    assert list(live.values()) == [case.expected], summaries(session.proxy)
    assert offline_labels(session) == live
