"""Real reconnecting clients for the calibration suite, and the session each runs in.

A scripted client follows one library's reconnect schedule with real WebSocket connections
through the real proxy. Real schedules take minutes (SignalR waits 0, 2, 10, 30 s), so a run is
time-scaled: every wait is `factor` times the real one, and the proxy and `wswatch analyse`
grade with `Thresholds().scaled(factor)`, written to the file `wswatch_verdict_thresholds`
reads. The verdicts are read back from what the proxy wrote: its live `client.verdict` events
and `python -m wswatchlib.cli analyse --json` on its JSON-lines file.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from proxy_harness import RunningProxy, scenario_proxy
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from wswatchlib.verdicts.thresholds import DURATIONS, Thresholds

REPO = Path(__file__).resolve().parents[2]
#: The real-library clients: python `websockets`' own loop, and a Node `ws` client.
CLIENTS = REPO / "tests" / "clients"
NODE_CLIENT = CLIENTS / "node"

#: Longest a real-library client may run before the test fails.
LIBRARY_CLIENT_TIMEOUT_S = 20.0

#: (rule, severity) pairs found about one client.
Labels = set[tuple[str, str]]

#: The path the scripted clients use: the scenario upstream echoes every message there.
ECHO_PATH = "/calibration"

#: A client's first connection is dropped (1006) on its first message: the setback it answers.
DROP_FIRST_CONNECTION = {
    "id": "drop-first-connection",
    "when": {"first": 1},
    "action": {"drop": {"after_messages": 1}},
}

#: Longest a scripted client waits for any one handshake or echo.
STEP_TIMEOUT_S = 5.0


def reset_retries(count: int | None) -> dict[str, Any]:
    """Every attempt after the first reset before an answer (*count* of them; None: all)."""
    when: dict[str, Any] = {"after": 1}
    if count is not None:
        when["times"] = count
    return {"id": "retries-reset", "when": when, "action": {"reset": {}}}


def reject_attempts(count: int | None, **reject: Any) -> dict[str, Any]:
    """The first *count* attempts (None: all) rejected as *reject* says."""
    when = {} if count is None else {"first": count}
    return {"id": "attempts-rejected", "when": when, "action": {"reject": reject}}


@dataclass(frozen=True)
class ClientRun:
    """What a scripted client did: its attempts, the connections it got, whether the last one
    worked."""

    attempts: int
    connections: int
    recovered: bool


async def scripted_client(url: str, delays: Sequence[float], factor: float) -> ClientRun:
    """Connect, exchange one echo, close: on any setback (a failed or rejected handshake, a
    connection closed before the echo) wait the next of *delays* times *factor* and retry;
    give up when the delays run out."""
    connections = 0
    for attempts, wait in enumerate((*delays, None), start=1):
        try:
            async with connect(url, open_timeout=STEP_TIMEOUT_S) as websocket:
                connections += 1
                await websocket.send("hello")
                await asyncio.wait_for(websocket.recv(), STEP_TIMEOUT_S)
                return ClientRun(attempts, connections, recovered=True)
        except (ConnectionClosed, InvalidHandshake, OSError, TimeoutError):
            pass
        if wait is None:
            return ClientRun(attempts, connections, recovered=False)
        await asyncio.sleep(wait * factor)
    raise AssertionError("unreachable: the loop returns on its last pass")


def write_yaml(path: Path, document: Any) -> Path:
    """*document* as a YAML file (JSON is YAML)."""
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return path


def scaled_thresholds_file(path: Path, factor: float) -> Path:
    """The duration thresholds times *factor*, as a `wswatch_verdict_thresholds` file."""
    scaled = Thresholds().scaled(factor)
    return write_yaml(path, {name: getattr(scaled, name) for name in DURATIONS})


@dataclass(frozen=True)
class CalibrationSession:
    """A finished session: the proxy (stopped) and the thresholds file it graded with."""

    proxy: RunningProxy
    thresholds: Path


@contextlib.asynccontextmanager
async def calibration_proxy(
    tmp_path: Path, confdir: Path, rules: Sequence[dict[str, Any]], factor: float
) -> AsyncIterator[CalibrationSession]:
    """The scenario upstream behind wswatch with *rules* and thresholds scaled by *factor*;
    the proxy has stopped (and written its client.verdict events) when the block exits."""
    faults = write_yaml(tmp_path / "faults.yaml", {"seed": 7, "rules": list(rules)})
    thresholds = scaled_thresholds_file(tmp_path / "thresholds.yaml", factor)
    async with scenario_proxy(
        tmp_path,
        confdir,
        wswatch_faults=[str(faults)],
        wswatch_verdict_thresholds=str(thresholds),
    ) as proxy:
        yield CalibrationSession(proxy, thresholds)


async def wait_until_logged(proxy: RunningProxy, attempts: int, connections: int) -> None:
    """Until the proxy has logged every attempt and every closed connection of the run."""
    await proxy.wait_for("ws.handshake", lambda _: len(proxy.events("ws.handshake")) >= attempts)
    if connections:
        await proxy.wait_for("ws.closed", lambda _: len(proxy.events("ws.closed")) >= connections)


def live_labels(proxy: RunningProxy) -> dict[str, Labels]:
    """Per client, the (rule, severity) pairs of the proxy's own client.verdict events."""
    return {
        verdict["client_id"]: {(f["rule"], f["severity"]) for f in verdict["findings"]}
        for verdict in proxy.events("client.verdict")
    }


def offline_labels(session: CalibrationSession) -> dict[str, Labels]:
    """Per client, the (rule, severity) pairs `wswatch analyse --json` gives on the file."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "wswatchlib.cli",
            "analyse",
            "--json",
            "--thresholds",
            str(session.thresholds),
            str(session.proxy.log_path),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO / "addons")},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    labels: dict[str, Labels] = {c["client_id"]: set() for c in report["clients"]}
    for finding in report["findings"]:
        labels.setdefault(finding["client_id"], set()).add((finding["rule"], finding["severity"]))
    return labels


def summaries(proxy: RunningProxy) -> list[str]:
    """The live findings' summaries, to show what was found when a label differs."""
    return [f["summary"] for v in proxy.events("client.verdict") for f in v["findings"]]


async def run_library_client(
    command: Sequence[str], env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a real-library client to its end (killed, and the test failed, after the timeout)."""
    process = await asyncio.create_subprocess_exec(
        *command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), LIBRARY_CLIENT_TIMEOUT_S)
    except TimeoutError as error:
        process.kill()
        await process.wait()
        message = f"{command[:2]} still running after {LIBRARY_CLIENT_TIMEOUT_S}s"
        raise AssertionError(message) from error
    return subprocess.CompletedProcess(command, process.returncode or 0, out.decode(), err.decode())


def node_or_skip() -> str:
    """The `node` to run the Node client with. Without node (or without `npm ci` done in
    tests/clients/node) the test skips, except under CI, where .ci/run installs both."""
    node = shutil.which("node")
    if node and (NODE_CLIENT / "node_modules" / "ws").is_dir():
        return node
    missing = "node is not installed" if not node else f"run `npm ci` in {NODE_CLIENT}"
    if os.environ.get("CI"):
        pytest.fail(f"CI needs the Node client: {missing}")
    pytest.skip(f"Node client not available: {missing}")
