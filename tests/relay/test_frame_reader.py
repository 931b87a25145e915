"""The incremental RFC 6455 frame reader: counts, closes, pings and violations, however cut."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from raw_frames import Opcode, client_frame, close_payload, frame
from wswatchlib.relay.frame_reader import MAX_PENDING_PINGS, FrameReader, RoundTrips
from wswatchlib.watch.violations import Violation


@dataclass(frozen=True)
class Expected:
    messages: int
    bytes: int
    close_code: int | None = None
    close_reason: str | None = None
    pings: int = 0
    pongs: int = 0
    violations: list[Violation] = field(default_factory=list)


BIG = bytes(range(256)) * 300  # 76,800 bytes: a 64-bit length

#: name -> (side, bytes that side sends, deflate negotiated, what the reader must conclude).
STREAMS: dict[str, tuple[str, bytes, bool, Expected]] = {
    "server_text_and_close": (
        "server",
        frame(Opcode.TEXT, b"hello") + frame(Opcode.CLOSE, close_payload(4001, b"bye")),
        False,
        Expected(1, 5, 4001, "bye"),
    ),
    "client_lengths_7_16_64_bits": (
        "client",
        client_frame(Opcode.BINARY, b"x" * 125)
        + client_frame(Opcode.BINARY, b"y" * 126)
        + client_frame(Opcode.BINARY, b"z" * 65535)
        + client_frame(Opcode.BINARY, BIG)
        + client_frame(Opcode.CLOSE, close_payload(1000)),
        False,
        Expected(4, 125 + 126 + 65535 + len(BIG), 1000, ""),
    ),
    "client_fragmented_with_ping_between": (
        "client",
        client_frame(Opcode.TEXT, b"ab", fin=False)
        + client_frame(Opcode.PING, b"p1")
        + client_frame(Opcode.CONTINUATION, b"cd", fin=False)
        + client_frame(Opcode.CONTINUATION, b"ef"),
        False,
        Expected(1, 6, pings=1),
    ),
    "server_empty_close_is_1005": (
        "server",
        frame(Opcode.PONG, b"p1") + frame(Opcode.CLOSE),
        False,
        Expected(0, 0, 1005, "", pongs=1),
    ),
    "client_compressed_message": (
        "client",
        client_frame(Opcode.TEXT, b"\x01\x02\x03", rsv=0b100),
        True,
        Expected(1, 3),
    ),
    "client_unfinished_message_not_counted": (
        "client",
        client_frame(Opcode.BINARY, b"done") + client_frame(Opcode.BINARY, b"half", fin=False),
        False,
        Expected(1, 4),
    ),
    "violations_by_a_server": (
        "server",
        frame(Opcode.BINARY, b"m", mask=b"abcd")
        + frame(Opcode.TEXT, b"r", rsv=0b100)
        + frame(Opcode.RESERVED_DATA, b"?")
        + frame(Opcode.CONTINUATION, b"c")
        + frame(Opcode.BINARY, b"a", fin=False)
        + frame(Opcode.TEXT, b"b")
        + frame(Opcode.PING, b"x" * 126)
        + frame(Opcode.PONG, fin=False)
        + frame(Opcode.BINARY, b"s", length_bytes=2)
        + frame(Opcode.CLOSE, close_payload(1005, b"\xff")),
        False,
        Expected(
            4,
            4,
            1005,
            "\ufffd",
            pings=1,
            pongs=1,
            violations=[
                Violation.SERVER_MASKED_FRAME,
                Violation.RESERVED_BITS_SET,
                Violation.INVALID_OPCODE,
                Violation.UNEXPECTED_CONTINUATION,
                Violation.EXPECTED_CONTINUATION,
                Violation.CONTROL_FRAME_TOO_LONG,
                Violation.FRAGMENTED_CONTROL_FRAME,
                Violation.NON_MINIMAL_LENGTH,
                Violation.LOCAL_ONLY_CLOSE_CODE,
                Violation.INVALID_UTF8_CLOSE_REASON,
            ],
        ),
    ),
    "client_unmasked_and_one_byte_close": (
        "client",
        frame(Opcode.TEXT, b"t") + client_frame(Opcode.CLOSE, b"\x03"),
        False,
        Expected(
            1,
            1,
            None,
            "",
            violations=[Violation.CLIENT_UNMASKED_FRAME, Violation.CLOSE_PAYLOAD_ONE_BYTE],
        ),
    ),
}


def _conclusion(reader: FrameReader) -> Expected:
    return Expected(
        reader.messages,
        reader.bytes,
        reader.close_code,
        reader.close_reason,
        reader.pings,
        reader.pongs,
        reader.violations,
    )


def _cuts(length: int) -> list[int]:
    """Every offset of a short stream; for a long one, every offset near a frame boundary."""
    if length <= 400:
        return list(range(length + 1))
    return sorted({*range(300), *range(length - 300, length + 1), *range(0, length, 997)})


@pytest.mark.parametrize("name", list(STREAMS))
def test_reader_conclusion_wrong_when_bytes_cut_anywhere(name: str) -> None:
    """The reader concludes the same whether a stream arrives whole or cut at any offset."""
    side, data, deflate, expected = STREAMS[name]
    for cut in _cuts(len(data)):
        reader = FrameReader(side, RoundTrips(), deflate=deflate)
        completed = reader.feed(data[:cut], 1.0) + reader.feed(data[cut:], 1.0)
        assert _conclusion(reader) == expected, f"cut at {cut}"
        assert completed == expected.messages


@pytest.mark.parametrize("name", list(STREAMS))
def test_reader_conclusion_wrong_when_fed_byte_by_byte(name: str) -> None:
    """One byte per read gives the same conclusion as the whole stream at once."""
    side, data, deflate, expected = STREAMS[name]
    reader = FrameReader(side, RoundTrips(), deflate=deflate)
    for index in range(min(len(data), 2000)):
        reader.feed(data[index : index + 1], 1.0)
    reader.feed(data[2000:], 1.0)
    assert _conclusion(reader) == expected


def test_rsv1_without_deflate_is_a_violation() -> None:
    """RSV1 is a reserved bit unless permessage-deflate was negotiated (RFC 7692)."""
    reader = FrameReader("client", RoundTrips(), deflate=False)
    reader.feed(client_frame(Opcode.TEXT, b"x", rsv=0b100), 1.0)
    assert reader.violations == [Violation.RESERVED_BITS_SET]


def test_first_close_kept_when_a_second_one_follows() -> None:
    """The close code reported is the first Close frame's."""
    reader = FrameReader("server", RoundTrips())
    reader.feed(frame(Opcode.CLOSE, close_payload(4001, b"a")), 1.0)
    reader.feed(frame(Opcode.CLOSE, close_payload(1000, b"b")), 2.0)
    assert (reader.close_code, reader.close_reason) == (4001, "a")


