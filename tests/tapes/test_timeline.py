"""`wswatch tape show`: a tape as a readable timeline."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from wswatchlib.tapes import har, timeline
from wswatchlib.tapes.format import (
    End,
    RecordedRequest,
    RecordedResponse,
    TapeEnd,
    TapeHeader,
    TapeMessage,
    end_line,
    header_line,
    message_line,
)

CHROME_HAR = Path(__file__).parent / "data" / "chrome-deepgram.har"


def _show(path: Path) -> int:
    parser = argparse.ArgumentParser(prog="wswatch tape")
    timeline.add_show_command(parser.add_subparsers(required=True))
    arguments = parser.parse_args(["show", str(path)])
    return int(arguments.run(arguments))


def _tape(path: Path, messages: list[TapeMessage], end: TapeEnd | None, status: int = 101) -> Path:
    header = TapeHeader(
        recorded_at="2026-03-02T10:15:31.000Z",
        wswatch_version="0.1.0",
        request=RecordedRequest("GET", "ws", "127.0.0.1", 8080, "/feed", "HTTP/1.1", []),
        response=RecordedResponse(status, "Switching Protocols" if status == 101 else "", "", []),
        subprotocol="graphql-ws",
    )
    lines = [header_line(header), *map(message_line, messages)]
    lines += [end_line(end)] if end else []
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_an_imported_chrome_har_shows_as_a_timeline(tmp_path, capsys) -> None:
    assert har.import_har(CHROME_HAR, tmp_path, har.default_redaction())[0].refused == []
    (tape,) = tmp_path.glob("*.tape.jsonl")
    assert _show(tape) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (
        "GET wss://api.deepgram.com/v1/listen?model=nova-3&encoding=linear16&sample_rate=16000"
        "&token=[redacted] -> 101 Switching Protocols, vendor deepgram, no subprotocol"
    )
    assert lines[1] == '     +52.0 ms  client  text  {"type": "Auth", "access_token": "[redacted]"}'
    assert lines[3] == "     +90.0 ms  client  binary 48 bytes"
    assert lines[5].startswith('    +134.5 ms  server  text  {"type": "Results", "channel_')
    assert lines[5].endswith("…") and len(lines[5]) == len("    +134.5 ms  server  text  ") + 101
    assert lines[-1] == (
        " " * 13 + "  end     closed without a Close frame (code unknown): "
        "replay drops the connection"
    )
    assert len(lines) == 9


def test_digests_closes_and_hostile_text(tmp_path, capsys) -> None:
    messages = [
        TapeMessage(5.25, True, length=1024, sha256="abcd1234" + "0" * 56),
        TapeMessage(1234.56, False, text="line\x1b[31mred\r\n"),
    ]
    end = TapeEnd(End.CLOSED, 1500.0, 1000, "done", "server", clean=True)
    assert _show(_tape(tmp_path / "a.tape.jsonl", messages, end)) == 0
    assert capsys.readouterr().out.splitlines() == [
        "GET ws://127.0.0.1:8080/feed -> 101 Switching Protocols, vendor unknown, "
        "subprotocol graphql-ws",
        "      +5.2 ms  client  binary 1024 bytes sha256:abcd1234…",
        "   +1234.6 ms  server  text  line\\x1b[31mred\\r\\n",
        '   +1500.0 ms  end     closed 1000 "done" by server (clean)',
    ]


@pytest.mark.parametrize(
    ("end", "shown"),
    [
        (None, "no end line (the recording was cut): replay drops the connection"),
        (TapeEnd(End.HANDSHAKE), "handshake refused: replay answers as recorded"),
        (TapeEnd(End.ERROR, error="connection refused"), "error: connection refused"),
    ],
)
def test_each_kind_of_end(end, shown, tmp_path, capsys) -> None:
    status = 401 if end and end.end is End.HANDSHAKE else 101
    assert _show(_tape(tmp_path / "a.tape.jsonl", [], end, status)) == 0
    assert capsys.readouterr().out.splitlines()[-1].endswith(f"  end     {shown}")


def test_a_file_that_is_no_tape_is_one_error_line(tmp_path, capsys) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello\n")
    assert _show(path) == 2
    err = capsys.readouterr().err
    assert err == f"wswatch tape show: error: {path} line 1: not JSON (Expecting value)\n"
    assert _show(tmp_path / "missing.tape.jsonl") == 2
    assert "cannot read it" in capsys.readouterr().err
