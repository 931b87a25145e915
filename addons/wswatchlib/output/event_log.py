"""Where wswatch's events go: readable lines on mitmproxy's terminal, JSON lines in a file.

structlog processors, called directly (no global `structlog.configure`, so a user's own structlog
setup is left alone, and no bound logger assembling each call): every event is prepared once, then
each output renders it with its own renderer.
- Terminal: one line per event through Python logging, logger "wswatch", so mitmproxy's own
  log handler prints it in order with its output (and mitmweb shows it in its event log).
- File (`wswatch_log`): one JSON object per line, appended with one write per event, so a crash
  loses at most the event in flight; lines the file refuses are held and retried (`JsonLinesFile`).
Every event passes `redact_event`, `scrub_peer_text`, then `encodable_event` (`PREPARE`), then
the fleet stamp (`proxy_id`, `run_id`, `seq`: fleet/identity.py), once, before either renderer
or any listener (`add_listener`: the session summary) sees it, and `emit` never raises: a hook
that reports an event still redacts its flow and relays.
"""

from __future__ import annotations

import errno
import itertools
import json
import logging
import os
import socket
import time
from collections import deque
from collections.abc import Callable
from secrets import randbits
from typing import Any, cast

from mitmproxy import ctx, exceptions
from mitmproxy.addons import termlog
from structlog.typing import EventDict, WrappedLogger

from .. import events
from ..fleet.identity import FLEET_KEYS, FleetStamp, default_proxy_id, new_run_id
from ..fleet.listen_port import proxy_listen_port
from ..options.errors import logs_option_errors_until_running
from ..redaction.payloads import scrub_peer_text
from ..redaction.redactor import SECRETS_KEY, redact_event
from ..text import encodable_event, terminal_safe

LOGGER_NAME = "wswatch"

#: wswatch's own notices (write failures), on the same logger as its events.
logger = logging.getLogger(LOGGER_NAME)

#: structlog processors every event passes once, before any output or listener sees it.
PREPARE = (redact_event, scrub_peer_text, encodable_event)

#: Keys every JSON line starts with, in this order.
LEADING_KEYS = ("event", "schema", "ts", "flow_id")

#: Keys not printed as key=value pairs: shown in the terminal headline, or (the fleet fields)
#: not on the terminal at all.
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
    *FLEET_KEYS,  # for pipelines, not for people
}

#: Per event, keys shown otherwise: a verdict's in its headline and one line per finding, the
#: summary's findings in its table.
_SHOWN_OTHERWISE = {
    events.CLIENT_VERDICT: frozenset({"client_id", "worst", "findings"}),
    events.SUMMARY: frozenset({"findings"}),
}


#: Counts shown only when one is not zero: most connections have none, and a line should not
#: grow for what did not happen.
_SHOWN_WHEN_COUNTED = frozenset({"injected_messages"})


def _counted(value: Any) -> bool:
    return not isinstance(value, dict) or any(value.values())


def put_leading_keys_first(
    _logger: WrappedLogger, _method: str, event_dict: EventDict
) -> EventDict:
    """structlog processor: the contract's common keys first, for people reading the file."""
    if tuple(itertools.islice(event_dict, len(LEADING_KEYS))) == LEADING_KEYS:
        return event_dict  # as `emit` builds every event
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
    if name == events.CLIENT_VERDICT:
        worst = str(event_dict.get("worst", "")).upper()
        return f"{name} {worst} {event_dict.get('client_id', '')}"
    return str(name)


def _finding_lines(event_dict: EventDict) -> list[str]:
    """A verdict's findings, one line each: severity, rule, summary (the evidence is in JSON)."""
    if event_dict.get("event") != events.CLIENT_VERDICT:
        return []
    return [
        f"{finding.get('severity', '')!s:<7}  {finding.get('rule')}: {finding.get('summary')}"
        for finding in event_dict.get("findings") or ()
    ]


def _shown(value: Any) -> str:
    if isinstance(value, str):
        if " " not in value and value:
            return value
        # Quoted as Python would, without doubling the backslashes of escaped bytes (\xff).
        quote = '"' if "'" in value and '"' not in value else "'"
        return quote + value + quote
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_shown(v)}" for k, v in value.items()) + "}"
    return str(value)


#: Per event name, the keys not printed as key=value pairs (`_HEADLINE_KEYS` and
#: `_SHOWN_OTHERWISE`), joined once.
_NOT_DETAILS: dict[str, frozenset[str]] = {}


def _not_details(name: str) -> frozenset[str]:
    hidden = _NOT_DETAILS.get(name)
    if hidden is None:
        hidden = _NOT_DETAILS[name] = frozenset(_HEADLINE_KEYS) | _SHOWN_OTHERWISE.get(
            name, frozenset()
        )
    return hidden


#: The types whose empty values (None, False, "", [], {}) are not shown.
_EMPTY_TYPES = frozenset({type(None), bool, str, list, dict})


