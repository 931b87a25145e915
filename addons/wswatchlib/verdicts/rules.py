"""The named rules: each a pure function over one client's timeline (the herd rule: over all).

Each returns at most one finding per client, citing the evidence (attempt times, waits,
statuses, close codes, and which setbacks wswatch injected: injected failures grade the client
like real ones, since that is what fault injection is for).
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from .. import events as contract
from .episodes import ClientTimeline, Episode, Retry, Setback, SetbackKind
from .findings import FLEET, Finding, Severity, bounded
from .growth import Pattern, classify
from .thresholds import Thresholds


@dataclass(frozen=True, slots=True)
class Context:
    """What rules know besides the timeline."""

    thresholds: Thresholds
    #: The time of the log's last event: a failure is "not retried" only if the log went on.
    log_end: float
    #: Vendor id -> idle timeout in seconds (vendor profiles' `expectations`).
    idle_timeouts: Mapping[str, float]


def _seconds(value: float) -> str:
    return f"{value:.3g} s"


def _retries(retries: Sequence[Retry]) -> list[object]:
    return bounded([retry.evidence() for retry in retries])


def _not_retried(
    timeline: ClientTimeline, context: Context, kind: Callable[[Setback], bool]
) -> list[Setback]:
    """Setbacks of `kind` the client never answered, though the log went on a retry window."""
    return [
        setback
        for setback in timeline.unanswered
        if kind(setback) and context.log_end - setback.at >= context.thresholds.retry_window_s
    ]


def _all_retries(timeline: ClientTimeline) -> list[Retry]:
    return [retry for episode in timeline.episodes for retry in episode.retries]


def hot_loop(timeline: ClientTimeline, context: Context) -> list[Finding]:
    """Attempts following each other faster than the floor, many times in a row."""
    limits = context.thresholds
    best: list[Retry] = []
    trigger: Setback | None = None
    for episode in timeline.episodes:
        run: list[Retry] = []
        for retry in episode.retries:
            if retry.interval is not None and retry.interval < limits.hot_loop_floor_s:
                run.append(retry)
                if len(run) > len(best):
                    best, trigger = list(run), episode.trigger
            else:
                run = []
    if len(best) < limits.hot_loop_min_retries or trigger is None:
        return []
    median = statistics.median(retry.interval or 0.0 for retry in best)
    return [
        Finding(
            "hot-loop",
            Severity.ERROR,
            timeline.client_id,
            f"{len(best)} attempts in a row under {_seconds(limits.hot_loop_floor_s)} apart "
            f"(median {_seconds(median)}) after {trigger.describe()}",
            {"retries": _retries(best)},
            "Wait before reconnecting: exponential backoff with jitter (gRPC: 1 s, x1.6, "
            "+-20 %, cap 120 s).",
        )
    ]


def _abnormal_close(setback: Setback, limits: Thresholds) -> bool:
    return (
        setback.kind is SetbackKind.CLOSED and setback.close_code not in limits.terminal_close_codes
    )


def first_retry(timeline: ClientTimeline, context: Context) -> list[Finding]:
    """The first retry after an abnormal close: above 5 s, or the same wait every time."""
    limits = context.thresholds
    firsts = [
        episode.retries[0]
        for episode in timeline.episodes
        if episode.retries and _abnormal_close(episode.trigger, limits)
    ]
    if not firsts:
        return []
    slow = [retry for retry in firsts if retry.delay > limits.first_retry_max_s]
    waits = [retry.delay for retry in firsts]
    fixed = len(firsts) >= 2 and _all_equal(waits, limits)
    if not slow and not fixed:
        return []
    problems = []
    if slow:
        problems.append(
            f"waited {_seconds(max(r.delay for r in slow))} before the first retry "
            f"(RFC 6455 7.2.3: 0-{_seconds(limits.first_retry_max_s)})"
        )
    if fixed:
        problems.append(f"the first retry always came {_seconds(waits[0])} after the close")
    return [
        Finding(
            "first-retry",
            Severity.WARNING,
            timeline.client_id,
            "; ".join(problems),
            {"first_retries": _retries(firsts)},
            "Make the first reconnect wait random, between 0 and 5 s (RFC 6455 7.2.3).",
        )
    ]


def growth(timeline: ClientTimeline, context: Context) -> list[Finding]:
    """The backoff pattern of the client's longest episode, against the gRPC envelope."""
    limits = context.thresholds
    if not timeline.episodes:
        return []
    episode = max(timeline.episodes, key=lambda episode: len(episode.retries))
    fitted = classify(
        episode.delays,
        min_retries=limits.growth_min_retries,
        constant_spread=limits.constant_spread,
        timing_noise_s=limits.timing_noise_s,
    )
    if fitted is None:
        return []
    span = episode.retries[-1].attempt.start - episode.trigger.at
    if episode.recovered:
        ending = f"reconnected after {len(episode.retries)} retries"
    elif context.log_end - episode.retries[-1].attempt.end >= limits.retry_window_s:
        ending = f"gave up after {len(episode.retries)} retries in {_seconds(span)}"
    else:
        ending = f"still retrying at the end ({len(episode.retries)} retries)"
    flat = fitted.pattern is not Pattern.EXPONENTIAL or (
        fitted.factor is not None and fitted.factor < limits.growth_factor_min
    )
    return [
        Finding(
            "growth",
            Severity.WARNING if flat else Severity.INFO,
            timeline.client_id,
            f"{fitted.describe()}; {ending}",
            {
                "pattern": fitted.pattern.value,
                "factor": None if fitted.factor is None else round(fitted.factor, 3),
                "step_s": None if fitted.step_s is None else round(fitted.step_s, 3),
                "cap_s": None if fitted.cap_s is None else round(fitted.cap_s, 3),
                "after": episode.trigger.describe(),
                "delays_s": bounded([round(delay, 3) for delay in episode.delays]),
            },
            "Back off exponentially (gRPC: x1.6 from 1 s, cap 120 s)." if flat else None,
        )
    ]


