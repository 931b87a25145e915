"""The tape format: header, message and end lines round-trip, read lazily, and fail by name."""

from __future__ import annotations

import base64
import hashlib
import inspect
import json
import re
from pathlib import Path
from typing import Any

import pytest
from wswatchlib.tapes.format import (
    TAPE_VERSION,
    VERSION_KEY,
    End,
    RecordedRequest,
    RecordedResponse,
    TapeEnd,
    TapeError,
    TapeHeader,
    TapeMessage,
    digest_of,
    end_line,
    header_line,
    message_line,
    parse_header,
    parse_line,
    read_lines,
    read_summary,
    write_line,
)

REQUEST = RecordedRequest(
    method="GET",
    scheme="wss",
    host="api.example.com",
    port=443,
    path="/v1/listen?model=nova&token=[redacted]",
    http_version="HTTP/1.1",
    headers=[("Host", "api.example.com"), ("Authorization", "[redacted]")],
)

ACCEPTED = TapeHeader(
    recorded_at="2026-12-06T13:46:21.123Z",
    wswatch_version="0.9.0",
    request=REQUEST,
    response=RecordedResponse(101, "Switching Protocols", "HTTP/1.1", [("Upgrade", "websocket")]),
    outcome="accepted",
    vendor="deepgram",
    subprotocol="token",
    extensions="permessage-deflate",
    client_binary="whole",
    relay="observe",
)

#: name -> a header that must come back as it was written.
HEADERS: dict[str, TapeHeader] = {
    "accepted": ACCEPTED,
    "refused_with_text_body": TapeHeader(
        recorded_at="2026-12-06T13:46:22.000Z",
        wswatch_version="0.9.0",
        request=REQUEST,
        response=RecordedResponse(
            401, "Unauthorized", "HTTP/1.1", [("dg-error", "Invalid")], body='{"err": "x"}'
        ),
        outcome="refused",
    ),
    "refused_with_binary_body": TapeHeader(
        recorded_at="2026-12-06T13:46:23.000Z",
        wswatch_version="0.9.0",
        request=REQUEST,
        response=RecordedResponse(
            500, "", "HTTP/1.1", [], body_base64=base64.b64encode(b"\xff\x00").decode()
        ),
    ),
    "no_answer": TapeHeader(
        recorded_at="2026-12-06T13:46:24.000Z",
        wswatch_version="0.9.0",
        request=REQUEST,
        response=None,
        outcome="error",
    ),
}

#: name -> a message or end line that must come back as it was written.
LINES: dict[str, TapeMessage | TapeEnd] = {
    "server_text": TapeMessage(12.5, False, text='{"type": "Ready"}'),
    "client_text_unicode": TapeMessage(0.0, True, text='héllo ✓ \U0001f600 "q" \\ \n'),
    "empty_text": TapeMessage(1.0, False, text=""),
    "server_binary": TapeMessage(250.125, False, data=bytes(range(256))),
    "empty_binary": TapeMessage(3.0, True, data=b""),
    "client_digest": TapeMessage(99.0, True, length=3, sha256=hashlib.sha256(b"abc").hexdigest()),
    "end_closed": TapeEnd(
        End.CLOSED, t_ms=1500.0, code=1000, reason="done", closed_by="server", clean=True
    ),
    "end_closed_without_frame": TapeEnd(End.CLOSED, t_ms=20.0, closed_by=None, clean=False),
    "end_handshake": TapeEnd(End.HANDSHAKE),
    "end_error": TapeEnd(End.ERROR, error="connection refused"),
}


def through_json(line: dict[str, Any]) -> dict[str, Any]:
    """A line as a reader gets it back from the file."""
    decoded = json.loads(json.dumps(line, ensure_ascii=False))
    assert isinstance(decoded, dict)
    return decoded


def written(path: Path, lines: list[dict[str, Any]]) -> Path:
    with path.open("w", encoding="utf-8") as file:
        for line in lines:
            write_line(file, line)
    return path


def header() -> dict[str, Any]:
    return header_line(ACCEPTED)


def text_line(**changes: Any) -> dict[str, Any]:
    return {"t": 1.0, "from": "server", "text": "hi", **changes}


@pytest.mark.parametrize("name", list(HEADERS))
def test_header_round_trips(name: str) -> None:
    """A header written by `header_line` is read back equal by `parse_header`."""
    line = through_json(header_line(HEADERS[name]))
    assert line[VERSION_KEY] == TAPE_VERSION
    assert parse_header(line, "x line 1") == HEADERS[name]


def test_binary_response_body_decodes() -> None:
    """A response body kept as base64 comes back as its bytes."""
    parsed = parse_header(through_json(header_line(HEADERS["refused_with_binary_body"])), "x")
    assert parsed.response is not None
    assert parsed.response.body_bytes == b"\xff\x00"
    assert not parsed.accepted
    assert parse_header(through_json(header()), "x").accepted


