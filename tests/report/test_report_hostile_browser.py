"""Hostile text sent through the real proxy is shown as text in the report, never run."""

from __future__ import annotations

import websockets
from browser import chromium_or_skip, opened_report
from proxy_harness import scenario_proxy
from websockets.asyncio.client import connect
from wswatchlib.cli import main

#: Markup and quotes a client names itself with (the client key is a header).
HOSTILE_CLIENT = "<script>window.pwned=1</script>\"'&amp;"
#: Markup the upstream echoes back in its 401's error header and body.
HOSTILE_PATH = "/leaky401?q=<img/src=x/onerror=window.pwned=2>"


async def test_hostile_client_id_and_echoed_markup_are_shown_not_run(tmp_path, confdir):
    """A client id of `<script>...` and a 401 echoing `<img onerror>` become a lane label and
    table text equal to what was sent; no script runs and the console stays clean."""
    chromium_or_skip()
    async with scenario_proxy(tmp_path, confdir, wswatch_client_key="header:x-client-id") as proxy:
        for _ in range(2):
            try:
                async with connect(
                    f"ws://127.0.0.1:{proxy.port}{HOSTILE_PATH}",
                    additional_headers={"x-client-id": HOSTILE_CLIENT},
                ):
                    pass
            except websockets.InvalidStatus as rejected:
                assert rejected.response.status_code == 401
        await proxy.wait_for("ws.handshake", lambda _: len(proxy.events("ws.handshake")) == 2)
    (handshake, *_) = proxy.events("ws.handshake")
    assert handshake["client_id"] == HOSTILE_CLIENT and "<img" in handshake["error"]
    report = tmp_path / "report.html"
    assert main(["report", str(proxy.log_path), "-o", str(report)]) == 0
    async with opened_report(report) as opened:
        page = opened.page
        lanes = await page.eval_on_selector_all(
            "#lanes g.lane", "lanes => lanes.map(l => l.dataset.client)"
        )
        await page.click("#spacer .tr >> nth=0")
        detail = await page.text_content("#detail")
        pwned = await page.evaluate("window.pwned === undefined")
        images = await page.eval_on_selector_all("img", "images => images.length")
        await opened.screenshot("report-hostile.png")
    assert lanes == [HOSTILE_CLIENT]
    assert f"vendor error{handshake['error']}" in detail
    assert pwned and images == 0
    assert opened.errors == []
