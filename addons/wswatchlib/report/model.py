"""The report's data, built from events: one row per attempt and per close, one lane per client.

The rules this file keeps:
- A row is a `ws.handshake` (an attempt) or a `ws.closed` (a close); other events are not rows.
- Times are seconds since the session's first row. An attempt is placed at `started` (else at
  `ts - duration_ms`), a close at its `ts`; its connection opened `duration_s` earlier.
- A client is its `client_id` (the verdicts' UNKNOWN_CLIENT when missing); a close without one
  takes its handshake's (same `flow_id`).
- The gap before an attempt is the time since the client's previous attempt in these events
  (merged logs of several proxies each knew only their own attempts); a client's first attempt
  here has its event's `since_previous_attempt_s`, if any.
- A failure is an attempt that was not accepted or a connection that did not end with a clean
  1000; it is injected when wswatch's fault injection caused it (`injected`).
- Close-code meanings come from the event (`close_meaning`), else from `hints.close_meaning`
  with the vendor's profile; vendor names from the vendor catalog. No second table here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import events as contract
from ..events import Outcome
from ..output.summary import failure_reason
from ..verdicts.analysis import Verdicts
from ..verdicts.episodes import UNKNOWN_CLIENT
from ..verdicts.reading import attempt_start, integer, number, parse_ts, shown_text
from ..watch.hints import close_meaning
from ..watch.vendors import VendorCatalog
from .fleet_view import MAX_LANES, FleetTally, FleetView, choose_shown, fleet_view

#: Kinds of row.
ATTEMPT = "attempt"
CLOSE = "close"

#: Attempt outcomes in the order the report lists them (docs/events.md).
OUTCOMES = tuple(outcome.value for outcome in Outcome)

#: Outcome shown for a close: clean (a close frame was exchanged) or abnormal.
CLEAN_CLOSE = "closed clean"
ABNORMAL_CLOSE = "closed abnormally"

#: Failure reasons listed in the header.
TOP_REASONS = 5


@dataclass(frozen=True, slots=True)
class Row:
    """One attempt or one close, with every field the report shows."""

    index: int
    kind: str
    #: Seconds since the session's first row: an attempt's start, a close's end.
    at: float
    client: str
    host: str | None
    path: str | None
    outcome: str
    status: int | None = None
    close_code: int | None = None
    closed_by: str | None = None
    clean: bool | None = None
    injected: bool = False
    rule_id: str | None = None
    #: The client's attempt number (1 for its first), attempts only.
    number: int | None = None
    #: Seconds since the client's previous attempt started, attempts only.
    gap_s: float | None = None
    retry_after: float | None = None
    #: A close's connection lifetime in seconds; it opened at `at - duration_s`.
    duration_s: float | None = None
    duration_ms: float | None = None
    reason: str | None = None
    error: str | None = None
    vendor: str | None = None
    request_id: str | None = None
    hint: str | None = None
    meaning: str | None = None
    failure: str | None = None
    body_excerpt: str | None = None
    url: str | None = None
    flow_id: str | None = None
    #: The RFC 6455 rule a peer broke on the connection, and which peer (closes only).
    violation: str | None = None
    violated_by: str | None = None
    #: Messages wswatch itself sent on the connection (a script), to each peer (closes only;
    #: None when it sent none).
    injected_to_client: int | None = None
    injected_to_server: int | None = None

    @property
    def is_failure(self) -> bool:
        """Not accepted, or a connection that did not end with a clean 1000, or on which a
        peer broke RFC 6455."""
        if self.kind == ATTEMPT:
            return self.outcome != Outcome.ACCEPTED
        return not self.clean or self.close_code not in (1000, None) or self.violation is not None

    def fields(self) -> dict[str, Any]:
        """The row as JSON-ready fields (None values left out, to keep big reports small)."""
        return {
            name: getattr(self, name)
            for name in self.__slots__  # type: ignore[attr-defined]
            if getattr(self, name) is not None and getattr(self, name) is not False
        }


@dataclass(frozen=True, slots=True)
class Connection:
    """An upgraded connection on a lane: from `opened` to `closed` (the session's end if it was
    still open), with the row of its close when there is one."""

    opened: float
    closed: float
    close_row: int | None


@dataclass
class Lane:
    """One client's marks on the shared time axis."""

    client: str
    attempts: list[int] = field(default_factory=list)
    connections: list[Connection] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    worst: str | None = None


@dataclass(frozen=True, slots=True)
class FailureReason:
    reason: str
    count: int
    hint: str | None