def test_header_fields_unknown_to_the_reader_are_accepted() -> None:
    """Fields added within a version are ignored by readers that do not know them."""
    line = {**header(), "new_field": {"x": 1}}
    line["request"] = {**line["request"], "also_new": True}
    assert parse_header(line, "x") == ACCEPTED


def test_header_defaults_for_optional_fields() -> None:
    """A minimal header reads with HTTP/1.1, no headers and the digest client binary form."""
    line = {
        VERSION_KEY: 1,
        "request": {"method": "GET", "scheme": "ws", "host": "h", "port": 80, "path": "/"},
    }
    parsed = parse_header(line, "x")
    assert parsed.request.http_version == "HTTP/1.1"
    assert parsed.request.headers == []
    assert parsed.response is None
    assert parsed.client_binary == "digest"


@pytest.mark.parametrize("name", list(LINES))
def test_message_and_end_lines_round_trip(name: str) -> None:
    """A message or end line written by `message_line`/`end_line` is read back equal."""
    original = LINES[name]
    line = message_line(original) if isinstance(original, TapeMessage) else end_line(original)
    assert parse_line(through_json(line), "x line 2") == original


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (TapeMessage(1.0, False, text="hi"), {"t": 1.0, "from": "server", "text": "hi"}),
        (TapeMessage(1.0, True, data=b"\x00\xff"), {"t": 1.0, "from": "client", "binary": "AP8="}),
        (
            TapeMessage(1.0, True, length=3, sha256="ab"),
            {"t": 1.0, "from": "client", "len": 3, "sha256": "ab"},
        ),
        (TapeMessage(1.23456, False, text=""), {"t": 1.235, "from": "server", "text": ""}),
    ],
    ids=["text", "base64_binary", "digest", "t_rounded_to_microseconds"],
)
def test_message_line_forms(message: TapeMessage, expected: dict[str, Any]) -> None:
    """Text as is, binary as base64, a digest as `len` + `sha256`; `t` to three decimals."""
    assert message_line(message) == expected


@pytest.mark.parametrize(
    ("end", "expected"),
    [
        (
            TapeEnd(End.CLOSED, 5.0, 4001, "bye", "client", True),
            {
                "end": "closed",
                "t": 5.0,
                "code": 4001,
                "reason": "bye",
                "closed_by": "client",
                "clean": True,
            },
        ),
        (TapeEnd(End.HANDSHAKE), {"end": "handshake", "t": None}),
        (TapeEnd(End.ERROR, error="refused"), {"end": "error", "t": None, "error": "refused"}),
    ],
    ids=["closed", "handshake", "error"],
)
def test_end_line_forms(end: TapeEnd, expected: dict[str, Any]) -> None:
    """Each kind of end writes only the fields that kind has."""
    assert end_line(end) == expected


def test_digest_of_keeps_length_and_sha256() -> None:
    """A client binary kept as a digest has the payload's length and SHA-256 and no bytes."""
    digest = digest_of(b"audio" * 100)
    assert (digest.length, digest.sha256, digest.data) == (
        500,
        hashlib.sha256(b"audio" * 100).hexdigest(),
        None,
    )
    assert digest.size == 500
    assert not digest.is_text


@pytest.mark.parametrize(
    ("message", "size"),
    [
        (TapeMessage(0, True, text="héllo"), 6),
        (TapeMessage(0, True, data=b"abc"), 3),
        (TapeMessage(0, True, length=1024, sha256="x"), 1024),
    ],
    ids=["text_utf8_bytes", "binary", "digest"],
)
def test_message_size_is_payload_bytes(message: TapeMessage, size: int) -> None:
    """A message's size is its payload in bytes, whatever form it is kept in."""
    assert message.size == size


def test_write_line_is_compact_utf8_json(tmp_path: Path) -> None:
    """Lines are compact JSON, non-ASCII kept as is, one per line."""
    path = written(tmp_path / "t.tape.jsonl", [{"text": "é", "t": 1}])
    assert path.read_bytes() == '{"text":"é","t":1}\n'.encode()


def test_read_lines_reads_messages_then_end_skipping_header_and_blanks(tmp_path: Path) -> None:
    """`read_lines` yields every line after the header, in order, blank lines skipped."""
    path = written(
        tmp_path / "t.tape.jsonl",
        [header(), message_line(LINES["server_text"]), end_line(LINES["end_closed"])],
    )
    with path.open("a", encoding="utf-8") as file:
        file.write("\n   \n")
    assert list(read_lines(path)) == [LINES["server_text"], LINES["end_closed"]]


