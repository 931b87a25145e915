"""The payload scrubber, alone: known values in every form, secret keys at any depth and in
context, credential shapes, and ordinary traffic left exactly as it was."""

from __future__ import annotations

import base64
import json
import random
import re
import urllib.parse
from pathlib import Path

import pytest
from wswatchlib.redaction.payloads import (
    BUILTIN_MESSAGE_KEYS,
    MAX_LEARNED_SECRETS,
    SHAPES,
    ContextRule,
    MessageKeyRules,
    PayloadScrubber,
    edit_of_original,
    message_key,
    scrub_peer_text,
    scrub_shapes,
)

POLYGON_RULE = ContextRule((("action", "auth"),), frozenset({"params"}))


def scrubber(*known: str, rules: MessageKeyRules | None = None) -> PayloadScrubber:
    return PayloadScrubber(
        rules or MessageKeyRules().merged(MessageKeyRules.of(rules=[POLYGON_RULE])), known
    )


@pytest.mark.parametrize("name", ["api_key", "apiKey", "API-KEY", "api.key", "Api Key", "APIKEY"])
def test_key_spellings_are_one_key(name: str) -> None:
    assert message_key(name) == "apikey"


@pytest.mark.parametrize(
    ("message", "shown"),
    [
        # Home Assistant, ElevenLabs, Alpaca's secret, graphql-ws at depth, camelCase.
        (
            '{"type": "auth", "access_token": "ha-123456"}',
            '{"type": "auth", "access_token": "[redacted]"}',
        ),
        ('{"text": " ", "xi_api_key": "xi-123456"}', '{"text": " ", "xi_api_key": "[redacted]"}'),
        (
            '{"type":"connection_init","payload":{"Authorization":"Bearer abcdef"}}',
            '{"type":"connection_init","payload":{"Authorization":"[redacted]"}}',
        ),
        ('{"payload": {"authToken": "gql-123456"}}', '{"payload": {"authToken": "[redacted]"}}'),
        # Inside arrays, at any depth; whitespace and key order as they were.
        (
            '[ {"x": [ {"Password" :  "pw-123456"} ]} ]',
            '[ {"x": [ {"Password" :  "[redacted]"} ]} ]',
        ),
        # A credentials object: every value under it.
        (
            '{"credentials": {"user": "alice-1", "pin": "pin-9876"}}',
            '{"credentials": {"user": "[redacted]", "pin": "[redacted]"}}',
        ),
        # Socket.IO: packet type, namespace, ack id, then JSON.
        ('40{"token":"sio-123456"}', '40{"token":"[redacted]"}'),
        ('42/chat,17["auth",{"token":"sio-123456"}]', '42/chat,17["auth",{"token":"[redacted]"}]'),
        # Context: Polygon's params is secret in an auth message only.
        ('{"action":"auth","params":"poly-123456"}', '{"action":"auth","params":"[redacted]"}'),
        ('{"action":"subscribe","params":"T.AAPL"}', '{"action":"subscribe","params":"T.AAPL"}'),
    ],
)
def test_secret_keys_lose_their_values_and_nothing_else(message: str, shown: str) -> None:
    assert scrubber().text(message) == shown
    json.loads(shown.lstrip("0123456789/chat,"))  # still valid JSON


def test_values_that_cannot_be_replaced_in_place_rewrite_the_document() -> None:
    """A number or a short string under a secret key could match elsewhere in the text: the
    document is written again with the values redacted, still valid JSON, the rest equal."""
    shown = scrubber().text('{"pin": 1, "token": 1234, "note": "1234 x", "pwd": "ab"}')
    assert json.loads(shown) == {
        "pin": 1,
        "token": "[redacted]",
        "note": "1234 x",
        "pwd": "[redacted]",
    }


def test_a_session_object_is_searched_not_hidden() -> None:
    """OpenAI realtime's session.update carries a configuration object under `session`: only
    the secrets inside it go; a session string is a secret."""
    update = {
        "type": "session.update",
        "session": {"model": "gpt-realtime", "client_secret": {"value": "ek_abc123"}},
    }
    shown = json.loads(scrubber().text(json.dumps(update)))
    assert shown["session"] == {"model": "gpt-realtime", "client_secret": {"value": "[redacted]"}}
    assert json.loads(scrubber().text('{"session": "sess-123456"}')) == {"session": "[redacted]"}


def test_booleans_nulls_and_empty_values_under_secret_keys_stay() -> None:
    text = '{"auth": true, "token": null, "secret": ""}'
    assert scrubber().text(text) == text


