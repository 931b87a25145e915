"""When each recorded server message is due on a replayed connection. Pure: the caller passes
the clock's readings and does the I/O (`server.py`).

The rules this file keeps:
- Gating (`Gate`): by default a recorded server message waits until the live client has sent as
  many messages (`bytes`: as many binary payload bytes, and as many text messages) as the
  recording's client had before it; from
  the moment the live client got there, the message keeps its recorded delay from the
  recording's matching moment. `none` plays the server's side on its own clock, from the open.
- Timing: delays are divided by `speed` (2 = twice as fast; `math.inf` = no delays).
- The recorded end is gated and timed like a message, then returned once (`Finish`); a tape
  with no end line (the recording was cut) finishes as a drop.
- Constant memory in the tape's length: lines are read one at a time from an iterator (the file),
  and only the live client's progress since the last gate is kept.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from .format import TapeEnd, TapeMessage


class Gate(enum.StrEnum):
    """The values of `wswatch_replay_gate`."""

    #: Wait for as many client messages as the recording had before each server message.
    MESSAGES = "messages"
    #: Wait for as many binary payload bytes (streaming uploads, chunked differently each run)
    #: and as many text messages (the control messages around them, whose length may differ).
    BYTES = "bytes"
    #: No waiting on the client: the server's side on its own recorded clock.
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Send:
    """Send this recorded server message now."""

    message: TapeMessage


@dataclass(frozen=True, slots=True)
class Wait:
    """Nothing is due before `until` (epoch seconds), or, when None, before the client sends
    more."""

    until: float | None


@dataclass(frozen=True, slots=True)
class Finish:
    """The server's side is played: end as recorded (`end`), or drop when `end` is None."""

    end: TapeEnd | None


Action = Send | Wait | Finish


#: A client's progress as a gate compares it: (messages, 0) for `messages`; (text messages,
#: binary payload bytes) for `bytes`. A gate is met when both reach the recording's.
Progress = tuple[int, int]
NO_PROGRESS: Progress = (0, 0)


@dataclass(slots=True)
class _Counts:
    """What a client (live or recorded) has sent so far."""

    messages: int = 0
    texts: int = 0
    binary_bytes: int = 0

    def count(self, size: int, is_text: bool) -> None:
        self.messages += 1
        if is_text:
            self.texts += 1
        else:
            self.binary_bytes += size

    def progress(self, gate: Gate) -> Progress:
        if gate is Gate.BYTES:
            return (self.texts, self.binary_bytes)
        return (self.messages, 0)


@dataclass(slots=True)
class _Due:
    """The next recorded server message (or the end), and what it waits for."""

    line: TapeMessage | TapeEnd | None  # None: the tape has no end line
    #: The recording's client progress before it (`Progress`).
    gate: Progress
    #: When, in the recording, the client reached `gate` (ms since the open).
    gate_t_ms: float
    #: When the live client reached `gate` (epoch seconds); None while it has not.
    met_at: float | None = None


class TapePlayer:
    def __init__(
        self,
        lines: Iterator[TapeMessage | TapeEnd],
        *,
        gate: Gate,
        speed: float,
        opened_at: float,
    ) -> None:
        self._lines = lines
        self._gate = gate
        self._speed = speed
        self._opened_at = opened_at
        # The recording's client progress as the lines are read.
        self._recorded = _Counts()
        self._recorded_progress_t = 0.0
        # The live client's progress, and its steps not yet matched to a gate: (progress, when).
        self.live = _Counts()
        self._live_steps: deque[tuple[Progress, float]] = deque()
        self._due: _Due | None = None
        self._finished = False

    def client_sent(self, size: int, now: float, *, is_text: bool = False) -> None:
        """The live client sent a data message of `size` payload bytes at `now`."""
        self.live.count(size, is_text)
        if self._gate is not Gate.NONE and not self._finished:
            self._live_steps.append((self.live.progress(self._gate), now))

    def next_action(self, now: float) -> Action:
        """What to do at `now`; call again after acting, after a wait, and after the client
        sends."""
        if self._finished:
            return Wait(None)
        due = self._due or self._read_next()
        self._due = due
        if due.met_at is None:
            due.met_at = self._met_at(due.gate)
            if due.met_at is None:
                return Wait(None)
        line = due.line
        t_ms = line.t_ms if line is not None and line.t_ms is not None else due.gate_t_ms
        when = due.met_at + max(t_ms - due.gate_t_ms, 0.0) / 1000 / self._speed
        if when > now:
            return Wait(when)
        self._due = None
        if isinstance(line, TapeMessage):
            return Send(line)
        self._finished = True
        return Finish(line)

    def _met_at(self, gate: Progress) -> float | None:
        """When the live client first reached `gate`; None if it has not yet. Steps that do not
        reach it are dropped: later gates are never lower in either count."""
        if self._gate is Gate.NONE or gate == NO_PROGRESS:
            return self._opened_at
        while self._live_steps:
            progress, when = self._live_steps[0]
            if progress[0] >= gate[0] and progress[1] >= gate[1]:
                return when
            self._live_steps.popleft()
        return None

    def _read_next(self) -> _Due:
        """Read lines up to the next server message or the end, counting the client's."""
        line: TapeMessage | TapeEnd | None = None
        for line in self._lines:
            if isinstance(line, TapeMessage) and line.from_client:
                self._recorded.count(line.size, line.is_text)
                self._recorded_progress_t = line.t_ms
                continue
            break
        else:
            line = None  # the tape has no end line
        gate = NO_PROGRESS if self._gate is Gate.NONE else self._recorded.progress(self._gate)
        return _Due(line, gate, 0.0 if gate == NO_PROGRESS else self._recorded_progress_t)


class ClientExpectations:
    """The recording's client messages, one per live client message, for `client_check`: read
    from their own pass over the tape, so they need not be held."""

    def __init__(self, lines: Iterator[TapeMessage | TapeEnd]) -> None:
        self._lines = lines
        self.count = 0

    def next(self) -> TapeMessage | None:
        """The recorded client message the live client's next one stands for; None past the
        recording's last."""
        for line in self._lines:
            if isinstance(line, TapeMessage) and line.from_client:
                self.count += 1
                return line
        return None