def test_read_lines_is_lazy(tmp_path: Path) -> None:
    """`read_lines` is a generator: the first message of a long tape comes before the rest is
    read, and a bad line far down is not seen until reached."""
    lines = [header()] + [message_line(TapeMessage(i, False, text=str(i))) for i in range(50_000)]
    path = written(tmp_path / "long.tape.jsonl", [*lines, {"t": "late"}])
    assert inspect.isgeneratorfunction(read_lines)
    reader = read_lines(path)
    assert next(reader) == TapeMessage(0.0, False, text="0")
    assert next(reader) == TapeMessage(1.0, False, text="1")
    reader.close()


def test_read_summary_reads_only_the_header(tmp_path: Path) -> None:
    """`read_summary` gives the header and the path, whatever follows the first line."""
    path = written(tmp_path / "a.tape.jsonl", [header(), {"not": "a message"}])
    summary = read_summary(path)
    assert (summary.header, summary.path, summary.name) == (ACCEPTED, path, "a.tape.jsonl")


@pytest.mark.parametrize("content", ["", "\n", "  \n{}\n"], ids=["empty", "newline", "blank_first"])
def test_read_summary_of_an_empty_file_names_line_1(tmp_path: Path, content: str) -> None:
    """A file with nothing on its first line is not a tape: the error names file and line 1."""
    path = tmp_path / "empty.tape.jsonl"
    path.write_text(content)
    with pytest.raises(
        TapeError, match=r"empty\.tape\.jsonl line 1: empty, expected the tape header"
    ):
        read_summary(path)


def test_read_summary_of_a_missing_or_undecodable_file(tmp_path: Path) -> None:
    """A file that cannot be read, or is not UTF-8, is a TapeError naming the file."""
    with pytest.raises(TapeError, match=r"missing\.tape\.jsonl: cannot read it"):
        read_summary(tmp_path / "missing.tape.jsonl")
    path = tmp_path / "latin1.tape.jsonl"
    path.write_bytes(b'{"x": "\xff"}\n')
    with pytest.raises(TapeError, match=r"latin1\.tape\.jsonl: cannot read it"):
        read_summary(path)


#: name -> (the first line's text, what the error must say after "FILE line 1").
BAD_HEADERS: dict[str, tuple[str, str]] = {
    "not_json": ("{nope", r": not JSON \("),
    "not_an_object": ("[1, 2]", r": expected a JSON object"),
    "no_version": (
        json.dumps({"request": {}}),
        r": not a wswatch tape of version 1 \(field 'wswatch_tape' is None\)",
    ),
    "wrong_version": (
        json.dumps({**header(), VERSION_KEY: 2}),
        r": not a wswatch tape of version 1 \(field 'wswatch_tape' is 2\)",
    ),
    "missing_request": (
        json.dumps({VERSION_KEY: 1}),
        r": field 'request' is missing",
    ),
    "request_not_object": (
        json.dumps({VERSION_KEY: 1, "request": "GET /"}),
        r": field 'request' has the wrong type \(str\)",
    ),
    "host_is_null": (
        json.dumps({**header(), "request": {**header()["request"], "host": None}}),
        r" request: field 'host' has the wrong type \(NoneType\)",
    ),
    "port_is_text": (
        json.dumps({**header(), "request": {**header()["request"], "port": "443"}}),
        r" request: field 'port' has the wrong type \(str\)",
    ),
    "port_is_bool": (
        json.dumps({**header(), "request": {**header()["request"], "port": True}}),
        r" request: field 'port' has the wrong type \(bool\)",
    ),
    "method_missing": (
        json.dumps(
            {
                **header(),
                "request": {k: v for k, v in header()["request"].items() if k != "method"},
            }
        ),
        r" request: field 'method' is missing",
    ),
    "headers_not_pairs": (
        json.dumps({**header(), "request": {**header()["request"], "headers": [["a"]]}}),
        r" request field 'headers': expected a list of \[name, value\] pairs of strings",
    ),
    "response_not_object": (
        json.dumps({**header(), "response": 101}),
        r": field 'response' must be an object or null",
    ),
    "response_status_missing": (
        json.dumps({**header(), "response": {"reason": "OK"}}),
        r" response: field 'status' is missing",
    ),
    "response_headers_not_strings": (
        json.dumps({**header(), "response": {"status": 101, "headers": [["a", 1]]}}),
        r" response field 'headers': expected a list of \[name, value\] pairs",
    ),
}


@pytest.mark.parametrize("name", list(BAD_HEADERS))
def test_bad_header_error_names_file_line_and_field(tmp_path: Path, name: str) -> None:
    """Every malformed header is a TapeError naming the file, line 1 and what is wrong."""
    first, message = BAD_HEADERS[name]
    path = tmp_path / "bad.tape.jsonl"
    path.write_text(first + "\n", encoding="utf-8")
    with pytest.raises(TapeError, match=rf"^{re.escape(str(path))} line 1{message}"):
        read_summary(path)


