"""What a `messages` fault does to a payload: pure functions over bytes.

A text message stays valid UTF-8 when it is truncated (RFC 6455 section 8.1: an endpoint that
receives invalid UTF-8 in a text message fails the connection with 1007), so a truncated text
tests a client's handling of short messages, not of broken ones. `corrupt` flips bytes whatever
the type: corrupting a text message on purpose is how a client's 1007 handling is tested.
"""

from __future__ import annotations

import random

#: Bytes 10xxxxxx continue a UTF-8 sequence; a character never starts with one (RFC 3629).
_CONTINUATION_MASK, _CONTINUATION_BITS = 0xC0, 0x80

#: One byte flipped in every this many (at least one per non-empty message).
CORRUPT_EVERY = 64


def truncate(content: bytes, limit: int, is_text: bool) -> bytes:
    """The first `limit` bytes; for text, cut back to a character boundary so it stays UTF-8."""
    if len(content) <= limit:
        return content
    end = limit
    if is_text:
        while end > 0 and content[end] & _CONTINUATION_MASK == _CONTINUATION_BITS:
            end -= 1
    return content[:end]


def corrupt(content: bytes, rng: random.Random, is_text: bool) -> bytes:
    """Flip every bit of one byte in every `CORRUPT_EVERY` (at least one), at distinct seeded
    positions. Text comes out invalid UTF-8: one flip always breaks valid UTF-8, but two flips
    can happen to form a valid character, so such a text keeps only its first flip."""
    if not content:
        return content
    positions = rng.sample(range(len(content)), max(1, len(content) // CORRUPT_EVERY))
    data = bytearray(content)
    for position in positions:
        data[position] ^= 0xFF
    if is_text and _is_utf8(data):
        data = bytearray(content)
        data[positions[0]] ^= 0xFF
    return bytes(data)


def _is_utf8(data: bytes | bytearray) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
