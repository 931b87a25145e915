"""The report of a fleet: past MAX_LANES clients, the page leads with the whole fleet.

A lane per client stops being readable after a few dozen, and a row per attempt of 100,000
clients makes a page nobody can open. So, when a session has more clients than lanes:
- lanes and table rows are drawn for the worst clients only (by severity, then attempts), and
  for any client the user names (`wswatch report --client ID`);
- the fleet is shown as distributions over every client: attempts per client, the waits before
  each retry (and how many came before the server's Retry-After), attempts over time (a herd
  stands out as a spike), and the count of clients by worst severity;
- every client is one line of a paged client table (id, attempts, episodes, worst, rules).

Pure: `FleetTally` is fed every attempt as the model is built; `choose_shown` picks the lanes.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ..verdicts.analysis import Verdicts
from ..verdicts.findings import Severity

#: Lanes the timeline draws; past this many clients the report shows the fleet.
MAX_LANES = 60
#: Attempts per client: 1 to this many, then "this many or more" in one bar.
ATTEMPT_BARS = 10
#: Waits before a retry, in buckets of powers of two: under 0.125 s, then up to 0.25 s ... up to
#: 512 s, then longer (a backoff doubles, so each bucket is one step of one).
WAIT_EDGES_S: tuple[float, ...] = tuple(2.0**power for power in range(-3, 10))
#: Bars of the attempts-over-time chart.
TIME_BARS = 120


def _severity_rank(label: str) -> int:
    return {"error": 3, "warning": 2, "info": 1}.get(label, 0)


def choose_shown(
    attempts: Counter[str], verdicts: Verdicts | None, lanes: int, named: Sequence[str] = ()
) -> tuple[str, ...] | None:
    """The clients that get a lane and table rows when there are more than `lanes`: those the
    user named, then the worst (by severity, then attempts, then id). None when all fit."""
    if len(attempts) <= lanes:
        return None

    def rank(client: str) -> tuple[int, int, str]:
        worst = verdicts.worst(client) if verdicts is not None else None
        return (-(worst + 1 if worst is not None else 0), -attempts[client], client)

    chosen = list(dict.fromkeys(client for client in named if client in attempts))
    for client in sorted(attempts, key=rank):
        if len(chosen) >= lanes:
            break
        if client not in chosen:
            chosen.append(client)
    return tuple(chosen)


@dataclass
class FleetTally:
    """Distributions over every client's attempts, fed in time order."""

    attempts: Counter[str] = field(default_factory=Counter)
    #: Retries by wait bucket (index into WAIT_EDGES_S; len(WAIT_EDGES_S) for longer).
    waits: Counter[int] = field(default_factory=Counter)
    #: Retries that followed an answer with a Retry-After, and those that came before it.
    after_retry_after: int = 0
    early: int = 0
    #: Attempt starts, seconds since the session's first row.
    starts: list[float] = field(default_factory=list)

    def attempt(self, client: str, at: float, gap_s: float | None, asked_s: float | None) -> None:
        """One attempt of `client` at `at`, `gap_s` after its previous one, which (if it was
        refused) asked for `asked_s` (Retry-After)."""
        self.attempts[client] += 1
        self.starts.append(at)
        if gap_s is None:
            return
        self.waits[_wait_bucket(gap_s)] += 1
        if asked_s is not None:
            self.after_retry_after += 1
            if gap_s < asked_s:
                self.early += 1


def _wait_bucket(seconds: float) -> int:
    for index, edge in enumerate(WAIT_EDGES_S):
        if seconds < edge:
            return index
    return len(WAIT_EDGES_S)


@dataclass(frozen=True, slots=True)
class ClientLine:
    """One client in the client table."""

    client: str
    attempts: int
    episodes: int
    worst: str
    rules: str


@dataclass(frozen=True, slots=True)
class FleetView:
    """What the page shows of the whole fleet."""

    clients: int
    shown: tuple[str, ...]
    #: Clients by their worst finding ("ok" for none).
    by_worst: dict[str, int]
    #: Clients by attempts made: bar i is i + 1 attempts, the last bar that many or more.
    attempt_bars: tuple[int, ...]
    wait_bars: tuple[int, ...]
    after_retry_after: int
    early: int
    #: Attempts started in each of TIME_BARS equal slices of the session.
    time_bars: tuple[int, ...]
    span_s: float
    table: tuple[ClientLine, ...]


def fleet_view(
    tally: FleetTally, verdicts: Verdicts | None, shown: Sequence[str], span_s: float
) -> FleetView:
    """The fleet's distributions and client table, from what the tally saw."""
    attempt_bars = [0] * ATTEMPT_BARS
    for count in tally.attempts.values():
        attempt_bars[min(count, ATTEMPT_BARS) - 1] += 1
    width = span_s / TIME_BARS if span_s > 0 else 1.0
    time_bars = [0] * TIME_BARS
    for at in tally.starts:
        time_bars[min(TIME_BARS - 1, max(0, math.floor(at / width)))] += 1
    table = tuple(_client_lines(tally.attempts, verdicts))
    by_worst = Counter(line.worst for line in table)
    return FleetView(
        clients=len(tally.attempts),
        shown=tuple(shown),
        by_worst={label: by_worst[label] for label in ("error", "warning", "info", "ok")},
        attempt_bars=tuple(attempt_bars),
        wait_bars=tuple(tally.waits[index] for index in range(len(WAIT_EDGES_S) + 1)),
        after_retry_after=tally.after_retry_after,
        early=tally.early,
        time_bars=tuple(time_bars),
        span_s=span_s,
        table=table,
    )


def _client_lines(attempts: Counter[str], verdicts: Verdicts | None) -> Iterable[ClientLine]:
    """Every client, worst first, then by attempts; what the verdicts say of each."""
    counted = {c.client_id: c for c in verdicts.clients} if verdicts is not None else {}
    lines = []
    for client, made in attempts.items():
        worst: Severity | None = verdicts.worst(client) if verdicts is not None else None
        rules = ", ".join(dict.fromkeys(f.rule for f in verdicts.of(client))) if verdicts else ""
        graded = counted.get(client)
        lines.append(
            ClientLine(
                client,
                made,
                graded.episodes if graded is not None else 0,
                worst.label if worst is not None else "ok",
                rules,
            )
        )
    lines.sort(key=lambda line: (-_severity_rank(line.worst), -line.attempts, line.client))
    return lines
