"""Two proxies of a fleet, one client moving between them: with a shared `wswatch_client_salt`
they give it one client_id, and their merged logs grade it exactly as one proxy's log does
(the gaps come from the merged timeline). Real `mitmdump` processes (mitmproxy keeps one master
per process), a real client and upstream."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from test_mitmdump_script import mitmdump
from upstreams import scenario_server
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from wswatchlib.report.model import build_model
from wswatchlib.verdicts.analysis import analyse
from wswatchlib.verdicts.reading import read_event_files

SALT = "fleet-SALT-3e9f1a7c5b"
#: The client's own wait between attempts: three attempts make two retries of a 401, an error
#: whatever the timing (growth and jitter need more retries than that).
WAIT_S = 0.3
HEADERS = {"Authorization": "Token fleet-client-KEY-42", "User-Agent": "fleet-test/1.0"}


@dataclass(frozen=True)
class Proxy:
    port: int
    log_path: Path
    #: What mitmdump printed (its terminal), complete once the proxy has stopped.
    output: list[str]

    def handshakes(self) -> list[dict[str, Any]]:
        if not self.log_path.exists():
            return []
        lines = self.log_path.read_text(encoding="utf-8").splitlines()
        return [event for event in map(json.loads, lines) if event["event"] == "ws.handshake"]


@contextlib.asynccontextmanager
async def proxies(
    tmp_path: Path, confdir: Path, count: int, salt: str
) -> AsyncIterator[list[Proxy]]:
    """`count` wswatch proxies in reverse mode before one upstream, each with its own log."""
    async with contextlib.AsyncExitStack() as stack:
        upstream = await stack.enter_async_context(scenario_server())
        running = []
        for number in range(count):
            log_path = tmp_path / f"proxy-{number}.jsonl"
            port, output = await stack.enter_async_context(
                mitmdump(
                    "--mode",
                    f"reverse:http://127.0.0.1:{upstream}",
                    "--set",
                    f"wswatch_log={log_path}",
                    "--set",
                    f"wswatch_client_salt={salt}",
                    confdir=confdir,
                )
            )
            running.append(Proxy(port, log_path, output))
        yield running


async def reported(proxy: Proxy, handshakes: int) -> None:
    """Wait (at most 10 s) until `proxy` has written this many ws.handshake events."""
    deadline = time.monotonic() + 10
    while len(proxy.handshakes()) < handshakes:
        assert time.monotonic() < deadline, f"{proxy.log_path}: {len(proxy.handshakes())} events"
        await asyncio.sleep(0.02)


async def attempts_through(route: Sequence[Proxy]) -> None:
    """One client, rejected with 401 at each attempt, going through `route` in turn."""
    for index, proxy in enumerate(route):
        if index:
            await asyncio.sleep(WAIT_S)
        with pytest.raises(InvalidStatus):
            async with connect(
                f"ws://127.0.0.1:{proxy.port}/deepgram401",
                additional_headers=HEADERS,
                open_timeout=5,
            ):
                pass
        await reported(proxy, sum(each is proxy for each in route[: index + 1]))


def labels(paths: Sequence[Path]) -> tuple[list[str], set[tuple[str, str, str]]]:
    verdicts = analyse(read_event_files(paths).events)
    return (
        [client.client_id for client in verdicts.clients],
        {(f.client_id, f.rule, f.severity.label) for f in verdicts.findings},
    )


async def test_a_client_moving_between_proxies_is_graded_as_through_one(
    tmp_path: Path, confdir: Path
) -> None:
    (tmp_path / "fleet").mkdir()
    (tmp_path / "alone").mkdir()
    async with proxies(tmp_path / "fleet", confdir, 2, SALT) as (first, second):
        await attempts_through([first, second, first])
    async with proxies(tmp_path / "alone", confdir, 1, SALT) as (alone,):
        await attempts_through([alone, alone, alone])
    merged = [first.log_path, second.log_path]
    fleet_ids, fleet_findings = labels(merged)
    alone_ids, alone_findings = labels([alone.log_path])
    assert len(fleet_ids) == 1 and fleet_ids == alone_ids  # the same salt: the same id
    (client,) = fleet_ids
    assert fleet_findings == alone_findings == {(client, "status-retry", "error")}
    # The report's gaps come from the merged timeline, not from each proxy's partial one.
    rows = build_model(read_event_files(merged).events).rows
    starts = [row.at for row in rows]
    assert [row.gap_s for row in rows] == [None] + [
        round(later - earlier, 3) for earlier, later in itertools.pairwise(starts)
    ]
    written = "".join(path.read_text() for path in merged)
    terminal = "".join(line for proxy in (first, second, alone) for line in proxy.output)
    assert "ws.handshake REJECTED 401" in terminal  # the terminal did show the attempts
    for secret in (SALT, "fleet-client-KEY-42"):
        assert secret not in written and secret not in terminal


async def test_without_a_shared_salt_the_same_client_is_two(tmp_path: Path, confdir: Path) -> None:
    """The default (a random salt per proxy) cannot tell it is one client: why the option is."""
    async with proxies(tmp_path, confdir, 2, "") as (first, second):
        await attempts_through([first, second, first])
    ids, _ = labels([first.log_path, second.log_path])
    assert len(ids) == 2
    handshakes = [
        json.loads(line)
        for line in first.log_path.read_text().splitlines()
        if "ws.handshake" in line
    ]
    assert handshakes[1]["since_previous_attempt_s"] > 2 * WAIT_S  # its proxy missed one
