"""Event timestamps: `utc_timestamp` writes what datetime's own formatting writes."""

from __future__ import annotations

import datetime
import random

import pytest
from wswatchlib.events import utc_timestamp


def by_datetime(epoch_seconds: float) -> str:
    moment = datetime.datetime.fromtimestamp(epoch_seconds, tz=datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.mark.parametrize(
    "epoch_seconds",
    [0.0, 0.0005, 0.9995, 0.9999995, 0.9999994, 1_800_000_000.9999996, -0.5, -1.0000004],
)
def test_rounding_edges_are_datetimes(epoch_seconds: float) -> None:
    """Half a microsecond either side of a millisecond or a second, and before 1970."""
    assert utc_timestamp(epoch_seconds) == by_datetime(epoch_seconds)


def test_generated_moments_are_datetimes() -> None:
    """100,000 moments from 1938 to 2096, many on a half microsecond."""
    draw = random.Random(2026)
    for _ in range(100_000):  # bounded
        whole = draw.randint(-1_000_000_000, 4_000_000_000)
        moment = whole + draw.randint(0, 999_999) / 1e6 + draw.choice([0, 5e-7, -5e-7])
        assert utc_timestamp(moment) == by_datetime(moment), repr(moment)
    assert utc_timestamp(1_764_979_200.25) == "2025-12-06T00:00:00.250Z"
