"""Capturing data messages from raw RFC 6455 bytes: unmasked, joined, inflated, however cut."""

from __future__ import annotations

import itertools
import random
import zlib

import pytest
from raw_frames import Opcode, client_frame, frame
from wswatchlib.tapes.capture import CapturedMessage, MessageCapture

BIG = bytes(range(256)) * 300  # 76,800 bytes: a 64-bit length


def deflater() -> zlib._Compress:
    """A permessage-deflate compressor (RFC 7692 section 7.2.1): raw DEFLATE, 15-bit window."""
    return zlib.compressobj(wbits=-15)


def compressed(compressor: zlib._Compress, payload: bytes) -> bytes:
    """`payload` compressed as one message: sync-flushed, its trailing 00 00 ff ff removed."""
    data = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert data.endswith(b"\x00\x00\xff\xff")
    return data[:-4]


def sent(from_client: bool, opcode: int, payload: bytes = b"", **kwargs: object) -> bytes:
    """A frame as that side sends it: masked from the client, unmasked from the server."""
    build = client_frame if from_client else frame
    return build(opcode, payload, **kwargs)  # type: ignore[arg-type]


def read(
    data: bytes, from_client: bool, *, cuts: list[int] | None = None, **kwargs: object
) -> tuple[MessageCapture, list[CapturedMessage]]:
    """Feed `data` cut at `cuts` (the n-th piece at epoch second n); the messages captured."""
    capture = MessageCapture(from_client, **kwargs)  # type: ignore[arg-type]
    bounds = [0, *(cuts or []), len(data)]
    messages = []
    for number, (start, end) in enumerate(itertools.pairwise(bounds)):
        messages += capture.feed(data[start:end], float(number))
    return capture, messages


def contents(messages: list[CapturedMessage]) -> list[tuple[bool, bytes]]:
    return [(message.text, message.payload) for message in messages]


@pytest.mark.parametrize("from_client", [False, True], ids=["server", "client"])
def test_text_and_binary_messages_are_captured_unmasked(from_client: bool) -> None:
    """Whole text and binary messages come out as sent, the client's unmasked, with the chunk's time."""
    data = sent(from_client, Opcode.TEXT, "héllo".encode()) + sent(
        from_client, Opcode.BINARY, b"\x00\xff\x10"
    )
    capture = MessageCapture(from_client)
    assert capture.feed(data, 12.5) == [
        CapturedMessage(12.5, True, "héllo".encode()),
        CapturedMessage(12.5, False, b"\x00\xff\x10"),
    ]
    assert capture.broken is None and capture.skipped == 0


@pytest.mark.parametrize("from_client", [False, True], ids=["server", "client"])
def test_16_and_64_bit_lengths_are_read(from_client: bool) -> None:
    """Payloads of 126 and 65,535 bytes (16-bit lengths) and 76,800 bytes (64-bit) come out whole."""
    payloads = [b"y" * 126, bytes(range(256)) * 255 + b"z" * 255, BIG]
    data = b"".join(sent(from_client, Opcode.BINARY, payload) for payload in payloads)
    for cuts in ([], [1], [3], [9], [len(data) - 1], list(range(0, len(data), 1000))):
        _, messages = read(data, from_client, cuts=cuts)
        assert contents(messages) == [(False, payload) for payload in payloads], cuts


def test_fragments_are_joined_around_a_ping() -> None:
    """A fragmented message is one message of its fragments, a ping between them left out."""
    data = (
        client_frame(Opcode.TEXT, b"ab", fin=False)
        + client_frame(Opcode.PING, b"p1")
        + client_frame(Opcode.CONTINUATION, b"", fin=False)
        + client_frame(Opcode.CONTINUATION, b"cd", fin=False)
        + client_frame(Opcode.CONTINUATION, b"ef")
        + client_frame(Opcode.PONG, b"p2")
        + client_frame(Opcode.CLOSE, b"\x03\xe8")
    )
    capture, messages = read(data, True)
    assert contents(messages) == [(True, b"abcdef")]
    assert capture.broken is None


