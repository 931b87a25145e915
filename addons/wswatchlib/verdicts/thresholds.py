"""Every threshold the verdict rules use, with defaults calibrated on real reconnect loops.

Calibration facts (issue 7): RFC 6455 7.2.3 (first reconnect after an abnormal close waits a
random 0-5 s, later ones longer); the gRPC connection backoff envelope (1 s initial, x1.6,
+-20 % jitter, 120 s cap); python `websockets` >= 14 (random 0-5 s, then 3.1 s x 1.618, cap
90 s); SignalR JS (0, 2, 10, 30 s, stop); Phoenix JS (10 ms ... 2 s, then 5 s); socket.io
(1 s doubling, +-50 %, cap 5 s); Deepgram JS SDK (random 1-5 s base, x1.3, cap 10 s).
A team that disagrees overrides any field from a YAML mapping (`wswatch analyse --thresholds`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..options import config_fields as fields


class ThresholdsError(ValueError):
    """A thresholds file cannot be used; the message names the file and the field."""


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The numbers behind every rule: durations end in `_s` (seconds); the rest are counts,
    ratios and code sets."""

    #: hot-loop: attempts this close together are a loop. Phoenix's deliberate 10 ms and 50 ms
    #: first steps are under it, but only twice in a row; a 50 ms loop is under it forever.
    hot_loop_floor_s: float = 0.1
    #: hot-loop: this many consecutive attempts under the floor (Phoenix has 2).
    hot_loop_min_retries: int = 5
    #: first-retry: RFC 6455 7.2.3's "0 to 5 seconds is a reasonable initial delay".
    first_retry_max_s: float = 5.0
    #: growth: retries in one episode needed to fit a pattern (SignalR's whole list is 4).
    growth_min_retries: int = 4
    #: growth: an exponential factor below this barely backs off (Deepgram's x1.3 passes,
    #: gRPC's x1.6 and websockets' x1.618 are the reference).
    growth_factor_min: float = 1.2
    #: growth: delays spread less than this fraction of their median are constant (gRPC's
    #: +-20 % jitter on a constant delay spreads 40 %).
    constant_spread: float = 0.5
    #: cap: no wait between retries should exceed gRPC's 120 s cap.
    cap_max_s: float = 120.0
    #: jitter: delays (or successive ratios) equal within this fraction are not randomised;
    #: gRPC's +-20 % rarely lands three delays within 2 %.
    jitter_min_relative: float = 0.02
    #: jitter: differences under this many seconds are timing noise, not jitter.
    timing_noise_s: float = 0.01
    #: jitter: consecutive equal delays (or equal ratios) that show a fixed schedule.
    jitter_run: int = 3
    #: herd: closes of this many clients within herd_window_s are a mass disconnect.
    herd_min_clients: int = 5
    #: herd: the window for a mass disconnect and for counting reconnects at once.
    herd_window_s: float = 1.0
    #: herd: this fraction of the reconnecting clients in one window is a herd (uniform 0-5 s
    #: puts about 20 % of a fleet in any 1 s window).
    herd_fraction: float = 0.5
    #: status-retry: retries of a client-error status tolerated (one retry after refreshing a
    #: token is reasonable). More are an error however they are spaced: a 401 or 403 does not
    #: fix itself, and a slow loop (the Deepgram JS SDK retrying a 401 every 1.7-6 s, x1.3,
    #: forever) burns quota and hides the cause as surely as a fast one (pipecat#5113).
    client_error_retries: int = 1
    #: a failure is "not retried" when the log goes on this long without an attempt, and an
    #: attempt within it "retries" a close (gRPC's 120 s cap).
    retry_window_s: float = 120.0
    #: retry-after: an attempt this much early still counts as obeying (clock rounding).
    retry_after_slack_s: float = 0.1
    #: flapping: a connection shorter than this does not end an episode (is not a recovery).
    stable_connection_s: float = 30.0
    #: idle-gap: a client silence of this fraction of the vendor's idle timeout is flagged.
    idle_gap_fraction: float = 0.9
    #: status-retry: answers that will not change by retrying (RFC 9110 15.5; 426: RFC 6455 4.4).
    client_error_statuses: frozenset[int] = frozenset({400, 401, 403, 404, 426})
    #: status-retry: answers that invite a retry (RFC 6585 4 for 429; RFC 9110 15.6 for 5xx).
    retryable_statuses: frozenset[int] = frozenset({429, 500, 502, 503, 504})
    #: close-retry: codes that say "do not come back as is" (RFC 6455 7.4.1; 4xxx auth codes
    #: of the shipped vendors: AssemblyAI 4001, 4003, Discord 4004, GraphQL 4401, 4403).
    terminal_close_codes: frozenset[int] = frozenset(
        {1000, 1002, 1003, 1007, 1008, 4001, 4003, 4004, 4401, 4403}
    )
    #: close-retry: codes that say "try again" (RFC 6455 7.4.1 1001, 1006, 1011; IANA 1012,
    #: 1013).
    transient_close_codes: frozenset[int] = frozenset({1001, 1006, 1011, 1012, 1013})

    def scaled(self, factor: float) -> Thresholds:
        """These thresholds for a session whose every delay is *factor* times the real one (a
        time-scaled calibration run): the schedule's durations times *factor*; counts, ratios
        and the timing noise unchanged (the noise is the machine's and the proxy's, and does
        not shrink when a client's waits do)."""
        if factor <= 0:
            raise ValueError(f"scale factor must be > 0, got {factor!r}")
        return dataclasses.replace(
            self, **{name: getattr(self, name) * factor for name in DURATIONS}
        )