def cap(timeline: ClientTimeline, context: Context) -> list[Finding]:
    """No wait between retries beyond the cap (gRPC: 120 s)."""
    limits = context.thresholds
    long = [retry for retry in _all_retries(timeline) if retry.delay > limits.cap_max_s]
    if not long:
        return []
    return [
        Finding(
            "cap",
            Severity.WARNING,
            timeline.client_id,
            f"waited up to {_seconds(max(retry.delay for retry in long))} between retries: "
            f"no cap at or below {_seconds(limits.cap_max_s)}",
            {"retries": _retries(long)},
            "Cap the backoff (gRPC: 120 s) so a client comes back soon after an outage ends.",
        )
    ]


def _all_equal(values: Sequence[float], limits: Thresholds) -> bool:
    spread = max(values) - min(values)
    return spread <= max(limits.jitter_min_relative * max(values), limits.timing_noise_s)


def _fixed_run(waits: Sequence[float], limits: Thresholds) -> str | None:
    """Words for a run showing a fixed schedule: equal waits, or waits in an exact ratio."""
    run = limits.jitter_run
    for start in range(len(waits) - run + 1):
        window = waits[start : start + run]
        if _all_equal(window, limits):
            return f"{run} waits in a row of {_seconds(statistics.median(window))}"
    ratios = [
        later / earlier
        for earlier, later in itertools.pairwise(waits)
        if earlier > limits.timing_noise_s
    ]
    for start in range(len(ratios) - run + 1):
        window = ratios[start : start + run]
        if window[0] > 1 and _all_equal(window, limits):
            return f"{run + 1} waits in a row growing exactly x{window[0]:.3g}"
    return None


def jitter(timeline: ClientTimeline, context: Context) -> list[Finding]:
    """Randomised waits within one client: a fixed schedule synchronises a fleet."""
    limits = context.thresholds
    for episode in timeline.episodes:
        waits = [delay for delay in episode.delays[1:]]
        found = _fixed_run(waits, limits)
        if found:
            return [
                Finding(
                    "jitter",
                    Severity.WARNING,
                    timeline.client_id,
                    f"no jitter: {found}",
                    {"delays_s": bounded([round(delay, 3) for delay in episode.delays])},
                    "Randomise each wait (gRPC: +-20 %; or full jitter: random(0, backoff)).",
                )
            ]
    return []


def status_retry(timeline: ClientTimeline, context: Context) -> list[Finding]:
    """Client errors (400/401/403/404/426) retried more than once: an error however they are
    spaced (see `Thresholds.client_error_retries`); 429/5xx not retried."""
    limits = context.thresholds
    findings = []
    after_client_error = [
        retry
        for retry in _all_retries(timeline)
        if retry.after.kind is SetbackKind.REJECTED
        and retry.after.status in limits.client_error_statuses
    ]
    if len(after_client_error) > limits.client_error_retries:
        waits = [retry.delay for retry in after_client_error]
        full_rate = max(waits) <= 2 * max(waits[0], limits.timing_noise_s)
        statuses = "/".join(sorted({retry.after.describe() for retry in after_client_error}))
        rate = f" at full rate (every {_seconds(statistics.median(waits))})" if full_rate else ""
        findings.append(
            Finding(
                "status-retry",
                Severity.ERROR,
                timeline.client_id,
                f"retried {statuses} {len(after_client_error)} times{rate}",
                {"retries": _retries(after_client_error)},
                "A client error does not fix itself: stop and report it (refresh a token once).",
            )
        )
    dropped = _not_retried(
        timeline,
        context,
        lambda s: s.kind is SetbackKind.REJECTED and s.status in limits.retryable_statuses,
    )
    if dropped:
        findings.append(
            Finding(
                "status-retry",
                Severity.WARNING,
                timeline.client_id,
                f"did not retry {'/'.join(sorted({s.describe() for s in dropped}))}",
                {"setbacks": bounded([setback.evidence() for setback in dropped])},
                "429 and 5xx are temporary: retry with backoff, after Retry-After when given.",
            )
        )
    return findings