def _worth_showing(key: str, value: Any) -> bool:
    """Not empty (None, False, "", [] and {} are; a zero is shown), and a count kept only
    when counted."""
    if not value and type(value) in _EMPTY_TYPES:
        return False
    return key not in _SHOWN_WHEN_COUNTED or _counted(value)


def render_console_line(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> str:
    """structlog renderer: a headline, the non-empty fields as key=value, the hint below."""
    hidden = _not_details(event_dict.get("event", ""))
    details = " ".join(
        f"{key}={_shown(value)}"
        for key, value in event_dict.items()
        if key not in hidden and _worth_showing(key, value)
    )
    line = terminal_safe(f"[wswatch] {_headline(event_dict)}")
    if details:
        line += f"  {terminal_safe(details)}"
    if event_dict.get("hint"):
        line += f"\n           hint: {terminal_safe(str(event_dict['hint']))}"
    for extra in [*_finding_lines(event_dict), *(event_dict.get("lines") or ())]:
        line += f"\n           {terminal_safe(str(extra))}"
    return line


def render_json_line(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> str:
    """structlog renderer: one JSON object, the contract's common keys first."""
    ordered = put_leading_keys_first(_logger, _method, event_dict)
    return json.dumps(ordered, ensure_ascii=False, default=str)


class TerminalLine:
    """What mitmproxy's terminal formatter reads of a log record (`log.MitmFormatter`: the
    message, its level, its time), for a line wswatch prints itself: a `logging.LogRecord`
    also notes the thread, the process and the caller, which a terminal line never shows."""

    __slots__ = ("created", "levelno", "msecs", "msg")
    args = None
    exc_info = None
    exc_text = None
    stack_info = None

    def __init__(self, msg: str, levelno: int) -> None:
        self.msg = msg
        self.levelno = levelno
        self.created = time.time()
        self.msecs = int((self.created - int(self.created)) * 1000) + 0.0

    def getMessage(self) -> str:
        return self.msg


class JsonLinesFile:
    """A structlog logger appending one line per call to a file, one write per line (no buffer
    to flush, so a crash loses at most the event in flight).

    A write the file refuses (disk full, `/dev/full`, a pipe whose reader lags) is not lost: the
    line is held, up to `max_held` lines, and every later call tries the held lines first, in
    order.
    """

    def __init__(self, path: str, max_held: int = 10_000) -> None:
        self.path = path
        # Non-blocking: a pipe to a slow reader makes writes fail (held, retried) instead of
        # stalling the proxy's event loop; for a regular file the flag changes nothing.
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK, 0o644)
        self._raw = open(descriptor, "ab", buffering=0)  # noqa: SIM115 - held for the session
        self._held: deque[bytes] = deque()
        self.max_held = max_held
        #: Lines given up on because more than `max_held` were waiting.
        self.lost = 0
        #: Why the last write failed; None while the file takes every line.
        self.failure: OSError | None = None

    def msg(self, line: str) -> None:
        if len(self._held) >= self.max_held:
            self._held.popleft()
            self.lost += 1
        self._held.append(line.encode("utf-8", "backslashreplace") + b"\n")
        self.write_held()

    info = warning = error = msg

    def write_held(self) -> None:
        """Write the held lines in order; stop at the first refusal and remember it."""
        while self._held:
            data = self._held[0]
            try:
                written = self._raw.write(data)
            except OSError as error:
                self.failure = error
                return
            if written is None:  # a non-blocking pipe that is full
                self.failure = BlockingIOError(errno.EAGAIN, "the reader is not keeping up")
                return
            if written < len(data):  # a partial write: the rest of the line goes next
                self._held[0] = data[written:]
                continue
            self._held.popleft()
        self.failure = None

    @property
    def held(self) -> int:
        return len(self._held)

    def close(self) -> None:
        self._raw.close()


@logs_option_errors_until_running
class EventLog:
    """Addon: owns the event outputs; other wswatch addons call `emit`, which never raises."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        #: Numbers this run's events; a new EventLog (a start, a script reload) is a new run.
        self.stamp = FleetStamp(
            new_run_id(int(time.time() * 1000), randbits(74)),
            lambda: default_proxy_id(socket.gethostname(), proxy_listen_port()),
        )
        self._file: JsonLinesFile | None = None
        self._console: logging.Logger | None = None
        #: mitmdump's terminal, written to straight (see `running`); None: through `_console`.
        self._terminal: termlog.TermLogHandler | None = None
        self._console_enabled = True
        self._file_failing = False
        self._listeners: list[Callable[[EventDict], None]] = []

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
        loader.add_option(
            "wswatch_proxy_id",
            str,
            "",
            "The proxy_id every event carries; empty: HOST:PORT, this machine's host name and "
            "the port of the proxy's first listening address.",
        )
        self._console = logging.getLogger(LOGGER_NAME)

    def running(self) -> None:
        """Under mitmdump (a terminal log and no event store), write event lines straight to
        the terminal, as mitmproxy's dumper prints its flow lines: formatted by the terminal
        log's own formatter (same timestamp and colours) and printed to its stream, filtered
        by its verbosity, in order with mitmproxy's own lines, but neither through mitmproxy's
        log, which hands every line to every addon (`add_log`), nor through a log record.
        mitmweb and mitmproxy's console keep an event store: there the lines go through the
        log, so their event pane shows them. wswatch's error lines always go through the log."""
        addons = ctx.master.addons
        handler = getattr(addons.get("termlog"), "logger", None)
        if isinstance(handler, termlog.TermLogHandler) and addons.get("eventstore") is None:
            self._terminal = handler

    def configure(self, updated: set[str]) -> None:
        if "wswatch_console" in updated:
            self._console_enabled = ctx.options.wswatch_console
        if "wswatch_proxy_id" in updated:
            self.stamp.override = ctx.options.wswatch_proxy_id
        if "wswatch_log" in updated:
            self._close_file()
            path = ctx.options.wswatch_log
            if path:
                try:
                    self._file = JsonLinesFile(path)
                except OSError as error:
                    raise exceptions.OptionsError(
                        f"Cannot open wswatch_log file {path}: {error.strerror or error}"
                    ) from error

    def emit(
        self,
        event: str,
        fields: dict[str, Any],
        *,
        flow_id: str | None = None,
        secrets: frozenset[str] = frozenset(),
        level: int = logging.INFO,
        console_lines: tuple[str, ...] = (),
    ) -> bool:
        """Write one event to every enabled output, scrubbed of `secrets`.

        Never raises: a hook that reports must go on (to redact its flow, to relay). Returns
        whether the event reached an output; while the file refuses lines, events are printed on
        the terminal even with `wswatch_console` off, so none is lost.
        """
        try:
            written_event = self._prepared(
                {
                    "event": event,
                    "schema": events.SCHEMA,
                    "ts": events.utc_timestamp(self._clock()),
                    "flow_id": flow_id,
                    SECRETS_KEY: secrets,
                    **fields,
                }
            )
        except Exception as error:  # a bug in redaction must not stop the hook
            logger.error(f"wswatch: could not prepare event {event}: {error!r}")
            return False
        for listener in self._listeners:
            try:
                listener(written_event)
            except Exception as error:  # a listener's bug must not cost the outputs the event
                logger.error(f"wswatch: {listener!r} failed on event {event}: {error!r}")
        written = False
        if self._file is not None:
            try:
                self._file.msg(render_json_line(None, "", written_event))
            except Exception as error:  # a value no renderer takes must not stop the hook
                logger.error(f"wswatch: could not write event {event}: {error!r}")
            else:
                written = self._file.failure is None
                self._notice_file_state(self._file)
        if self._console is not None and (self._console_enabled or self._file_failing):
            try:
                shown = {**written_event, "lines": console_lines}
                line = render_console_line(None, "", shown)
                terminal = self._terminal
                if terminal is not None:
                    if level >= terminal.level:  # termlog_verbosity, as the log applies it
                        record = cast(logging.LogRecord, TerminalLine(line, level))
                        print(terminal.format(record), file=terminal.file)
                else:
                    self._console.log(level, line)
                written = True
            except Exception as error:  # as above
                logger.error(f"wswatch: could not print event {event}: {error!r}")
        return written

    def _prepared(self, event_dict: EventDict) -> EventDict:
        """Scrubbed of its secrets, made encodable and numbered, once, for every output and
        listener; numbered last, so an event that cannot be prepared takes no `seq`."""
        for processor in (*PREPARE, self.stamp):
            event_dict = processor(None, "", event_dict)
        return event_dict

    def add_listener(self, listener: Callable[[EventDict], None]) -> None:
        """Have `listener` see every event as written (redacted, encodable), in order."""
        self._listeners.append(listener)

    def _notice_file_state(self, file: JsonLinesFile) -> None:
        """Say once when the file starts refusing lines, and once when it takes them again."""
        if file.failure is not None and not self._file_failing:
            self._file_failing = True
            logger.warning(
                f"wswatch: cannot write wswatch_log {file.path}: "
                f"{file.failure.strerror or file.failure}; events are printed here and kept "
                f"(up to {file.max_held}) to be written when the file takes them again"
            )
        elif file.failure is None and self._file_failing:
            self._file_failing = False
            lost = f", {file.lost} lost (more than {file.max_held} waited)" if file.lost else ""
            logger.warning(f"wswatch: writing wswatch_log {file.path} again{lost}")

    def _close_file(self) -> None:
        file = self._file
        if file is not None:
            file.write_held()
            if file.held or file.lost:
                logger.warning(
                    f"wswatch: {file.held + file.lost} events could not be written to "
                    f"wswatch_log {file.path}; they were printed on the terminal"
                )
            file.close()
        self._file = None
        self._file_failing = False

    def done(self) -> None:
        self._close_file()
        self._terminal = None