#: name -> (the second line's text, what the error must say after "FILE line 2").
BAD_LINES: dict[str, tuple[str, str]] = {
    "not_json": ('{"t": 1,', r": not JSON \("),
    "not_an_object": ('"text"', r": expected a JSON object"),
    "missing_t": (json.dumps({"from": "server", "text": "x"}), r": field 't' is missing"),
    "t_is_text": (
        json.dumps(text_line(t="1")),
        r": field 't' has the wrong type \(str\)",
    ),
    "t_is_bool": (
        json.dumps(text_line(t=True)),
        r": field 't' has the wrong type \(bool\)",
    ),
    "missing_from": (json.dumps({"t": 1, "text": "x"}), r": field 'from' is missing"),
    "from_is_number": (json.dumps(text_line(**{"from": 1})), r": field 'from' has the wrong type"),
    "bad_from": (
        json.dumps(text_line(**{"from": "proxy"})),
        r": field 'from' must be client or server, got 'proxy'",
    ),
    "text_not_string": (
        json.dumps(text_line(text=["a"])),
        r": field 'text' has the wrong type \(list\)",
    ),
    "bad_base64": (
        json.dumps({"t": 1, "from": "server", "binary": "not base64!"}),
        r": field 'binary' is not valid base64",
    ),
    "base64_not_ascii": (
        json.dumps({"t": 1, "from": "server", "binary": "AAé="}),
        r": field 'binary' is not valid base64",
    ),
    "binary_not_string": (
        json.dumps({"t": 1, "from": "server", "binary": 12}),
        r": field 'binary' has the wrong type \(int\)",
    ),
    "digest_without_len": (
        json.dumps({"t": 1, "from": "client", "sha256": "ab"}),
        r": field 'len' is missing",
    ),
    "digest_len_is_float": (
        json.dumps({"t": 1, "from": "client", "len": 1.5, "sha256": "ab"}),
        r": field 'len' has the wrong type \(float\)",
    ),
    "digest_sha_null": (
        json.dumps({"t": 1, "from": "client", "len": 1, "sha256": None}),
        r": field 'sha256' has the wrong type \(NoneType\)",
    ),
    "no_payload": (
        json.dumps({"t": 1, "from": "server"}),
        r": a message line needs 'text', 'binary' or 'len' and 'sha256'",
    ),
    "bad_end": (
        json.dumps({"end": "exploded"}),
        r": field 'end' must be one of closed, handshake, error, got 'exploded'",
    ),
    "end_code_is_text": (
        json.dumps({"end": "closed", "code": "1000"}),
        r": field 'code' must be an integer or null",
    ),
    "end_code_is_bool": (
        json.dumps({"end": "closed", "code": True}),
        r": field 'code' must be an integer or null",
    ),
    "end_t_is_text": (
        json.dumps({"end": "closed", "t": "soon"}),
        r": field 't' has the wrong type \(str\)",
    ),
    "end_clean_is_text": (
        json.dumps({"end": "closed", "code": 1000, "clean": "false"}),
        r": field 'clean' has the wrong type \(str\)",
    ),
    "end_reason_is_number": (
        json.dumps({"end": "closed", "code": 1000, "reason": 5}),
        r": field 'reason' has the wrong type \(int\)",
    ),
}


@pytest.mark.parametrize("name", list(BAD_LINES))
def test_bad_line_error_names_file_line_and_field(tmp_path: Path, name: str) -> None:
    """Every malformed message or end line is a TapeError naming the file, its line number and
    the field; the lines before it are read."""
    bad, message = BAD_LINES[name]
    path = tmp_path / "bad.tape.jsonl"
    path.write_text(
        json.dumps(header()) + "\n" + json.dumps(text_line()) + "\n" + bad + "\n",
        encoding="utf-8",
    )
    reader = read_lines(path)
    assert next(reader) == TapeMessage(1.0, False, text="hi")
    with pytest.raises(TapeError, match=rf"^{re.escape(str(path))} line 3{message}"):
        next(reader)


def test_undecodable_line_is_a_tape_error_naming_the_line(tmp_path: Path) -> None:
    """A line that is not UTF-8 is a TapeError naming the file and line, not a crash."""
    path = tmp_path / "bad.tape.jsonl"
    path.write_bytes(
        json.dumps(header()).encode() + b"\n" + json.dumps(text_line()).encode() + b"\n"
        b'{"t": 1, "from": "server", "text": "\xff"}\n'
    )
    reader = read_lines(path)
    assert next(reader) == TapeMessage(1.0, False, text="hi")
    with pytest.raises(TapeError, match=rf"^{re.escape(str(path))} line 3: not UTF-8"):
        next(reader)
