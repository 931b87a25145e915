"""Tape drift: `wswatch tape diff` compares two recordings by shape, never by value."""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path
from typing import Any

import pytest
from wswatchlib.tapes.drift import (
    Difference,
    DifferenceKind,
    add_diff_command,
    diff_shapes,
    read_shape,
    run_diff,
)
from wswatchlib.tapes.format import (
    End,
    RecordedRequest,
    RecordedResponse,
    TapeEnd,
    TapeHeader,
    TapeMessage,
    digest_of,
    end_line,
    header_line,
    message_line,
    write_line,
)

REQUEST = RecordedRequest(
    "GET", "wss", "api.example.com", 443, "/v1/listen?token=[redacted]", "HTTP/1.1", []
)
HEADERS = [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("dg-request-id", "r-1")]
CLOSED = TapeEnd(End.CLOSED, 900.0, 1000, "done", "server", True)

#: A message: a JSON value (sent as text), plain text, or bytes (a client binary digest line).
Payload = dict[str, Any] | list[Any] | str | bytes


def results(index: int, words: int = 1) -> dict[str, Any]:
    """A streaming result whose values all depend on `index`."""
    return {
        "type": "Results",
        "start": index * 0.5,
        "is_final": index % 2 == 0,
        "speaker": None,
        "channel": {
            "alternatives": [
                {
                    "transcript": f"word {index}",
                    "confidence": 0.5 + index / 1000,
                    "words": [{"word": f"w{index}", "start": index} for _ in range(words)],
                }
            ]
        },
    }


def exchange(count: int = 5, seed: int = 0) -> list[tuple[str, Payload]]:
    """Auth, audio, CloseStream from the client; Ready, `count` Results, Metadata back."""
    messages: list[tuple[str, Payload]] = [
        ("client", {"type": "Auth", "access_token": "[redacted]"}),
        ("server", {"type": "Ready", "request_id": f"id-{seed}"}),
    ]
    for index in range(count):
        messages.append(("client", bytes([seed, index % 256]) * 512))
        messages.append(("server", results(index + seed, words=1 + seed % 3)))
    messages.append(("client", {"type": "CloseStream"}))
    messages.append(("server", {"type": "Metadata", "request_id": f"id-{seed}", "duration": 2.5}))
    return messages


def write_tape(
    path: Path,
    messages: list[tuple[str, Payload]],
    *,
    status: int = 101,
    headers: list[tuple[str, str]] = HEADERS,
    subprotocol: str | None = None,
    extensions: str | None = None,
    end: TapeEnd | None = CLOSED,
    recorded_at: str = "2026-12-06T13:55:11.387Z",
) -> Path:
    """A tape file at `path` built with the format's own line writers."""
    response = RecordedResponse(status, "Switching Protocols", "HTTP/1.1", headers)
    header = TapeHeader(
        recorded_at,
        "0.1.0",
        REQUEST,
        response,
        outcome="accepted",
        subprotocol=subprotocol,
        extensions=extensions,
    )
    with path.open("w", encoding="utf-8") as file:
        write_line(file, header_line(header))
        for number, (sender, payload) in enumerate(messages):
            t_ms = 10.0 * number + len(recorded_at)
            if isinstance(payload, bytes):
                digest = digest_of(payload)
                message = TapeMessage(t_ms, True, length=digest.length, sha256=digest.sha256)
            else:
                text = payload if isinstance(payload, str) else json.dumps(payload)
                message = TapeMessage(t_ms, sender == "client", text=text)
            write_line(file, message_line(message))
        if end is not None:
            write_line(file, end_line(end))
    return path


def differences(
    tmp_path: Path,
    old: list[tuple[str, Payload]],
    new: list[tuple[str, Payload]],
    **new_options: Any,
) -> list[Difference]:
    """diff_shapes of an OLD tape with default options and a NEW one with `new_options`."""
    old_path = write_tape(tmp_path / "old.tape.jsonl", old)
    new_path = write_tape(tmp_path / "new.tape.jsonl", new, **new_options)
    return diff_shapes(read_shape(old_path), read_shape(new_path))


def texts(found: list[Difference]) -> list[str]:
    return [difference.text for difference in found]


def changed(edit: Any, count: int = 5) -> list[tuple[str, Payload]]:
    """The default exchange with `edit` applied to every Results message (a deep copy)."""
    messages = copy.deepcopy(exchange(count))
    for _, payload in messages:
        if isinstance(payload, dict) and payload.get("type") == "Results":
            edit(payload)
    return messages


