"""A progress line for the offline commands, on a terminal only.

`wswatch analyse` and `wswatch report` on a fleet's log take tens of seconds; a person at a
terminal should see that they work (events read, clients graded), a pipe or a CI log should get
nothing extra. The line appears only once a run has taken `after_s`, is redrawn at most every
`every_s` (one carriage return, no scrolling), and is wiped when the run ends. Pure apart from
the stream it writes to: the clock is passed in.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TextIO, TypeVar

T = TypeVar("T")

#: Redraw checks happen once per this many events (or clients graded), not for each one: the
#: clock costs too.
EVENTS_PER_CHECK = 1024


def on_terminal(stream: TextIO) -> bool:
    """Whether a progress line belongs on `stream`: a terminal, outside CI."""
    return stream.isatty() and not os.environ.get("CI")


class Progress:
    """One command's progress line on `stream` (stderr: stdout may be the command's output)."""

    def __init__(
        self,
        command: str,
        stream: TextIO,
        *,
        enabled: bool,
        clock: Callable[[], float] | None = None,
        after_s: float = 2.0,
        every_s: float = 0.5,
    ) -> None:
        self.command = command
        self.stream = stream
        self.enabled = enabled
        self.clock = clock or time.monotonic
        self.after_s = after_s
        self.every_s = every_s
        self.started = self.clock()
        self.last_drawn: float | None = None

    def events(self, events: Iterable[T]) -> Iterator[T]:
        """`events` as they are, counted on the line."""
        for count, event in enumerate(events, start=1):
            if count % EVENTS_PER_CHECK == 0:
                self.show(f"{count:,} events read")
            yield event

    def clients(self, done: int, total: int) -> None:
        """Where the grading is: `done` of `total` clients."""
        if done % EVENTS_PER_CHECK == 0 or done == total:
            self.show(f"{done:,} of {total:,} clients graded")

    def show(self, text: str) -> None:
        """Draw `text` if the run is old enough and the line was not drawn just now."""
        if not self.enabled:
            return
        now = self.clock()
        if now - self.started < self.after_s:
            return
        if self.last_drawn is not None and now - self.last_drawn < self.every_s:
            return
        self.stream.write(f"\r{self.command}: {text}\x1b[K")
        self.stream.flush()
        self.last_drawn = now

    def finish(self) -> None:
        """Wipe the line, if one was drawn, so the command's own output starts clean."""
        if self.last_drawn is not None:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.last_drawn = None
