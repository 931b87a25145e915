"""Throughput and memory of wswatch, measured side by side in one run.

    .venv/bin/python benchmarks/bench.py [--messages 3000] [--big-messages 1000] [--big-size 131072]

Three set-ups against the same local echo upstream, on 127.0.0.1 only:
  direct          the client talks to the upstream itself
  mitmdump        mitmdump in reverse mode, no script
  mitmdump+wswatch  the same with -s addons/wswatch.py (default options)
Throughput: 1 KB text messages echoed one at a time (round trips per second).
Memory: the proxy's resident set size (VmRSS) after the client sent --big-messages messages of
--big-size bytes one way, while the connection is still open. Figures only: the machine is shared,
so compare the ratios within one run, not the absolute numbers across runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

REPO = Path(__file__).resolve().parents[1]
MITMDUMP = Path(sys.executable).with_name("mitmdump")


async def upstream_handler(connection: ServerConnection) -> None:
    """Echo on /echo; swallow everything on /sink."""
    echo = connection.request.path.startswith("/echo")
    async for message in connection:
        if echo:
            await connection.send(message)


@contextlib.asynccontextmanager
async def mitmdump(upstream: int, with_wswatch: bool) -> AsyncIterator[tuple[int, int]]:
    """A mitmdump subprocess in reverse mode; yields (port, pid) and stops it."""
    args = [
        str(MITMDUMP),
        "--listen-host",
        "127.0.0.1",
        "-p",
        "0",
        "--mode",
        f"reverse:http://127.0.0.1:{upstream}",
        "--set",
        "flow_detail=0",
    ]
    if with_wswatch:
        args += ["-s", str(REPO / "addons" / "wswatch.py"), "--set", "wswatch_console=false"]
    process = await asyncio.create_subprocess_exec(
        *args, cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    assert process.stdout is not None
    try:
        port = None
        for _ in range(200):
            line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
            found = re.search(r"listening at \S+:(\d+)", line)
            if found:
                port = int(found.group(1))
                break
            if not line:
                break
        if port is None:
            raise RuntimeError("mitmdump did not start")
        drain = asyncio.create_task(process.stdout.read())
        yield port, process.pid
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 30)
        drain.cancel()


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024


async def round_trips_per_second(port: int, count: int) -> float:
    payload = "x" * 1024
    async with connect(f"ws://127.0.0.1:{port}/echo", max_size=None) as ws:
        started = time.perf_counter()
        for _ in range(count):
            await ws.send(payload)
            await asyncio.wait_for(ws.recv(), 10)
        return count / (time.perf_counter() - started)


async def rss_after_stream(port: int, pid: int, count: int, size: int) -> tuple[float, float]:
    before = rss_mb(pid)
    payload = os.urandom(size)  # incompressible: permessage-deflate must not shrink it
    async with connect(f"ws://127.0.0.1:{port}/sink", max_size=None, max_queue=None) as ws:
        for _ in range(count):
            await ws.send(payload)
        await asyncio.wait_for(ws.ping(), 60)  # everything before the ping has passed the proxy
        return before, rss_mb(pid)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--big-messages", type=int, default=1000)
    parser.add_argument("--big-size", type=int, default=128 * 1024)
    options = parser.parse_args()

    async with serve(upstream_handler, "127.0.0.1", 0, max_size=None) as server:
        upstream = server.sockets[0].getsockname()[1]
        rows = [("direct", await round_trips_per_second(upstream, options.messages), None, None)]
        for label, with_wswatch in (("mitmdump", False), ("mitmdump+wswatch", True)):
            async with mitmdump(upstream, with_wswatch) as (port, pid):
                rate = await round_trips_per_second(port, options.messages)
                before, after = await rss_after_stream(
                    port, pid, options.big_messages, options.big_size
                )
                rows.append((label, rate, before, after))

    streamed = options.big_messages * options.big_size / 2**20
    print(
        f"{options.messages} x 1 KB echoed; then {options.big_messages} x "
        f"{options.big_size // 1024} KB ({streamed:.0f} MB) streamed one way on one connection\n"
    )
    print(
        f"{'set-up':<18} {'round trips/s':>14} {'vs direct':>10} "
        f"{'RSS before':>11} {'RSS after':>10} {'growth':>8}"
    )
    direct = rows[0][1]
    for label, rate, before, after in rows:
        memory = (
            f"{before:>9.0f}MB {after:>8.0f}MB {after - before:>6.0f}MB"
            if before is not None
            else ""
        )
        print(f"{label:<18} {rate:>14.0f} {rate / direct:>9.2f}x {memory}")
    plain, watched = rows[1], rows[2]
    print(
        f"\nwswatch / plain mitmdump: throughput {watched[1] / plain[1]:.2f}x, "
        f"memory growth {watched[3] - watched[2]:.0f} MB vs {plain[3] - plain[2]:.0f} MB"
    )


if __name__ == "__main__":
    asyncio.run(main())
