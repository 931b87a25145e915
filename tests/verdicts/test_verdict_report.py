"""The live verdicts: what the proxy keeps of each event, the client.verdict events it writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mitmproxy import exceptions
from mitmproxy.test import taddons
from test_verdicts_calibration import fleet, retries_401_forever
from verdict_streams import Stream
from wswatchlib.output.event_log import EventLog
from wswatchlib.verdicts.analysis import analyse
from wswatchlib.verdicts.episodes import EVENT_FIELDS
from wswatchlib.verdicts.findings import FLEET
from wswatchlib.verdicts.reporter import VerdictReport, verdict_events
from wswatchlib.verdicts.thresholds import Thresholds


@pytest.mark.parametrize("build", [retries_401_forever, lambda: fleet(0.9, 1)], ids=["401", "herd"])
def test_the_compact_copy_grades_exactly_like_the_full_events(build) -> None:
    """Keeping only EVENT_FIELDS of each event changes no finding."""
    events = build().events
    compact = [{key: e[key] for key in EVENT_FIELDS if key in e} for e in events]
    assert analyse(compact).findings == analyse(events).findings


def test_verdict_events_one_per_client_then_the_fleet() -> None:
    """Each client gets its attempts, episodes, worst severity and own findings; the fleet last."""
    verdicts = analyse(fleet(0.9, 1).events)
    graded = verdict_events(verdicts, dropped=3)
    clients = [c.client_id for c in verdicts.clients]
    assert [g["client_id"] for g in graded] == [*clients, FLEET]
    (fleet_verdict,) = [g for g in graded if g["client_id"] == FLEET]
    assert fleet_verdict["worst"] == "error" and fleet_verdict["attempts"] is None
    assert [f["rule"] for f in fleet_verdict["findings"]] == ["herd"]
    assert {g["events_dropped"] for g in graded} == {3}
    for entry in graded[:-1]:
        own = [f for f in verdicts.findings if f.client_id == entry["client_id"]]
        assert entry["findings"] == [f.fields() for f in own]
        assert entry["worst"] == ((own and max(f.severity for f in own).label) or "ok")


async def test_a_longer_session_is_graded_on_its_latest_events_and_says_so(
    tmp_path: Path,
) -> None:
    """Past its bound the addon keeps the newest events; client.verdict counts the dropped."""
    stream = Stream()
    for number in range(5):
        stream.handshake("c-1", 1_800_000_000.0 + number, "rejected", status=401)
    log_path = tmp_path / "events.jsonl"
    event_log = EventLog()
    report = VerdictReport(event_log, dict, max_kept=3)
    with taddons.context(report, event_log) as tctx:
        tctx.configure(event_log, wswatch_log=str(log_path), wswatch_console=False)
        for event in stream.events:
            fields = {k: v for k, v in event.items() if k not in ("event", "schema", "ts")}
            event_log.emit(event["event"], fields)
        await tctx.master.done()  # the report's done, then the log's
    written = [json.loads(line) for line in log_path.read_text().splitlines()]
    (verdict,) = [e for e in written if e["event"] == "client.verdict"]
    assert (verdict["client_id"], verdict["attempts"], verdict["events_dropped"]) == ("c-1", 3, 2)


async def test_bad_thresholds_file_is_refused_naming_file_and_field(tmp_path: Path) -> None:
    """wswatch_verdict_thresholds with a wrong value: one message naming the file and field,
    and the previous thresholds stay in force."""
    bad = tmp_path / "thresholds.yaml"
    bad.write_text("hot_loop_floor_s: -1\n")
    report = VerdictReport(EventLog(), dict)
    with taddons.context(report) as tctx:
        report.running()
        with pytest.raises(exceptions.OptionsError) as refused:
            tctx.configure(report, wswatch_verdict_thresholds=str(bad))
        assert str(refused.value).startswith(f"Cannot load wswatch_verdict_thresholds: {bad}: ")
        assert "hot_loop_floor_s" in str(refused.value)
        assert tctx.options.wswatch_verdict_thresholds == ""
        assert report.thresholds == Thresholds()


async def test_closed_connections_leave_no_stability_timer_behind() -> None:
    """Each accepted connection arms one timer; its close cancels and forgets it, so a long
    session of short connections holds none (it used to keep one per connection until stop)."""
    stream = Stream()
    for number in range(50):
        opened = 1_800_000_000.0 + number
        flow_id = stream.handshake("c-1", opened, "accepted")
        stream.closed("c-1", flow_id, opened, 0.5, code=1000, closed_by="client")
    last = stream.handshake("c-1", 1_800_000_100.0, "accepted")
    event_log = EventLog()
    report = VerdictReport(event_log, dict)
    with taddons.context(report, event_log) as tctx:
        tctx.configure(event_log, wswatch_console=False)
        for event in stream.events:
            fields = {k: v for k, v in event.items() if k not in ("event", "schema", "ts")}
            event_log.emit(event["event"], fields, flow_id=event["flow_id"])
        still_armed = list(report.timers)
        await tctx.master.done()
    assert still_armed == [last]
    assert report.timers == {}
