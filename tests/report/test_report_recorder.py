"""The `wswatch_report` addon: bounded memory, and the report written only when asked."""

from __future__ import annotations

import json
import re
from pathlib import Path

from mitmproxy.test import taddons
from report_events import handshake
from wswatchlib.output.event_log import EventLog
from wswatchlib.report.recorder import KEPT_FIELDS, SessionReportWriter
from wswatchlib.verdicts.episodes import EVENT_FIELDS
from wswatchlib.verdicts.thresholds import Thresholds


def _emit_attempts(event_log: EventLog, count: int) -> None:
    for number in range(count):
        event = handshake("c-1", float(number), "rejected", status=503)
        event_log.emit(
            event["event"], {k: v for k, v in event.items() if k not in ("event", "schema", "ts")}
        )


async def test_a_longer_session_is_reported_on_its_latest_events_and_says_so(
    tmp_path: Path,
) -> None:
    """Past its bound the addon keeps the newest attempts; the page counts the dropped ones."""
    output = tmp_path / "report.html"
    event_log = EventLog()
    writer = SessionReportWriter(event_log, lambda: None, Thresholds, max_kept=3)
    with taddons.context(writer, event_log) as tctx:
        tctx.configure(writer, wswatch_report=str(output))
        tctx.configure(event_log, wswatch_console=False)
        _emit_attempts(event_log, 5)
        await tctx.master.done()
    page = output.read_text(encoding="utf-8")
    rows = re.search(r'<script type="application/json" id="rows">(.*?)</script>', page, re.S)
    assert rows is not None and len(json.loads(rows.group(1))) == 3
    assert "The proxy kept only its latest events: 2 earlier ones are not in this report." in page


async def test_no_event_is_kept_and_no_report_written_when_the_option_is_empty(
    tmp_path: Path,
) -> None:
    """With wswatch_report empty (the default) the addon holds no event and writes nothing."""
    event_log = EventLog()
    writer = SessionReportWriter(event_log, lambda: None, Thresholds)
    with taddons.context(writer, event_log) as tctx:
        tctx.configure(event_log, wswatch_console=False)
        _emit_attempts(event_log, 2)
        await tctx.master.done()
    assert len(writer.kept) == 0 and list(tmp_path.iterdir()) == []


def test_every_field_the_page_verdicts_read_is_kept() -> None:
    """The page grades clients on the kept copy, so it keeps every field the verdicts read
    (without `longest_gap_s` the idle-gap finding never showed in a proxy-written report)."""
    assert set(EVENT_FIELDS) <= set(KEPT_FIELDS)
