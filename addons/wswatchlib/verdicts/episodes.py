"""Per-client timelines built from events: attempts, connections, setbacks and episodes.

The rules this file keeps:
- A client is its `client_id` (contract7); events written before that field existed group under
  UNKNOWN_CLIENT. A `ws.closed` without one takes its handshake's (same `flow_id`).
- An attempt starts at `started`, else at `ts - duration_ms`; it ends at `started + duration_ms`.
- A connection opens at `ts - duration_s` of its `ws.closed` and closes at `ts`; an accepted
  attempt without a `ws.closed` was still open when the log ended.
- A setback is what a client reacts to: an attempt that was not accepted (it ends at the
  attempt's end) or a connection the server or the proxy closed (or that dropped). A connection
  the client closed itself, or a raw TCP relay whose closer is unknown, is not a setback.
- An episode is a setback and the attempts that follow it, until an attempt whose connection is
  stable (lives `stable_connection_s`, is still open at the end, or is closed by the client).
  A shorter connection stays inside the episode and its close is one more setback: that is how
  flapping shows.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from .. import events as contract
from ..events import Outcome
from .reading import attempt_start, integer, number, parse_ts, text

#: The client id of events that carry none (written before `client_id` existed).
UNKNOWN_CLIENT = "unknown"


class SetbackKind(enum.Enum):
    """What went wrong, as the client saw it."""

    #: The server answered the upgrade with a status other than 101 (RFC 6455 4.1).
    REJECTED = "rejected"
    #: No usable answer: a network error or an invalid 101 (RFC 6455 7.2.3 "unable to connect").
    FAILED = "failed"
    #: An open connection was closed by the server or the proxy, or dropped (RFC 6455 7.2.3).
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Attempt:
    """One upgrade attempt (a `ws.handshake`)."""

    flow_id: str | None
    start: float
    end: float
    outcome: str
    status: int | None = None
    failure: str | None = None
    retry_after: float | None = None
    vendor: str | None = None
    injected: bool = False

    @property
    def accepted(self) -> bool:
        return self.outcome == Outcome.ACCEPTED


@dataclass(frozen=True, slots=True)
class Connection:
    """One upgraded connection (a `ws.closed`, or an accepted attempt still open at the end)."""

    flow_id: str | None
    opened: float
    closed: float | None
    close_code: int | None = None
    closed_by: str | None = None
    clean: bool = False
    vendor: str | None = None
    injected: bool = False
    #: Longest time without a data message from each side ("client", "server"), if recorded.
    longest_gap_s: Mapping[str, float | None] | None = None

    def lifetime(self, log_end: float) -> float:
        return (self.closed if self.closed is not None else log_end) - self.opened


@dataclass(frozen=True, slots=True)
class Setback:
    """A failure the client reacts to."""

    kind: SetbackKind
    at: float
    status: int | None = None
    failure: str | None = None
    retry_after: float | None = None
    close_code: int | None = None
    injected: bool = False

    def describe(self) -> str:
        """Short words for tables and summaries: "401", "close 1006", "failed (refused)"."""
        if self.kind is SetbackKind.REJECTED:
            return str(self.status)
        if self.kind is SetbackKind.CLOSED:
            return f"close {self.close_code}" if self.close_code is not None else "dropped"
        return f"failed ({self.failure})" if self.failure else "failed"

    def evidence(self) -> dict[str, Any]:
        return {
            "at": contract.utc_timestamp(self.at),
            "what": self.describe(),
            "injected": self.injected,
        }


@dataclass(frozen=True, slots=True)
class Retry:
    """An attempt made in answer to a setback."""

    attempt: Attempt
    after: Setback
    #: From the setback to this attempt's start: the wait the client chose.
    delay: float
    #: From the client's previous attempt's start to this one's.
    interval: float | None

    def evidence(self) -> dict[str, Any]:
        return {
            "at": contract.utc_timestamp(self.attempt.start),
            "delay_s": round(self.delay, 3),
            "after": self.after.describe(),
            "injected": self.after.injected,
        }


@dataclass(frozen=True, slots=True)
class Episode:
    """A setback and the attempts that follow it until a stable connection or the end."""

    setbacks: tuple[Setback, ...]
    retries: tuple[Retry, ...]
    recovered: bool
    #: Connections inside the episode that were not stable (flapping).
    short_connections: tuple[Connection, ...] = ()

    @property
    def trigger(self) -> Setback:
        return self.setbacks[0]

    @property
    def delays(self) -> list[float]:
        return [retry.delay for retry in self.retries]


@dataclass(frozen=True, slots=True)
class ClientTimeline:
    """Everything one client did, in time order."""

    client_id: str
    attempts: tuple[Attempt, ...]
    connections: tuple[Connection, ...]
    episodes: tuple[Episode, ...]
    #: Setbacks not followed by any attempt of this client.
    unanswered: tuple[Setback, ...] = ()


@dataclass(frozen=True, slots=True)
class Timelines:
    """Every client's timeline and the time the log ends (its last event)."""

    clients: Mapping[str, ClientTimeline]
    log_end: float


