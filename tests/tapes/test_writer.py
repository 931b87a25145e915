"""Writing one tape: names that sort and are safe on disk, and no file kept holding a secret."""

from __future__ import annotations

import base64
import datetime
import re
from pathlib import Path
from typing import Any

import pytest
from wswatchlib.redaction.redactor import MIN_SCRUB_LENGTH, secret_forms
from wswatchlib.tapes.format import TAPE_SUFFIX, End, TapeEnd, TapeMessage, end_line, message_line
from wswatchlib.tapes.writer import SLUG_LENGTH, TapeWriter, secret_lines, tape_name

#: 2026-12-06T13:46:21Z
MOMENT = datetime.datetime(2026, 12, 6, 13, 46, 21, tzinfo=datetime.UTC).timestamp()

SAFE = re.compile(r"[A-Za-z0-9._-]+")


def test_tape_name_says_when_and_what() -> None:
    """A name is the UTC time to the millisecond, a sequence, host and path, and the status."""
    name = tape_name(MOMENT + 0.125, 3, "api.example.com", "/v1/listen?token=abc", 101)
    assert name == "20261206T134621.125Z-0003-api.example.com-v1-listen-101.tape.jsonl"


def test_tape_name_without_an_answer_says_error() -> None:
    """An attempt that got no answer is named with `error` for its status."""
    assert tape_name(MOMENT, 1, "h", "/", None).endswith("-error" + TAPE_SUFFIX)


def test_tape_names_sort_by_recording_time() -> None:
    """Sorting names sorts tapes by when they were recorded, then by sequence, whatever the
    host, path or status."""
    recorded = [
        (MOMENT - 86_400, 9, "zzz.example", "/z", 500),
        (MOMENT, 2, "b.example", "/b", 101),
        (MOMENT, 10, "a.example", "/a", 401),
        (MOMENT + 0.25, 1, "a.example", "/a", None),
        (MOMENT + 1, 0, "0.example", "/", 101),
        (MOMENT + 60, 3, "a.example", "/", 101),
        (MOMENT + 86_400 * 40, 4, "a.example", "/", 101),
    ]
    names = [tape_name(*each) for each in recorded]
    assert sorted(names) == names


