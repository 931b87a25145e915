"""Verdicts on what the real proxy writes: a real client retrying a 401 that wswatch injects."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from proxy_harness import RunningProxy, scenario_proxy
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from wswatchlib.verdicts.analysis import analyse
from wswatchlib.verdicts.reading import read_event_files

ATTEMPTS = 6
RULES = "rules:\n  - id: bad-key\n    action: {reject: {preset: deepgram-401}}\n"


async def retry_injected_401(tmp_path: Path, confdir: Path) -> RunningProxy:
    """A scripted client retrying an injected 401 every 0.2 s, ATTEMPTS times; the proxy has
    stopped (and written its end-of-session events) when this returns."""
    rules = tmp_path / "faults.yaml"
    rules.write_text(RULES)
    async with scenario_proxy(tmp_path, confdir, wswatch_faults=[str(rules)]) as proxy:
        for _ in range(ATTEMPTS):
            try:
                async with connect(f"ws://127.0.0.1:{proxy.port}/v1/listen", open_timeout=5):
                    raise AssertionError("the injected 401 let the client in")
            except InvalidStatus as error:
                assert error.response.status_code == 401
            await asyncio.sleep(0.2)  # the client's own retry schedule
        await proxy.wait_for(
            "ws.handshake", lambda _: len(proxy.events("ws.handshake")) == ATTEMPTS
        )
    return proxy


async def test_real_client_retrying_injected_401_is_graded(tmp_path: Path, confdir: Path) -> None:
    """A client retrying an injected 401 every 0.2 s is graded status-retry error from the
    proxy's own JSON file, with or without contract7's fields (client_id, started)."""
    proxy = await retry_injected_401(tmp_path, confdir)
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


async def test_proxy_grades_the_client_live_as_the_offline_analysis_does(
    tmp_path: Path, confdir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """At shutdown the proxy writes the client's client.verdict (the same findings as
    `wswatch analyse` on its file), counts it in session.summary and prints the findings."""
    caplog.set_level(logging.INFO, logger="wswatch")  # the summary line is INFO
    proxy = await retry_injected_401(tmp_path, confdir)
    (live,) = proxy.events("client.verdict")
    (summary,) = proxy.events("session.summary")
    offline = analyse(read_event_files([proxy.log_path]).events)
    (handshake, *_) = proxy.events("ws.handshake")
    assert live["client_id"] == handshake["client_id"] and live["attempts"] == ATTEMPTS
    assert live["worst"] == "error" and live["events_dropped"] == 0
    assert live["findings"] == [finding.fields() for finding in offline.findings]
    assert "status-retry" in [finding["rule"] for finding in live["findings"]]
    assert summary["verdicts"] == {"error": 1}
    assert [f["rule"] for f in summary["findings"]] == [f["rule"] for f in live["findings"]]
    terminal = "\n".join(proxy.console.lines)
    assert "client verdicts:" in terminal
    assert f"error    {live['client_id']}  status-retry: retried 401 5 times" in terminal


async def test_a_client_is_graded_when_its_episode_ends_while_it_stays_connected(
    tmp_path: Path, confdir: Path
) -> None:
    """Two injected 401s, then a connection that stays up stable_connection_s: the proxy writes
    the client's verdict right then (when: episode_end); the summary counts the client once."""
    rules, thresholds = tmp_path / "faults.yaml", tmp_path / "thresholds.yaml"
    rules.write_text(
        "rules:\n  - id: bad-key\n    when: {first: 2}\n"
        "    action: {reject: {preset: deepgram-401}}\n"
    )
    thresholds.write_text("stable_connection_s: 0.5\n")
    async with scenario_proxy(
        tmp_path,
        confdir,
        wswatch_faults=[str(rules)],
        wswatch_verdict_thresholds=str(thresholds),
    ) as proxy:
        for _ in range(2):
            with pytest.raises(InvalidStatus):
                async with connect(f"ws://127.0.0.1:{proxy.port}/v1/listen", open_timeout=5):
                    pass
            await asyncio.sleep(0.2)  # the client's own retry schedule
        async with connect(f"ws://127.0.0.1:{proxy.port}/echo", open_timeout=5) as ws:
            episode = await proxy.wait_for(
                "client.verdict", lambda e: e["when"] == "episode_end", timeout=10
            )
            await ws.send("still here")
            assert await ws.recv() == "still here"
    final = [e for e in proxy.events("client.verdict") if e["when"] == "session_end"]
    (summary,) = proxy.events("session.summary")
    assert (episode["attempts"], episode["episodes"]) == (3, 1)
    assert [e["client_id"] for e in final] == [episode["client_id"]]
    assert sum(summary["verdicts"].values()) == 1