def test_added_key_is_reported(tmp_path: Path) -> None:
    """A key NEW's messages of a type carry and OLD's never did is KEY_ADDED with its types."""
    found = differences(tmp_path, exchange(), changed(lambda r: r.update(duration=1.0)))
    assert texts(found) == ['server "Results": key duration added (number)']
    assert found[0].kind is DifferenceKind.KEY_ADDED
    assert (found[0].direction, found[0].message_type, found[0].key_path) == (
        "server",
        "Results",
        "duration",
    )


def test_removed_key_is_reported(tmp_path: Path) -> None:
    """A key OLD's messages carried and NEW's never do is KEY_REMOVED."""
    found = differences(tmp_path, exchange(), changed(lambda r: r.pop("is_final")))
    assert texts(found) == ['server "Results": key is_final removed (boolean)']
    assert found[0].kind is DifferenceKind.KEY_REMOVED


def test_changed_type_in_nested_array_items_is_reported(tmp_path: Path) -> None:
    """A key inside an array's objects that changed JSON type is named by its dotted path."""

    def confidence_as_text(result: dict[str, Any]) -> None:
        for alternative in result["channel"]["alternatives"]:
            alternative["confidence"] = str(alternative["confidence"])

    found = differences(tmp_path, exchange(), changed(confidence_as_text))
    assert texts(found) == [
        'server "Results": key channel.alternatives[].confidence changed type: number -> string'
    ]
    assert found[0].kind is DifferenceKind.TYPE_CHANGED
    assert (found[0].old, found[0].new) == ("number", "string")


def test_changed_type_of_nested_object_key_and_array_items(tmp_path: Path) -> None:
    """A nested object's key and an array's items (`[]`) that changed type are each reported."""

    def edit(result: dict[str, Any]) -> None:
        result["channel"] = {**result["channel"], "index": "0"}
        result["channel"]["alternatives"][0]["words"] = ["w"]

    old = changed(lambda r: r["channel"].update(index=0))
    found = differences(tmp_path, old, changed(edit))
    assert texts(found) == [
        'server "Results": key channel.alternatives[].words[] changed type: object -> string',
        'server "Results": key channel.index changed type: number -> string',
    ]


def test_new_message_type_is_reported(tmp_path: Path) -> None:
    """A message type NEW's server sends and OLD's never did is MESSAGE_TYPE_ADDED, once."""
    new = [*exchange(), ("server", {"type": "Warning", "code": 1})]
    found = differences(tmp_path, exchange(), new)
    assert texts(found) == ['server message type "Warning" added']
    assert found[0].kind is DifferenceKind.MESSAGE_TYPE_ADDED


def test_removed_message_type_is_reported(tmp_path: Path) -> None:
    """A message type OLD's client sent and NEW's does not is MESSAGE_TYPE_REMOVED."""
    new = [m for m in exchange() if m[1] != {"type": "CloseStream"}]
    assert texts(differences(tmp_path, exchange(), new)) == [
        'client message type "CloseStream" removed'
    ]


def test_changed_order_of_message_types_is_reported(tmp_path: Path) -> None:
    """Metadata now coming before the Results is an ORDER difference of that direction."""
    old = exchange()
    new = [old[0], old[1], old[-1], *old[2:-1]]
    found = differences(tmp_path, old, new)
    assert texts(found) == [
        "server message order: Ready, Results, Metadata -> Ready, Metadata, Results"
    ]
    assert found[0].kind is DifferenceKind.ORDER


def test_changed_close_code_is_reported(tmp_path: Path) -> None:
    """A different close code (or closer) is a CLOSE difference; reason text and time are not."""
    end = TapeEnd(End.CLOSED, 5.0, 1011, "other words", "server", False)
    assert texts(differences(tmp_path, exchange(), exchange(), end=end)) == [
        "end: closed 1000 by server -> closed 1011 by server"
    ]
    same = TapeEnd(End.CLOSED, 5.0, 1000, "other words", "server", False)
    assert differences(tmp_path, exchange(), exchange(), end=same) == []


def test_cut_tape_differs_from_a_closed_one(tmp_path: Path) -> None:
    """A NEW tape with no end line (recording cut short) differs from a closed one."""
    assert texts(differences(tmp_path, exchange(), exchange(), end=None)) == [
        "end: closed 1000 by server -> cut short (no end line)"
    ]