#: name -> (host, path).
HOSTILE = {
    "parent_dirs": ("../../etc", "/../../passwd"),
    "absolute_path_host": ("/etc/passwd", "/x"),
    "backslashes": ("..\\..\\windows", "\\system32\\x"),
    "spaces_and_quotes": ("my host", "/a path/with 'quotes' \"and\" spaces"),
    "unicode": ("例え.テスト", "/ünïcødé/🎙️"),
    "control_characters": ("h\x00st", "/a\nb\rc\td"),
    "windows_reserved": ("CON", "/a:b*c?d|e<f>g"),
    "ipv6": ("[::1]", "/v1"),
    "empty": ("", ""),
    "only_dots": (".", "/.."),
    "very_long": ("a" * 300 + ".example.com", "/" + "segment/" * 200),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_tape_name_is_filesystem_safe(tmp_path: Path, name: str) -> None:
    """Whatever the host and path, the name is one short portable file name in the tapes
    directory: ASCII letters, digits, `.`, `_`, `-`; not hidden; no query."""
    host, path = HOSTILE[name]
    tape = tape_name(MOMENT, 1, host, path + "?token=s3cret-value", 101)
    assert SAFE.fullmatch(tape), tape
    assert not tape.startswith(".")
    assert "s3cret" not in tape
    assert len(tape + ".partial") <= 255
    assert len(tape) <= len("20261206T134621.000Z-0001--101") + SLUG_LENGTH + len(TAPE_SUFFIX)
    writer = TapeWriter(tmp_path, tape)
    assert writer.finish(frozenset()) == []
    assert [each.name for each in tmp_path.iterdir()] == [tape]


HEADER: dict[str, Any] = {"wswatch_tape": 1, "request": {"path": "/v1/listen?token=[redacted]"}}


def message(text: str) -> dict[str, Any]:
    return message_line(TapeMessage(1.0, False, text=text))


def write(
    directory: Path, lines: list[dict[str, Any]], name: str = "t" + TAPE_SUFFIX
) -> TapeWriter:
    writer = TapeWriter(directory, name)
    for line in lines:
        writer.write(line)
    return writer


def test_partial_file_holds_lines_until_finished(tmp_path: Path) -> None:
    """Lines go to NAME.partial as written; NAME appears only when finished clean."""
    writer = write(tmp_path, [HEADER, message("hello")])
    writer._file.flush()
    assert writer.partial.name == "t.tape.jsonl.partial"
    assert writer.partial.read_text().count("\n") == 2
    assert not writer.path.exists()
    assert writer.lines == 2


def test_clean_tape_is_kept(tmp_path: Path) -> None:
    """A tape holding no form of any known secret becomes NAME; nothing partial is left."""
    lines = [
        HEADER,
        message("hello"),
        end_line(TapeEnd(End.CLOSED, 2.0, 1000, "done", "server", True)),
    ]
    writer = write(tmp_path, lines)
    assert writer.finish(frozenset({"sk-live-0123456789abcdef"})) == []
    assert [each.name for each in tmp_path.iterdir()] == ["t.tape.jsonl"]
    assert writer.path.read_text().splitlines()[1] == '{"t":1.0,"from":"server","text":"hello"}'


#: The secrets a tape must never be kept holding: plain, JSON-special, percent-special.
SECRETS = {
    "plain": "sk-live-0123456789abcdef",
    "json_special_non_ascii": 'pa"ss\\wörd-123',
    "percent_special": "key with/space+plus=",
}

FORMS = [
    (secret_name, form)
    for secret_name, secret in SECRETS.items()
    for form in sorted(secret_forms(secret))
]


@pytest.mark.parametrize(
    ("secret_name", "form"), FORMS, ids=[f"{name}-{form}" for name, form in FORMS]
)
def test_tape_holding_a_secret_in_any_form_is_deleted(
    tmp_path: Path, secret_name: str, form: str
) -> None:
    """A secret in any form `secret_forms` covers (raw, percent-encoded, base64, JSON-escaped),
    inside a message as written, gets the tape deleted; its line numbers are returned."""
    writer = write(
        tmp_path, [HEADER, message("clean"), message(f"before {form} after"), message("clean")]
    )
    assert writer.finish(frozenset({SECRETS[secret_name]})) == [3]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("secret_name", list(SECRETS))
def test_secret_found_in_header_binary_and_end_lines(tmp_path: Path, secret_name: str) -> None:
    """A secret in a header value, in a binary message (base64) or in the close reason is
    found on every line it is on."""
    secret = SECRETS[secret_name]
    lines = [
        {**HEADER, "request": {"headers": [["x-api-key", secret]]}},
        message("clean"),
        message_line(TapeMessage(2.0, False, data=b"\x00\x01\x02" + secret.encode())),
        end_line(TapeEnd(End.CLOSED, 4.0, 4001, f"bad key {secret}", "server", True)),
    ]
    writer = write(tmp_path, lines)
    assert writer.finish(frozenset({secret, "another-secret"})) == [1, 3, 4]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("offset", [0, 1, 2])
@pytest.mark.parametrize("tail", [b"", b"\xff", b"\xfftail"], ids=["end", "one_byte", "more"])
@pytest.mark.parametrize("secret_name", list(SECRETS))
def test_secret_anywhere_in_base64_payloads_is_found(
    tmp_path: Path, secret_name: str, offset: int, tail: bytes
) -> None:
    """A secret inside a binary message or a response body is found wherever it sits in the
    bytes, though its base64 then differs from the secret's own base64."""
    payload = b"\xfe" * offset + SECRETS[secret_name].encode() + tail
    encoded = base64.b64encode(payload).decode()
    header = {**HEADER, "response": {"status": 400, "body_base64": encoded}}
    lines = [header, message("clean"), message_line(TapeMessage(2.0, False, data=payload))]
    writer = write(tmp_path, lines)
    assert writer.finish(frozenset({SECRETS[secret_name]})) == [1, 3]
    assert list(tmp_path.iterdir()) == []


def test_secret_lines_reads_line_by_line(tmp_path: Path) -> None:
    """`secret_lines` gives the numbers of the lines holding a secret, in order."""
    path = tmp_path / "t"
    path.write_text("a\nsecret-one\nb\nxx secret-two\nsecret-one secret-two\n")
    assert secret_lines(path, frozenset({"secret-one", "secret-two"})) == [2, 4, 5]
    assert secret_lines(path, frozenset()) == []


def test_secrets_too_short_to_scrub_are_not_searched(tmp_path: Path) -> None:
    """Values shorter than MIN_SCRUB_LENGTH are not secrets to search for (they would match
    everywhere): the tape is kept."""
    short = "k" * (MIN_SCRUB_LENGTH - 1)
    writer = write(tmp_path, [HEADER, message(f"a {short} b")])
    assert writer.finish(frozenset({short})) == []
    assert writer.path.exists()


def test_abandon_removes_the_partial(tmp_path: Path) -> None:
    """An abandoned tape leaves no file, partial or whole."""
    writer = write(tmp_path, [HEADER, message("hello")])
    writer.abandon()
    assert list(tmp_path.iterdir()) == []