def retry_after(timeline: ClientTimeline, context: Context) -> list[Finding]:
    """Retries sooner than the Retry-After the server asked for."""
    limits = context.thresholds
    asked = [retry for retry in _all_retries(timeline) if retry.after.retry_after is not None]
    early = [
        retry
        for retry in asked
        if retry.delay < (retry.after.retry_after or 0.0) - limits.retry_after_slack_s
    ]
    if not early:
        return []
    worst = min(early, key=lambda retry: retry.delay - (retry.after.retry_after or 0.0))
    return [
        Finding(
            "retry-after",
            Severity.ERROR,
            timeline.client_id,
            f"retried {len(early)} of {len(asked)} times before Retry-After "
            f"(waited {_seconds(worst.delay)} of {_seconds(worst.after.retry_after or 0.0)})",
            {
                "retries": bounded(
                    [{**r.evidence(), "retry_after_s": r.after.retry_after} for r in early]
                )
            },
            "Wait at least Retry-After (seconds, or until the HTTP date) before the next attempt.",
        )
    ]


def close_retry(timeline: ClientTimeline, context: Context) -> list[Finding]:
    """Terminal close codes retried; transient close codes not retried."""
    limits = context.thresholds
    findings = []
    terminal = [
        retry
        for retry in _all_retries(timeline)
        if retry.after.kind is SetbackKind.CLOSED
        and retry.after.close_code in limits.terminal_close_codes
        and retry.delay <= limits.retry_window_s
    ]
    if terminal:
        codes = "/".join(sorted({retry.after.describe() for retry in terminal}))
        findings.append(
            Finding(
                "close-retry",
                Severity.WARNING,
                timeline.client_id,
                f"reconnected {len(terminal)} times after {codes}, which says not to",
                {"retries": _retries(terminal)},
                "Treat 1000/1002/1003/1007/1008 and auth 4xxx closes as final: fix the cause.",
            )
        )
    dropped = _not_retried(
        timeline,
        context,
        lambda s: s.kind is SetbackKind.CLOSED and s.close_code in limits.transient_close_codes,
    )
    if dropped:
        codes = "/".join(sorted({setback.describe() for setback in dropped}))
        findings.append(
            Finding(
                "close-retry",
                Severity.WARNING,
                timeline.client_id,
                f"did not reconnect after {codes} within {_seconds(limits.retry_window_s)}",
                {"setbacks": bounded([setback.evidence() for setback in dropped])},
                "1001/1006/1011/1012/1013 are temporary: reconnect with backoff.",
            )
        )
    return findings


def flapping(timeline: ClientTimeline, context: Context) -> list[Finding]:
    """Backoff reset by connections that did not last (a stable one is the only reset)."""
    limits = context.thresholds
    for episode in timeline.episodes:
        if len(episode.short_connections) < 2 or not episode.retries:
            continue
        after_short = [
            retry for retry in episode.retries[1:] if retry.after.kind is SetbackKind.CLOSED
        ]
        if len(after_short) < 2:
            continue
        baseline = max(episode.retries[0].delay, limits.timing_noise_s)
        if max(retry.delay for retry in after_short) <= baseline * (1 + limits.constant_spread):
            longest = max(c.lifetime(context.log_end) for c in episode.short_connections)
            return [
                Finding(
                    "flapping",
                    Severity.WARNING,
                    timeline.client_id,
                    f"backoff reset after each of {len(episode.short_connections)} connections "
                    f"shorter than {_seconds(limits.stable_connection_s)} "
                    f"(longest {_seconds(longest)})",
                    {"retries": _retries(list(episode.retries))},
                    "Reset the backoff only after a connection has stayed up for a while.",
                )
            ]
    return []


def in_flight(timeline: ClientTimeline, context: Context) -> list[Finding]:
    """More than one handshake in flight at once (RFC 6455 4.1: one CONNECTING at a time)."""
    overlapping = []
    busy_until = None
    for attempt in timeline.attempts:
        if busy_until is not None and attempt.start < busy_until:
            overlapping.append(attempt)
        busy_until = attempt.end if busy_until is None else max(busy_until, attempt.end)
    if not overlapping:
        return []
    return [
        Finding(
            "in-flight",
            Severity.WARNING,
            timeline.client_id,
            f"{len(overlapping)} attempts started while another was still connecting",
            {"attempts": bounded([contract.utc_timestamp(a.start) for a in overlapping])},
            "Wait for one handshake to finish before starting another (RFC 6455 4.1).",
        )
    ]