@dataclass(frozen=True, slots=True)
class ReportModel:
    """Everything the page shows, computed once from the events."""

    rows: tuple[Row, ...]
    lanes: tuple[Lane, ...]
    #: Seconds from the first row to the last (0 for an empty session).
    span_s: float
    #: Epoch seconds of the session's first row, None without rows.
    started: float | None
    attempts: Counter[str]
    closes: Counter[str]
    real_failures: int
    injected_failures: int
    top_reasons: tuple[FailureReason, ...]
    verdicts: Verdicts | None
    #: Events in the input that are neither attempts nor closes, counted.
    other_events: int = 0
    #: Events the producer did not keep (the proxy's memory bound), said in the header.
    events_dropped: int = 0
    #: The whole fleet, when it has more clients than lanes (rows and lanes are then only the
    #: shown clients'); None when every client has its lane.
    fleet: FleetView | None = None


def _vendor_name(catalog: VendorCatalog | None, vendor_id: object) -> str | None:
    if vendor_id is None:
        return None
    if catalog is not None:
        for profile in (*catalog.vendors, catalog.generic):
            if profile.id == vendor_id:
                return profile.name
    return str(vendor_id)


def _meaning(catalog: VendorCatalog | None, event: Mapping[str, Any]) -> str | None:
    if event.get("close_meaning"):
        return str(event["close_meaning"])
    profile = None
    if catalog is not None:
        profile = next((v for v in catalog.vendors if v.id == event.get("vendor")), None)
    return close_meaning(profile, integer(event.get("close_code")))


#: (time, event) pairs: an attempt's start or a close's end, and its event.
Timed = list[tuple[float, Mapping[str, Any]]]


def _timed(events: Iterable[Mapping[str, Any]]) -> tuple[Timed, int]:
    """(time, event) of every attempt and close, by time; and how many other events there were."""
    timed: Timed = []
    others = 0
    for event in events:
        name = event.get("event")
        ts = parse_ts(event.get("ts"))
        if name not in (contract.HANDSHAKE, contract.CLOSED) or ts is None:
            others += 1
            continue
        timed.append((attempt_start(event, ts) if name == contract.HANDSHAKE else ts, event))
    timed.sort(key=lambda pair: pair[0])
    return timed, others


def build_model(
    events: Iterable[Mapping[str, Any]],
    catalog: VendorCatalog | None = None,
    verdicts: Verdicts | None = None,
    events_dropped: int = 0,
    named: Sequence[str] = (),
    lanes: int = MAX_LANES,
) -> ReportModel:
    """The report of an event stream (any order; rows are sorted by time). Past `lanes`
    clients, rows and lanes are kept for the shown ones only (the `named`, then the worst), and
    the fleet is tallied (`fleet_view`)."""
    timed, others = _timed(events)
    origin = timed[0][0] if timed else 0.0
    shown = choose_shown(_attempts_by_client(timed), verdicts, lanes, named)
    builder = _ModelBuilder(catalog, origin, None if shown is None else frozenset(shown))
    for at, event in timed:
        builder.add(at, event)
    rows, lanes_by_client = builder.rows, builder.lanes
    span = round(timed[-1][0] - origin, 3) if timed else 0.0
    _add_open_connections(rows, lanes_by_client, span)
    if verdicts is not None:
        for lane in lanes_by_client.values():
            worst = verdicts.worst(lane.client)
            lane.worst = worst.label if worst is not None else "ok"
    return ReportModel(
        rows=tuple(rows),
        lanes=tuple(lanes_by_client.values()),
        span_s=span,
        started=origin if timed else None,
        attempts=builder.attempts,
        closes=builder.closes,
        real_failures=builder.failures[False],
        injected_failures=builder.failures[True],
        top_reasons=tuple(
            FailureReason(reason, count, builder.reason_hints.get(reason))
            for reason, count in builder.reasons.most_common(TOP_REASONS)
        ),
        verdicts=verdicts,
        other_events=others,
        events_dropped=events_dropped,
        fleet=(
            fleet_view(builder.tally, verdicts, shown, span)
            if shown is not None and builder.tally is not None
            else None
        ),
    )


def _attempts_by_client(timed: Timed) -> Counter[str]:
    """Attempts per client id, to choose which clients get lanes before any row is made."""
    return Counter(
        shown_text(event.get("client_id")) or UNKNOWN_CLIENT
        for _at, event in timed
        if event.get("event") == contract.HANDSHAKE
    )


