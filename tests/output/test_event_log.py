"""Event log: the terminal line renderer, key order, and JSON lines written by the addon."""

from __future__ import annotations

import io
import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest
from mitmproxy import exceptions
from mitmproxy.addons.termlog import TermLog
from mitmproxy.test import taddons
from wswatchlib.output.event_log import (
    LEADING_KEYS,
    LOGGER_NAME,
    EventLog,
    put_leading_keys_first,
    render_console_line,
)
from wswatchlib.redaction.redactor import SECRETS_KEY

INDENT = "\n           "


def test_put_leading_keys_first() -> None:
    """event, schema, ts and flow_id come first, in that order; the rest keep their order."""
    event = {
        "url": "u",
        "flow_id": "f",
        "status": 101,
        "event": "ws.handshake",
        "ts": "t",
        "schema": 1,
    }
    ordered = put_leading_keys_first(None, "info", event)
    assert list(ordered) == ["event", "schema", "ts", "flow_id", "url", "status"]
    assert ordered == event


def test_put_leading_keys_first_with_missing_keys() -> None:
    """Leading keys that are absent are simply skipped."""
    ordered = put_leading_keys_first(None, "info", {"b": 1, "event": "x", "a": 2})
    assert list(ordered) == ["event", "b", "a"]


def test_leading_keys_of_the_contract() -> None:
    """The JSON event contract's common keys."""
    assert LEADING_KEYS == ("event", "schema", "ts", "flow_id")


CONSOLE_CASES = [
    pytest.param(
        {
            "event": "ws.handshake",
            "schema": 1,
            "ts": "t",
            "flow_id": "f",
            "outcome": "rejected",
            "status": 401,
            "reason": "Unauthorized",
            "url": "wss://api.deepgram.com/v1/listen",
            "vendor": "deepgram",
            "error": "Invalid credentials.",
            "error_headers": {"dg-error": "Invalid credentials."},
            "problems": [],
            "retry_after": None,
            "injected": False,
            "body_excerpt": "",
            "hint": "Check the key.",
            "lines": [],
        },
        "[wswatch] ws.handshake REJECTED 401 Unauthorized wss://api.deepgram.com/v1/listen"
        "  vendor=deepgram error='Invalid credentials.'"
        " error_headers={dg-error: 'Invalid credentials.'}"
        f"{INDENT}hint: Check the key.",
        id="handshake-rejected",
    ),
    pytest.param(
        {
            "event": "ws.handshake",
            "outcome": "failed",
            "status": None,
            "reason": "connection refused",
            "failure": "refused",
            "url": "ws://127.0.0.1:9/",
            "hint": None,
        },
        "[wswatch] ws.handshake FAILED refused ws://127.0.0.1:9/  failure=refused",
        id="handshake-failed",
    ),
    pytest.param(
        {
            "event": "ws.handshake",
            "outcome": "accepted",
            "status": 101,
            "reason": None,
            "url": "wss://h/",
            "problems": ["x"],
            "hint": None,
        },
        "[wswatch] ws.handshake ACCEPTED 101 wss://h/  problems=['x']",
        id="handshake-no-reason",
    ),
    pytest.param(
        {
            "event": "ws.closed",
            "close_code": 1011,
            "close_reason": "NET-0001",
            "url": "wss://h/",
            "clean": True,
            "messages": {"client": 2, "server": 3},
            "closed_by": "server",
            "hint": "Send KeepAlive.",
        },
        "[wswatch] ws.closed 1011 'NET-0001' wss://h/  clean=True messages={client: 2, server: 3}"
        f" closed_by=server{INDENT}hint: Send KeepAlive.",
        id="closed-with-reason",
    ),
    pytest.param(
        {
            "event": "ws.closed",
            "close_code": None,
            "close_reason": None,
            "url": "wss://h/",
            "clean": False,
        },
        "[wswatch] ws.closed - wss://h/",
        id="closed-without-code",
    ),
    pytest.param(
        {
            "event": "ws.closed",
            "close_code": 1000,
            "close_reason": None,
            "url": "wss://h/",
            "injected_messages": {"to_client": 0, "to_server": 0},
        },
        "[wswatch] ws.closed 1000 wss://h/",
        id="closed-nothing-injected",
    ),
    pytest.param(
        {
            "event": "ws.closed",
            "close_code": 1011,
            "close_reason": None,
            "url": "wss://h/",
            "injected_messages": {"to_client": 1, "to_server": 0},
        },
        "[wswatch] ws.closed 1011 wss://h/  injected_messages={to_client: 1, to_server: 0}",
        id="closed-after-an-injected-message",
    ),
    pytest.param(
        {"event": "session.summary", "attempts": 3, "lines": ["host  accepted", "h     3"]},
        f"[wswatch] session.summary  attempts=3{INDENT}host  accepted{INDENT}h     3",
        id="other-event-with-lines",
    ),
]


