"""The growth fit: none / constant / linear / exponential with factor and cap."""

from __future__ import annotations

import pytest
from wswatchlib.verdicts.growth import Growth, Pattern, classify


def fit(delays: list[float]) -> Growth | None:
    return classify(delays, min_retries=4, constant_spread=0.5, timing_noise_s=0.01)


@pytest.mark.parametrize(
    ("delays", "pattern", "words"),
    [
        ([0, 0, 0, 0, 0], Pattern.NONE, "none (immediate retries)"),
        ([3, 1, 1.1, 0.9, 1], Pattern.CONSTANT, "constant 1 s"),
        ([1, 1, 2, 3, 4, 5, 6], Pattern.LINEAR, "linear +1 s"),
        ([2.2, 1, 1.6, 2.56, 4.096, 6.5536], Pattern.EXPONENTIAL, "exponential x1.60"),
        (
            [0.5, 3.1, 5.016, 8.116, 13.13, 21.25, 34.38, 55.6, 90, 90, 90],
            Pattern.EXPONENTIAL,
            "exponential x1.62, cap 90 s",
        ),
    ],
)
def test_pattern_and_words(delays: list[float], pattern: Pattern, words: str) -> None:
    """Each schedule shape is recognised and described (the first, random wait is ignored)."""
    growth = fit(delays)
    assert growth is not None
    assert (growth.pattern, growth.describe()) == (pattern, words)


def test_too_few_retries_have_no_pattern() -> None:
    """Fewer retries than the minimum: no pattern is claimed."""
    assert fit([1, 2, 4]) is None
