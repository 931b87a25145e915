"""Thresholds: defaults, overrides from YAML, and errors naming the file and the field."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from wswatchlib.verdicts.thresholds import (
    DURATIONS,
    Thresholds,
    ThresholdsError,
    load_thresholds,
    parse_thresholds,
)


def test_overrides_replace_only_their_fields() -> None:
    """A mapping overrides the fields it names; the others keep their defaults."""
    parsed = parse_thresholds({"hot_loop_floor_s": 0.5, "terminal_close_codes": [1008]}, "t.yaml")
    assert parsed.hot_loop_floor_s == 0.5
    assert parsed.terminal_close_codes == frozenset({1008})
    assert parsed.first_retry_max_s == Thresholds().first_retry_max_s


def test_empty_document_is_the_defaults() -> None:
    """An empty file (YAML null) means every default."""
    assert parse_thresholds(None, "t.yaml") == Thresholds()


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            {"hot_loop_floor": 1},
            "t.yaml: unknown field 'hot_loop_floor' (expected one of: hot_loop_floor_s, ",
        ),
        ({"hot_loop_floor_s": 0}, "t.yaml: hot_loop_floor_s: must be > 0, got 0"),
        ({"hot_loop_floor_s": "fast"}, "t.yaml: hot_loop_floor_s: must be a number, got 'fast'"),
        ({"herd_fraction": 1.5}, "t.yaml: herd_fraction: must be > 0 and <= 1, got 1.5"),
        ({"hot_loop_min_retries": 0}, "t.yaml: hot_loop_min_retries: must be >= 1, got 0"),
        (
            {"terminal_close_codes": 1008},
            "t.yaml: terminal_close_codes: must be a list of integers, got 1008",
        ),
        (
            {"client_error_statuses": [401, 99]},
            "t.yaml: client_error_statuses: must be between 100 and 599, got 99",
        ),
        (["hot_loop_floor_s"], "t.yaml: must be a mapping, got a list"),
    ],
)
def test_bad_threshold_message(document: Any, message: str) -> None:
    """A wrong or unknown threshold is refused with the file, the field and the problem."""
    with pytest.raises(ThresholdsError) as raised:
        parse_thresholds(document, "t.yaml")
    assert str(raised.value).startswith(message)


def test_load_thresholds_invalid_yaml(tmp_path: Path) -> None:
    """A file that is not YAML is refused with its path and the parser's position."""
    path = tmp_path / "t.yaml"
    path.write_text("hot_loop_floor_s: [1\n")
    with pytest.raises(ThresholdsError) as raised:
        load_thresholds(str(path))
    assert str(raised.value).startswith(f"{path}: not valid YAML: ")


def test_load_thresholds_reads_a_file(tmp_path: Path) -> None:
    """A thresholds file's overrides are applied."""
    path = tmp_path / "t.yaml"
    path.write_text("stable_connection_s: 5\n")
    assert load_thresholds(str(path)).stable_connection_s == 5


def test_scaled_multiplies_every_duration_and_nothing_else() -> None:
    """scaled(f) multiplies each `_s` threshold of the schedule by f and keeps counts, ratios,
    code sets and the timing noise (a loaded machine's noise does not scale with the waits)."""
    base = Thresholds(hot_loop_floor_s=0.2)
    scaled = base.scaled(0.05)
    assert DURATIONS == (
        "hot_loop_floor_s",
        "first_retry_max_s",
        "cap_max_s",
        "herd_window_s",
        "retry_window_s",
        "retry_after_slack_s",
        "stable_connection_s",
    )
    for name in DURATIONS:
        assert getattr(scaled, name) == pytest.approx(getattr(base, name) * 0.05), name
    assert scaled.timing_noise_s == base.timing_noise_s
    assert dataclasses.replace(scaled, **{n: getattr(base, n) for n in DURATIONS}) == base


def test_scaled_by_a_non_positive_factor_is_refused() -> None:
    """A time scale of zero or less has no meaning: the message says so."""
    with pytest.raises(ValueError, match=r"^scale factor must be > 0, got 0$"):
        Thresholds().scaled(0)
