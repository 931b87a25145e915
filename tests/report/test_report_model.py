"""The report's pure parts: rows, lanes, gaps and counts from events, and the page's escaping."""

from __future__ import annotations

import html
import json
import re

import pytest
from report_events import closed, handshake, large_session
from wswatchlib.report.charts import (
    MAX_MARKS_PER_LANE,
    envelope_s,
    nice_step,
    retry_chart,
    swimlanes,
)
from wswatchlib.report.model import ABNORMAL_CLOSE, build_model
from wswatchlib.report.page import build_report
from wswatchlib.watch.hints import CLOSE_CODE_HINTS
from wswatchlib.watch.vendors import DEFAULT_VENDORS_PATH, load_catalog


def test_gap_is_the_time_since_the_clients_last_start_else_the_events_since_previous_attempt():
    """A row's gap is the time since the same client's previous attempt in these events, even
    when the event says otherwise (a proxy of a merged fleet log saw only its own attempts); a
    client's first attempt here has its event's `since_previous_attempt_s`, else none."""
    events = [
        handshake("a", 0.0, "rejected", status=503),
        handshake("b", 0.5, "rejected", status=503, since_previous_attempt_s=30.0),
        handshake("a", 1.25, "rejected", status=503),
        handshake("a", 3.0, "rejected", status=503, since_previous_attempt_s=9.5),
    ]
    model = build_model(events)
    assert [(r.client, r.number, r.gap_s) for r in model.rows] == [
        ("a", 1, None),
        ("b", 1, 30.0),
        ("a", 2, 1.25),
        ("a", 3, 1.75),
    ]


def test_a_close_without_client_id_joins_its_handshakes_lane_and_an_unclosed_one_runs_to_the_end():
    """A ws.closed without client_id lands on its handshake's lane (same flow_id); an accepted
    attempt with no ws.closed is drawn open until the session's last row."""
    first = handshake("a", 0.0)
    second = handshake("a", 2.0)
    events = [first, closed(None, first["flow_id"], 1.0, 1.0), second, handshake("b", 5.0)]
    model = build_model(events)
    [lane_a, lane_b] = model.lanes
    assert (lane_a.client, lane_b.client) == ("a", "b")
    assert [(c.opened, c.closed, c.close_row) for c in lane_a.connections] == [
        (0.0, 1.0, 1),
        (2.0, 5.0, None),
    ]
    assert model.span_s == 5.0


def test_counts_split_outcomes_and_real_from_injected_failures():
    """Attempts count by outcome; failures (not accepted, or not a clean 1000) split by
    `injected`; the top reasons carry the first hint of each."""
    ok = handshake("a", 0.0)
    events = [
        ok,
        closed("a", ok["flow_id"], 1.0, 1.0, clean=False, close_code=1006, closed_by="server"),
        handshake("a", 1.5, "rejected", status=401, reason="Unauthorized", hint="Check the key."),
        handshake("a", 2.0, "rejected", status=401, reason="Unauthorized", hint="Other."),
        handshake("b", 2.5, "rejected", status=503, injected=True, rule_id="r1"),
        handshake("b", 3.0, "failed", failure="refused", reason="connection refused"),
    ]
    model = build_model(events)
    assert dict(model.attempts) == {"accepted": 1, "rejected": 3, "failed": 1}
    assert dict(model.closes) == {ABNORMAL_CLOSE: 1}
    assert (model.real_failures, model.injected_failures) == (4, 1)
    top = model.top_reasons[0]
    assert (top.reason, top.count, top.hint) == ("401 Unauthorized", 2, "Check the key.")


def test_close_meaning_is_the_events_else_the_vendors_else_rfc_6455s():
    """A close row's meaning: the event's close_meaning; without one, the vendor profile's
    meaning (hints.close_meaning), else RFC 6455's; vendor ids show as vendor names."""
    catalog = load_catalog(DEFAULT_VENDORS_PATH)
    first, second = handshake("a", 0.0), handshake("a", 2.0)
    events = [
        first,
        closed("a", first["flow_id"], 1.0, 1.0, close_meaning=None, vendor="deepgram"),
        second,
        closed("a", second["flow_id"], 3.0, 1.0, close_meaning=None, close_code=1011),
    ]
    rows = build_model(events, catalog).rows
    assert (rows[1].vendor, rows[1].meaning) == (
        "Deepgram",
        "normal closure (CloseStream or TTS Close)",
    )
    assert rows[3].meaning == CLOSE_CODE_HINTS[1011]