def test_pong_round_trip_measured_from_the_matching_ping() -> None:
    """A pong is timed against the other side's ping with the same payload; others are ignored."""
    trips = RoundTrips()
    client, server = FrameReader("client", trips), FrameReader("server", trips)
    client.feed(client_frame(Opcode.PING, b"one") + client_frame(Opcode.PING, b"two"), 10.0)
    server.feed(frame(Opcode.PONG, b"two"), 10.25)
    server.feed(frame(Opcode.PONG, b"unsolicited"), 10.3)
    server.feed(frame(Opcode.PONG, b"one"), 10.5)
    assert trips.fields() == {
        "client": {"count": 2, "min": 250.0, "mean": 375.0, "max": 500.0, "last": 500.0},
        "server": None,
    }
    assert (client.pings, server.pongs) == (2, 3)


def test_unanswered_pings_forgotten_beyond_the_bound() -> None:
    """At most MAX_PENDING_PINGS unanswered pings are remembered per side: memory is bounded."""
    trips = RoundTrips()
    client = FrameReader("client", trips)
    for index in range(MAX_PENDING_PINGS * 4):
        client.feed(client_frame(Opcode.PING, str(index).encode()), 1.0)
    assert len(trips.pending["client"]) == MAX_PENDING_PINGS
    FrameReader("server", trips).feed(frame(Opcode.PONG, b"0"), 2.0)
    assert trips.fields()["client"] is None


def _plain_run(count: int, make: Callable[[int, bytes], bytes]) -> tuple[bytes, int]:
    """`count` whole binary messages of lengths 0..124 and 126..300 (7- and 16-bit lengths),
    built by `make`; the bytes and the payload total."""
    lengths = [(index * 37) % 125 if index % 3 else 126 + index % 175 for index in range(count)]
    return b"".join(make(Opcode.BINARY, b"m" * length) for length in lengths), sum(lengths)