class _ModelBuilder:
    """The rows, lanes and tallies of a report, one event at a time, in time order."""

    def __init__(
        self, catalog: VendorCatalog | None, origin: float, shown: frozenset[str] | None
    ) -> None:
        self.catalog = catalog
        self.origin = origin
        #: The clients whose rows and lanes are kept; None for every client.
        self.shown = shown
        #: The fleet's distributions, tallied only when not every client is shown.
        self.tally = FleetTally() if shown is not None else None
        #: Each client's last Retry-After (None after an accepted attempt), for the tally.
        self.asked: dict[str, float | None] = {}
        self.rows: list[Row] = []
        self.lanes: dict[str, Lane] = {}
        self.client_of_flow: dict[Any, str] = {}
        self.previous_start: dict[str, float] = {}
        self.numbers: Counter[str] = Counter()
        self.attempts: Counter[str] = Counter()
        self.closes: Counter[str] = Counter()
        self.reasons: Counter[str] = Counter()
        self.reason_hints: dict[str, str | None] = {}
        self.failures = Counter[bool]()

    def add(self, at: float, event: Mapping[str, Any]) -> None:
        flow_id = event.get("flow_id")
        client = (
            shown_text(event.get("client_id")) or self.client_of_flow.get(flow_id) or UNKNOWN_CLIENT
        )
        kept = self.shown is None or client in self.shown
        lane = self.lanes.setdefault(client, Lane(client)) if kept else Lane(client)
        common: dict[str, Any] = {
            "index": len(self.rows),
            "at": round(at - self.origin, 3),
            "client": client,
            "host": shown_text(event.get("host")),
            "path": shown_text(event.get("path")),
            "injected": bool(event.get("injected")),
            "rule_id": shown_text(event.get("rule_id")),
            "vendor": _vendor_name(self.catalog, event.get("vendor")),
            "hint": shown_text(event.get("hint")),
            "url": shown_text(event.get("url")),
            "flow_id": shown_text(flow_id),
        }
        if event.get("event") == contract.HANDSHAKE:
            self.client_of_flow[flow_id] = client
            row = self._attempt(at, event, lane, common)
        else:
            row = self._close(event, lane, common)
        if row.is_failure:
            self.failures[row.injected] += 1
        if kept:
            self.rows.append(row)

    def _attempt(
        self, at: float, event: Mapping[str, Any], lane: Lane, common: dict[str, Any]
    ) -> Row:
        client = lane.client
        self.numbers[client] += 1
        # From these events' own timeline first: merged logs of several proxies (or runs) each
        # knew only the attempts they saw; a client's first attempt here keeps its proxy's.
        if client in self.previous_start:
            gap: float | None = round(at - self.previous_start[client], 3)
        else:
            gap = number(event.get("since_previous_attempt_s"))
        self.previous_start[client] = at
        outcome = str(event.get("outcome"))
        row = Row(
            kind=ATTEMPT,
            outcome=outcome,
            status=integer(event.get("status")),
            number=self.numbers[client],
            gap_s=gap,
            retry_after=number(event.get("retry_after")),
            duration_ms=number(event.get("duration_ms")),
            reason=shown_text(event.get("reason")),
            error=shown_text(event.get("error")),
            request_id=shown_text(event.get("request_id")),
            failure=shown_text(event.get("failure")),
            body_excerpt=shown_text(event.get("body_excerpt")),
            **common,
        )
        self.attempts[outcome] += 1
        if self.tally is not None:
            self.tally.attempt(client, row.at, gap, self.asked.get(client))
            self.asked[client] = row.retry_after if outcome != Outcome.ACCEPTED else None
        lane.attempts.append(row.index)
        lane.outcomes[outcome] += 1
        reason = failure_reason(event) if outcome != Outcome.ACCEPTED else None
        if reason:
            self.reasons[reason] += 1
            self.reason_hints.setdefault(reason, row.hint)
        return row

    def _close(self, event: Mapping[str, Any], lane: Lane, common: dict[str, Any]) -> Row:
        duration = number(event.get("duration_s")) or 0.0
        clean = bool(event.get("clean"))
        row = Row(
            kind=CLOSE,
            outcome=CLEAN_CLOSE if clean else ABNORMAL_CLOSE,
            close_code=integer(event.get("close_code")),
            closed_by=shown_text(event.get("closed_by")),
            clean=clean,
            duration_s=duration,
            reason=shown_text(event.get("close_reason")),
            meaning=_meaning(self.catalog, event),
            violation=shown_text(event.get("violation")),
            violated_by=shown_text(event.get("violated_by")),
            injected_to_client=_sent(event, "to_client"),
            injected_to_server=_sent(event, "to_server"),
            **common,
        )
        self.closes[row.outcome] += 1
        lane.connections.append(Connection(max(0.0, row.at - duration), row.at, row.index))
        return row


def _add_open_connections(rows: Sequence[Row], lanes: Mapping[str, Lane], end: float) -> None:
    """An accepted attempt with no close in the events was still open at the end: a bar to it."""
    closed = {row.flow_id for row in rows if row.kind == CLOSE}
    for row in rows:
        if row.kind == ATTEMPT and row.outcome == Outcome.ACCEPTED and row.flow_id not in closed:
            lanes[row.client].connections.append(Connection(row.at, end, None))


def _sent(event: Mapping[str, Any], toward: str) -> int | None:
    """How many messages wswatch sent `toward` a peer on a closed connection, if any."""
    counts = event.get("injected_messages")
    sent = integer(counts.get(toward)) if isinstance(counts, Mapping) else None
    return sent or None
