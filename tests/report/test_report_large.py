"""A 50,000-event report opened and scrolled in a real headless Chromium, with the time printed
(docs/report-and-metrics.md quotes it; no timed assert: machines differ)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from browser import chromium_or_skip, opened_report
from report_events import large_session
from wswatchlib.cli import main

EVENTS = 50_000


async def test_fifty_thousand_event_report_opens_scrolls_and_filters(
    tmp_path: Path, capsys
) -> None:
    """`wswatch report` on 50,000 events writes a page that opens with every row counted,
    scrolls its table to the last row and filters it, without console errors; the times are
    printed."""
    chromium_or_skip()
    events = large_session(EVENTS)
    source = tmp_path / "events.jsonl"
    source.write_text("".join(json.dumps(event) + "\n" for event in events))
    report = tmp_path / "report.html"
    started = time.perf_counter()
    assert main(["report", str(source), "-o", str(report)]) == 0
    built_s = time.perf_counter() - started
    opening = time.perf_counter()
    async with opened_report(report) as opened:
        page = opened.page
        shown = await page.text_content("#shown")
        launched_s = time.perf_counter() - opening
        scrolling = time.perf_counter()
        await page.eval_on_selector("#scroller", "s => { s.scrollTop = s.scrollHeight; }")
        # A selector wait, not wait_for_function: that one evals its string in the page, which
        # the report's Content-Security-Policy (no 'unsafe-eval') refuses.
        await page.wait_for_selector(
            f'#spacer .tr[data-row="{len(events) - 1}"]', state="attached", timeout=10_000
        )
        scrolled_s = time.perf_counter() - scrolling
        filtering = time.perf_counter()
        await page.select_option("#filter-outcome", "failed")
        filtered = await page.text_content("#shown")
        filtered_s = time.perf_counter() - filtering
        lanes = await page.eval_on_selector_all("#lanes g.lane", "lanes => lanes.length")
        await opened.screenshot("report-50k.png")
    failed = sum(1 for event in events if event.get("outcome") == "failed")
    assert shown == f"{len(events)} of {len(events)} rows"
    assert filtered == f"{failed} of {len(events)} rows"
    assert lanes == 20
    assert opened.errors == []
    with capsys.disabled():
        print(
            f"\n50,000-event report: {report.stat().st_size / 1e6:.1f} MB, built in "
            f"{built_s:.1f} s; Chromium loaded it in {opened.load_s:.2f} s ({launched_s:.2f} s "
            "with its launch), "
            f"scrolled to the last row in {scrolled_s:.2f} s, filtered in {filtered_s:.2f} s"
        )
