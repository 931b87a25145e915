"""Record modes for a test's tape, in the style of vcrpy and pytest-recording. Pure: the pytest
plugin reads the mode and the tape's directory, and applies the plan to its proxy.

- `none` (the default, what CI runs): replay only. A missing tape fails the test before anything
  starts, naming it; a request the tape lacks gets wswatch's 404 and fails the test. Nothing
  reaches the network.
- `once`: replay when the tape exists; record it (against the real upstream) when it does not.
- `new_episodes`: replay what the tape has, record the requests it lacks into it.
- `all`: record afresh, replacing the tape.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..tapes.format import TAPE_SUFFIX


class RecordMode(enum.StrEnum):
    NONE = "none"
    ONCE = "once"
    NEW_EPISODES = "new_episodes"
    ALL = "all"


@dataclass(frozen=True)
class TapePlan:
    """What a test's proxy does with its tape."""

    #: wswatch options for the proxy.
    options: dict[str, Any] = field(default_factory=dict)
    #: The proxy answers from the tape: a `tape.miss` fails the test.
    strict_replay: bool = False
    #: Delete the tape's files before the test (`all`).
    clear: bool = False
    #: Why the test cannot run (a tape `none` needs is missing).
    failure: str | None = None


def recorded(directory: Path) -> list[Path]:
    """The tape files of a test's tape directory (none if it does not exist)."""
    return sorted(directory.glob(f"*{TAPE_SUFFIX}")) if directory.is_dir() else []


def plan_tape(mode: RecordMode, directory: Path, flag: str) -> TapePlan:
    """The plan for a test whose tape lives in `directory`; `flag` is how a user picks a mode
    (named in the failure)."""
    have = bool(recorded(directory))
    replay = {"wswatch_replay": str(directory), "wswatch_replay_on_miss": "fail"}
    record = {"wswatch_record": str(directory)}
    if mode is RecordMode.NONE:
        if not have:
            return TapePlan(
                failure=f"wswatch tape {directory} has no recording (record mode none: nothing "
                f"reaches the network); record it with {flag}=once"
            )
        return TapePlan(replay, strict_replay=True)
    if mode is RecordMode.ONCE:
        return TapePlan(replay, strict_replay=True) if have else TapePlan(record)
    if mode is RecordMode.NEW_EPISODES:
        return TapePlan({"wswatch_replay": str(directory), "wswatch_replay_on_miss": "record"})
    return TapePlan(record, clear=True)
