"""How a client's waits between retries grow: none, constant, linear or exponential, with a cap.

The first wait of an episode is left out of the fit: RFC 6455 7.2.3 wants it random, and
python `websockets` draws it from 0-5 s before its 3.1 s x 1.618 schedule. The fit runs on the
running maximum of the rest, so full jitter (a random wait under a growing envelope) is judged
by its envelope.
"""

from __future__ import annotations

import enum
import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

#: Trailing waits within this fraction of the longest one form a plateau: the cap (gRPC's
#: +-20 % jitter at its 120 s cap stays inside).
CAP_TOLERANCE = 0.25


class Pattern(enum.Enum):
    """The shape of the waits between retries."""

    #: Retries right away, every wait under the timing noise.
    NONE = "none"
    #: The same wait every time, give or take the spread allowed by `constant_spread`.
    CONSTANT = "constant"
    #: Waits grow by a fixed step.
    LINEAR = "linear"
    #: Waits grow by a factor (gRPC: x1.6).
    EXPONENTIAL = "exponential"


@dataclass(frozen=True, slots=True)
class Growth:
    """The fitted pattern: factor for exponential, step for linear, cap when a plateau shows."""

    pattern: Pattern
    factor: float | None = None
    step_s: float | None = None
    cap_s: float | None = None

    def describe(self) -> str:
        """ "exponential x1.62, cap 90 s", "constant 1.0 s", "linear +0.5 s"."""
        match self.pattern:
            case Pattern.EXPONENTIAL:
                words = f"exponential x{self.factor:.2f}"
            case Pattern.LINEAR:
                words = f"linear +{self.step_s:.3g} s"
            case Pattern.CONSTANT:
                words = f"constant {self.cap_s:.3g} s"
            case _:
                return "none (immediate retries)"
        if self.cap_s is not None and self.pattern is not Pattern.CONSTANT:
            words += f", cap {self.cap_s:.3g} s"
        return words


def _line(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """Intercept and slope of the least-squares line through (xs, ys)."""
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mean_x) ** 2 for x in xs)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sxx
    return mean_y - slope * mean_x, slope


def _log_fit(logs: Sequence[float], predicted: Sequence[float]) -> float:
    """R² of *predicted* waits against the observed ones, both on a log scale (relative error:
    a 1 s miss matters at 2 s, not at 90 s); -inf when a prediction is not positive."""
    if min(predicted) <= 0:
        return -math.inf
    mean = statistics.fmean(logs)
    total = sum((log - mean) ** 2 for log in logs)
    residual = sum((log - math.log(value)) ** 2 for log, value in zip(logs, predicted, strict=True))
    return 1.0 if total == 0 else 1 - residual / total


def _plateau(waits: Sequence[float]) -> int:
    """How many trailing waits sit at the longest one (the cap); 0 without a plateau (fewer
    than two, or just two that are still rising)."""
    top = max(waits)
    length = 0
    for wait in reversed(waits):
        if wait < top * (1 - CAP_TOLERANCE):
            break
        length += 1
    run = waits[len(waits) - length :]
    still_rising = all(earlier < later for earlier, later in itertools.pairwise(run))
    if length < 2 or length == len(waits) or (length == 2 and still_rising):
        return 0
    return length


def classify(
    delays: Sequence[float], *, min_retries: int, constant_spread: float, timing_noise_s: float
) -> Growth | None:
    """The growth of an episode's waits; None with fewer than *min_retries* retries."""
    if len(delays) < min_retries:
        return None
    waits = list(delays[1:])
    if max(waits) <= timing_noise_s:
        return Growth(Pattern.NONE)
    median = statistics.median(waits)
    if max(waits) - min(waits) <= max(constant_spread * median, timing_noise_s):
        return Growth(Pattern.CONSTANT, cap_s=median)
    plateau = _plateau(waits)
    cap = statistics.median(waits[-plateau:]) if plateau else None
    rising = waits[: len(waits) - plateau + 1] if plateau else waits
    envelope = [max(rising[: index + 1]) for index in range(len(rising))]
    positive = [(index, wait) for index, wait in enumerate(envelope) if wait > timing_noise_s]
    if len(positive) < 2:
        return Growth(Pattern.CONSTANT, cap_s=median)
    xs = [float(index) for index, _ in positive]
    logs = [math.log(wait) for _, wait in positive]
    log_intercept, log_slope = _line(xs, logs)
    intercept, step = _line(xs, [wait for _, wait in positive])
    exponential_fit = _log_fit(logs, [math.exp(log_intercept + log_slope * x) for x in xs])
    linear_fit = _log_fit(logs, [intercept + step * x for x in xs])
    if exponential_fit >= linear_fit:
        return Growth(Pattern.EXPONENTIAL, factor=math.exp(log_slope), cap_s=cap)
    return Growth(Pattern.LINEAR, step_s=step, cap_s=cap)
