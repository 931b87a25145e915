"""Reading JSON-lines event files: merged by time, malformed lines skipped and named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from wswatchlib.verdicts.reading import (
    EventFileError,
    check_readable,
    file_events,
    parse_ts,
    read_event_files,
    stream_event_files,
)


def line(event: str, ts: str) -> str:
    return json.dumps({"event": event, "ts": ts})


def test_files_are_merged_by_time(tmp_path: Path) -> None:
    """Events of two files come out in time order, whatever file they were in."""
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_text(
        line("one", "2027-01-01T00:00:01.000Z")
        + "\n"
        + line("three", "2027-01-01T00:00:03.000Z")
        + "\n"
    )
    second.write_text(line("two", "2027-01-01T00:00:02.000Z") + "\n")
    reading = read_event_files([first, second])
    assert [event["event"] for event in reading.events] == ["one", "two", "three"]
    assert reading.skipped == ()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"event": "ws.handshake", "ts": "2027-01-01T00:00:01', "not valid JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"ts": "2027-01-01T00:00:01.000Z"}', "no 'event' string"),
        ('{"event": "ws.closed", "ts": "yesterday"}', "'ts' missing or not an ISO 8601 time"),
        ('{"event": "ws.closed"}', "'ts' missing or not an ISO 8601 time"),
    ],
)
def test_malformed_line_is_skipped_with_file_and_line(text: str, problem: str) -> None:
    """A malformed line is skipped with a message naming file, line number and problem."""
    good = line("ws.handshake", "2027-01-01T00:00:00.000Z")
    skipped: list[str] = []
    events = list(file_events([good, "", text], "events.jsonl", skipped))
    assert len(events) == 1
    assert skipped == [f"events.jsonl:3: skipped: {problem}"]


def test_unreadable_file_is_an_error_naming_it(tmp_path: Path) -> None:
    """A missing file raises EventFileError with its path and the reason."""
    missing = tmp_path / "missing.jsonl"
    with pytest.raises(EventFileError) as raised:
        read_event_files([missing])
    assert str(raised.value) == f"{missing}: cannot read: No such file or directory"


def test_parse_ts_reads_the_contract_format() -> None:
    """`ts` with milliseconds and Z reads as epoch seconds; other types read as None."""
    assert parse_ts("1970-01-01T00:00:01.500Z") == 1.5
    assert parse_ts(1.5) is None


def test_streamed_files_come_one_after_the_other_with_skipped_lines_named(tmp_path: Path) -> None:
    """The analysis streams files without merging them: file order, line order, one event in
    memory at a time; bad lines are said as when reading whole files."""
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_text('{"event": "x", "ts": "2026-01-01T00:00:02Z"}\nnot json\n')
    second.write_text('{"event": "y", "ts": "2026-01-01T00:00:01Z"}\n')
    skipped: list[str] = []
    events = stream_event_files([first, second], skipped)
    assert [event["event"] for event in events] == ["x", "y"]
    assert skipped == [f"{first}:2: skipped: not valid JSON"]
    check_readable([first, second])
    with pytest.raises(EventFileError, match=r"missing\.jsonl: cannot read: No such file"):
        check_readable([first, tmp_path / "missing.jsonl"])
