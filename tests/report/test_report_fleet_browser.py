"""A report of more clients than lanes, opened in a real headless Chromium: it leads with the
fleet (clients by worst finding, attempts per client, retry waits, attempts over time), draws
lanes for the worst clients and the one the user named, and pages through every client."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

from browser import chromium_or_skip, opened_report
from report_events import closed, handshake
from wswatchlib.cli import main
from wswatchlib.report.fleet_panels import PAGE_SIZE
from wswatchlib.report.fleet_view import MAX_LANES
from wswatchlib.verdicts.analysis import analyse

CALM, WAITING, HAMMERING = 150, 40, 15
NAMED = "calm-0007"


def fleet_session() -> list[dict[str, Any]]:
    """Calm clients (one connection), clients that wait out 503s, and clients hammering a 401."""
    rng = random.Random(16)
    events: list[dict[str, Any]] = []
    for number in range(CALM):
        start = rng.uniform(0, 60)
        attempt = handshake(f"calm-{number:04}", start)
        events += [attempt, closed(f"calm-{number:04}", attempt["flow_id"], start + 30, 30)]
    for number in range(WAITING):
        at = rng.uniform(0, 60)
        for _ in range(3):
            events.append(
                handshake(f"waiting-{number:04}", at, "rejected", status=503, retry_after=1.0)
            )
            at += rng.uniform(1.2, 2.5)
        events.append(handshake(f"waiting-{number:04}", at))
    for number in range(HAMMERING):
        at = 90 + rng.uniform(0, 1)
        for _ in range(30):
            events.append(handshake(f"hammer-{number:04}", at, "rejected", status=401))
            at += 0.05
    events.sort(key=lambda event: event["ts"])
    return events


async def page_clients(page: Any) -> list[str]:
    """The clients on the client table's current page."""
    return await page.eval_on_selector_all(
        "#client-table .client-row:not(.th)", "rows => rows.map(r => r.dataset.client)"
    )


async def bar_counts(page: Any, chart: str) -> list[int]:
    return await page.eval_on_selector_all(
        f"#{chart} rect.bar", "bars => bars.map(b => Number(b.dataset.count))"
    )


async def test_a_fleet_report_leads_with_the_fleet_and_pages_through_every_client(
    tmp_path: Path, capsys
) -> None:
    chromium_or_skip()
    events = fleet_session()
    source, report = tmp_path / "fleet.jsonl", tmp_path / "fleet.html"
    source.write_text("".join(json.dumps(event) + "\n" for event in events))
    assert main(["report", str(source), "-o", str(report), "--client", NAMED]) == 0
    verdicts = analyse(events)
    worst = Counter(
        (verdicts.worst(client.client_id).label if verdicts.worst(client.client_id) else "ok")
        for client in verdicts.clients
    )
    clients = CALM + WAITING + HAMMERING
    async with opened_report(report) as opened:
        page = opened.page
        cards = dict(
            await page.eval_on_selector_all(
                "#fleet [data-worst]",
                "cs => cs.map(c => [c.dataset.worst, c.querySelector('b').textContent])",
            )
        )
        bars = await bar_counts(page, "attempts-per-client")
        over_time = await bar_counts(page, "attempts-over-time")
        lanes = await page.eval_on_selector_all(
            "#lanes g.lane", "lanes => lanes.map(l => l.dataset.client)"
        )
        first_page = await page_clients(page)
        label = await page.text_content("#client-page")
        await page.click("#client-next")
        second_page = await page_clients(page)
        await page.select_option("#client-worst", "error")
        errors_only = await page_clients(page)
        headline = await page.text_content("#headline")
        await opened.screenshot("report-fleet.png")
    assert cards == {label: str(worst[label]) for label in ("error", "warning", "info", "ok")}
    assert sum(bars) == clients and bars[0] == CALM
    assert sum(over_time) == sum(1 for event in events if event["event"] == "ws.handshake")
    assert len(lanes) == MAX_LANES and NAMED in lanes
    assert {f"hammer-{n:04}" for n in range(HAMMERING)} <= set(lanes)
    assert len(first_page) == PAGE_SIZE and set(first_page).isdisjoint(second_page)
    assert label.strip() == f"page 1 of {-(-clients // PAGE_SIZE)} ({clients} clients)"
    assert sorted(errors_only) == sorted(f"hammer-{n:04}" for n in range(HAMMERING))
    assert headline.startswith(f"In short: {clients} clients, {worst['error']} with errors")
    assert opened.errors == []
    with capsys.disabled():
        print(f"\n{clients}-client report: {report.stat().st_size / 1e3:.0f} kB")
