"""A connection fault that cannot act says so (`fault.not_applied`) and never marks its flow as
closed by the proxy, so `ws.closed` reports the close the peers really saw.

Driven with mitmproxy's own test flows and addon context (no proxy runs): the connection is
already over when the fault fires, the case a live proxy reaches only by a narrow race.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from mitmproxy.test import taddons, tflow
from wswatchlib import events
from wswatchlib.faults.connection_faults import ConnectionFaults
from wswatchlib.faults.rulebook import FaultRules
from wswatchlib.output.event_log import EventLog


async def test_a_close_that_finds_its_connection_ended_is_reported_not_applied(
    tmp_path: Path,
) -> None:
    rules = tmp_path / "faults.yaml"
    rules.write_text(
        "rules:\n  - id: late\n    action: {close: {code: 4001, reason: bye, after_messages: 1}}\n"
    )
    log_path = tmp_path / "events.jsonl"
    event_log = EventLog()
    fault_rules = FaultRules(event_log, lambda flow: ("ws://example.com/echo", frozenset()))
    injector = ConnectionFaults(fault_rules)
    with taddons.context(fault_rules, injector, event_log) as tctx:
        tctx.configure(event_log, wswatch_log=str(log_path), wswatch_console=False)
        tctx.configure(fault_rules, wswatch_faults=[str(rules)])
        flow = tflow.twebsocketflow()
        injector.websocket_start(flow)
        assert flow.websocket is not None
        flow.websocket.timestamp_end = time.time()  # the peers closed it meanwhile
        injector.websocket_message(flow)
        await tctx.master.done()
    written = [json.loads(line) for line in log_path.read_text(encoding="utf-8").splitlines()]
    not_applied = [event for event in written if event["event"] == events.FAULT_NOT_APPLIED]
    assert [(e["rule_id"], e["action"], e["why"]) for e in not_applied] == [
        ("late", "close", "the connection had already ended")
    ]
    assert not_applied[0]["url"] == "ws://example.com/echo"
    mark = events.FaultMark.of(flow.metadata)
    assert mark is not None and mark.rule_id == "late" and mark.closed_by_proxy is False


async def test_a_close_whose_layer_cannot_be_found_is_reported_not_applied(
    tmp_path: Path,
) -> None:
    """No proxy server holds this flow's connection: the close cannot reach anyone."""
    rules = tmp_path / "faults.yaml"
    rules.write_text("rules:\n  - id: kick\n    action: {drop: {after_messages: 1}}\n")
    log_path = tmp_path / "events.jsonl"
    event_log = EventLog()
    fault_rules = FaultRules(event_log, lambda flow: ("ws://example.com/echo", frozenset()))
    injector = ConnectionFaults(fault_rules)
    with taddons.context(fault_rules, injector, event_log) as tctx:
        tctx.configure(event_log, wswatch_log=str(log_path), wswatch_console=False)
        tctx.configure(fault_rules, wswatch_faults=[str(rules)])
        flow = tflow.twebsocketflow()
        assert flow.websocket is not None
        flow.websocket.timestamp_end = None
        injector.websocket_start(flow)
        injector.websocket_message(flow)
        await tctx.master.done()
    written = [json.loads(line) for line in log_path.read_text(encoding="utf-8").splitlines()]
    why = [e["why"] for e in written if e["event"] == events.FAULT_NOT_APPLIED]
    assert why == ["mitmproxy's WebSocket layer for it was not found"]
    mark = events.FaultMark.of(flow.metadata)
    assert mark is not None and mark.closed_by_proxy is False
