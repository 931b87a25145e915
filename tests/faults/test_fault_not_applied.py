"""A connection fault that cannot act says so (`fault.not_applied`) and never marks its flow as
closed by the proxy, so `ws.closed` reports the close the peers really saw.

Driven with mitmproxy's own test flows and addon context (no proxy runs): the connection is
already over when the fault fires (the case a live proxy reaches only by a narrow race), or no
proxy server holds it, so its WebSocket layer cannot be found.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from mitmproxy.test import taddons, tflow
from wswatchlib import events
from wswatchlib.faults.connection_faults import ConnectionFaults
from wswatchlib.faults.rulebook import FaultRules
from wswatchlib.output.event_log import EventLog


@pytest.mark.parametrize(
    ("action", "ended", "why"),
    [
        (
            "{close: {code: 4001, reason: bye, after_messages: 1}}",
            True,
            "the connection had already ended",
        ),
        ("{drop: {after_messages: 1}}", False, "mitmproxy's WebSocket layer for it was not found"),
    ],
    ids=["connection-ended", "layer-not-found"],
)
async def test_a_fault_that_cannot_act_is_reported_not_applied(
    tmp_path: Path, action: str, ended: bool, why: str
) -> None:
    rules = tmp_path / "faults.yaml"
    rules.write_text(f"rules:\n  - id: late\n    action: {action}\n")
    log_path = tmp_path / "events.jsonl"
    event_log = EventLog()
    fault_rules = FaultRules(event_log, lambda flow: ("ws://example.com/echo", frozenset()))
    connection_faults = ConnectionFaults(fault_rules)
    with taddons.context(fault_rules, connection_faults, event_log) as tctx:
        tctx.configure(event_log, wswatch_log=str(log_path), wswatch_console=False)
        tctx.configure(fault_rules, wswatch_faults=[str(rules)])
        flow = tflow.twebsocketflow()
        assert flow.websocket is not None
        flow.websocket.timestamp_end = None
        connection_faults.websocket_start(flow)
        if ended:
            flow.websocket.timestamp_end = time.time()  # the peers closed it meanwhile
        connection_faults.websocket_message(flow)
        await tctx.master.done()
    written = [json.loads(line) for line in log_path.read_text(encoding="utf-8").splitlines()]
    not_applied = [event for event in written if event["event"] == events.FAULT_NOT_APPLIED]
    assert [(e["rule_id"], e["why"], e["url"]) for e in not_applied] == [
        ("late", why, "ws://example.com/echo")
    ]
    mark = events.FaultMark.of(flow.metadata)
    assert mark is not None and mark.rule_id == "late" and mark.closed_by_proxy is False
