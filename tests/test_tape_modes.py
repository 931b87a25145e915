"""Record modes decide what a test's proxy does with its tape (testing/tape_modes.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from wswatchlib.testing.tape_modes import RecordMode, TapePlan, plan_tape

FLAG = "--wswatch-record-mode"


def with_tape(directory: Path) -> Path:
    directory.mkdir(parents=True)
    (directory / "20261206T000000.000Z-0001-h-101.tape.jsonl").write_text("{}\n")
    return directory


def test_none_without_a_tape_fails_and_says_how_to_record() -> None:
    """Nothing may reach the network, so a missing tape is a failure naming it and the flag."""
    plan = plan_tape(RecordMode.NONE, Path("/nowhere/tapes/t"), FLAG)
    assert plan.failure is not None
    assert "/nowhere/tapes/t has no recording" in plan.failure and f"{FLAG}=once" in plan.failure
    assert plan.options == {}


@pytest.mark.parametrize(
    ("mode", "have", "expected"),
    [
        (RecordMode.NONE, True, ("replay", "fail", True, False)),
        (RecordMode.ONCE, True, ("replay", "fail", True, False)),
        (RecordMode.ONCE, False, ("record", None, False, False)),
        (RecordMode.NEW_EPISODES, True, ("replay", "record", False, False)),
        (RecordMode.NEW_EPISODES, False, ("replay", "record", False, False)),
        (RecordMode.ALL, True, ("record", None, False, True)),
        (RecordMode.ALL, False, ("record", None, False, True)),
    ],
)
def test_each_mode_replays_records_or_both(tmp_path, mode, have, expected) -> None:
    """Which of replay and record each mode turns on, whether a miss fails, whether to clear."""
    directory = with_tape(tmp_path / "t") if have else tmp_path / "t"
    plan: TapePlan = plan_tape(mode, directory, FLAG)
    action, on_miss, strict, clear = expected
    assert plan.failure is None
    assert plan.options.get(f"wswatch_{action}") == str(directory)
    assert plan.options.get("wswatch_replay_on_miss") == on_miss
    assert (plan.strict_replay, plan.clear) == (strict, clear)