#: Every event field the timelines read: a live collector keeps only these of each event.
EVENT_FIELDS = (
    "event",
    "ts",
    "flow_id",
    "client_id",
    "started",
    "duration_ms",
    "duration_s",
    "outcome",
    "status",
    "failure",
    "retry_after",
    "injected",
    "rule_id",
    "vendor",
    "close_code",
    "clean",
    "closed_by",
    "longest_gap_s",
)


T = TypeVar("T")

#: One object per distinct repeated value (outcomes, statuses, vendors, close codes...): a
#: fleet's million attempts carry a few dozen, and each JSON line parses its own copies.
#: Keyed by type too (101 and 101.0 are equal keys); bounded, so hostile input cannot grow it.
_SHARED: dict[tuple[type, Any], Any] = {}
_SHARED_MAX = 4096


def _shared(value: T) -> T:
    if value is None:
        return value
    key = (type(value), value)
    found = _SHARED.get(key)
    if found is not None:
        return cast(T, found)
    if len(_SHARED) < _SHARED_MAX:
        _SHARED[key] = value
    return value


def _attempt(event: Mapping[str, Any], at: float) -> Attempt:
    duration = (number(event.get("duration_ms")) or 0.0) / 1000
    start = attempt_start(event, at)
    return Attempt(
        flow_id=text(event.get("flow_id")),
        start=start,
        end=start + duration,
        outcome=_shared(text(event.get("outcome")) or "failed"),
        status=_shared(integer(event.get("status"))),
        failure=_shared(text(event.get("failure"))),
        retry_after=_shared(number(event.get("retry_after"))),
        vendor=_shared(text(event.get("vendor"))),
        injected=event.get("injected") is True,
    )


def _gaps(value: object) -> Mapping[str, float | None] | None:
    if not isinstance(value, Mapping):
        return None
    return {side: number(value.get(side)) for side in ("client", "server")}


def _connection(event: Mapping[str, Any], at: float) -> Connection:
    return Connection(
        flow_id=text(event.get("flow_id")),
        opened=at - (number(event.get("duration_s")) or 0.0),
        closed=at,
        close_code=_shared(integer(event.get("close_code"))),
        closed_by=_shared(text(event.get("closed_by"))),
        clean=event.get("clean") is True,
        vendor=_shared(text(event.get("vendor"))),
        injected=event.get("injected") is True,
        longest_gap_s=_gaps(event.get("longest_gap_s")),
    )


def _is_setback(connection: Connection) -> bool:
    """Closed by the server, or by the proxy for a fault or a violation (not at shutdown)."""
    if connection.closed is None:
        return False
    if connection.closed_by == "proxy":
        return connection.close_code is not None
    return connection.closed_by == "server"


@dataclass
class ClientRecord:
    """What the events said of one client, before its timeline is cut into episodes."""

    attempts: list[Attempt] = field(default_factory=list)
    connections: dict[str, Connection] = field(default_factory=dict)
    unlinked: list[Connection] = field(default_factory=list)


def _moments(client: ClientRecord) -> list[tuple[tuple[float, int, int, int], object]]:
    """Attempts, their setbacks and connection closes, in time order.

    An attempt's own setback sorts after it even when it took no time; a close at the same
    instant as an attempt's start comes first (the attempt answers it).
    """
    moments: list[tuple[tuple[float, int, int, int], object]] = []
    for index, attempt in enumerate(client.attempts):
        moments.append(((attempt.start, 1, index, 0), attempt))
        if not attempt.accepted:
            setback = Setback(
                SetbackKind.REJECTED if attempt.status is not None else SetbackKind.FAILED,
                attempt.end,
                status=attempt.status,
                failure=attempt.failure,
                retry_after=attempt.retry_after,
                injected=attempt.injected,
            )
            order = 0 if attempt.end > attempt.start else 1
            moments.append(((attempt.end, order, index, 1), setback))
    for connection in [*client.connections.values(), *client.unlinked]:
        if connection.closed is not None:
            moments.append(((connection.closed, 0, -1, 0), connection))
    moments.sort(key=lambda moment: moment[0])
    return moments


def _close_setback(connection: Connection) -> Setback:
    assert connection.closed is not None
    return Setback(
        SetbackKind.CLOSED,
        connection.closed,
        close_code=connection.close_code,
        injected=connection.injected,
    )


