"""Verdicts on what the real proxy writes: a real client retrying a 401 that wswatch injects."""

from __future__ import annotations

import asyncio
from pathlib import Path

from proxy_harness import scenario_proxy
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from wswatchlib.verdicts.analysis import analyse
from wswatchlib.verdicts.reading import read_event_files

ATTEMPTS = 6
RULES = "rules:\n  - id: bad-key\n    action: {reject: {preset: deepgram-401}}\n"


async def test_real_client_retrying_injected_401_is_graded(tmp_path: Path, confdir: Path) -> None:
    """A client retrying an injected 401 every 0.2 s is graded status-retry error from the
    proxy's own JSON file, with or without contract7's fields (client_id, started)."""
    rules = tmp_path / "faults.yaml"
    rules.write_text(RULES)
    async with scenario_proxy(tmp_path, confdir, wswatch_faults=[str(rules)]) as proxy:
        for _ in range(ATTEMPTS):
            try:
                async with connect(f"ws://127.0.0.1:{proxy.port}/v1/listen", open_timeout=5):
                    raise AssertionError("the injected 401 let the client in")
            except InvalidStatus as error:
                assert error.response.status_code == 401
            await asyncio.sleep(0.2)
        await proxy.wait_for(
            "ws.handshake", lambda _: len(proxy.events("ws.handshake")) == ATTEMPTS
        )
    reading = read_event_files([proxy.log_path])
    verdicts = analyse(reading.events)
    assert reading.skipped == ()
    assert len(verdicts.clients) == 1
    [status] = [f for f in verdicts.findings if f.rule == "status-retry"]
    assert (status.severity.label, status.summary.split(" at full rate")[0]) == (
        "error",
        "retried 401 5 times",
    )
    assert {retry["injected"] for retry in status.evidence["retries"]} == {True}