def test_handshake_values_are_scrubbed_in_every_form_both_ways() -> None:
    token = "hs-tok/en+12=34"
    forms = [
        token,
        urllib.parse.quote(token, safe=""),
        urllib.parse.quote_plus(token),
        base64.b64encode(token.encode()).decode(),
        base64.urlsafe_b64encode(token.encode()).decode().rstrip("="),
        json.dumps(token)[1:-1],
    ]
    scrub = scrubber(token)
    for form in forms:
        assert scrub.text(f"error: bad token {form}.") == "error: bad token [redacted].", form
        assert scrub.binary(b"\x00" + form.encode() + b"\xff") == b"\x00[redacted]\xff", form


def test_a_value_revealed_by_a_key_is_scrubbed_wherever_it_comes_back() -> None:
    """Known-secret propagation within a connection: the client's auth message teaches the
    scrubber the key; the server's plain-text echo of it is scrubbed too."""
    scrub = scrubber()
    scrub.text('{"action": "auth", "params": "poly-KEY-123"}')
    assert (
        scrub.text("auth_failed: key poly-KEY-123 is not valid")
        == "auth_failed: key [redacted] is not valid"
    )
    assert scrub.binary(b"poly-KEY-123") == b"[redacted]"
    assert scrub.learned == ["poly-KEY-123"]


def test_learning_is_bounded_per_connection() -> None:
    scrub = scrubber()
    for number in range(MAX_LEARNED_SECRETS + 5):
        scrub.text(json.dumps({"token": f"token-{number:04}"}))
    assert len(scrub.learned) == MAX_LEARNED_SECRETS
    assert scrub.unlearned == 5


def test_short_handshake_values_are_not_scrubbed_by_value() -> None:
    assert scrubber("abc").text("abc abc") == "abc abc"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("Authorization: Bearer abcdef0123456789ghij", "Authorization: Bearer [redacted]"),
        (
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.[redacted]",
        ),
        ("key=sk-proj-abcdefghijklmnopqrstuvwx", "key=sk-proj-[redacted]"),
        ("sk-ant-api03-abcdefghijklmnopqrstuv", "sk-ant-api03-[redacted]"),
        ("stripe sk_live_abcdefghijklmnop1234", "stripe sk_live_[redacted]"),
        ("ghp_abcdefghijklmnopqrstuvwxyz0123456789", "ghp_[redacted]"),
        ("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", "github_pat_[redacted]"),
        ("xoxb-1234567890-abcdefghij", "xoxb-[redacted]"),
        ("xapp-1-A0123456789-abcdef", "xapp-[redacted]"),
        ("glpat-abcdefghijklmnopqrst", "glpat-[redacted]"),
        ("hf_abcdefghijklmnopqrstuvwxyzABCDEFGH", "hf_[redacted]"),
        ("id AKIAIOSFODNN7EXAMPLE ok", "id [redacted] ok"),
        ("AIzaSyA-abcdefghijklmnopqrstuvwxyz01234", "AIza[redacted]"),
    ],
)
def test_each_credential_shape_is_found(text: str, shown: str) -> None:
    assert scrub_shapes(text) == shown
    assert scrubber().text(text) == shown


def test_every_shape_is_tested() -> None:
    assert set(SHAPES) == {
        "bearer", "jwt", "openai", "stripe", "github", "slack", "gitlab", "huggingface", "aws", "google",
    }  # fmt: skip


#: Ordinary traffic: chat, transcripts, market data, realtime events, audio as base64 text.
ORDINARY = [
    "hello, can you hear me?",
    "the bearer of bad news takes a token of appreciation to the ask-force",
    "Bearer bonds and session musicians: a password-free talk on secrets",
    "task-force sk-8 sk8board skate-park disk-0123 risk-assessment-team",
    json.dumps(
        {
            "type": "Results",
            "channel": {
                "alternatives": [{"transcript": "my api key is on the desk", "confidence": 0.98}]
            },
            "is_final": True,
        }
    ),
    json.dumps({"ev": "T", "sym": "AAPL", "p": 189.5, "s": 100, "t": 1700000000000}),
    json.dumps({"type": "response.audio_transcript.delta", "delta": "token by token"}),
    json.dumps({"type": "session.created", "session": {"id": "sess_001", "model": "gpt-realtime"}}),
    json.dumps(
        {
            "type": "input_audio_buffer.append",
            "audio": base64.b64encode(random.Random(1).randbytes(6000)).decode(),
        }
    ),
    '{"broken json": ',
    '42["message","hi there"]',
    "",
]


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_text_is_left_exactly_as_it_was(text: str) -> None:
    assert scrubber("hs-TOKEN-123456").text(text) == text