def _timeline(
    client_id: str, client: ClientRecord, log_end: float, stable_connection_s: float
) -> ClientTimeline:
    episodes: list[Episode] = []
    unanswered: list[Setback] = []
    setbacks: list[Setback] = []
    retries: list[Retry] = []
    short: list[Connection] = []
    pending: Setback | None = None
    previous_start: float | None = None

    def finish(recovered: bool) -> None:
        nonlocal setbacks, retries, short
        if setbacks:
            episodes.append(Episode(tuple(setbacks), tuple(retries), recovered, tuple(short)))
        setbacks, retries, short = [], [], []

    for _, item in _moments(client):
        if isinstance(item, Setback) or (isinstance(item, Connection) and _is_setback(item)):
            setback = item if isinstance(item, Setback) else _close_setback(item)
            if pending is not None:
                unanswered.append(pending)
            setbacks.append(setback)
            pending = setback
        elif isinstance(item, Connection):  # closed by the client: its own choice
            if pending is not None:
                unanswered.append(pending)
                pending = None
            finish(recovered=True)
        elif isinstance(item, Attempt):
            if pending is not None:
                interval = None if previous_start is None else item.start - previous_start
                retries.append(Retry(item, pending, max(0.0, item.start - pending.at), interval))
                pending = None
            previous_start = item.start
            if item.accepted:
                connection = client.connections.get(item.flow_id or "")
                if (
                    connection is None
                    or connection.lifetime(log_end) >= stable_connection_s
                    or not _is_setback(connection)
                ):
                    finish(recovered=True)
                elif setbacks:
                    short.append(connection)
    if pending is not None:
        unanswered.append(pending)
    finish(recovered=False)
    connections = sorted([*client.connections.values(), *client.unlinked], key=lambda c: c.opened)
    return ClientTimeline(
        client_id, tuple(client.attempts), tuple(connections), tuple(episodes), tuple(unanswered)
    )


def _add_connection(client: ClientRecord, connection: Connection) -> None:
    if connection.flow_id and connection.flow_id not in client.connections:
        client.connections[connection.flow_id] = connection
    else:
        client.unlinked.append(connection)


@dataclass
class Gathered:
    """Every client's attempts and connections, as read: what grading needs of the events."""

    clients: dict[str, ClientRecord]
    log_end: float


def gather(events: Iterable[Mapping[str, Any]]) -> Gathered:
    """The compact facts of `ws.handshake` / `ws.closed` events, grouped by client, in any
    order (each client's are put in time order when its timeline is built); no event is kept."""
    clients: dict[str, ClientRecord] = {}
    #: Closes whose event names no client (older logs): linked through their flow's attempt
    #: once every attempt is in.
    orphans: list[Connection] = []
    log_end = 0.0
    for event in events:
        at = parse_ts(event.get("ts"))
        if at is None:
            continue
        log_end = max(log_end, at)
        if event.get("event") == contract.HANDSHAKE:
            client_id = text(event.get("client_id")) or UNKNOWN_CLIENT
            clients.setdefault(client_id, ClientRecord()).attempts.append(_attempt(event, at))
        elif event.get("event") == contract.CLOSED:
            connection = _connection(event, at)
            named = text(event.get("client_id"))
            if named:
                _add_connection(clients.setdefault(named, ClientRecord()), connection)
            else:
                orphans.append(connection)
    client_of_flow = {
        attempt.flow_id: client_id
        for client_id, client in (clients.items() if orphans else ())
        for attempt in client.attempts
        if attempt.flow_id
    }
    for connection in orphans:
        client_id = client_of_flow.get(connection.flow_id or "") or UNKNOWN_CLIENT
        _add_connection(clients.setdefault(client_id, ClientRecord()), connection)
    return Gathered(clients, log_end)


def timeline_of(
    client_id: str, client: ClientRecord, log_end: float, stable_connection_s: float
) -> ClientTimeline:
    """One client's attempts and connections, cut into episodes."""
    client.attempts.sort(key=lambda attempt: attempt.start)
    for attempt in client.attempts:
        if attempt.accepted and attempt.flow_id and attempt.flow_id not in client.connections:
            client.connections[attempt.flow_id] = Connection(
                attempt.flow_id, attempt.end, None, vendor=attempt.vendor
            )
    return _timeline(client_id, client, log_end, stable_connection_s)


def build_timelines(events: Iterable[Mapping[str, Any]], stable_connection_s: float) -> Timelines:
    """Group `ws.handshake` / `ws.closed` events by client and cut them into episodes."""
    gathered = gather(events)
    return Timelines(
        {
            client_id: timeline_of(client_id, client, gathered.log_end, stable_connection_s)
            for client_id, client in sorted(gathered.clients.items())
        },
        gathered.log_end,
    )
