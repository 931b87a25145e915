"""Message payloads as `truncate` and `corrupt` leave them: exact bytes, valid or invalid UTF-8."""

from __future__ import annotations

import random

import pytest
from wswatchlib.faults.payloads import CORRUPT_EVERY, corrupt, truncate


@pytest.mark.parametrize(
    ("content", "limit", "is_text", "expected"),
    [
        (b"hello", 3, True, b"hel"),
        (b"hello", 5, True, b"hello"),
        (b"hello", 50, True, b"hello"),
        (b"hello", 0, True, b""),
        # 'é' is two bytes: 5 bytes of 'ééééé' end inside the third, which is left out.
        ("ééééé".encode(), 5, True, "éé".encode()),
        ("ééééé".encode(), 4, True, "éé".encode()),
        ("aé".encode(), 2, True, b"a"),
        # A four-byte character cut after one, two or three of its bytes is left out whole.
        ("x😀y".encode(), 2, True, b"x"),
        ("x😀y".encode(), 4, True, b"x"),
        ("x😀y".encode(), 5, True, "x😀".encode()),
        ("😀".encode(), 3, True, b""),
        # Binary messages are cut at exactly `limit` bytes, whatever the bytes are.
        ("ééééé".encode(), 5, False, "ééééé".encode()[:5]),
        (bytes(range(256)), 7, False, bytes(range(7))),
    ],
)
def test_truncate_keeps_a_valid_utf8_prefix_of_text_and_exact_bytes_of_binary(
    content: bytes, limit: int, is_text: bool, expected: bytes
) -> None:
    """Text is cut at the last character boundary at or below the limit; binary at the limit."""
    assert truncate(content, limit, is_text) == expected


def test_truncated_text_is_the_longest_whole_character_prefix_within_the_limit() -> None:
    """Every limit on mixed 1-4 byte characters gives valid UTF-8: the most characters that fit."""
    text = "aé€😀b€é😀"
    for limit in range(len(text.encode()) + 1):
        cut = truncate(text.encode(), limit, is_text=True).decode("utf-8")
        assert text.startswith(cut) and len(cut.encode()) <= limit
        assert cut == text or len(cut.encode()) + len(text[len(cut)].encode()) > limit


def _flipped(before: bytes, after: bytes) -> list[int]:
    return [i for i, (b, a) in enumerate(zip(before, after, strict=True)) if b != a]


@pytest.mark.parametrize(("length", "flips"), [(1, 1), (63, 1), (64, 1), (200, 3), (640, 10)])
def test_corrupt_flips_one_byte_in_64_at_distinct_positions(length: int, flips: int) -> None:
    """corrupt flips exactly max(1, len // 64) distinct bytes, each with all bits inverted."""
    content = bytes(i % 256 for i in range(length))
    changed = corrupt(content, random.Random(3), is_text=False)
    positions = _flipped(content, changed)
    assert len(positions) == flips == max(1, length // CORRUPT_EVERY)
    assert all(changed[i] == content[i] ^ 0xFF for i in positions)


def test_corrupt_is_reproducible_with_the_same_seed() -> None:
    """The same seed flips the same positions."""
    content = b"x" * 500
    assert corrupt(content, random.Random(9), False) == corrupt(content, random.Random(9), False)


def test_corrupt_leaves_an_empty_message_empty() -> None:
    """An empty payload has nothing to flip."""
    assert corrupt(b"", random.Random(1), is_text=True) == b""


@pytest.mark.parametrize("text", ["a" * 640, "ééééé", "x😀y" * 40, "<V" * 300, "k"])
def test_corrupted_text_is_invalid_utf8(text: str) -> None:
    """For any seed, a corrupted text message is invalid UTF-8 (a client must close with 1007)."""
    content = text.encode()
    for seed in range(200):
        with pytest.raises(UnicodeDecodeError):
            corrupt(content, random.Random(seed), is_text=True).decode("utf-8")


def test_two_flips_forming_a_valid_character_fall_back_to_one_flip() -> None:
    """'<V' flipped in both bytes is 'é' (valid): the text keeps only its first flip."""
    content = b"<V" * 64  # 128 bytes: two flips

    def seed_flipping_one_pair() -> int:
        for seed in range(10_000):
            first, second = random.Random(seed).sample(range(len(content)), 2)
            if abs(first - second) == 1 and min(first, second) % 2 == 0:
                return seed
        raise AssertionError("no seed in 10000 flips one '<V' pair")

    seed = seed_flipping_one_pair()
    assert len(_flipped(content, corrupt(content, random.Random(seed), is_text=False))) == 2
    assert len(_flipped(content, corrupt(content, random.Random(seed), is_text=True))) == 1
