"""Reading wswatch JSON-lines files: one or more, merged by time, malformed lines counted.

A line is used when it is a JSON object with a string `event` and an ISO 8601 `ts`; any other
line is skipped with a message naming the file and the line, so one torn write (a proxy killed
mid-line) does not hide a whole session.
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


class EventFileError(ValueError):
    """An event file cannot be read at all; the message starts with its path."""


@dataclass(frozen=True, slots=True)
class Reading:
    """The events of every file, merged by time, and the lines that were skipped."""

    events: tuple[Mapping[str, Any], ...]
    skipped: tuple[str, ...]


def number(value: object) -> float | None:
    """A JSON number as a float; None for anything else (a bool is not a number here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def integer(value: object) -> int | None:
    """A JSON integer; None for anything else."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def text(value: object) -> str | None:
    """A JSON string; None for anything else."""
    return value if isinstance(value, str) else None


def shown_text(value: object) -> str | None:
    """Any value but null as the text a page shows for it."""
    return None if value is None else str(value)


def attempt_start(event: Mapping[str, Any], at: float) -> float:
    """When an attempt started: its `started` field, else its `ts` (`at`) less its
    `duration_ms` (the contract: `ts` is when the handshake's event was written, at its end)."""
    started = parse_ts(event.get("started"))
    if started is not None:
        return started
    return at - (number(event.get("duration_ms")) or 0.0) / 1000


def parse_ts(value: object) -> float | None:
    """Seconds since the epoch of an event's `ts` (ISO 8601, `Z` or an offset); None if not one."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


def _problem(line: str) -> tuple[Mapping[str, Any] | None, str | None]:
    try:
        document = json.loads(line)
    except ValueError:
        return None, "not valid JSON"
    if not isinstance(document, dict):
        return None, "not a JSON object"
    if not isinstance(document.get("event"), str):
        return None, "no 'event' string"
    if parse_ts(document.get("ts")) is None:
        return None, "'ts' missing or not an ISO 8601 time"
    return document, None


def file_events(lines: Iterable[str], name: str, skipped: list[str]) -> Iterator[Mapping[str, Any]]:
    """The events of one file's lines as they come (blank lines ignored); each line that is
    not an event is said in `skipped`, naming the file and the line."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        document, problem = _problem(line)
        if document is None:
            skipped.append(f"{name}:{number}: skipped: {problem}")
        else:
            yield document


def _cannot_read(name: str, error: OSError) -> EventFileError:
    return EventFileError(f"{name}: cannot read: {error.strerror or error}")


def check_readable(paths: Sequence[str | os.PathLike[str]]) -> None:
    """Raise EventFileError for the first file that cannot be opened, before any work starts."""
    for path in paths:
        try:
            with open(path, "rb"):
                pass
        except OSError as error:
            raise _cannot_read(os.fspath(path), error) from error


def stream_event_files(
    paths: Sequence[str | os.PathLike[str]], skipped: list[str]
) -> Iterator[Mapping[str, Any]]:
    """The events of each file in turn, one line in memory at a time: not merged by time, for
    work that does not need time order (the analysis groups events by client and orders each
    client's own). Skipped lines are said in `skipped`; a file that cannot be read raises
    EventFileError."""
    for path in paths:
        name = os.fspath(path)
        try:
            with open(path, encoding="utf-8", errors="replace") as lines:
                yield from file_events(lines, name, skipped)
        except OSError as error:
            raise _cannot_read(name, error) from error


def read_event_files(
    paths: Sequence[str | os.PathLike[str]],
    passing: Callable[[Iterator[Mapping[str, Any]]], Iterable[Mapping[str, Any]]] = iter,
) -> Reading:
    """Read and merge JSON-lines files; a file that cannot be read raises EventFileError.
    Every event goes through `passing` as it is read (a progress line counts them)."""
    skipped: list[str] = []
    events = list(passing(stream_event_files(paths, skipped)))
    events.sort(key=lambda event: parse_ts(event["ts"]) or 0.0)
    return Reading(tuple(events), tuple(skipped))
