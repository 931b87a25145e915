"""The shipped JSON Schema of tape lines: current, and every line of real tapes validates."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
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
from wswatchlib.tapes.schema import tape_schema

SHIPPED = (
    Path(__file__).resolve().parents[2] / "addons" / "wswatchlib" / "tapes" / "tape.schema.json"
)


def test_the_shipped_schema_is_the_generated_one() -> None:
    """Regenerate with `python -m wswatchlib.tapes.schema` when the format changes."""
    assert json.loads(SHIPPED.read_text()) == json.loads(json.dumps(tape_schema()))


HEADER = TapeHeader(
    recorded_at="2026-12-06T13:55:11.387Z",
    wswatch_version="0.1.0",
    request=RecordedRequest(
        "GET",
        "wss",
        "api.example.test",
        443,
        "/v1?token=[redacted]",
        "HTTP/1.1",
        [("Host", "api.example.test")],
    ),
    response=RecordedResponse(101, "Switching Protocols", "HTTP/1.1", [("Upgrade", "websocket")]),
)
LINES = [
    header_line(HEADER),
    header_line(TapeHeader("", "", HEADER.request, None)),
    message_line(TapeMessage(1.5, False, text='{"type":"Ready"}')),
    message_line(TapeMessage(2.0, False, data=b"\x00\xff")),
    message_line(TapeMessage(3.0, True, length=1024, sha256="ab" * 32)),
    end_line(TapeEnd(End.CLOSED, 9.0, 1000, "done", "server", True)),
    end_line(TapeEnd(End.HANDSHAKE)),
    end_line(TapeEnd(End.ERROR, error="[Errno 111] Connection refused")),
]


@pytest.mark.parametrize("line", LINES, ids=range(len(LINES)))
def test_every_kind_of_line_validates(line: dict) -> None:
    """Header (answered or not), text / binary / digest messages, each kind of end."""
    jsonschema.validate(line, tape_schema())


@pytest.mark.parametrize(
    "line",
    [
        {
            "wswatch_tape": 2,
            "recorded_at": "",
            "wswatch_version": "",
            "request": {},
            "response": None,
        },
        {"t": 1, "from": "server"},
        {"t": 1, "from": "nobody", "text": "x"},
        {"t": 1, "from": "client", "len": 3, "sha256": "not hex"},
        {"end": "vanished"},
    ],
    ids=["version", "no-content", "from", "digest", "end"],
)
def test_malformed_lines_do_not_validate(line: dict) -> None:
    """What the reader refuses, the schema refuses too."""
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(line, tape_schema())
