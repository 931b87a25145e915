"""Synthetic wswatch event streams for the verdict tests: ws.handshake / ws.closed dicts shaped
as README's JSON event contract plus contract7's fields, and scripted reconnect schedules."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from wswatchlib.events import utc_timestamp

#: Every stream starts here (a round epoch second, so millisecond rounding stays exact).
T0 = 1_800_000_000.0


class Stream:
    """Events appended in any order; `events` returns them sorted by time as the reader does."""

    def __init__(self) -> None:
        self._events: list[tuple[float, dict[str, Any]]] = []
        self._flows = itertools.count(1)

    def handshake(
        self,
        client_id: str | None,
        start: float,
        outcome: str = "failed",
        *,
        status: int | None = None,
        duration_ms: float = 1.0,
        retry_after: float | None = None,
        injected: bool = False,
        vendor: str | None = None,
        new_fields: bool = True,
    ) -> str:
        """One ws.handshake that started at *start*; returns its flow id."""
        flow_id = f"flow-{next(self._flows)}"
        end = start + duration_ms / 1000
        event: dict[str, Any] = {
            "event": "ws.handshake",
            "schema": 1,
            "ts": utc_timestamp(end),
            "flow_id": flow_id,
            "client": "127.0.0.1:50000",
            "url": "ws://127.0.0.1:9000/",
            "outcome": outcome,
            "status": 101 if outcome == "accepted" else status,
            "failure": "connection_refused" if outcome == "failed" else None,
            "retry_after": retry_after,
            "vendor": vendor,
            "duration_ms": duration_ms,
            "injected": injected,
            "rule_id": "test-rule" if injected else None,
        }
        if new_fields:
            event |= {"client_id": client_id, "started": utc_timestamp(start)}
        self._events.append((end, event))
        return flow_id

    def closed(
        self,
        client_id: str | None,
        flow_id: str,
        opened: float,
        lifetime: float,
        *,
        code: int | None = 1006,
        closed_by: str | None = "server",
        clean: bool | None = None,
        client_gap_s: float | None = None,
        vendor: str | None = None,
        injected: bool = False,
        new_fields: bool = True,
    ) -> None:
        """One ws.closed for a connection open from *opened* for *lifetime* seconds."""
        end = opened + lifetime
        event: dict[str, Any] = {
            "event": "ws.closed",
            "schema": 1,
            "ts": utc_timestamp(end),
            "flow_id": flow_id,
            "close_code": code,
            "closed_by": closed_by,
            "clean": code != 1006 if clean is None else clean,
            "duration_s": lifetime,
            "vendor": vendor,
            "injected": injected,
            "rule_id": "test-rule" if injected else None,
        }
        if new_fields:
            gap = lifetime if client_gap_s is None else client_gap_s
            event |= {
                "client_id": client_id,
                "last_message_s": {"client": None, "server": None},
                "longest_gap_s": {"client": gap, "server": lifetime},
            }
        self._events.append((end, event))

    def connect(self, client_id: str, start: float, lifetime: float | None, **close: Any) -> None:
        """An accepted attempt and its connection (left open at the end when lifetime is None)."""
        flow_id = self.handshake(client_id, start, "accepted", vendor=close.get("vendor"))
        if lifetime is not None:
            self.closed(client_id, flow_id, start + 0.001, lifetime, **close)

    def end(self, at: float) -> None:
        """The session.summary that ends the log at *at*."""
        self._events.append(
            (at, {"event": "session.summary", "schema": 1, "ts": utc_timestamp(at)})
        )

    @property
    def events(self) -> list[dict[str, Any]]:
        return [event for _, event in sorted(self._events, key=lambda item: item[0])]


def reconnect_loop(
    stream: Stream,
    client_id: str,
    delays: Sequence[float],
    *,
    at: float = T0 + 60,
    close_code: int | None = 1006,
    status: int | None = None,
    retry_after: float | None = None,
    recover: bool = True,
    injected: bool = False,
) -> float:
    """A client connected for 60 s until a close *close_code* at *at* (or, with close_code None,
    an attempt rejected with *status* at *at*), then retrying after each delay; every retry fails
    (refused, or rejected with *status*) except the last when *recover*. Returns the last start.
    """
    if close_code is not None:
        stream.connect(client_id, at - 60.001, 60.0, code=close_code, injected=injected)
        moment = at
    else:
        stream.handshake(
            client_id, at, "rejected", status=status, retry_after=retry_after, injected=injected
        )
        moment = at + 0.001
    start = moment
    for number, delay in enumerate(delays, start=1):
        start = moment + delay
        if recover and number == len(delays):
            stream.connect(client_id, start, None)
        elif status is not None:
            stream.handshake(
                client_id,
                start,
                "rejected",
                status=status,
                retry_after=retry_after,
                injected=injected,
            )
        else:
            stream.handshake(client_id, start, injected=injected)
        moment = start + 0.001
    return start