@pytest.mark.parametrize(("event", "line"), CONSOLE_CASES)
def test_render_console_line(event: dict[str, Any], line: str) -> None:
    """A headline per event kind, non-empty fields as key=value, the hint and extra lines below."""
    assert render_console_line(None, "info", event) == line


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    """Where the event log file goes."""
    return tmp_path / "events.jsonl"


def lines_of(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a JSON-lines file, in order."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


async def test_emit_writes_json_lines(log_path: Path) -> None:
    """Two emits write two flushed JSON lines, common keys first, scrubbed, without _secrets."""
    event_log = EventLog(clock=lambda: 1.5)
    with taddons.context(event_log) as tctx:
        tctx.configure(
            event_log, wswatch_log=str(log_path), wswatch_console=False, wswatch_proxy_id="px"
        )
        event_log.emit(
            "ws.handshake",
            {"url": "wss://h/p?token=[redacted]", "error": "bad key dgkey123", "status": 401},
            flow_id="flow-1",
            secrets=frozenset({"dgkey123"}),
        )
        event_log.emit("ws.closed", {"close_code": 1000}, flow_id="flow-1")
        # Read while the file is still open: each event is flushed as it is written.
        written = log_path.read_text(encoding="utf-8")
        raw_lines = written.splitlines()
        await tctx.master.done()
    assert written.endswith("\n") and len(raw_lines) == 2
    first, second = (json.loads(line) for line in raw_lines)
    assert list(first) == [
        *["event", "schema", "ts", "flow_id", "url", "error", "status"],
        *["proxy_id", "run_id", "seq"],
    ]
    fleet = {"proxy_id": "px", "run_id": event_log.stamp.run_id}
    assert first == {
        "event": "ws.handshake",
        "schema": 1,
        "ts": "1970-01-01T00:00:01.500Z",
        "flow_id": "flow-1",
        "url": "wss://h/p?token=[redacted]",
        "error": "bad key [redacted]",
        "status": 401,
        **fleet,
        "seq": 1,
    }
    assert SECRETS_KEY not in first and "dgkey123" not in written
    assert second == {
        "event": "ws.closed",
        "schema": 1,
        "ts": "1970-01-01T00:00:01.500Z",
        "flow_id": "flow-1",
        "close_code": 1000,
        **fleet,
        "seq": 2,
    }


async def test_log_file_is_appended_not_truncated(log_path: Path) -> None:
    """An existing log file keeps its lines; new events are appended."""
    log_path.write_text('{"event": "earlier"}\n', encoding="utf-8")
    event_log = EventLog(clock=lambda: 0.0)
    with taddons.context(event_log) as tctx:
        tctx.configure(event_log, wswatch_log=str(log_path), wswatch_console=False)
        event_log.emit("ws.closed", {"close_code": 1000})
        await tctx.master.done()
    assert [line["event"] for line in lines_of(log_path)] == ["earlier", "ws.closed"]


async def test_changing_wswatch_log_switches_files(tmp_path: Path) -> None:
    """Setting a new wswatch_log closes the old file and writes to the new one; empty stops."""
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    event_log = EventLog(clock=lambda: 0.0)
    with taddons.context(event_log) as tctx:
        tctx.configure(event_log, wswatch_log=str(first), wswatch_console=False)
        event_log.emit("one", {})
        tctx.configure(event_log, wswatch_log=str(second))
        event_log.emit("two", {})
        tctx.configure(event_log, wswatch_log="")
        event_log.emit("three", {})
        await tctx.master.done()
    assert [line["event"] for line in lines_of(first)] == ["one"]
    assert [line["event"] for line in lines_of(second)] == ["two"]


async def test_unwritable_log_path_is_an_option_error(tmp_path: Path) -> None:
    """A wswatch_log in a missing directory is refused as an option error naming the path."""
    path = tmp_path / "missing" / "events.jsonl"
    event_log = EventLog()
    with taddons.context(event_log) as tctx:
        event_log.running()  # once running, a refused value is raised (and rolled back)
        with pytest.raises(exceptions.OptionsError) as raised:
            tctx.configure(event_log, wswatch_log=str(path))
        await tctx.master.done()
    assert str(raised.value) == f"Cannot open wswatch_log file {path}: No such file or directory"


async def test_console_line_goes_to_wswatch_logger_scrubbed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The terminal output is one scrubbed line on logger 'wswatch' at the requested level."""
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    event_log = EventLog(clock=lambda: 0.0)
    with taddons.context(event_log) as tctx:
        tctx.configure(event_log, wswatch_log="")
        event_log.emit(
            "ws.closed",
            {
                "close_code": 1008,
                "close_reason": "bad key dgkey123",
                "url": "wss://h/",
                "clean": True,
            },
            secrets=frozenset({"dgkey123"}),
            level=logging.WARNING,
            console_lines=("extra",),
        )
        await tctx.master.done()
    records = [r for r in caplog.records if r.name == LOGGER_NAME]
    assert [(r.levelno, r.getMessage()) for r in records] == [
        (
            logging.WARNING,
            f"[wswatch] ws.closed 1008 'bad key [redacted]' wss://h/  clean=True{INDENT}extra",
        )
    ]


async def test_console_can_be_turned_off(caplog: pytest.LogCaptureFixture) -> None:
    """With wswatch_console false nothing is logged on the terminal."""
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    event_log = EventLog()
    with taddons.context(event_log) as tctx:
        tctx.configure(event_log, wswatch_console=False)
        event_log.emit("ws.closed", {"close_code": 1000})
        await tctx.master.done()
    assert [r for r in caplog.records if r.name == LOGGER_NAME] == []


def test_console_line_shows_zero_values_but_not_empty_ones() -> None:
    """0 and 0.0 are facts worth printing (retry_after=0); None, "", [] and False are not."""
    line = render_console_line(
        None,
        "warning",
        {
            "event": "ws.handshake",
            "outcome": "rejected",
            "status": 429,
            "reason": "Too Many Requests",
            "url": "ws://h/",
            "retry_after": 0.0,
            "body_excerpt": None,
            "problems": [],
            "injected": False,
        },
    )
    assert "retry_after=0.0" in line
    assert "body_excerpt" not in line and "problems" not in line and "injected" not in line


#: What mitmproxy hands over for a non-UTF-8 byte on the wire (surrogateescape).
UNDECODABLE = b"bad \xff byte".decode("utf-8", "surrogateescape")


async def test_event_with_undecodable_bytes_is_written_escaped(
    log_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A non-UTF-8 byte in a field is written as \\xff: valid JSON, readable terminal line."""
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    event_log = EventLog(clock=lambda: 0.0)
    with taddons.context(event_log) as tctx:
        tctx.configure(event_log, wswatch_log=str(log_path))
        written = event_log.emit("ws.handshake", {"error": UNDECODABLE, "url": "ws://h/\udcfe"})
        await tctx.master.done()
    assert written is True
    (line,) = lines_of(log_path)
    assert (line["error"], line["url"]) == ("bad \\xff byte", "ws://h/\\xfe")
    messages = [r.getMessage() for r in caplog.records if r.name == LOGGER_NAME]
    assert messages == ["[wswatch] ws.handshake   ws://h/\\xfe  error='bad \\xff byte'"]


async def test_unwritable_log_file_is_reported_once_and_events_still_printed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """/dev/full refuses every line: one warning, and each event on the terminal (console off)."""
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    event_log = EventLog(clock=lambda: 0.0)
    with taddons.context(event_log) as tctx:
        tctx.configure(event_log, wswatch_log="/dev/full", wswatch_console=False)
        results = [event_log.emit("ws.closed", {"close_code": code}) for code in (1000, 1001)]
        await tctx.master.done()
    messages = [r.getMessage() for r in caplog.records if r.name == LOGGER_NAME]
    assert results == [True, True]
    assert messages == [
        "wswatch: cannot write wswatch_log /dev/full: No space left on device; events are "
        "printed here and kept (up to 10000) to be written when the file takes them again",
        "[wswatch] ws.closed 1000 ",
        "[wswatch] ws.closed 1001 ",
        "wswatch: 2 events could not be written to wswatch_log /dev/full; they were printed "
        "on the terminal",
    ]


async def test_lines_a_full_pipe_refused_are_written_in_order_once_it_drains(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A named pipe whose reader lags refuses lines; they are held, then written in order,
    each with the seq it was given when emitted."""
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    fifo = tmp_path / "events.pipe"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    received = bytearray()
    event_log = EventLog(clock=lambda: 0.0)
    try:
        with taddons.context(event_log) as tctx:
            tctx.configure(event_log, wswatch_log=str(fifo), wswatch_console=False)
            sent = 0
            padding = "p" * 1000
            while sent < 1000 and not any("cannot write" in r.getMessage() for r in caplog.records):
                event_log.emit("tick", {"n": sent, "padding": padding})
                sent += 1
            assert 0 < sent < 1000, "the pipe never filled up"
            for _ in range(1000):  # drain what the pipe holds, bounded
                try:
                    chunk = os.read(reader, 65536)
                except BlockingIOError:
                    break
                received.extend(chunk)
            event_log.emit("tick", {"n": sent, "padding": padding})
            while chunk := _read_available(reader):
                received.extend(chunk)
            await tctx.master.done()
    finally:
        os.close(reader)
    lines = [json.loads(line) for line in received.decode().splitlines()]
    assert [line["n"] for line in lines] == list(range(sent + 1))
    # Held lines keep the seq they were given when emitted: the file stays contiguous.
    assert [line["seq"] for line in lines] == list(range(1, sent + 2))
    notices = [r.getMessage() for r in caplog.records if r.getMessage().startswith("wswatch:")]
    assert len(notices) == 2 and notices[1] == f"wswatch: writing wswatch_log {fifo} again"


def _read_available(descriptor: int) -> bytes:
    try:
        return os.read(descriptor, 65536)
    except BlockingIOError:
        return b""


async def test_listeners_see_each_event_as_written_and_cannot_break_the_outputs(
    log_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A listener gets the redacted, encodable event; one that raises costs no output."""
    seen: list[dict[str, Any]] = []

    def broken(_event: dict[str, Any]) -> None:
        raise RuntimeError("listener bug")

    event_log = EventLog(clock=lambda: 0.0)
    event_log.add_listener(broken)
    event_log.add_listener(seen.append)
    with taddons.context(event_log) as tctx:
        tctx.configure(
            event_log, wswatch_log=str(log_path), wswatch_console=False, wswatch_proxy_id="px"
        )
        written = event_log.emit(
            "ws.handshake",
            {"error": f"key dgkey123 {UNDECODABLE}"},
            secrets=frozenset({"dgkey123"}),
        )
        await tctx.master.done()
    assert written is True
    assert seen == [
        {
            "event": "ws.handshake",
            "schema": 1,
            "ts": "1970-01-01T00:00:00.000Z",
            "flow_id": None,
            "error": "key [redacted] bad \\xff byte",
            "proxy_id": "px",
            "run_id": event_log.stamp.run_id,
            "seq": 1,
        }
    ]
    assert lines_of(log_path) == seen
    assert any("listener bug" in r.getMessage() for r in caplog.records)


def test_client_verdict_prints_a_headline_and_one_line_per_finding() -> None:
    """A verdict on the terminal: worst severity and client, then each finding's rule and
    summary; the evidence and hints stay in the JSON line."""
    line = render_console_line(
        None,
        "warning",
        {
            "event": "client.verdict",
            "when": "session_end",
            "client_id": "c-1",
            "worst": "error",
            "attempts": 6,
            "findings": [
                {"severity": "error", "rule": "hot-loop", "summary": "5 in a row", "evidence": {}},
                {"severity": "warning", "rule": "jitter", "summary": "no jitter", "hint": "h"},
            ],
        },
    )
    assert line == (
        "[wswatch] client.verdict ERROR c-1  when=session_end attempts=6"
        f"{INDENT}error    hot-loop: 5 in a row{INDENT}warning  jitter: no jitter"
    )


async def test_under_a_terminal_log_lines_go_to_it_straight_and_keep_its_verbosity() -> None:
    """With mitmproxy's terminal log loaded and no event store (mitmdump), an event line is
    printed by that handler itself, with its timestamp, at its verbosity, and is not a log
    record anyone else sees."""
    out = io.StringIO()
    termlog = TermLog(out)
    event_log = EventLog()
    seen: list[logging.LogRecord] = []

    class Watcher(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    watcher = Watcher()
    logging.getLogger(LOGGER_NAME).addHandler(watcher)
    try:
        with taddons.context(termlog, event_log) as tctx:
            tctx.configure(termlog, termlog_verbosity="warn")
            tctx.configure(event_log, wswatch_log="")
            event_log.running()
            event_log.emit("ws.handshake", {"outcome": "accepted", "url": "ws://h/a"})
            event_log.emit(
                "ws.handshake", {"outcome": "rejected", "url": "ws://h/b"}, level=logging.WARNING
            )
            await tctx.master.done()
    finally:
        logging.getLogger(LOGGER_NAME).removeHandler(watcher)
        termlog.uninstall()
    printed = out.getvalue().splitlines()
    assert len(printed) == 1 and "[wswatch] ws.handshake REJECTED  ws://h/b" in printed[0]
    assert seen == []