def idle_gap(timeline: ClientTimeline, context: Context) -> list[Finding]:
    """Client silences as long as the vendor's idle timeout (Deepgram: 10 s)."""
    limits = context.thresholds
    silent = []
    for connection in timeline.connections:
        timeout = context.idle_timeouts.get(connection.vendor or "")
        gap = (connection.longest_gap_s or {}).get("client")
        if timeout is not None and gap is not None and gap >= limits.idle_gap_fraction * timeout:
            silent.append((connection, gap, timeout))
    if not silent:
        return []
    connection, gap, timeout = max(silent, key=lambda item: item[1])
    return [
        Finding(
            "idle-gap",
            Severity.WARNING,
            timeline.client_id,
            f"silent for {_seconds(gap)} on a {connection.vendor} connection that closes after "
            f"{_seconds(timeout)} idle ({len(silent)} connections)",
            {
                "connections": bounded(
                    [
                        {
                            "opened": contract.utc_timestamp(c.opened),
                            "client_gap_s": round(g, 3),
                            "close_code": c.close_code,
                            "injected": c.injected,
                        }
                        for c, g, _ in silent
                    ]
                )
            },
            "Send data or the vendor's keep-alive well within its idle timeout (Deepgram: "
            "a KeepAlive message every 3-5 s).",
        )
    ]


def _percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def most_within(moments: Sequence[float], window_s: float) -> int:
    """The most of the sorted `moments` that fall in any `window_s` starting at one of them
    (two pointers: linear, as a herd may be a whole fleet)."""
    most, last = 0, 0
    for first, moment in enumerate(moments):
        last = max(last, first)
        while last < len(moments) and moments[last] - moment <= window_s:
            last += 1
        most = max(most, last - first)
    return most


#: An episode a close started, and whose it is: all the herd rule needs of a client.
HerdTrigger = tuple[Setback, Episode, str]


def herd_triggers(timeline: ClientTimeline) -> list[HerdTrigger]:
    """The episodes of a client that a close started (kept per client while the rest of its
    timeline is let go: the herd rule is the only one that looks across clients)."""
    return [
        (episode.trigger, episode, timeline.client_id)
        for episode in timeline.episodes
        if episode.trigger.kind is SetbackKind.CLOSED
    ]


def herd(triggers: Iterable[HerdTrigger], context: Context) -> list[Finding]:
    """After a mass disconnect, how spread the clients' reconnects are (p50 / p90)."""
    limits = context.thresholds
    triggers = sorted(triggers, key=lambda item: item[0].at)
    findings = []
    index = 0
    while index < len(triggers):
        start = triggers[index][0].at
        end = index
        while end < len(triggers) and triggers[end][0].at - start <= limits.herd_window_s:
            end += 1
        group = triggers[index:end]
        index = end
        clients = {client_id for _, _, client_id in group}
        if len(clients) < limits.herd_min_clients:
            continue
        reconnects = sorted(
            episode.retries[0].attempt.start for _, episode, _ in group if episode.retries
        )
        if not reconnects:
            continue
        delays = [episode.retries[0].delay for _, episode, _ in group if episode.retries]
        peak = most_within(reconnects, limits.herd_window_s)
        is_herd = peak >= limits.herd_fraction * len(reconnects)
        codes = "/".join(sorted({trigger.describe() for trigger, _, _ in group}))
        p50, p90 = _percentile(delays, 0.5), _percentile(delays, 0.9)
        findings.append(
            Finding(
                "herd",
                Severity.ERROR if is_herd else Severity.INFO,
                FLEET,
                f"{peak} of {len(reconnects)} clients reconnected within "
                f"{_seconds(limits.herd_window_s)} after {codes} to {len(clients)} clients"
                f" (p50 {_seconds(p50)}, p90 {_seconds(p90)})" + ("" if is_herd else ": spread"),
                {
                    "at": contract.utc_timestamp(start),
                    "clients": len(clients),
                    "reconnected": len(reconnects),
                    "peak_in_window": peak,
                    "p50_s": round(p50, 3),
                    "p90_s": round(p90, 3),
                    "injected": sum(1 for trigger, _, _ in group if trigger.injected),
                },
                "Spread reconnects: a random first wait (0-5 s) and jittered backoff."
                if is_herd
                else None,
            )
        )
    return findings


ClientRule = Callable[[ClientTimeline, Context], list[Finding]]

#: The per-client rules, in the order their findings are listed.
CLIENT_RULES: tuple[ClientRule, ...] = (
    hot_loop,
    status_retry,
    retry_after,
    close_retry,
    first_retry,
    growth,
    cap,
    jitter,
    flapping,
    in_flight,
    idle_gap,
)