#: The duration thresholds (seconds) of a client's schedule: the only ones a time scale changes.
DURATIONS: tuple[str, ...] = tuple(
    item.name
    for item in dataclasses.fields(Thresholds)
    if item.name.endswith("_s") and item.name != "timing_noise_s"
)


def _positive(value: Any) -> float:
    number = fields.number(value)
    if number <= 0:
        raise ValueError(f"must be > 0, got {fields.show(value)}")
    return number


def _fraction(value: Any) -> float:
    number = fields.number(value)
    if not 0 < number <= 1:
        raise ValueError(f"must be > 0 and <= 1, got {fields.show(value)}")
    return number


def _codes(low: int, high: int) -> fields.Check[frozenset[int]]:
    def check(value: Any) -> frozenset[int]:
        if not isinstance(value, list):
            raise ValueError(f"must be a list of integers, got {fields.show(value)}")
        return frozenset(fields.integer_between(low, high)(item) for item in value)

    return check


_CHECKS: dict[str, fields.Check[Any]] = {
    "hot_loop_min_retries": fields.at_least(1),
    "growth_min_retries": fields.at_least(3),
    "jitter_run": fields.at_least(2),
    "herd_min_clients": fields.at_least(2),
    "client_error_retries": fields.at_least(1),
    "growth_factor_min": _positive,
    "constant_spread": _fraction,
    "jitter_min_relative": _fraction,
    "herd_fraction": _fraction,
    "idle_gap_fraction": _fraction,
    "client_error_statuses": _codes(100, 599),
    "retryable_statuses": _codes(100, 599),
    "terminal_close_codes": _codes(1000, 4999),
    "transient_close_codes": _codes(1000, 4999),
}


def parse_thresholds(document: Any, where: str) -> Thresholds:
    """A YAML mapping of threshold overrides; errors name *where* and the field."""
    names = tuple(item.name for item in dataclasses.fields(Thresholds))
    try:
        spec = fields.Fields(document, names)
        overrides = {
            name: spec.get(name, _CHECKS.get(name, _positive)) for name in names if name in spec
        }
    except ValueError as error:
        raise ThresholdsError(fields.locate(where, error=error)) from error
    return dataclasses.replace(Thresholds(), **overrides)


def load_thresholds(path: str) -> Thresholds:
    """Read and parse a thresholds file."""
    try:
        document = fields.parse_yaml(fields.read_text(path), path)
    except fields.ConfigFileError as error:
        raise ThresholdsError(str(error)) from error
    return parse_thresholds(document, path)
