"""What a client should have done, checked over wswatch's events; a failure shows the evidence.

Pure: events in (as the JSON lines have them), `AssertionError` out with every attempt and close
of the clients concerned, so a failing test says what the client did without rerunning it. A
check that finds nothing to judge (no 401 was ever sent, no Retry-After was ever asked for)
fails too: a test that cannot fail proves nothing, and the usual cause is a rule that never
matched.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .. import events as contract
from ..verdicts.analysis import analyse
from ..verdicts.episodes import ClientTimeline, Retry, Setback, SetbackKind, build_timelines
from ..verdicts.findings import Finding, Severity
from ..verdicts.growth import Pattern, classify
from ..verdicts.reading import parse_ts
from ..verdicts.rules import Context, retry_after
from ..verdicts.thresholds import Thresholds

Event = Mapping[str, Any]

#: At most this many lines of event evidence in one failure message.
EVIDENCE_LINES = 40

#: HTTP statuses (RFC 9110 15) and WebSocket close codes (RFC 6455 7.4) do not overlap.
HTTP_STATUSES = range(100, 600)
CLOSE_CODES = range(1000, 5000)


def _event_line(event: Event, origin: float) -> str:
    at = parse_ts(event.get("started")) or parse_ts(event.get("ts")) or origin
    when = f"+{at - origin:7.3f} s"
    client = event.get("client_id") or "?"
    injected = f" (injected by {event.get('rule_id')})" if event.get("injected") else ""
    if event.get("event") == contract.HANDSHAKE:
        answer = event.get("status") or event.get("failure") or ""
        retry = f" Retry-After {event['retry_after']}" if event.get("retry_after") else ""
        what = f"handshake {event.get('outcome')} {answer}{retry}"
    else:
        what = f"closed {event.get('close_code') or '-'} by {event.get('closed_by')}"
    return f"  {when}  {client}  {what}{injected}"


def evidence(events: Iterable[Event]) -> str:
    """Every handshake and close, in time order, relative to the first (at most EVIDENCE_LINES)."""
    graded = [e for e in events if e.get("event") in (contract.HANDSHAKE, contract.CLOSED)]
    if not graded:
        return "  (no ws.handshake or ws.closed event: did the client connect through proxy.url?)"
    times = [parse_ts(e.get("started")) or parse_ts(e.get("ts")) or 0.0 for e in graded]
    ordered = [event for _, event in sorted(zip(times, graded, strict=True), key=lambda p: p[0])]
    lines = [_event_line(event, min(times)) for event in ordered]
    if len(lines) > EVIDENCE_LINES:
        lines = [*lines[:EVIDENCE_LINES], f"  ... {len(lines) - EVIDENCE_LINES} more"]
    return "\n".join(lines)


def _fail(message: str, events: Sequence[Event], findings: Iterable[Finding] = ()) -> None:
    __tracebackhide__ = True  # pytest: the failure points at the test, not at this module
    shown = "".join(f"\n  {f.rule} ({f.severity.label}): {f.summary}" for f in findings)
    if shown:
        shown = "\nfindings:" + shown
    raise AssertionError(f"{message}\nevents:\n{evidence(events)}{shown}")


def _timelines(events: Sequence[Event], thresholds: Thresholds) -> list[ClientTimeline]:
    return list(build_timelines(events, thresholds.stable_connection_s).clients.values())


def _setbacks(timeline: ClientTimeline) -> list[Setback]:
    return [setback for episode in timeline.episodes for setback in episode.setbacks]


def _retries(timeline: ClientTimeline) -> list[Retry]:
    return [retry for episode in timeline.episodes for retry in episode.retries]


def assert_reconnected(
    events: Sequence[Event], within_s: float, thresholds: Thresholds | None = None
) -> None:
    """Every failure (a refused or failed handshake, a connection the server or the proxy
    closed with a code that is not terminal) was followed by an accepted handshake of the same
    client within `within_s` seconds."""
    __tracebackhide__ = True
    limits = thresholds or Thresholds()
    failures = 0
    for timeline in _timelines(events, limits):
        accepted = [attempt.start for attempt in timeline.attempts if attempt.accepted]
        for setback in _setbacks(timeline):
            if (
                setback.kind is SetbackKind.CLOSED
                and setback.close_code in limits.terminal_close_codes
            ):
                continue
            failures += 1
            back = [start for start in accepted if start >= setback.at]
            if not back:
                _fail(
                    f"client {timeline.client_id} did not reconnect after {setback.describe()}",
                    events,
                )
            if back[0] - setback.at > within_s:
                _fail(
                    f"client {timeline.client_id} reconnected {back[0] - setback.at:.3f} s after "
                    f"{setback.describe()}, later than {within_s} s",
                    events,
                )
    if not failures:
        _fail(
            "nothing to reconnect from: no handshake failed and no connection was closed by the "
            "server or the proxy",
            events,
        )


def _matches(setback: Setback, code: int) -> bool:
    if code in HTTP_STATUSES:
        return setback.kind is SetbackKind.REJECTED and setback.status == code
    return setback.kind is SetbackKind.CLOSED and setback.close_code == code


def assert_no_retry_on(
    code: int, events: Sequence[Event], thresholds: Thresholds | None = None
) -> None:
    """No client tried again after a handshake refused with HTTP status `code`, or after a
    connection closed with close code `code`."""
    __tracebackhide__ = True
    if code not in HTTP_STATUSES and code not in CLOSE_CODES:
        raise ValueError(
            f"assert_no_retry_on takes an HTTP status (100-599) or a close code (1000-4999), "
            f"got {code}"
        )
    limits = thresholds or Thresholds()
    what = f"close {code}" if code in CLOSE_CODES else str(code)
    seen = False
    for timeline in _timelines(events, limits):
        seen = seen or any(_matches(setback, code) for setback in _setbacks(timeline))
        retried = [retry for retry in _retries(timeline) if _matches(retry.after, code)]
        if retried:
            _fail(
                f"client {timeline.client_id} retried {len(retried)} times after {what} "
                f"(first {retried[0].delay:.3f} s after it)",
                events,
            )
    if not seen:
        _fail(f"no client got {what}: nothing shows whether it would retry", events)


def assert_retry_after_respected(
    events: Sequence[Event], thresholds: Thresholds | None = None
) -> None:
    """Every retry after a refusal carrying Retry-After waited at least that long (less the
    `retry_after_slack_s` threshold), as the `retry-after` verdict rule judges it."""
    __tracebackhide__ = True
    limits = thresholds or Thresholds()
    timelines = build_timelines(events, limits.stable_connection_s)
    context = Context(limits, timelines.log_end, {})
    asked = False
    for timeline in timelines.clients.values():
        asked = asked or any(s.retry_after is not None for s in _setbacks(timeline))
        found = retry_after(timeline, context)
        if found:
            _fail(f"client {timeline.client_id} {found[0].summary}", events, found)
    if not asked:
        _fail("no handshake was refused with Retry-After: nothing to respect", events)


def assert_backoff(
    events: Sequence[Event],
    *,
    pattern: str = "exponential",
    min_factor: float | None = None,
    max_factor: float | None = None,
    thresholds: Thresholds | None = None,
) -> None:
    """Each client's longest run of retries grows as `pattern` (none, constant, linear,
    exponential), with an exponential factor within [min_factor, max_factor] when given."""
    __tracebackhide__ = True
    expected = Pattern(pattern)
    limits = thresholds or Thresholds()
    judged = 0
    for timeline in _timelines(events, limits):
        if not timeline.episodes:
            continue
        delays = max(timeline.episodes, key=lambda episode: len(episode.retries)).delays
        fitted = classify(
            delays,
            min_retries=limits.growth_min_retries,
            constant_spread=limits.constant_spread,
            timing_noise_s=limits.timing_noise_s,
        )
        if fitted is None:
            continue
        judged += 1
        shown = f"client {timeline.client_id} waited {[round(d, 3) for d in delays]} s"
        if fitted.pattern is not expected:
            _fail(f"{shown}: {fitted.describe()}, not {expected.value}", events)
        factor = fitted.factor
        if factor is not None and (
            (min_factor is not None and factor < min_factor)
            or (max_factor is not None and factor > max_factor)
        ):
            _fail(f"{shown}: factor x{factor:.2f} outside [{min_factor}, {max_factor}]", events)
    if not judged:
        _fail(
            f"no client retried {limits.growth_min_retries} times in a row: too few waits to "
            "judge a backoff",
            events,
        )


def assert_no_findings(
    events: Sequence[Event],
    severity: str = "warning",
    thresholds: Thresholds | None = None,
    idle_timeouts: Mapping[str, float] | None = None,
) -> None:
    """No verdict rule found anything at `severity` (info, warning, error) or worse."""
    __tracebackhide__ = True
    floor = Severity[severity.upper()]
    verdicts = analyse(events, thresholds, idle_timeouts)
    worse = [finding for finding in verdicts.findings if finding.severity >= floor]
    if worse:
        _fail(f"{len(worse)} findings at {floor.label} or worse", events, worse)
