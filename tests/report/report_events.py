"""Synthetic events shaped as README's JSON event contract, for the report's pure tests and its
50,000-event load measurement (the browser tests of real sessions use report_sessions)."""

from __future__ import annotations

import itertools
import random
from typing import Any

from wswatchlib.events import utc_timestamp

#: Every synthetic stream starts here (a round epoch second).
T0 = 1_800_000_000.0

_flows = itertools.count(1)


def handshake(
    client_id: str | None, start: float, outcome: str = "accepted", **fields: Any
) -> dict[str, Any]:
    """A ws.handshake of `client_id` that started `start` seconds after T0."""
    flow_id = fields.pop("flow_id", f"flow-{next(_flows)}")
    event: dict[str, Any] = {
        "event": "ws.handshake",
        "schema": 1,
        "ts": utc_timestamp(T0 + start + 0.002),
        "flow_id": flow_id,
        "started": utc_timestamp(T0 + start),
        "host": "api.example.test",
        "path": "/v1/listen",
        "url": "wss://api.example.test/v1/listen",
        "outcome": outcome,
        "status": 101 if outcome == "accepted" else None,
        "duration_ms": 2.0,
        "injected": False,
        "rule_id": None,
        "hint": None,
    }
    if client_id is not None:
        event["client_id"] = client_id
    event.update(fields)
    return event


def closed(
    client_id: str | None, flow_id: str, end: float, duration_s: float, **fields: Any
) -> dict[str, Any]:
    """A ws.closed of the connection `flow_id`, ending `end` seconds after T0."""
    event: dict[str, Any] = {
        "event": "ws.closed",
        "schema": 1,
        "ts": utc_timestamp(T0 + end),
        "flow_id": flow_id,
        "url": "wss://api.example.test/v1/listen",
        "close_code": 1000,
        "close_reason": "",
        "closed_by": "client",
        "clean": True,
        "duration_s": duration_s,
        "injected": False,
        "rule_id": None,
        "hint": None,
        "close_meaning": "Normal closure: the peer finished on purpose.",
    }
    if client_id is not None:
        event["client_id"] = client_id
    event.update(fields)
    return event


def large_session(events: int, clients: int = 20, seed: int = 7) -> list[dict[str, Any]]:
    """About `events` events from `clients` clients over ten minutes: rejections, failures and
    connections that close cleanly or drop, in time order."""
    rng = random.Random(seed)
    stream: list[tuple[float, dict[str, Any]]] = []
    per_client = events // clients
    for number in range(clients):
        client = f"load-client-{number:02d}"
        at = rng.uniform(0, 5)
        made = 0
        while made < per_client:
            outcome = rng.choice(("accepted", "rejected", "rejected", "failed"))
            fields: dict[str, Any] = {}
            if outcome == "rejected":
                fields = {"status": 503, "reason": "Service Unavailable", "retry_after": 1.0}
                fields["hint"] = "The service is unavailable or overloaded: honour Retry-After."
            elif outcome == "failed":
                fields = {"failure": "connection_refused", "reason": "connection refused"}
            attempt = handshake(client, at, outcome, **fields)
            stream.append((at, attempt))
            made += 1
            if outcome == "accepted" and made < per_client:
                lasted = rng.uniform(0.05, 2.0)
                clean = rng.random() < 0.7
                stream.append(
                    (
                        at + lasted,
                        closed(
                            client,
                            attempt["flow_id"],
                            at + lasted,
                            lasted,
                            clean=clean,
                            close_code=1000 if clean else 1006,
                            closed_by="client" if clean else "server",
                        ),
                    )
                )
                made += 1
                at += lasted
            at += rng.uniform(0.005, 0.4)
    stream.sort(key=lambda pair: pair[0])
    return [event for _, event in stream]
