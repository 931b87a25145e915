"""Where wswatch's events go: readable lines on mitmproxy's terminal, JSON lines in a file.

Explicit structlog configuration (no global `structlog.configure`, so a user's own structlog setup
is left alone): two wrapped loggers share the same small processors, each ends in its renderer.
- Terminal: one line per event through Python logging, logger "wswatch", so mitmproxy's own
  log handler prints it in order with its output (and mitmweb shows it in its event log).
- File (`wswatch_log`): one JSON object per line, appended and flushed per event, so a crash
  loses nothing.
Every event passes `redact_event` before either renderer sees it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import IO, Any

import structlog
from mitmproxy import ctx, exceptions
from structlog.typing import EventDict, WrappedLogger

from . import events
from .option_errors import logs_option_errors_until_running
from .redaction import SECRETS_KEY, redact_event

LOGGER_NAME = "wswatch"

#: Keys every JSON line starts with, in this order.
LEADING_KEYS = ("event", "schema", "ts", "flow_id")

#: Keys shown in the terminal headline rather than as key=value pairs.
_HEADLINE_KEYS = {
    "event",
    "schema",
    "ts",
    "flow_id",
    "outcome",
    "status",
    "reason",
    "url",
    "hint",
    "close_code",
    "close_reason",
    "lines",
}


def put_leading_keys_first(
    _logger: WrappedLogger, _method: str, event_dict: EventDict
) -> EventDict:
    """structlog processor: the contract's common keys first, for people reading the file."""
    ordered = {key: event_dict[key] for key in LEADING_KEYS if key in event_dict}
    ordered.update((key, value) for key, value in event_dict.items() if key not in ordered)
    return ordered


def _headline(event_dict: EventDict) -> str:
    name = event_dict.get("event", "")
    if name == events.HANDSHAKE:
        status = event_dict.get("status")
        answer = (
            f"{status} {event_dict.get('reason') or ''}".strip()
            if status
            else event_dict.get("failure") or ""
        )
        outcome = str(event_dict.get("outcome", "")).upper()
        return f"{name} {outcome} {answer} {event_dict.get('url', '')}"
    if name == events.CLOSED:
        code = event_dict.get("close_code")
        reason = event_dict.get("close_reason")
        shown_code = code if code is not None else "-"
        shown_reason = f" {reason!r}" if reason else ""
        return f"{name} {shown_code}{shown_reason} {event_dict.get('url', '')}"
    return str(name)


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return repr(value) if (" " in value or not value) else value
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_shown(v)}" for k, v in value.items()) + "}"
    return str(value)


def render_console_line(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> str:
    """structlog renderer: a headline, the non-empty fields as key=value, the hint below."""
    details = " ".join(
        f"{key}={_shown(value)}"
        for key, value in event_dict.items()
        if key not in _HEADLINE_KEYS
        and value is not None
        and value is not False
        and value not in ("", [], {})
    )
    line = f"[wswatch] {_headline(event_dict)}"
    if details:
        line += f"  {details}"
    if event_dict.get("hint"):
        line += f"\n           hint: {event_dict['hint']}"
    for extra in event_dict.get("lines") or ():
        line += f"\n           {extra}"
    return line


class JsonLinesFile:
    """A structlog logger writing one rendered line per call, flushed at once."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def msg(self, line: str) -> None:
        self._stream.write(line + "\n")
        self._stream.flush()

    info = warning = error = msg

    def close(self) -> None:
        self._stream.close()


@logs_option_errors_until_running
class EventLog:
    """Addon: owns the event outputs; other wswatch addons call `emit`."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._file: JsonLinesFile | None = None
        self._json: Any = None
        self._console: Any = None
        self._console_enabled = True

    def load(self, loader: Any) -> None:
        loader.add_option(
            "wswatch_log",
            str,
            "",
            "Append wswatch events as JSON lines (schema 1) to this file; empty: no file.",
        )
        loader.add_option(
            "wswatch_console",
            bool,
            True,
            "Print one readable line per wswatch event on mitmproxy's terminal and event log.",
        )
        self._console = structlog.wrap_logger(
            logging.getLogger(LOGGER_NAME),
            processors=[redact_event, render_console_line],
        )

    def configure(self, updated: set[str]) -> None:
        if "wswatch_console" in updated:
            self._console_enabled = ctx.options.wswatch_console
        if "wswatch_log" in updated:
            self._close_file()
            path = ctx.options.wswatch_log
            if path:
                try:
                    stream = open(path, "a", encoding="utf-8")  # noqa: SIM115 - held for the session
                except OSError as error:
                    raise exceptions.OptionsError(
                        f"Cannot open wswatch_log file {path}: {error.strerror or error}"
                    ) from error
                self._file = JsonLinesFile(stream)
                self._json = structlog.wrap_logger(
                    self._file,
                    processors=[
                        redact_event,
                        put_leading_keys_first,
                        structlog.processors.JSONRenderer(ensure_ascii=False, default=str),
                    ],
                )

    def emit(
        self,
        event: str,
        fields: dict[str, Any],
        *,
        flow_id: str | None = None,
        secrets: frozenset[str] = frozenset(),
        level: int = logging.INFO,
        console_lines: tuple[str, ...] = (),
    ) -> None:
        """Write one event to every enabled output, scrubbed of `secrets`."""
        common = {
            "schema": events.SCHEMA,
            "ts": events.utc_timestamp(self._clock()),
            "flow_id": flow_id,
            SECRETS_KEY: secrets,
        }
        if self._json is not None:
            self._json.msg(event, **common, **fields)
        if self._console_enabled and self._console is not None:
            method = logging.getLevelName(level).lower()
            getattr(self._console, method)(event, **common, **fields, lines=list(console_lines))

    def _close_file(self) -> None:
        if self._file is not None:
            self._file.close()
        self._file = None
        self._json = None

    def done(self) -> None:
        self._close_file()