def test_binary_audio_is_left_exactly_as_it_was() -> None:
    audio = random.Random(2).randbytes(64_000)
    assert scrubber("hs-TOKEN-123456").binary(audio) == audio


def test_peer_text_of_events_loses_credential_shapes_and_nothing_else() -> None:
    event = {
        "event": "ws.closed",
        "close_reason": "invalid Bearer abcdef0123456789ghij",
        "error_headers": {"www-authenticate": "Bearer abcdef0123456789ghij", "x-error": "denied"},
        "hint": "Send 'Authorization: Bearer <key>' with a valid key.",
        "url": "ws://h/p?x=sk-proj-abcdefghijklmnopqrstuvwx",
    }
    assert scrub_peer_text(None, "info", dict(event)) == {
        **event,
        "close_reason": "invalid Bearer [redacted]",
        "error_headers": {"www-authenticate": "Bearer [redacted]", "x-error": "denied"},
    }


ORIGINAL = b'{"token": "tok-123456", "say": "hi", "key": "k-98765"}'
SHOWN = b'{"token": "[redacted]", "say": "hi", "key": "[redacted]"}'


@pytest.mark.parametrize(
    ("edited", "sent"),
    [
        (SHOWN.replace(b"hi", b"HI"), ORIGINAL.replace(b"hi", b"HI")),
        (
            b'{"key": "[redacted]", "token": "[redacted]"}',
            b'{"key": "tok-123456", "token": "k-98765"}',
        ),
        (SHOWN + b"\n", ORIGINAL + b"\n"),
    ],
    ids=["edit-between", "keys-reordered-values-follow-order", "appended"],
)
def test_an_edit_of_the_shown_copy_applies_to_the_original(edited: bytes, sent: bytes) -> None:
    """The hidden values come back in the order their markers appear."""
    assert edit_of_original(ORIGINAL, SHOWN, edited) == sent


@pytest.mark.parametrize(
    ("original", "shown", "edited"),
    [
        (ORIGINAL, SHOWN, b'{"say": "hi", "key": "[redacted]"}'),  # a marker removed
        (ORIGINAL, SHOWN, SHOWN + b"[redacted]"),  # a marker added
        (b"x abc", b"y [redacted]", b"y [redacted]!"),  # the copy is not of this original
        (b"abcd", b"[redacted][redacted]", b"[redacted]-[redacted]"),  # markers side by side
    ],
)
def test_an_edit_that_cannot_be_mapped_back_is_refused(
    original: bytes, shown: bytes, edited: bytes
) -> None:
    assert edit_of_original(original, shown, edited) is None


@pytest.mark.parametrize(
    ("message", "shown"),
    [
        # An escaped quote elsewhere, an escaped letter in the secret: found by parsing.
        (r'{"x": "a\"b", "token": "abc\u0041def"}', r'{"x": "a\"b", "token": "[redacted]"}'),
        # The same value under an innocent key goes too: it is the secret wherever it is.
        (
            r'{"token": "abc\u0041def", "other": "abcAdef"}',
            '{"token": "[redacted]", "other": "[redacted]"}',
        ),
        # A value made only of what JSON has between tokens cannot be replaced as text.
        ('{"a": "x", "token": ", 12, "}', '{"a": "x", "token": "[redacted]"}'),
        ('{"token":"é-secret-1"}', '{"token":"[redacted]"}'),
    ],
)
def test_escapes_and_odd_values_are_still_found(message: str, shown: str) -> None:
    assert scrubber().text(message) == shown


DOCS = Path(__file__).resolve().parents[2] / "docs" / "redaction.md"


def test_the_documented_keys_and_detectors_are_the_codes() -> None:
    """docs/redaction.md lists exactly the built-in keys and the detectors the code has."""
    text = DOCS.read_text(encoding="utf-8")
    built_in = re.search(r"Built in: (.*?)\(the union", text, re.S)
    assert built_in, "docs/redaction.md has no 'Built in:' list"
    assert re.findall(r"`([^`]+)`", built_in.group(1)) == list(BUILTIN_MESSAGE_KEYS)
    assert re.findall(r"^\| `(\w+)` \|", text, re.M) == list(SHAPES)
