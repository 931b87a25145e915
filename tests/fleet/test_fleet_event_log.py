"""The event log's fleet fields: which events take a `seq`, and which numbers a file shows."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from mitmproxy.test import taddons
from wswatchlib.output.event_log import LOGGER_NAME, EventLog


class Unprintable:
    """A field value no renderer can turn into text."""

    def __str__(self) -> str:
        raise RuntimeError("no text for this value")


async def test_unprepared_event_takes_no_seq_and_unwritten_one_leaves_a_gap(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An event that cannot be prepared is not numbered (no gap); one numbered but not written
    leaves its seq out of the file, so the pipeline sees the loss the terminal reports."""
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    path = tmp_path / "events.jsonl"
    event_log = EventLog(clock=lambda: 0.0)
    with taddons.context(event_log) as tctx:
        tctx.configure(event_log, wswatch_log=str(path), wswatch_console=False)
        results = [
            event_log.emit("first", {}),
            event_log.emit("unprepared", {}, secrets=frozenset({7})),  # type: ignore[arg-type]
            event_log.emit("second", {}),
            event_log.emit("unwritten", {"value": Unprintable()}),
            event_log.emit("third", {}),
        ]
        await tctx.master.done()
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert results == [True, False, True, False, True]
    assert [(line["event"], line["seq"]) for line in lines] == [
        ("first", 1),
        ("second", 2),
        ("third", 4),
    ]
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert [error.split(":")[1].strip() for error in errors] == [
        "could not prepare event unprepared",
        "could not write event unwritten",
    ]


async def test_terminal_line_leaves_out_the_fleet_fields(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """proxy_id, run_id and seq are for pipelines: the terminal line does not print them."""
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    event_log = EventLog(clock=lambda: 0.0)
    with taddons.context(event_log) as tctx:
        tctx.configure(event_log, wswatch_proxy_id="edge-eu-1")
        event_log.emit("ws.closed", {"close_code": 1000, "url": "ws://h/"})
        await tctx.master.done()
    messages = [r.getMessage() for r in caplog.records if r.name == LOGGER_NAME]
    assert messages == ["[wswatch] ws.closed 1000 ws://h/"]