def test_changed_handshake_status_is_reported(tmp_path: Path) -> None:
    """A different handshake status is a STATUS difference."""
    found = differences(tmp_path, exchange(), exchange(), status=426)
    assert texts(found) == ["handshake status: 101 -> 426"]
    assert found[0].kind is DifferenceKind.STATUS


def test_added_and_removed_response_headers_are_reported(tmp_path: Path) -> None:
    """Response header names are compared case-insensitively; values never are."""
    headers = [("upgrade", "websocket"), ("CONNECTION", "upgrade"), ("X-RateLimit", "9")]
    found = differences(tmp_path, exchange(), exchange(), headers=headers)
    assert texts(found) == [
        'response header "x-ratelimit" added',
        'response header "dg-request-id" removed',
    ]
    assert [d.kind for d in found] == [DifferenceKind.HEADER_ADDED, DifferenceKind.HEADER_REMOVED]


def test_volatile_response_headers_are_ignored(tmp_path: Path) -> None:
    """Headers whose presence varies run to run (date, server-timing, ...) are not compared."""
    volatile = [("Date", "x"), ("Server-Timing", "x"), ("Content-Length", "0")]
    headers = [*HEADERS, *volatile, ("Sec-WebSocket-Accept", "abc=")]
    assert differences(tmp_path, exchange(), exchange(), headers=headers) == []


def test_subprotocol_and_extensions_changes_are_reported(tmp_path: Path) -> None:
    """A different subprotocol, or extension names, differ; extension parameters do not."""
    found = differences(
        tmp_path, exchange(), exchange(), subprotocol="v2", extensions="permessage-deflate"
    )
    assert texts(found) == ["subprotocol: none -> v2", "extensions: none -> permessage-deflate"]
    assert [d.kind for d in found] == [DifferenceKind.SUBPROTOCOL, DifferenceKind.EXTENSIONS]
    old = write_tape(tmp_path / "a.tape.jsonl", exchange(), extensions="permessage-deflate")
    new = write_tape(
        tmp_path / "b.tape.jsonl",
        exchange(),
        extensions="permessage-deflate; client_max_window_bits=15",
    )
    assert diff_shapes(read_shape(old), read_shape(new)) == []


def test_recordings_differing_only_in_values_have_the_same_shape(tmp_path: Path) -> None:
    """Other transcripts, ids, numbers, booleans, array lengths and audio are no difference."""
    assert differences(tmp_path, exchange(seed=0), exchange(seed=7)) == []


def test_stream_lengths_do_not_matter(tmp_path: Path) -> None:
    """5 Results against 500 (and 1) is the same shape: repeats fold into one type."""
    assert differences(tmp_path, exchange(5), exchange(500)) == []
    assert differences(tmp_path, exchange(500), exchange(1)) == []


def test_ids_times_and_header_values_do_not_matter(tmp_path: Path) -> None:
    """Another recording time, message times, request id header value and reason are alike."""
    headers = [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("dg-request-id", "r-2")]
    end = TapeEnd(End.CLOSED, 12345.5, 1000, "bye", "server", True)
    found = differences(
        tmp_path, exchange(), exchange(seed=3), headers=headers, end=end, recorded_at="2027-01-01"
    )
    assert found == []


def test_digests_of_other_bytes_are_the_same_shape(tmp_path: Path) -> None:
    """Client binary digest lines are type "binary" whatever their length and hash."""
    old = [("client", b"\x00" * 10), ("server", {"type": "Ready"})]
    new = [("client", b"\xff" * 4096), ("server", {"type": "Ready"})]
    assert differences(tmp_path, old, new) == []
    assert read_shape(tmp_path / "new.tape.jsonl").order["client"] == ("binary",)


def test_nullable_key_is_a_change_only_when_the_type_set_differs(tmp_path: Path) -> None:
    """A key null in some messages, a string in others, matches the same mix; not a null-only one."""

    def sometimes_string(result: dict[str, Any]) -> None:
        result["speaker"] = None if result["start"] else "A"

    assert differences(tmp_path, changed(sometimes_string), changed(sometimes_string)) == []
    assert texts(differences(tmp_path, exchange(), changed(sometimes_string))) == [
        'server "Results": key speaker changed type: null -> null|string'
    ]


def test_contents_of_a_container_unseen_on_one_side_are_not_reported(tmp_path: Path) -> None:
    """Keys under an always-empty array or an always-null value are unknown, not added: only
    the container's own type change, if any, is reported."""

    def no_words(result: dict[str, Any]) -> None:
        result["channel"]["alternatives"][0]["words"] = []

    def speaker_object(result: dict[str, Any]) -> None:
        result["speaker"] = {"id": 1, "name": "A"}

    assert differences(tmp_path, changed(no_words), exchange()) == []
    assert texts(differences(tmp_path, exchange(), changed(speaker_object))) == [
        'server "Results": key speaker changed type: null -> object'
    ]


