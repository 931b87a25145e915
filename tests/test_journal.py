"""The message journal's assertions over noted connections (pure): what passes, what fails,
and that a failure shows the timeline."""

from __future__ import annotations

import pytest
from wswatchlib.testing.journal import (
    SeenConnection,
    SeenMessage,
    assert_client_sent,
    assert_client_silent_after_close,
    assert_reconnected_after_message,
    timeline,
)


def connection(number: int, opened: float, *messages: SeenMessage, code: int | None = None):
    seen = SeenConnection(number, "/socket", "127.0.0.1:5000", opened, list(messages))
    if code is not None:
        seen.closed, seen.close_code, seen.closed_by = opened + 1, code, "proxy"
    return seen


def client(at: float, text: str) -> SeenMessage:
    return SeenMessage(at, True, True, text.encode())


def server(at: float, text: str, injected: bool = False) -> SeenMessage:
    return SeenMessage(at, False, True, text.encode(), injected=injected)


SESSION = [
    connection(
        1,
        0.0,
        client(0.1, '{"type": "auth", "token": "[redacted]"}'),
        server(0.2, '{"type": "disconnect", "reason": "warning"}', injected=True),
        code=1000,
    ),
    connection(2, 1.5, client(1.6, '{"type": "auth"}')),
]


def test_counts_and_matches_what_the_client_sent():
    assert_client_sent(SESSION, {"json": {"type": "auth"}}, times=2)
    assert_client_sent(SESSION, {"text": "auth"})
    with pytest.raises(AssertionError, match=r"matching \{'json': \{'type': 'bye'\}\} 0 time"):
        assert_client_sent(SESSION, {"json": {"type": "bye"}})
    with pytest.raises(AssertionError, match=r"2 time\(s\), expected 1 time"):
        assert_client_sent(SESSION, {"json": {"type": "auth"}}, times=1)


def test_reconnection_after_a_message_is_timed_from_its_delivery():
    assert_reconnected_after_message(SESSION, {"json": {"type": "disconnect"}}, within_s=1.5)
    with pytest.raises(AssertionError, match=r"reconnected 1\.300 s after .* later than 1 s"):
        assert_reconnected_after_message(SESSION, {"json": {"type": "disconnect"}}, within_s=1)
    with pytest.raises(AssertionError, match=r"no message matching .* reached the client"):
        assert_reconnected_after_message(SESSION, {"text": "goodbye"}, within_s=1)


def test_silence_after_a_close_needs_such_a_close_and_no_later_message():
    with pytest.raises(AssertionError, match=r"sent 1 message\(s\) after the close 1000"):
        assert_client_silent_after_close(SESSION, 1000)
    with pytest.raises(AssertionError, match="no connection closed with 4401: nothing to judge"):
        assert_client_silent_after_close(SESSION, 4401)
    assert_client_silent_after_close(SESSION[:1], 1000)


def test_the_timeline_marks_injected_and_unforwarded_messages_and_cuts_long_texts():
    swallowed = SeenMessage(0.3, True, True, b"x" * 200, dropped=True)
    binary = SeenMessage(0.4, True, False, b"\x00" * 10)
    lines = timeline([connection(1, 0.0, swallowed, binary, server(0.5, "hi", injected=True))])
    assert "#1 client -> server  " + "x" * 69 + "... [not forwarded]" in lines
    assert "#1 client -> server  <binary, 10 bytes>" in lines
    assert "#1 server -> client  hi [injected by wswatch]" in lines
    assert timeline([]).startswith("  (no WebSocket connection")
