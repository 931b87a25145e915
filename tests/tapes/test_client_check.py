"""Does the live client send what the recording's client sent: off, exact, or JSON with ignores."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import pytest
from wswatchlib.tapes.client_check import SHOWN, ClientCheck, mismatch, parse_paths
from wswatchlib.tapes.format import TapeMessage


def text(value: str) -> TapeMessage:
    return TapeMessage(0.0, True, text=value)


def binary(value: bytes) -> TapeMessage:
    return TapeMessage(0.0, True, data=value)


def digest(value: bytes) -> TapeMessage:
    return TapeMessage(0.0, True, length=len(value), sha256=hashlib.sha256(value).hexdigest())


def as_json(document: Any) -> str:
    return json.dumps(document)


#: name -> (recorded, the live message is text, its payload).
ANYTHING: dict[str, tuple[TapeMessage, bool, bytes]] = {
    "other_text": (text("a"), True, b"b"),
    "text_for_binary": (binary(b"a"), True, b"a"),
    "binary_for_text": (text("a"), False, b"a"),
    "other_digest": (digest(b"a"), False, b"b"),
}


@pytest.mark.parametrize("name", list(ANYTHING))
def test_off_never_mismatches(name: str) -> None:
    """With the check off, any message passes, even of the other kind."""
    recorded, is_text, payload = ANYTHING[name]
    assert mismatch(ClientCheck.OFF, recorded, is_text, payload) is None


#: name -> (recorded, the live message is text, its payload, the mismatch or None).
EXACT: dict[str, tuple[TapeMessage, bool, bytes, str | None]] = {
    "same_text": (text("héllo"), True, "héllo".encode(), None),
    "empty_text": (text(""), True, b"", None),
    "other_text": (text("hello"), True, b"help", "text: recorded hello, sent help"),
    "json_text_compared_as_text": (
        text('{"a": 1}'),
        True,
        b'{"a":1}',
        'text: recorded {"a": 1}, sent {"a":1}',
    ),
    "same_binary": (binary(b"\x00\xff"), False, b"\x00\xff", None),
    "other_binary": (
        binary(b"\x00\xff"),
        False,
        b"\x00\xfe\x01",
        "binary: recorded 2 bytes, sent 3 bytes (content differs)",
    ),
    "same_length_other_bytes": (
        binary(b"ab"),
        False,
        b"ac",
        "binary: recorded 2 bytes, sent 2 bytes (content differs)",
    ),
    "same_digest": (digest(b"audio" * 200), False, b"audio" * 200, None),
    "other_digest": (
        digest(b"audio" * 200),
        False,
        b"audio" * 199 + b"AUDIO",
        "binary: recorded 1000 bytes, sent 1000 bytes (content differs)",
    ),
    "text_recorded_binary_sent": (text("a"), False, b"a", "recorded a text message, sent binary"),
    "binary_recorded_text_sent": (binary(b"a"), True, b"a", "recorded a binary message, sent text"),
    "digest_recorded_text_sent": (digest(b"a"), True, b"a", "recorded a binary message, sent text"),
}


@pytest.mark.parametrize("check", [ClientCheck.EXACT, ClientCheck.JSON])
@pytest.mark.parametrize("name", list(EXACT))
def test_exact_comparison(name: str, check: ClientCheck) -> None:
    """Text as is, binary by bytes or by SHA-256, the kind first; json mode compares binary
    and non-JSON text the same way."""
    recorded, is_text, payload, expected = EXACT[name]
    if check is ClientCheck.JSON and name == "json_text_compared_as_text":
        expected = None
    assert mismatch(check, recorded, is_text, payload) == expected


def test_long_texts_are_shortened() -> None:
    """Each side of a text mismatch is shown to at most SHOWN characters."""
    found = mismatch(ClientCheck.EXACT, text("a" * 500), True, b"b" * 500)
    assert found == f"text: recorded {'a' * (SHOWN - 3)}..., sent {'b' * (SHOWN - 3)}..."


def test_invalid_utf8_is_replaced_not_raised() -> None:
    """A text payload that is not UTF-8 is compared (and shown) with replacement characters."""
    assert mismatch(ClientCheck.EXACT, text("a"), True, b"\xff") == "text: recorded a, sent \ufffd"


RECORDED = {
    "type": "Settings",
    "id": "req-1",
    "meta": {"ts": 1700000000, "source": "mic"},
    "items": [{"id": "x1", "text": "hello"}, {"id": "x2", "text": "world"}],
    "flags": [True, False],
}


def changed(**changes: Any) -> dict[str, Any]:
    return {**RECORDED, **changes}


IGNORED = parse_paths(["id", "meta.ts", "items.*.id"])

#: name -> (the live document, the paths ignored, the mismatch or None).
JSON_CASES: dict[str, tuple[Any, tuple[tuple[str, ...], ...], str | None]] = {
    "same_document_other_spacing_and_order": (
        dict(reversed(list(RECORDED.items()))),
        (),
        None,
    ),
    "ignored_paths_differ": (
        changed(
            id="req-2",
            meta={"ts": 1800000000, "source": "mic"},
            items=[{"id": "y1", "text": "hello"}, {"id": "y2", "text": "world"}],
        ),
        IGNORED,
        None,
    ),
    "ignored_path_absent_on_one_side": (
        {key: value for key, value in RECORDED.items() if key != "id"},
        IGNORED,
        None,
    ),
    "id_differs_not_ignored": (changed(id="req-2"), (), 'id: recorded "req-1", sent "req-2"'),
    "nested_value_changed": (
        changed(meta={"ts": 1700000000, "source": "file"}),
        IGNORED,
        'meta.source: recorded "mic", sent "file"',
    ),
    "missing_key": (
        {key: value for key, value in RECORDED.items() if key != "type"},
        IGNORED,
        'type: missing (recorded "Settings")',
    ),
    "extra_key": (
        changed(extra={"a": 1}),
        IGNORED,
        'extra: not in the recording (sent {"a": 1})',
    ),
    "list_element_changed": (
        changed(items=[{"id": "x1", "text": "hello"}, {"id": "x2", "text": "word"}]),
        IGNORED,
        'items.1.text: recorded "world", sent "word"',
    ),
    "list_length_changed": (
        changed(flags=[True]),
        IGNORED,
        "flags: recorded [true, false], sent [true]",
    ),
    "type_changed": (
        changed(meta=[1]),
        (),
        'meta: recorded {"ts": 1700000000, "source": "mic"}, sent [1]',
    ),
    "index_path_ignored": (
        changed(items=[{"id": "x1", "text": "bye"}, {"id": "x2", "text": "world"}]),
        parse_paths(["items.0"]),
        None,
    ),
    "index_path_leaves_other_elements": (
        changed(items=[{"id": "x1", "text": "hello"}, {"id": "x2", "text": "word"}]),
        parse_paths(["items.0"]),
        'items.0.text: recorded "world", sent "word"',
    ),
    "star_on_object_keys": (
        changed(meta={"ts": 1, "source": "other"}),
        parse_paths(["meta.*"]),
        None,
    ),
    "dollar_prefix_accepted": (changed(id="req-9"), parse_paths(["$.id"]), None),
    "true_is_not_1": (changed(flags=[1, False]), (), "flags.0: recorded true, sent 1"),
    "false_is_not_0": (changed(flags=[True, 0]), (), "flags.1: recorded false, sent 0"),
    "int_and_float_equal": (changed(meta={"ts": 1700000000.0, "source": "mic"}), (), None),
}


@pytest.mark.parametrize("name", list(JSON_CASES))
def test_json_comparison(name: str) -> None:
    """JSON mode compares documents, leaving out ignored paths, and says where they first differ."""
    got, ignored, expected = JSON_CASES[name]
    found = mismatch(
        ClientCheck.JSON, text(as_json(RECORDED)), True, as_json(got).encode(), ignored
    )
    assert found == expected


def test_whole_message_difference_is_named() -> None:
    """Two different top-level values are reported as the whole message."""
    found = mismatch(ClientCheck.JSON, text("[1, 2]"), True, b'{"a": 1}')
    assert found == '(whole message): recorded [1, 2], sent {"a": 1}'


@pytest.mark.parametrize(
    ("recorded", "sent"),
    [("not json", b"not json either"), ('{"a": 1}', b"{oops"), ("plain", b'{"a": 1}')],
    ids=["neither_json", "sent_not_json", "recorded_not_json"],
)
def test_json_mode_falls_back_to_exact_for_non_json(recorded: str, sent: bytes) -> None:
    """A message that is not JSON on either side is compared as text."""
    found = mismatch(ClientCheck.JSON, text(recorded), True, sent, IGNORED)
    assert found == f"text: recorded {recorded}, sent {sent.decode()}"


def test_ignored_paths_do_not_change_the_recording() -> None:
    """Leaving paths out copies: the recorded document is not altered by a comparison."""
    document = {"id": 1, "items": [{"id": 2}]}
    recorded = text(as_json(document))
    mismatch(ClientCheck.JSON, recorded, True, b'{"id": 3, "items": [{"id": 4}]}', IGNORED)
    assert recorded.text == as_json(document)


@pytest.mark.parametrize(
    ("paths", "parsed"),
    [
        (["id"], (("id",),)),
        (["meta.ts", " items.*.id "], (("meta", "ts"), ("items", "*", "id"))),
        (["$.a.0"], (("a", "0"),)),
        ([], ()),
    ],
    ids=["key", "dotted_and_star_stripped", "dollar_prefix", "none"],
)
def test_parse_paths(paths: list[str], parsed: tuple[tuple[str, ...], ...]) -> None:
    """Paths are dotted keys, `*` for any, an optional `$.` prefix, spaces around stripped."""
    assert parse_paths(paths) == parsed


@pytest.mark.parametrize("bad", ["", "  ", "a..b", ".a", "a.", "$."])
def test_parse_paths_error_names_the_bad_path(bad: str) -> None:
    """A malformed path is a ValueError quoting it, whatever the good paths around it."""
    with pytest.raises(ValueError, match=f"^{re.escape(repr(bad))} is not a path"):
        parse_paths(["id", bad, "meta.ts"])
