"""A real Prometheus server scrapes `mitmdump -s addons/wswatch.py --set wswatch_metrics=...`.

Debian's `prometheus` package (installed by `.ci/run`); without it the test skips, except under
`CI`, where it fails. The test runs its own Prometheus on 127.0.0.1 with a temporary config and
storage, never the Debian service, and stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import websockets
from metrics_scrape import logged_metrics_address, total
from test_mitmdump_script import scenario_mitmdump
from websockets.asyncio.client import connect

PROMETHEUS = shutil.which("prometheus")
SCRAPE_INTERVAL = "250ms"

pytestmark = pytest.mark.skipif(
    PROMETHEUS is None and not os.environ.get("CI"),
    reason="Debian's prometheus package is not installed (.ci/run installs it)",
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


@contextlib.asynccontextmanager
async def running_prometheus(workdir: Path, target: str) -> AsyncIterator[str]:
    """Prometheus on 127.0.0.1 scraping `target` every 250 ms; yields its base URL."""
    assert PROMETHEUS is not None, "CI must have the prometheus package (.ci/run installs it)"
    config = workdir / "prometheus.yml"
    config.write_text(
        "scrape_configs:\n"
        "  - job_name: wswatch\n"
        f"    scrape_interval: {SCRAPE_INTERVAL}\n"
        f"    scrape_timeout: {SCRAPE_INTERVAL}\n"
        "    static_configs:\n"
        f'      - targets: ["{target}"]\n'
    )
    port = free_port()
    log = (workdir / "prometheus.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        PROMETHEUS,
        f"--config.file={config}",
        f"--storage.tsdb.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        stdout=log,
        stderr=asyncio.subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        await until(
            lambda: get_json(f"{base}/api/v1/status/buildinfo"), "Prometheus to start", workdir
        )
        yield base
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                process.kill()
                await process.wait()
        log.close()


async def until(check: Callable[[], Any], what: str, workdir: Path, timeout: float = 30) -> Any:
    """`check()`'s first truthy result (it runs in a thread), polled up to `timeout` s."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = await asyncio.to_thread(check)
        except (urllib.error.URLError, ConnectionError) as error:
            last = error
        else:
            if last:
                return last
        await asyncio.sleep(0.1)
    log = workdir / "prometheus.log"
    raise AssertionError(
        f"waited {timeout}s for {what}; last: {last!r}\n"
        + (log.read_text(errors="replace")[-3000:] if log.exists() else "")
    )


def query(base: str, promql: str) -> dict[tuple[tuple[str, str], ...], float]:
    """An instant query's result: label pairs (but __name__, job, instance) -> value."""
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    answer = get_json(url)
    assert answer["status"] == "success", answer
    return {
        tuple(
            sorted(
                (k, v) for k, v in row["metric"].items() if k not in ("__name__", "job", "instance")
            )
        ): (float(row["value"][1]))
        for row in answer["data"]["result"]
    }


async def test_prometheus_scrapes_the_handshake_close_and_message_counts(tmp_path, confdir):
    """A real Prometheus stores wswatch's series with the values the JSON events give."""
    log_path = tmp_path / "events.jsonl"
    async with scenario_mitmdump(
        confdir, "wswatch_metrics=127.0.0.1:0", f"wswatch_log={log_path}"
    ) as (port, output):
        target = logged_metrics_address(output)
        async with running_prometheus(tmp_path, target) as prometheus:
            async with connect(f"ws://127.0.0.1:{port}/echo") as ws:
                for text in ("one", "two"):
                    await ws.send(text)
                    assert await ws.recv() == text
            with pytest.raises(websockets.InvalidStatus):
                async with connect(f"ws://127.0.0.1:{port}/deepgram401"):
                    pass

            def written(name: str) -> list[dict[str, Any]]:
                lines = log_path.read_text().splitlines() if log_path.exists() else []
                return [e for e in map(json.loads, lines) if e["event"] == name]

            await until(lambda: written("ws.closed"), "the ws.closed event", tmp_path)
            handshakes, closes = written("ws.handshake"), written("ws.closed")
            sent = total((e["messages"] for e in closes), "client")
            assert len(handshakes) == 2 and sent == 2

            expected = {
                (("outcome", "accepted"),): 1.0,
                (("outcome", "rejected"),): 1.0,
            }
            by_outcome = "sum by (outcome) (wswatch_handshakes_total)"
            assert await until(
                lambda: query(prometheus, by_outcome) == expected, "the handshakes", tmp_path
            )
            closes_query = "sum by (close_code, closed_by, clean) (wswatch_connection_closes_total)"
            stored_closes = await until(
                lambda: query(prometheus, closes_query), "the closes", tmp_path
            )
            assert stored_closes == {
                (
                    ("clean", str(closes[0]["clean"]).lower()),
                    ("close_code", str(closes[0]["close_code"])),
                    ("closed_by", closes[0]["closed_by"]),
                ): 1.0
            }
            messages = await until(
                lambda: query(prometheus, "wswatch_messages_total"), "the messages", tmp_path
            )
            assert messages[(("direction", "client_to_server"),)] == sent
            assert query(prometheus, 'up{job="wswatch"}') == {(): 1.0}
            assert query(prometheus, "wswatch_connections_active") == {(): 0.0}
