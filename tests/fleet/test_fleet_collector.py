"""Shipping the JSON lines with a real collector: rsyslog, run as the test's own process with
the README's configuration (config/collectors/rsyslog-wswatch.conf), follows the file a real
proxy writes and forwards every event, byte for byte, to a TCP listener the test owns."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from proxy_harness import scenario_proxy
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "config" / "collectors" / "rsyslog-wswatch.conf"
RSYSLOGD = shutil.which("rsyslogd") or next(
    (path for path in ("/usr/sbin/rsyslogd", "/sbin/rsyslogd") if os.path.exists(path)), None
)

needs_rsyslogd = pytest.mark.skipif(
    RSYSLOGD is None and not os.environ.get("CI"),
    reason="rsyslogd is not installed (Debian package rsyslog; .ci/run installs it)",
)


class LineListener:
    """A TCP server on 127.0.0.1 keeping every line it receives, in order."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            self.lines.append(line)
        writer.close()


@contextlib.asynccontextmanager
async def line_listener() -> AsyncIterator[tuple[LineListener, int]]:
    listener = LineListener()
    server = await asyncio.start_server(listener.serve, "127.0.0.1", 0, limit=1 << 20)
    try:
        yield listener, server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


@contextlib.asynccontextmanager
async def rsyslogd(tmp_path: Path, events_file: Path, port: int) -> AsyncIterator[Path]:
    """rsyslogd in the foreground with the shipped config, its own work dir and pid file."""
    assert RSYSLOGD is not None, "under CI rsyslogd must be installed (.ci/run installs it)"
    work = tmp_path / "rsyslog-work"
    work.mkdir()
    config = tmp_path / "rsyslog.conf"
    config.write_text(
        CONFIG.read_text()
        .replace("@WORK_DIR@", str(work))
        .replace("@EVENTS_FILE@", str(events_file))
        .replace("@PORT@", str(port))
    )
    output = tmp_path / "rsyslogd.out"
    with output.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            RSYSLOGD, "-n", "-f", str(config), "-i", str(tmp_path / "rsyslogd.pid"),
            stdout=sink, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        try:
            yield output
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), 30)


@needs_rsyslogd
async def test_rsyslog_ships_every_event_of_a_run_intact_and_in_seq_order(
    tmp_path: Path, confdir: Path
) -> None:
    """Events of a real session (rejections, an accepted connection, verdict, summary) reach
    the collector's TCP output as the same lines, seq 1..N without a gap."""
    async with line_listener() as (listener, port):
        async with scenario_proxy(tmp_path, confdir) as proxy:
            async with rsyslogd(tmp_path, proxy.log_path, port) as rsyslog_output:
                for path in ("/deepgram401", "/ratelimit"):
                    with pytest.raises(InvalidStatus):
                        async with connect(f"ws://127.0.0.1:{proxy.port}{path}", open_timeout=5):
                            pass
                async with connect(f"ws://127.0.0.1:{proxy.port}/echo", open_timeout=5) as ws:
                    await ws.send("hello")
                    assert await ws.recv() == "hello"
                await proxy.wait_for("ws.closed")
                proxy.master.shutdown()  # the run ends: verdicts and summary are written
                await proxy.wait_for("session.summary")
                written = proxy.log_path.read_bytes().splitlines(keepends=True)
                deadline = time.monotonic() + 20
                while len(listener.lines) < len(written) and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                shipped = list(listener.lines)
    assert shipped == written, rsyslog_output.read_text(errors="replace")
    events = [json.loads(line) for line in shipped]
    assert [event["seq"] for event in events] == list(range(1, len(events) + 1))
    assert events[-1]["event"] == "session.summary"
    assert {"ws.handshake", "ws.closed", "client.verdict"} <= {e["event"] for e in events}


def test_readme_shows_the_tested_rsyslog_configuration_word_for_word() -> None:
    """The README's rsyslog snippet is the file the shipping test runs, so it cannot drift."""
    readme = (REPO / "docs" / "events.md").read_text()
    assert f"```\n{CONFIG.read_text()}```" in readme
