"""Safe text: bytes mitmproxy could not decode, and terminal control characters, written escaped."""

from __future__ import annotations

import json
import random

import pytest
from wswatchlib.text import _CONTROL, encodable, encodable_event, make_encodable, terminal_safe

#: What mitmproxy hands over for the bytes b"caf\xc3\xa9 \xff\xfe" (surrogateescape).
MITM_DECODED = b"caf\xc3\xa9 \xff\xfe".decode("utf-8", "surrogateescape")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "plain"),
        ("café", "café"),
        (MITM_DECODED, "café \\xff\\xfe"),
        ("lone \ud800 high", "lone \\ud800 high"),
    ],
    ids=["ascii", "utf-8", "undecodable-bytes", "lone-surrogate"],
)
def test_encodable_escapes_only_what_utf8_cannot_carry(text: str, expected: str) -> None:
    """Valid text is kept as is; undecodable bytes become \\xNN, other surrogates \\uNNNN."""
    assert encodable(text) == expected
    encodable(text).encode("utf-8")


def test_terminal_safe_escapes_control_characters() -> None:
    """An ANSI escape or carriage return in a reason cannot drive the terminal."""
    assert terminal_safe("bad\x1b[2J\rreason\t\xff") == "bad\\x1b[2J\\rreason\t\xff"
    assert terminal_safe(MITM_DECODED) == "café \\xff\\xfe"


def test_encodable_event_reaches_keys_and_nested_values() -> None:
    """Every string of an event, keys and nested lists included, becomes valid UTF-8."""
    event = {
        "error": MITM_DECODED,
        "error_headers": {MITM_DECODED: MITM_DECODED},
        "problems": [MITM_DECODED],
        "raw": b"\xff",
        "status": 401,
    }
    made = encodable_event(None, "info", event)
    json.dumps(made, ensure_ascii=False).encode("utf-8")
    assert made["error_headers"] == {"café \\xff\\xfe": "café \\xff\\xfe"}
    assert made["problems"] == ["café \\xff\\xfe"] and made["raw"] == "\\xff"
    assert made["status"] == 401
    assert make_encodable(("a", MITM_DECODED)) == ["a", "café \\xff\\xfe"]


def test_terminal_safe_answers_as_the_escaping_regex_over_every_control_character() -> None:
    """The short cut for printable ASCII changes nothing: 50,000 generated texts over C0, C1,
    DEL, tab, non-ASCII and non-UTF-8 escapes escape as the regex alone escapes them."""
    draw = random.Random(7)
    alphabet = [chr(code) for code in range(0xA0)] + ["é", "\udcff", "\u2028"]
    for _ in range(50_000):  # bounded
        text = "".join(draw.choice(alphabet) for _ in range(draw.randint(0, 8)))
        escaped = _CONTROL.sub(lambda found: repr(found.group())[1:-1], encodable(text))
        assert terminal_safe(text) == escaped, repr(text)