def test_compressed_messages_share_the_deflate_context() -> None:
    """With permessage-deflate, RSV1 messages inflate with one decompressor per direction (the
    second refers back to the first); a fragmented one is joined first; one without RSV1 is as sent."""
    compressor = deflater()
    first_text = b"the quick brown fox jumps over the lazy dog " * 20
    first = compressed(compressor, first_text)
    second = compressed(compressor, first_text)
    assert len(second) < len(compressed(deflater(), first_text))  # it needs the first's window
    third = compressed(compressor, b"fragmented and compressed")
    data = (
        client_frame(Opcode.TEXT, first, rsv=0b100)
        + client_frame(Opcode.BINARY, b"plain")
        + client_frame(Opcode.TEXT, second, rsv=0b100)
        + client_frame(Opcode.BINARY, third[:5], rsv=0b100, fin=False)
        + client_frame(Opcode.PING)
        + client_frame(Opcode.CONTINUATION, third[5:])
    )
    expected = [
        (True, first_text),
        (False, b"plain"),
        (True, first_text),
        (False, b"fragmented and compressed"),
    ]
    for cuts in ([], [len(data) // 2], list(range(1, len(data)))):
        capture, messages = read(data, True, cuts=cuts, deflate=True)
        assert contents(messages) == expected, cuts
        assert capture.broken is None


def test_a_message_ending_its_deflate_stream_lets_the_next_start_anew() -> None:
    """A message whose DEFLATE stream ends (a BFINAL block) inflates, and so does the next one,
    compressed with a fresh context."""
    ended = deflater()
    first = ended.compress(b"first") + ended.flush(zlib.Z_FINISH)
    data = frame(Opcode.TEXT, first, rsv=0b100) + frame(
        Opcode.TEXT, compressed(deflater(), b"second"), rsv=0b100
    )
    capture, messages = read(data, False, deflate=True)
    assert contents(messages) == [(True, b"first"), (True, b"second")]
    assert capture.broken is None


def test_without_deflate_an_rsv1_payload_is_kept_as_sent() -> None:
    """Unless permessage-deflate was negotiated, RSV1 means nothing here: the payload is as sent."""
    _, messages = read(frame(Opcode.TEXT, b"\x01\x02", rsv=0b100), False)
    assert contents(messages) == [(True, b"\x01\x02")]


def _mixed_stream(from_client: bool) -> tuple[bytes, list[tuple[int, bool, bytes]]]:
    """Frames of every kind this side may send, and (offset just past its last frame, text,
    payload) of each message in it."""
    compressor = deflater()
    zipped = [compressed(compressor, b"zip" * 40), compressed(compressor, b"zip" * 41)]
    pieces: list[tuple[bytes, tuple[bool, bytes] | None]] = [
        (sent(from_client, Opcode.TEXT, b"one"), (True, b"one")),
        (sent(from_client, Opcode.BINARY), (False, b"")),
        (sent(from_client, Opcode.PING, b"are you there"), None),
        (sent(from_client, Opcode.BINARY, b"x" * 300), (False, b"x" * 300)),
        (sent(from_client, Opcode.TEXT, b"fr", fin=False), None),
        (sent(from_client, Opcode.PONG), None),
        (sent(from_client, Opcode.CONTINUATION, b"ag"), (True, b"frag")),
        (sent(from_client, Opcode.TEXT, zipped[0], rsv=0b100), (True, b"zip" * 40)),
        (sent(from_client, Opcode.BINARY, zipped[1], rsv=0b100), (False, b"zip" * 41)),
        (sent(from_client, Opcode.CLOSE, b"\x03\xe8bye"), None),
    ]
    data, messages = b"", []
    for wire, message in pieces:
        data += wire
        if message is not None:
            messages.append((len(data), *message))
    return data, messages


@pytest.mark.parametrize("from_client", [False, True], ids=["server", "client"])
def test_any_cut_gives_the_same_messages(from_client: bool) -> None:
    """Fed whole, cut in two at every offset, or one byte at a time, a stream gives the same
    messages; each carries the time of the chunk that held its last byte."""
    data, expected = _mixed_stream(from_client)
    capture, whole = read(data, from_client, deflate=True)
    assert [(m.text, m.payload) for m in whole] == [(text, body) for _, text, body in expected]
    for cut in range(1, len(data)):
        capture, messages = read(data, from_client, cuts=[cut], deflate=True)
        assert [(m.at, m.text, m.payload) for m in messages] == [
            (0.0 if end <= cut else 1.0, text, body) for end, text, body in expected
        ], cut
    capture, bytewise = read(data, from_client, cuts=list(range(1, len(data))), deflate=True)
    assert [(m.at, m.text, m.payload) for m in bytewise] == [
        (float(end - 1), text, body) for end, text, body in expected
    ]
    assert capture.broken is None and capture.skipped == 0


def test_messages_over_max_message_are_skipped_and_counted() -> None:
    """A message longer than `max_message` (whole or in fragments) is counted in `skipped`, not
    captured, and the frames after it are still followed."""
    data = (
        client_frame(Opcode.TEXT, b"small")
        + client_frame(Opcode.BINARY, b"b" * 11)
        + client_frame(Opcode.TEXT, b"123456", fin=False)
        + client_frame(Opcode.PING, b"p")
        + client_frame(Opcode.CONTINUATION, b"789012")
        + client_frame(Opcode.BINARY, b"c" * 70000)
        + client_frame(Opcode.BINARY, b"0123456789")
    )
    for cuts in ([], [*range(1, 200), len(data) - 5]):
        capture, messages = read(data, True, cuts=cuts, max_message=10)
        assert contents(messages) == [(True, b"small"), (False, b"0123456789")], cuts
        assert capture.skipped == 3 and capture.broken is None


def _broken_streams() -> dict[str, tuple[bytes, dict[str, object], str]]:
    bad_deflate = frame(Opcode.TEXT, b"\xff\xff\xff\xff", rsv=0b100)
    bomb = frame(Opcode.BINARY, compressed(deflater(), b"\x00" * 5000), rsv=0b100)
    return {
        "bad_deflate_payload": (bad_deflate, {"deflate": True}, "does not inflate"),
        "inflates_over_max_message": (bomb, {"deflate": True, "max_message": 4096}, "inflates"),
        "continuation_outside_a_message": (frame(Opcode.CONTINUATION, b"c"), {}, "continuation"),
        "new_message_inside_a_fragmented_one": (
            frame(Opcode.TEXT, b"a", fin=False) + frame(Opcode.TEXT, b"b"),
            {},
            "new message",
        ),
        "reserved_opcode": (frame(Opcode.RESERVED_DATA, b"?"), {}, "reserved opcode 0x3"),
        "fragmented_control_frame": (frame(Opcode.PING, b"p", fin=False), {}, "control"),
        "length_high_bit_set": (b"\x82\x7f\x80" + bytes(7), {}, "high bit"),
    }


@pytest.mark.parametrize("name", sorted(_broken_streams()))
def test_a_broken_stream_stops_capturing(name: str) -> None:
    """Bytes after which payloads mean nothing set `broken` once; the messages before still come
    out, and nothing after, in this chunk or any later one."""
    wire, kwargs, reason = _broken_streams()[name]
    data = frame(Opcode.TEXT, b"before") + wire + frame(Opcode.TEXT, b"after")
    for cuts in ([], list(range(1, len(data)))):
        capture, messages = read(data, False, cuts=cuts, **kwargs)
        assert contents(messages) == [(True, b"before")], cuts
        assert capture.broken is not None and reason in capture.broken
        assert capture.feed(frame(Opcode.TEXT, b"later"), 99.0) == []


def _hostile_frame(rng: random.Random, compressor: zlib._Compress) -> bytes:
    """A frame with random header fields: any opcode, FIN, RSV bits, mask and length form; its
    payload random bytes, or sometimes a properly compressed message."""
    payload = rng.randbytes(rng.choice([0, 3, 125, 126, 300]))
    if rng.random() < 0.3:
        payload = compressed(compressor, payload)
    return frame(
        rng.choice([0, 0, 1, 1, 2, 2, 3, 8, 9, 10, 11]),
        payload,
        fin=rng.random() < 0.7,
        rsv=rng.choice([0, 0, 0b100, 0b010]),
        mask=rng.choice([None, rng.randbytes(4)]),
        length_bytes=rng.choice([None, None, 2, 8]) if len(payload) < 1 << 16 else None,
    )


@pytest.mark.parametrize("seed", range(60))
def test_hostile_bytes_never_raise_and_read_alike_however_cut(seed: int) -> None:
    """Random bytes, alone or after frames with random header fields, never raise, and read the
    same whole or cut at random offsets."""
    rng = random.Random(seed)
    from_client, deflate = bool(seed & 1), bool(seed & 2)
    compressor = deflater()
    data = b"".join(_hostile_frame(rng, compressor) for _ in range(rng.randrange(0, 12)))
    data += rng.randbytes(rng.randrange(1, 3000))
    options = {"deflate": deflate, "max_message": rng.choice([64, 1 << 20])}
    whole_capture, whole = read(data, from_client, **options)
    cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randrange(1, 50))))
    cut_capture, cut = read(data, from_client, cuts=cuts, **options)
    assert contents(cut) == contents(whole)
    assert (cut_capture.broken, cut_capture.skipped) == (
        whole_capture.broken,
        whole_capture.skipped,
    )
