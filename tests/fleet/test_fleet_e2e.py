"""Fleet fields on what the real proxy writes: every event of a run numbered without a gap,
one run id per start, the proxy id by default and by option (in-process and as `mitmdump`)."""

from __future__ import annotations

import json
import socket
import uuid
from pathlib import Path
from typing import Any

import pytest
from proxy_harness import scenario_proxy
from test_mitmdump_script import scenario_mitmdump
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from wswatchlib.verdicts.analysis import analyse
from wswatchlib.verdicts.reading import read_event_files

RULES = (
    "rules:\n"
    "  - id: bad-key\n"
    "    match: {path: /v1/listen}\n"
    "    action: {reject: {preset: deepgram-401}}\n"
)


def events_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


async def rejected(url: str) -> int:
    """Open `url`, expecting a refused upgrade; the status the client received."""
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url, open_timeout=5):
            pass
    return refused.value.response.status_code


async def test_seq_has_no_gap_across_every_event_kind_of_a_run(
    tmp_path: Path, confdir: Path
) -> None:
    """Faults, handshakes, closes, verdicts and the summary of one run carry seq 1..N in file
    order, one run_id, and HOST:PORT of the port the proxy listened on; analyse reads them."""
    rules = tmp_path / "faults.yaml"
    rules.write_text(RULES)
    async with scenario_proxy(tmp_path, confdir, wswatch_faults=[str(rules)]) as proxy:
        assert await rejected(f"ws://127.0.0.1:{proxy.port}/v1/listen") == 401
        assert await rejected(f"ws://127.0.0.1:{proxy.port}/ratelimit") == 429
        async with connect(f"ws://127.0.0.1:{proxy.port}/echo", open_timeout=5) as client:
            await client.send("hello")
            assert await client.recv() == "hello"
        await proxy.wait_for("ws.closed")
    written = events_of(proxy.log_path)
    names = [event["event"] for event in written]
    assert {
        "fault.rules_loaded",
        "fault.injected",
        "ws.handshake",
        "ws.closed",
        "client.verdict",
    } <= set(names)
    assert names[-1] == "session.summary"
    assert [event["seq"] for event in written] == list(range(1, len(written) + 1))
    assert {event["run_id"] for event in written} == {written[0]["run_id"]}
    assert {event["proxy_id"] for event in written} == {f"{socket.gethostname()}:{proxy.port}"}
    reading = read_event_files([proxy.log_path])
    assert reading.skipped == () and len(reading.events) == len(written)
    assert len(analyse(reading.events).clients) == 1


async def test_mitmdump_runs_get_their_own_run_id_and_the_proxy_id_asked_for(
    tmp_path: Path, confdir: Path
) -> None:
    """Two `mitmdump` starts: different UUIDv7 run ids, sorting in start order; the first says
    HOST:PORT of its ephemeral port, the second the wswatch_proxy_id it was given."""
    runs = []
    for number, settings in enumerate(((), ("wswatch_proxy_id=edge-eu-1",)), start=1):
        log_path = tmp_path / f"run{number}.jsonl"
        async with scenario_mitmdump(confdir, f"wswatch_log={log_path}", *settings) as (port, _):
            assert await rejected(f"ws://127.0.0.1:{port}/deepgram401") == 401
        runs.append((port, events_of(log_path)))
    (first_port, first), (_, second) = runs
    for written in (first, second):
        assert [event["seq"] for event in written] == list(range(1, len(written) + 1))
        assert written[-1]["event"] == "session.summary"
        assert len({event["run_id"] for event in written}) == 1
    assert {event["proxy_id"] for event in first} == {f"{socket.gethostname()}:{first_port}"}
    assert {event["proxy_id"] for event in second} == {"edge-eu-1"}
    first_run, second_run = first[0]["run_id"], second[0]["run_id"]
    assert uuid.UUID(first_run).version == uuid.UUID(second_run).version == 7
    assert first_run < second_run