def test_message_type_names(tmp_path: Path) -> None:
    """A type comes from the first string discriminator (type, event, op, action, kind,
    msg_type), else the payload kind: json-object, json-array, text (JSON too deep to parse too)."""
    messages: list[tuple[str, Payload]] = [
        ("server", {"event": "phx_reply", "type": 3}),
        ("server", {"op": 0, "action": "subscribe"}),
        ("server", {"msg_type": "pong"}),
        ("server", {"data": 1}),
        ("server", [1, 2]),
        ("server", "plain words"),
        ("server", "42"),
        ("server", "[" * 100_000 + "]" * 100_000),
    ]
    path = write_tape(tmp_path / "t.tape.jsonl", messages)
    assert read_shape(path).order["server"] == (
        "phx_reply",
        "subscribe",
        "pong",
        "json-object",
        "json-array",
        "text",
    )


def parse(argv: list[str]) -> argparse.Namespace:
    """`wswatch tape ARGV` through a tiny parser carrying only `diff`."""
    parser = argparse.ArgumentParser(prog="wswatch tape")
    add_diff_command(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    arguments = parse(argv)
    assert arguments.run is run_diff
    code = arguments.run(arguments)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_exit_0_and_a_summary_when_the_shapes_match(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Same shape: exit 0 and one summary line."""
    old = write_tape(tmp_path / "old.tape.jsonl", exchange(5))
    new = write_tape(tmp_path / "new.tape.jsonl", exchange(50, seed=2))
    assert run(["diff", str(old), str(new)], capsys) == (
        0,
        "same shape: 6 message types (client 3, server 3), 21 key paths, handshake 101, "
        "end closed 1000 by server\n",
        "",
    )


def test_exit_1_and_one_line_per_difference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A difference: exit 1 and one line each, handshake first, the end last."""
    old = write_tape(tmp_path / "old.tape.jsonl", exchange())
    new_messages = [*changed(lambda r: r.update(is_final="yes")), ("server", {"type": "Bye"})]
    end = TapeEnd(End.CLOSED, 1.0, 1011, "", "server", False)
    new = write_tape(tmp_path / "new.tape.jsonl", new_messages, status=200, end=end)
    code, out, err = run(["diff", str(old), str(new)], capsys)
    assert (code, err) == (1, "")
    assert out.splitlines() == [
        "handshake status: 101 -> 200",
        'server message type "Bye" added',
        'server "Results": key is_final changed type: boolean -> string',
        "end: closed 1000 by server -> closed 1011 by server",
    ]


def test_json_output_parses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--json prints a JSON array of difference objects ([] for the same shape), same exit codes."""
    old = write_tape(tmp_path / "old.tape.jsonl", exchange())
    new = write_tape(tmp_path / "new.tape.jsonl", changed(lambda r: r.pop("start")))
    code, out, _ = run(["diff", str(old), str(new), "--json"], capsys)
    assert code == 1
    assert json.loads(out) == [
        {
            "kind": "key_removed",
            "direction": "server",
            "message_type": "Results",
            "key_path": "start",
            "old": "number",
            "new": None,
            "text": 'server "Results": key start removed (number)',
        }
    ]
    code, out, _ = run(["diff", str(old), str(old), "--json"], capsys)
    assert (code, json.loads(out)) == (0, [])


def test_exit_2_and_one_line_for_unreadable_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing file, a directory or a broken line: exit 2, one stderr line naming it."""
    good = write_tape(tmp_path / "good.tape.jsonl", exchange())
    broken = tmp_path / "broken.tape.jsonl"
    broken.write_text(good.read_text().splitlines()[0] + "\n{not json\n")
    missing = tmp_path / "missing.tape.jsonl"
    for argv, named in (
        (["diff", str(missing), str(good)], f"{missing}: cannot read it"),
        (["diff", str(good), str(tmp_path)], f"{tmp_path}: cannot read it"),
        (["diff", str(good), str(broken)], f"{broken} line 2: not JSON"),
    ):
        code, out, err = run(argv, capsys)
        assert (code, out) == (2, "")
        assert err.startswith(f"wswatch tape diff: error: {named}")
        assert err.count("\n") == 1 and "Traceback" not in err
