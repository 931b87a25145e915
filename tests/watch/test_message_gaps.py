"""Message gaps: last data message and longest silence per side of one connection."""

from __future__ import annotations

import pytest
from wswatchlib.watch.message_gaps import MessageGaps


def test_side_that_sent_nothing_was_silent_for_the_whole_connection() -> None:
    """No message: last_message_s None, longest gap = the connection's duration."""
    assert MessageGaps(10.0).finish(22.5) == (
        {"client": None, "server": None},
        {"client": 12.5, "server": 12.5},
    )


@pytest.mark.parametrize(
    ("times", "ended", "last", "longest"),
    [
        ((11.0, 12.0), 13.0, 2.0, 1.0),  # first gap from the open: 1 s, all gaps equal
        ((10.5, 14.5, 15.0), 15.25, 5.0, 4.0),  # the gap between messages is the longest
        ((10.2,), 19.0, 0.2, 8.8),  # the silence after the last message is the longest
        ((16.0, 16.5), 17.0, 6.5, 6.0),  # the silence before the first message is the longest
    ],
    ids=["even", "between", "to-the-end", "from-the-open"],
)
def test_longest_gap_counts_open_to_first_between_and_last_to_end(
    times: tuple[float, ...], ended: float, last: float, longest: float
) -> None:
    """Client messages at `times` on a connection opened at 10: last and longest as expected."""
    gaps = MessageGaps(10.0)
    for at in times:
        gaps.observe("client", at)
    last_message, longest_gap = gaps.finish(ended)
    assert (last_message["client"], longest_gap["client"]) == (last, longest)


def test_sides_are_tracked_apart() -> None:
    """Server messages do not break the client's silence."""
    gaps = MessageGaps(0.0)
    gaps.observe("client", 1.0)
    gaps.observe("server", 2.0)
    gaps.observe("server", 3.0)
    gaps.observe("client", 9.0)
    assert gaps.finish(10.0) == ({"client": 9.0, "server": 3.0}, {"client": 8.0, "server": 7.0})


def test_times_are_rounded_to_milliseconds() -> None:
    """Gaps and times are reported with 3 decimals."""
    gaps = MessageGaps(0.0)
    gaps.observe("server", 0.1234567)
    assert gaps.finish(0.5) == ({"client": None, "server": 0.123}, {"client": 0.5, "server": 0.377})
