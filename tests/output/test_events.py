"""Events: the fields an event dataclass hands to the event log."""

from __future__ import annotations

import dataclasses

from wswatchlib.events import ClosedEvent, HandshakeEvent, field_values


def test_field_values_match_asdict_in_order() -> None:
    """Field values are what `asdict` gives, key for key and in the same order."""
    handshake = HandshakeEvent(
        client="127.0.0.1:5000",
        url="ws://h.example/ws",
        host="h.example",
        path="/ws",
        outcome="rejected",
        status=401,
        reason="Unauthorized",
        vendor="deepgram",
        request_id="r-1",
        error="Invalid credentials.",
        error_headers={"dg-error": "Invalid credentials."},
        retry_after=None,
        body_excerpt="{}",
        problems=["missing key"],
        hint="check the key",
        duration_ms=1.5,
        client_id="c1",
    )
    closed = ClosedEvent(
        url="ws://h.example/ws",
        close_code=1000,
        close_reason="bye",
        closed_by="client",
        clean=True,
        duration_s=0.1,
        messages={"client": 1, "server": 2},
        bytes={"client": 10, "server": 20},
        vendor=None,
        hint=None,
        last_message_s={"client": 0.05, "server": None},
    )
    for event in (handshake, closed):
        assert list(field_values(event).items()) == list(dataclasses.asdict(event).items())
