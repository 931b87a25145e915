"""Scripted streams: how one connection runs a `script` action's steps (steps.py).

Pure, sans-IO in the way of wsproto's `Connection`: a `ScriptRun` is told what happened (the
script started, a peer's message arrived, time passed on the clock it was given) and answers
with what to do (`SendOut`, `SwallowOut`, `CloseOut`, `DropOut`); the connection faults addon
does it. So every wait, count and match is unit-tested with a fake clock, and the addon only
moves bytes.

Steps run in order, once per connection. A `wait` blocks until its condition holds; every other
step acts at once, then the next one runs. A script whose wait is never satisfied ends with the
connection. `close` and `drop` end the script (validated to be last).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .directions import Toward
from .matching import is_json, parse_json
from .steps import (
    BodyKind,
    CloseStep,
    DropStep,
    Peer,
    Send,
    Step,
    Swallow,
    WaitMessage,
    WaitMessages,
    WaitSeconds,
)
from .templates import Template, TemplateFacts, render, render_json


@dataclass(frozen=True, slots=True)
class SendOut:
    """Send `content` to `to` now; `step` is the 1-based index of the step (for the log)."""

    step: int
    to: Peer
    content: bytes
    is_text: bool


@dataclass(frozen=True, slots=True)
class SwallowOut:
    """Do not forward the message being handled."""

    step: int


@dataclass(frozen=True, slots=True)
class CloseOut:
    step: int
    code: int
    reason: str
    toward: Toward


@dataclass(frozen=True, slots=True)
class DropOut:
    step: int


Effect = SendOut | SwallowOut | CloseOut | DropOut


@dataclass(frozen=True, slots=True)
class HandshakeFacts:
    """The upgrade request's headers and query as shown (secrets already redacted)."""

    headers: dict[str, str]
    query: dict[str, str]


class ScriptRun:
    """One connection's progress through a script (see the module docstring)."""

    def __init__(
        self,
        steps: tuple[Step, ...],
        handshake: HandshakeFacts,
        clock: Callable[[], float],
        new_uuid: Callable[[], str],
        now_ms: Callable[[], int],
    ) -> None:
        self._steps = steps
        self._handshake = handshake
        self._clock = clock
        self._new_uuid = new_uuid
        self._now_ms = now_ms
        self._position = 0
        self._counted = 0
        self._deadline: float | None = None
        self._message_text = ""
        self._message_json: Any = None
        self._has_json = False
        self.finished = not steps

    @property
    def deadline(self) -> float | None:
        """When the current `wait: {s: ...}` ends, on the run's clock; None otherwise."""
        return self._deadline

    @property
    def _current(self) -> Step | None:
        return self._steps[self._position] if self._position < len(self._steps) else None

    def start(self) -> list[Effect]:
        """Run the steps up to the first wait that blocks."""
        return self._advance(None)

    def message(self, from_client: bool, content: bytes, is_text: bool) -> list[Effect]:
        """A peer's message is being relayed: what the script does about it."""
        step = self._current
        if self.finished or step is None:
            return []
        if isinstance(step, WaitMessages):
            if not step.side.includes(from_client):
                return []
            self._counted += 1
            if self._counted < step.count:
                return []
        elif isinstance(step, WaitMessage):
            if not step.side.includes(from_client) or not step.match.matches(content, is_text):
                return []
        else:
            return []
        self._remember(content, is_text)
        return self._advance_past_wait(content)

    def tick(self) -> list[Effect]:
        """Time passed: end a `wait: {s: ...}` whose deadline is reached."""
        if self.finished or self._deadline is None or self._clock() < self._deadline:
            return []
        return self._advance_past_wait(None)

    def _remember(self, content: bytes, is_text: bool) -> None:
        self._message_text = content.decode("utf-8", "replace") if is_text else ""
        document = parse_json(content) if is_text else None
        self._has_json = is_text and is_json(document)
        self._message_json = document if self._has_json else None

    def _advance_past_wait(self, message: bytes | None) -> list[Effect]:
        self._position += 1
        self._deadline = None
        return self._advance(message)

    def _advance(self, message: bytes | None) -> list[Effect]:
        """Act on steps until one waits; `message` is the content being relayed, if any."""
        effects: list[Effect] = []
        while (step := self._current) is not None:
            index = self._position + 1
            if isinstance(step, WaitSeconds):  # s > 0: the loader refuses a zero wait
                self._deadline = self._clock() + step.s
                return effects
            if isinstance(step, WaitMessages | WaitMessage):
                self._counted = 0
                return effects
            if isinstance(step, Swallow):
                if message is not None:
                    effects.append(SwallowOut(index))
            elif isinstance(step, Send):
                effects.append(self._send(index, step))
            elif isinstance(step, CloseStep):
                effects.append(CloseOut(index, step.code, step.reason, step.toward))
            elif isinstance(step, DropStep):
                effects.append(DropOut(index))
            self._position += 1
        self.finished = True
        return effects

    def _send(self, index: int, step: Send) -> SendOut:
        facts = TemplateFacts(
            message_json=self._message_json,
            has_json=self._has_json,
            message_text=self._message_text,
            headers=self._handshake.headers,
            query=self._handshake.query,
            new_uuid=self._new_uuid,
            now_ms=self._now_ms,
        )
        if step.kind is BodyKind.BINARY_B64:
            return SendOut(index, step.to, bytes(step.body), is_text=False)
        if step.kind is BodyKind.JSON:
            document = render_json(step.body, facts)
            text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
            return SendOut(index, step.to, text.encode(), is_text=True)
        template: Template = step.body
        return SendOut(index, step.to, render(template, facts).encode(), is_text=True)