_RUN, _RUN_BYTES = _plain_run(40, client_frame)
_SERVER_RUN, _SERVER_RUN_BYTES = _plain_run(40, frame)
#: Streams where runs of whole plain messages (the fast path) meet every other kind of frame.
FAST_PATH_STREAMS: dict[str, tuple[str, bytes, bool, Expected]] = {
    "client_runs_around_fragments_controls_and_64_bit": (
        "client",
        _RUN
        + client_frame(Opcode.TEXT, b"ab", fin=False)
        + client_frame(Opcode.PING, b"p1")
        + client_frame(Opcode.CONTINUATION, b"cd", fin=False)
        + client_frame(Opcode.PONG, b"p0")
        + client_frame(Opcode.CONTINUATION, b"ef")
        + _RUN
        + client_frame(Opcode.BINARY, BIG)
        + _RUN
        + client_frame(Opcode.CLOSE, close_payload(4002, b"done " * 20)),
        False,
        Expected(3 * 40 + 2, 3 * _RUN_BYTES + 6 + len(BIG), 4002, "done " * 20, 1, 1),
    ),
    "server_run_with_a_non_minimal_length_and_a_masked_frame": (
        "server",
        _SERVER_RUN
        + frame(Opcode.BINARY, b"s", length_bytes=2)
        + _SERVER_RUN
        + frame(Opcode.TEXT, b"masked", mask=b"abcd")
        + _SERVER_RUN
        + frame(Opcode.CLOSE, close_payload(1001)),
        False,
        Expected(
            3 * 40 + 2,
            3 * _SERVER_RUN_BYTES + 7,
            1001,
            "",
            violations=[Violation.NON_MINIMAL_LENGTH, Violation.SERVER_MASKED_FRAME],
        ),
    ),
    "client_compressed_and_plain_run": (
        "client",
        _RUN + client_frame(Opcode.TEXT, b"\x01\x02", rsv=0b100) + _RUN,
        True,
        Expected(81, 2 * _RUN_BYTES + 2),
    ),
    "client_run_without_deflate_rsv1_is_a_violation": (
        "client",
        _RUN + client_frame(Opcode.TEXT, b"\x01\x02", rsv=0b100) + _RUN,
        False,
        Expected(81, 2 * _RUN_BYTES + 2, violations=[Violation.RESERVED_BITS_SET]),
    ),
    "client_unmasked_frame_inside_a_run": (
        "client",
        _RUN + frame(Opcode.BINARY, b"bare") + _RUN,
        False,
        Expected(81, 2 * _RUN_BYTES + 4, violations=[Violation.CLIENT_UNMASKED_FRAME]),
    ),
}


@pytest.mark.parametrize("name", list(FAST_PATH_STREAMS))
def test_fast_path_conclusion_wrong_when_cut_at_any_byte(name: str) -> None:
    """Many whole frames per chunk conclude as the byte-by-byte reading does, cut anywhere."""
    side, data, deflate, expected = FAST_PATH_STREAMS[name]
    slow = FrameReader(side, RoundTrips(), deflate=deflate)
    for index in range(len(data)):
        slow.feed(data[index : index + 1], 1.0)
    assert _conclusion(slow) == expected
    cuts = range(len(data) + 1) if len(data) < 20_000 else _cuts(len(data))
    for cut in cuts:
        reader = FrameReader(side, RoundTrips(), deflate=deflate)
        completed = reader.feed(data[:cut], 1.0) + reader.feed(data[cut:], 1.0)
        assert (_conclusion(reader), completed) == (expected, expected.messages), f"cut at {cut}"


def test_fast_path_in_chunks_of_every_size_counts_every_message() -> None:
    """Chunks of 1 to 600 bytes through a long run: each message counted once, by the chunk
    that completes it, and nothing of the payloads kept."""
    data = _RUN * 5
    for size in range(1, 601):
        reader = FrameReader("client", RoundTrips())
        completed = [reader.feed(data[at : at + size], 1.0) for at in range(0, len(data), size)]
        assert (sum(completed), reader.messages, reader.bytes) == (200, 200, 5 * _RUN_BYTES)
        assert (reader.head, reader.control, reader.remaining) == (b"", None, 0)


@pytest.mark.parametrize("cut", [1, 2, 5, 20])
def test_a_frame_cut_by_a_read_is_not_between_frames_until_its_last_byte(cut: int) -> None:
    """A Close the proxy writes must not land inside a frame: the reader says when one is
    partly passed (header split too), and when the stream is back between frames."""
    reader = FrameReader("server", RoundTrips())
    data = frame(Opcode.BINARY, b"x" * 40)
    assert reader.between_frames
    reader.feed(data[:cut], 0.0)
    assert not reader.between_frames
    reader.feed(data[cut:], 0.0)
    assert reader.between_frames
