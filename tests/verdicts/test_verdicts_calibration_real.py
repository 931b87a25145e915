"""Calibration with real traffic: scripted clients following real libraries' reconnect
schedules (time-scaled) through the real proxy under injected faults, each graded live
(`client.verdict`) and by `wswatch analyse` exactly as the table below expects."""

from __future__ import annotations

import asyncio
import json
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from calibration_clients import (
    CLIENTS,
    DROP_FIRST_CONNECTION,
    ECHO_PATH,
    NODE_CLIENT,
    Labels,
    calibration_proxy,
    live_labels,
    node_or_skip,
    offline_labels,
    reject_attempts,
    reset_retries,
    run_library_client,
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
    # The Deepgram JS SDK with `shouldReconnect: () => true`: its slow x1.3 loop on a 401.
    "retries 401 with backoff x1.3": Case(
        _per_process_base_x13(),
        (reject_attempts(None, preset="deepgram-401"),),
        0.05,
        False,
        {("status-retry", "error"), ("growth", "info"), ("jitter", "warning")},
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


#: The waits of python `websockets`' loop scaled through its own WEBSOCKETS_BACKOFF_* variables
#: (defaults: random 0-5 s first, 3.1 s x 1.618, cap 90 s).
WEBSOCKETS_FACTOR = 0.1
WEBSOCKETS_BACKOFF = {"INITIAL_DELAY": 5.0, "MIN_DELAY": 3.1, "MAX_DELAY": 90.0, "FACTOR": 1.618}
#: Its first attempts get 503 (which it retries), this many, then it gets in. (Not a drop
#: first: after a connection that worked it reconnects at once and its random first wait would
#: come second, where the growth fit counts it.)
WEBSOCKETS_503S = 6
NODE_FACTOR = 0.05

#: The expected verdict of each real library's reconnect loop.
LIBRARY_CALIBRATION: dict[str, Labels] = {
    "python websockets >= 14": {("growth", "info"), ("jitter", "warning")},
    "Node ws + full-jitter helper": {("growth", "info")},
}


async def test_python_websockets_loop_through_proxy_is_graded_as_in_table(
    tmp_path: Path, confdir: Path
) -> None:
    """python `websockets`' own reconnect loop, answered 503 six times, is graded as the table
    says: exponential growth x1.618 with no jitter after the random first wait."""
    rules = (reject_attempts(WEBSOCKETS_503S, status=503),)
    backoff = {
        f"WEBSOCKETS_BACKOFF_{name}": str(value if name == "FACTOR" else value * WEBSOCKETS_FACTOR)
        for name, value in WEBSOCKETS_BACKOFF.items()
    }
    async with calibration_proxy(tmp_path, confdir, rules, WEBSOCKETS_FACTOR) as session:
        url = f"ws://127.0.0.1:{session.proxy.port}{ECHO_PATH}"
        done = await run_library_client(
            [sys.executable, str(CLIENTS / "websockets_loop.py"), url], backoff
        )
        assert done.returncode == 0, done.stderr
        await wait_until_logged(session.proxy, WEBSOCKETS_503S + 1, 1)
    live = live_labels(session.proxy)
    assert list(live.values()) == [LIBRARY_CALIBRATION["python websockets >= 14"]], summaries(
        session.proxy
    )
    (verdict,) = session.proxy.events("client.verdict")
    (growth,) = [f for f in verdict["findings"] if f["rule"] == "growth"]
    assert growth["evidence"]["factor"] == pytest.approx(1.618, abs=0.05)
    assert offline_labels(session) == live


async def test_node_ws_reconnect_helper_through_proxy_is_graded_as_in_table(
    tmp_path: Path, confdir: Path
) -> None:
    """A Node `ws` client with a full-jitter exponential helper, dropped then reset nine
    times, is graded as the table says: exponential growth, nothing wrong."""
    node = node_or_skip()
    rules = (DROP_FIRST_CONNECTION, reset_retries(9))
    async with calibration_proxy(tmp_path, confdir, rules, NODE_FACTOR) as session:
        url = f"ws://127.0.0.1:{session.proxy.port}{ECHO_PATH}"
        done = await run_library_client(
            [node, str(NODE_CLIENT / "reconnect.js"), url, "--scale", str(NODE_FACTOR)]
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert json.loads(done.stdout) == {"attempts": 11, "connections": 2, "recovered": True}
        await wait_until_logged(session.proxy, 11, 2)
    live = live_labels(session.proxy)
    assert list(live.values()) == [LIBRARY_CALIBRATION["Node ws + full-jitter helper"]], summaries(
        session.proxy
    )
    assert offline_labels(session) == live
