"""When each side of a connection last sent a data message, and its longest silence.

The watcher feeds every peer message to `MessageGaps.observe` on the hot path (a few attribute
updates, no allocation); `finish` closes the last silence at the connection's end. A silence
counts from the open to the first message, between messages, and from the last message to the
end, so a side that never sent anything was silent for the whole connection.
"""

from __future__ import annotations

SIDES = ("client", "server")


class MessageGaps:
    """Running last-message times and longest gaps per side, in epoch seconds."""

    __slots__ = ("last", "longest", "opened")

    def __init__(self, opened: float) -> None:
        self.opened = opened
        self.last: dict[str, float | None] = {"client": None, "server": None}
        self.longest: dict[str, float] = {"client": 0.0, "server": 0.0}

    def observe(self, side: str, at: float) -> None:
        """A data message from `side` ("client" or "server") at epoch seconds `at`."""
        previous = self.last[side]
        gap = at - (self.opened if previous is None else previous)
        if gap > self.longest[side]:
            self.longest[side] = gap
        self.last[side] = at

    def finish(self, ended: float) -> tuple[dict[str, float | None], dict[str, float]]:
        """`last_message_s` and `longest_gap_s` of a connection that ended at `ended`: seconds
        since the open, rounded to milliseconds."""
        last_message: dict[str, float | None] = {}
        longest_gap: dict[str, float] = {}
        for side in SIDES:
            last = self.last[side]
            to_end = ended - (self.opened if last is None else last)
            longest_gap[side] = round(max(self.longest[side], to_end, 0.0), 3)
            last_message[side] = None if last is None else round(max(last - self.opened, 0.0), 3)
        return last_message, longest_gap