HOSTILE = "</script><script>alert('x')</script>\"'&\x1b[31m\ud800<img src=x onerror=alert(1)>"


def test_hostile_event_text_is_escaped_everywhere_it_lands_in_the_page():
    """Event text with script tags, quotes, control characters and a lone surrogate never
    appears raw: markup is escaped and the rows' JSON cannot close its script element."""
    attempt = handshake(
        HOSTILE, 0.0, "rejected", status=400, reason=HOSTILE, hint=HOSTILE, error=HOSTILE
    )
    attempt["host"] = HOSTILE
    page = build_report([attempt, handshake(HOSTILE, 0.5, "rejected", status=400)])
    page.encode("utf-8")  # no lone surrogate left
    assert "<script>alert" not in page and "<img" not in page and "\x1b" not in page
    assert page.count("<script") == 3  # the rows, the colours and the page's own script
    rows_json = re.search(r'<script type="application/json" id="rows">(.*?)</script>', page, re.S)
    assert rows_json is not None
    [first, _] = json.loads(rows_json.group(1))
    assert (
        first["reason"]
        == "</script><script>alert('x')</script>\"'&\\x1b[31m\\ud800<img src=x onerror=alert(1)>"
    )
    assert html.escape("</script><script>alert('x')", quote=True) in page


def test_a_lane_past_its_mark_limit_is_bucketed_into_columns():
    """A client with more than MAX_MARKS_PER_LANE attempts is drawn as stacked columns, not
    one mark per attempt, so the SVG stays small."""
    events = [
        handshake("busy", n * 0.01, "rejected", status=503) for n in range(MAX_MARKS_PER_LANE + 1)
    ]
    events.append(handshake("calm", 0.5, "rejected", status=503))
    svg = swimlanes(build_model(events))
    assert svg.count('class="bucket"') <= 200 and svg.count('class="bucket"') > 0
    assert svg.count('<circle class="mk"') == 1  # the calm client's one attempt


def test_retry_chart_draws_each_retry_after_and_the_reference_envelope():
    """Each Retry-After a rejection carried is a dash before the next attempt; the reference
    band follows gRPC's 1 s x1.6 backoff capped at the verdicts' 120 s."""
    events = [
        handshake("a", 0.0, "rejected", status=429, retry_after=7.0),
        handshake("a", 0.5, "rejected", status=429, retry_after=7.0),
        handshake("a", 1.0, "rejected", status=429),
    ]
    svg = retry_chart(build_model(events))
    assert svg.count('class="retry-after"') == 2
    assert 'class="envelope"' in svg
    assert [envelope_s(n, 120.0) for n in (1, 2, 3)] == [1.0, 1.6, pytest.approx(2.56)]
    assert envelope_s(30, 120.0) == 120.0


@pytest.mark.parametrize(("span", "step"), [(2.6, 0.5), (600, 100), (0.03, 0.005), (0, 1.0)])
def test_time_axis_ticks_are_round_steps(span: float, step: float):
    """The axis steps by 1, 2 or 5 times a power of ten, about eight ticks over the span."""
    assert nice_step(span) == pytest.approx(step)


def test_fifty_thousand_events_make_a_page_of_bounded_marks():
    """50,000 events become one row each in the JSON, with at most a few thousand SVG marks."""
    events = large_session(50_000)
    page = build_report(events)
    rows_json = re.search(r'<script type="application/json" id="rows">(.*?)</script>', page, re.S)
    assert rows_json is not None and len(json.loads(rows_json.group(1))) == len(events)
    assert page.count("<circle") + page.count("<rect") < 20_000


def test_a_close_shows_how_many_messages_wswatch_sent_on_its_connection():
    """A scripted connection's close row counts the messages wswatch sent to each peer; a
    connection it sent nothing on carries no such field (big reports stay small)."""
    first, second = handshake("a", 0.0), handshake("a", 2.0)
    scripted = closed("a", first["flow_id"], 1.0, 1.0, close_code=1011)
    scripted["injected_messages"] = {"to_client": 2, "to_server": 0}
    plain = closed("a", second["flow_id"], 3.0, 1.0)
    plain["injected_messages"] = {"to_client": 0, "to_server": 0}
    rows = build_model([first, scripted, second, plain]).rows
    assert (rows[1].injected_to_client, rows[1].injected_to_server) == (2, None)
    assert "injected_to_client" not in rows[3].fields()
    assert "injected_to_server" not in rows[1].fields()
