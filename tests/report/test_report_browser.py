"""The session report of a real proxied session, opened in a real headless Chromium.

The session (report_sessions.record_session) runs once per module; every expectation below is
read from its JSON events, so another real session can take its place.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from browser import chromium_or_skip, opened_report
from report_events import closed, handshake
from report_sessions import RecordedSession, record_session
from wswatchlib.cli import main
from wswatchlib.report.page import build_report
from wswatchlib.verdicts.reading import read_event_files


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory, confdir: Path) -> RecordedSession:
    """The real session, recorded once for this module's tests."""
    chromium_or_skip()
    return asyncio.run(record_session(tmp_path_factory.mktemp("report-session"), confdir))


@pytest.fixture(scope="module")
def report(session: RecordedSession, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`wswatch report` on the session's JSON-lines file."""
    path = tmp_path_factory.mktemp("report") / "report.html"
    assert main(["report", str(session.events), "-o", str(path)]) == 0
    return path


def _events(session: RecordedSession, name: str) -> list[dict[str, Any]]:
    return [dict(e) for e in read_event_files([session.events]).events if e["event"] == name]


async def test_every_client_has_a_lane_and_every_count_matches_the_events(
    session: RecordedSession, report: Path
) -> None:
    """Each client_id of the events has one lane; the outcome, failure and row counts shown are
    the events' own; the page raises no console error."""
    handshakes, closes = _events(session, "ws.handshake"), _events(session, "ws.closed")
    outcomes = Counter(e["outcome"] for e in handshakes)
    injected = sum(1 for e in handshakes if e["injected"] and e["outcome"] != "accepted")
    async with opened_report(report) as opened:
        page = opened.page
        lanes = await page.eval_on_selector_all(
            "#lanes g.lane", "lanes => lanes.map(l => l.dataset.client)"
        )
        cards = await page.eval_on_selector_all(
            ".card", "cards => cards.map(c => [c.dataset.count, c.querySelector('b').textContent])"
        )
        shown = await page.text_content("#shown")
        await opened.screenshot("report-overview.png")
    assert sorted(lanes) == sorted({e["client_id"] for e in handshakes})
    counted = dict(cards)
    assert counted["attempts"] == str(len(handshakes))
    for outcome in ("accepted", "rejected", "failed", "invalid"):
        assert counted[outcome] == str(outcomes[outcome]), outcome
    assert counted["injected-failures"] == str(injected) and injected > 0
    assert counted["clients"] == str(len(lanes))
    rows = len(handshakes) + len(closes)
    assert shown == f"{rows} of {rows} rows"
    assert opened.errors == []


async def test_filters_narrow_the_table_to_the_chosen_client_status_and_close_code(
    session: RecordedSession, report: Path
) -> None:
    """Choosing a client, then a status, then a close code leaves exactly the events' rows
    that match, and the close row names the close code's meaning."""
    handshakes, closes = _events(session, "ws.handshake"), _events(session, "ws.closed")
    busiest = Counter(e["client_id"] for e in handshakes).most_common(1)[0][0]
    own = [e for e in handshakes + closes if e["client_id"] == busiest]
    (vendor_close,) = [e for e in closes if e["close_code"] == 1011]
    rows = len(handshakes) + len(closes)
    async with opened_report(report) as opened:
        page = opened.page
        await page.select_option("#filter-client", busiest)
        by_client = await page.text_content("#shown")
        clients = await page.eval_on_selector_all(
            "#spacer .tr", "rows => rows.map(r => r.children[1].textContent)"
        )
        await page.select_option("#filter-client", "")
        await page.select_option("#filter-status", "429")
        by_status = await page.text_content("#shown")
        await page.select_option("#filter-status", "")
        await page.select_option("#filter-close_code", "1011")
        by_code = await page.text_content("#shown")
        says = await page.text_content("#spacer .tr >> nth=0")
        await opened.screenshot("report-filtered.png")
    assert by_client == f"{len(own)} of {rows} rows"
    assert set(clients) == {busiest}
    assert by_status == f"{sum(1 for e in handshakes if e['status'] == 429)} of {rows} rows"
    assert by_code == f"1 of {rows} rows"
    assert vendor_close["close_meaning"] in says
    assert opened.errors == []


async def test_hover_and_click_show_status_vendor_error_request_id_and_hint(
    session: RecordedSession, report: Path
) -> None:
    """Hovering the injected fault's mark shows its status, rule and hint; clicking the
    rate-limited row shows its Retry-After, request id and hint."""
    handshakes = _events(session, "ws.handshake")
    (injected, *_) = [e for e in handshakes if e["injected"]]
    (limited, *_) = [e for e in handshakes if e["status"] == 429]
    async with opened_report(report) as opened:
        page = opened.page
        await page.hover("#lanes path.mk >> nth=0")  # injected faults are diamonds
        hovered = await page.text_content("#detail")
        await page.select_option("#filter-status", "429")
        await page.click("#spacer .tr >> nth=0")
        clicked = await page.text_content("#detail")
        await opened.screenshot("report-details.png")
    assert "injected by wswatchtrue" in hovered
    assert f"fault rule{injected['rule_id']}" in hovered
    assert f"HTTP status{injected['status']}" in hovered and injected["hint"] in hovered
    assert f"Retry-After (s){limited['retry_after']:g}" in clicked
    assert f"request id{limited['request_id']}" in clicked
    assert limited["hint"] in clicked
    assert opened.errors == []


async def test_the_proxy_writes_the_same_report_as_the_command_on_its_file(
    session: RecordedSession, report: Path
) -> None:
    """`--set wswatch_report=PATH` writes, at stop, the page `wswatch report` makes from the
    proxy's own JSON-lines file."""
    assert session.report.read_text(encoding="utf-8") == report.read_text(encoding="utf-8")


async def test_a_scripted_connections_close_shows_what_wswatch_sent(tmp_path: Path) -> None:
    """Clicking the close of a connection a script spoke into shows how many messages wswatch
    sent to each peer; a plain close shows no such line."""
    scripted, plain = handshake("a", 0.0), handshake("a", 2.0)
    scripted_close = closed("a", scripted["flow_id"], 1.0, 1.0, injected=True, rule_id="script")
    scripted_close["injected_messages"] = {"to_client": 2, "to_server": 1}
    plain_close = closed("a", plain["flow_id"], 3.0, 1.0)
    plain_close["injected_messages"] = {"to_client": 0, "to_server": 0}
    page_file = tmp_path / "report.html"
    page_file.write_text(build_report([scripted, scripted_close, plain, plain_close]))
    async with opened_report(page_file) as opened:
        await opened.page.click("#spacer .tr >> nth=1")
        shown = await opened.page.text_content("#detail")
        await opened.page.click("#spacer .tr >> nth=3")
        plain_shown = await opened.page.text_content("#detail")
        await opened.screenshot("report-scripted-close.png")
    assert "messages wswatch sent to the client2" in shown
    assert "messages wswatch sent to the server1" in shown
    assert "messages wswatch sent" not in plain_shown
    assert opened.errors == []
