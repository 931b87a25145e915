"""The report of the README's example session, as a newcomer opens it: in a real Chromium.

The issue's acceptance: run the example session, open the report, see which client misbehaved
and why without reading JSON. The README's screenshot (docs/report.png) is this page, rewritten
when WSWATCH_UPDATE_SCREENSHOTS=1.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from browser import DOCS_SCREENSHOT, chromium_or_skip, opened_report
from demo_run import DemoRun
from wswatchlib.cli import main


async def test_example_session_report_names_each_misbehaving_client_and_why(
    demo: DemoRun, tmp_path: Path
) -> None:
    """The headline and the verdict panel name the hammering, impatient and revoked-key clients
    as errors with the rule that caught each, the polite and streaming ones as ok; every client
    has a lane; the page raises no console error."""
    chromium_or_skip()
    report = tmp_path / "report.html"
    assert main(["report", str(demo.events_path), "-o", str(report)]) == 0
    worst = {client["client_id"]: client["worst"] or "ok" for client in demo.analysis["clients"]}
    async with opened_report(report) as opened:
        page = opened.page
        headline = await page.text_content("#headline")
        shown = await page.eval_on_selector_all(
            "#verdicts li[data-client]",
            "items => items.map(i => [i.dataset.client, i.querySelector('span').textContent,"
            " i.textContent])",
        )
        lanes = await page.eval_on_selector_all(
            "#lanes g.lane", "lanes => lanes.map(l => l.dataset.client)"
        )
        if os.environ.get("WSWATCH_UPDATE_SCREENSHOTS") == "1":
            DOCS_SCREENSHOT.parent.mkdir(exist_ok=True)
            shutil.copy(await opened.screenshot("report-demo.png"), DOCS_SCREENSHOT)
        else:
            await opened.screenshot("report-demo.png")
    assert {client: severity for client, severity, _ in shown} == worst
    assert worst == {
        "hammer": "error",
        "impatient": "error",
        "revoked-key": "error",
        "polite": "ok",
        "streamer": "ok",
    }
    said = {client: text for client, _, text in shown}
    assert "hot-loop" in said["hammer"] and "retry-after" in said["hammer"]
    assert "retry-after" in said["impatient"] and "status-retry" in said["revoked-key"]
    assert headline is not None and "3 with errors (" in headline
    assert all(name in headline for name in ("hammer", "impatient", "revoked-key"))
    assert sorted(lanes) == sorted(worst)
    assert opened.errors == []
