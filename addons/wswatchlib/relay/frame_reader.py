"""Follow one direction of an RFC 6455 connection from its raw bytes, as they pass the proxy.

The observe-only relay (relay/relays.py) lets mitmproxy relay an upgraded connection as raw TCP and
feeds each direction's bytes here. Pure: no mitmproxy, no wsproto.

The rules this file keeps:
- Constant memory per connection: a frame header of at most 14 bytes, a control frame's payload
  of at most 125 bytes, at most `MAX_PENDING_PINGS` unanswered ping payloads per side, and
  running counters. Data payloads are skipped, never copied or unmasked.
- Counts as the WebSocket path counts (watch/watcher.py): a fragmented message is one message, and a
  message and its payload bytes are counted once its last frame has passed whole.
- Fast where streams are busy: a run of whole, unfragmented, well-formed data frames inside one
  chunk (the bulk of a fast stream) is skipped by header arithmetic alone, with no slicing and
  no per-frame calls (`_skip_plain_messages`); everything else takes the general path.
- Violations are noted (the first time each rule is broken by this side), never acted on; the
  reader keeps following the framing whatever the payloads hold. Text payloads are not decoded,
  so `Violation.INVALID_UTF8` is never reported here.
"""

from __future__ import annotations

import struct
from collections import OrderedDict

from ..rfc6455 import (
    ASSIGNED_CLOSE_CODES,
    LOCAL_ONLY_CLOSE_CODES,
    MAX_CONTROL_PAYLOAD,
    CloseCode,
    Opcode,
    Violation,
)

#: RFC 6455 section 5.2 opcodes the reader tells apart, as plain ints for the hot path.
CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = (
    int(opcode)
    for opcode in (
        Opcode.CONTINUATION,
        Opcode.TEXT,
        Opcode.BINARY,
        Opcode.CLOSE,
        Opcode.PING,
        Opcode.PONG,
    )
)
DATA_OPCODES = frozenset({TEXT, BINARY})
CONTROL_OPCODES = frozenset({CLOSE, PING, PONG})
#: Unanswered pings remembered per side (oldest forgotten first): bounds memory.
MAX_PENDING_PINGS = 16
#: Section 7.1.5: the code a Close frame without a body stands for (as wsproto reports it).
NO_STATUS_RECEIVED = int(CloseCode.NO_STATUS_RECEIVED)

SIDES = ("client", "server")


def _unmask(payload: bytes, mask: bytes | None) -> bytes:
    """Section 5.3: XOR with the 4-byte key repeated (control payloads only, at most 125 bytes)."""
    if not mask or not payload:
        return payload
    repeated = (mask * (len(payload) // 4 + 1))[: len(payload)]
    value = int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")
    return value.to_bytes(len(payload), "big")


class RoundTrips:
    """Round-trip times of pongs to pings, keyed by the side that sent the ping."""

    __slots__ = ("count", "last", "longest", "pending", "shortest", "total")

    def __init__(self) -> None:
        self.pending: dict[str, OrderedDict[bytes, float]] = {s: OrderedDict() for s in SIDES}
        self.count = {side: 0 for side in SIDES}
        self.total = {side: 0.0 for side in SIDES}
        self.shortest: dict[str, float] = {}
        self.longest: dict[str, float] = {}
        self.last: dict[str, float] = {}

    def ping(self, side: str, payload: bytes, at: float) -> None:
        """`side` sent a ping with `payload` at epoch seconds `at`."""
        pending = self.pending[side]
        pending.pop(payload, None)
        pending[payload] = at
        if len(pending) > MAX_PENDING_PINGS:
            pending.popitem(last=False)

    def pong(self, side: str, payload: bytes, at: float) -> None:
        """`side` sent a pong; it answers the other side's ping with the same payload, if any
        (section 5.5.3); an unsolicited pong measures nothing."""
        pinger = "server" if side == "client" else "client"
        sent = self.pending[pinger].pop(payload, None)
        if sent is None:
            return
        rtt_ms = max(at - sent, 0.0) * 1000
        self.count[pinger] += 1
        self.total[pinger] += rtt_ms
        self.shortest[pinger] = min(self.shortest.get(pinger, rtt_ms), rtt_ms)
        self.longest[pinger] = max(self.longest.get(pinger, rtt_ms), rtt_ms)
        self.last[pinger] = rtt_ms

    def fields(self) -> dict[str, dict[str, float] | None]:
        """`pong_rtt_ms`: per pinging side, {count, min, mean, max, last} in ms, or None."""
        return {
            side: {
                "count": self.count[side],
                "min": round(self.shortest[side], 3),
                "mean": round(self.total[side] / self.count[side], 3),
                "max": round(self.longest[side], 3),
                "last": round(self.last[side], 3),
            }
            if self.count[side]
            else None
            for side in SIDES
        }


class FrameReader:
    """One direction of one connection: fed its bytes in order, in chunks cut anywhere."""

    __slots__ = (
        "bytes",
        "close_code",
        "close_reason",
        "closed",
        "control",
        "deflate",
        "fin",
        "frame_length",
        "from_client",
        "head",
        "in_message",
        "mask",
        "mask_bit",
        "mask_length",
        "message_bytes",
        "messages",
        "opcode",
        "pings",
        "plain_first_bytes",
        "pongs",
        "remaining",
        "round_trips",
        "side",
        "violations",
    )

    def __init__(self, side: str, round_trips: RoundTrips, *, deflate: bool = False) -> None:
        self.side = side
        self.from_client = side == "client"
        self.round_trips = round_trips
        #: permessage-deflate was negotiated (RFC 7692): RSV1 marks a compressed message, and
        #: byte counts are of compressed payloads.
        self.deflate = deflate
        #: Section 5.3: the mask bit and masking-key length a well-formed frame from this side has.
        self.mask_bit, self.mask_length = (0x80, 4) if self.from_client else (0, 0)
        #: First header bytes of a final text or binary frame with no reserved bit set that this
        #: side may send (RSV1 too with permessage-deflate): what the fast path handles.
        self.plain_first_bytes = frozenset(
            0x80 | rsv | opcode
            for opcode in DATA_OPCODES
            for rsv in ((0, 0x40) if deflate else (0,))
        )
        self.head = b""  # the start of a frame header split across chunks
        self.remaining = 0  # payload bytes of the current frame still to pass
        self.control: bytearray | None = None  # the current control frame's payload, masked
        self.mask: bytes | None = None
        self.opcode = 0
        self.fin = True
        self.frame_length = 0
        self.in_message = False  # a fragmented data message is under way
        self.message_bytes = 0  # payload bytes of the data message under way
        self.messages = 0
        self.bytes = 0
        self.pings = 0
        self.pongs = 0
        self.closed = False
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self.violations: list[Violation] = []

    @property
    def between_frames(self) -> bool:
        """No frame of this side's is partly passed: bytes written now to the peer it sends to
        start a frame of their own there (a control frame may come between a message's
        fragments, section 5.4)."""
        return not self.remaining and not self.head

    def feed(self, data: bytes, at: float) -> int:
        """Read the next bytes this side sent (at epoch seconds `at`); returns how many data
        messages they completed."""
        completed = 0
        position, end = 0, len(data)
        while position < end:
            if not self.remaining and not self.head and not self.in_message:
                position, skipped = self._skip_plain_messages(data, position, end)
                completed += skipped
                if position == end:
                    break
            if self.remaining:
                take = min(self.remaining, end - position)
                if self.control is not None and len(self.control) < MAX_CONTROL_PAYLOAD:
                    room = MAX_CONTROL_PAYLOAD - len(self.control)
                    self.control += data[position : position + min(take, room)]
                position += take
                self.remaining -= take
                if not self.remaining:
                    completed += self._frame_done(at)
                continue
            header = self.head + data[position : position + 14]
            needed = self._header_length(header)
            if needed is None or len(header) < needed:
                self.head = header
                position = end
                break
            position += needed - len(self.head)
            self.head = b""
            self._frame_start(header[:needed])
            if not self.remaining:
                completed += self._frame_done(at)
        return completed

    def _skip_plain_messages(self, data: bytes, position: int, end: int) -> tuple[int, int]:
        """From a frame boundary outside a fragmented message: pass the whole frames that are
        each a complete, well-formed text or binary message with a 7- or minimal 16-bit length,
        counting them; stop at the first other frame or at one the chunk does not hold whole.
        Returns where it stopped and how many messages it passed. Such a frame breaks no rule
        and ends a message, so the general path would conclude the same."""
        plain_first_bytes, mask_bit, mask_length = (
            self.plain_first_bytes,
            self.mask_bit,
            self.mask_length,
        )
        start_position = position
        messages = payload_bytes = 0
        last_header_start, short_header = end - 2, 2 + mask_length
        while position <= last_header_start:
            second = data[position + 1]
            if data[position] not in plain_first_bytes or second & 0x80 != mask_bit:
                break
            length = second & 0x7F
            if length < 126:
                after = position + short_header + length
            elif length == 126 and position + 4 <= end:
                length = data[position + 2] << 8 | data[position + 3]
                if length < 126:
                    break  # a non-minimal length: the general path notes it
                after = position + short_header + 2 + length
            else:
                break  # a 64-bit length (rare, long frames) or a header cut by the chunk's end
            if after > end:
                break
            position = after
            messages += 1
            payload_bytes += length
        if position != start_position:
            self.messages += messages
            self.bytes += payload_bytes
        return position, messages

    @staticmethod
    def _header_length(header: bytes) -> int | None:
        """Section 5.2: bytes in a header starting with `header`, or None if not known yet."""
        if len(header) < 2:
            return None
        length7 = header[1] & 0x7F
        extended = 2 if length7 == 126 else 8 if length7 == 127 else 0
        return 2 + extended + (4 if header[1] & 0x80 else 0)

    def _note(self, violation: Violation) -> None:
        if violation not in self.violations:
            self.violations.append(violation)

    def _frame_start(self, header: bytes) -> None:
        first, second = header[0], header[1]
        fin, rsv, opcode = bool(first & 0x80), (first >> 4) & 0b111, first & 0x0F
        masked, length7 = bool(second & 0x80), second & 0x7F
        offset = 2
        if length7 == 126:
            (length,) = struct.unpack_from("!H", header, 2)
            offset = 4
            if length < 126:
                self._note(Violation.NON_MINIMAL_LENGTH)
        elif length7 == 127:
            (length,) = struct.unpack_from("!Q", header, 2)
            offset = 10
            if length >> 63:
                self._note(Violation.LENGTH_HIGH_BIT_SET)
            elif length < 1 << 16:
                self._note(Violation.NON_MINIMAL_LENGTH)
        else:
            length = length7
        self.mask = header[offset : offset + 4] if masked else None
        if masked and not self.from_client:
            self._note(Violation.SERVER_MASKED_FRAME)
        elif not masked and self.from_client:
            self._note(Violation.CLIENT_UNMASKED_FRAME)
        compressed_start = self.deflate and opcode in DATA_OPCODES
        if rsv & 0b011 or (rsv & 0b100 and not compressed_start):
            self._note(Violation.RESERVED_BITS_SET)
        if opcode in CONTROL_OPCODES:
            if not fin:
                self._note(Violation.FRAGMENTED_CONTROL_FRAME)
            if length > MAX_CONTROL_PAYLOAD:
                self._note(Violation.CONTROL_FRAME_TOO_LONG)
            self.control = bytearray()
        else:
            self.control = None
            if opcode == CONTINUATION:
                if not self.in_message:
                    self._note(Violation.UNEXPECTED_CONTINUATION)
            elif opcode in DATA_OPCODES:
                if self.in_message:
                    self._note(Violation.EXPECTED_CONTINUATION)
                self.message_bytes = 0
            else:
                self._note(Violation.INVALID_OPCODE)
        self.opcode, self.fin = opcode, fin
        self.frame_length = self.remaining = length

    def _frame_done(self, at: float) -> int:
        """The current frame passed whole; returns 1 if it ended a data message."""
        opcode = self.opcode
        if self.control is not None:
            payload = _unmask(bytes(self.control), self.mask)
            self.control = None
            if opcode == PING:
                self.pings += 1
                self.round_trips.ping(self.side, payload, at)
            elif opcode == PONG:
                self.pongs += 1
                self.round_trips.pong(self.side, payload, at)
            elif opcode == CLOSE and not self.closed:
                self._read_close(payload)
            return 0
        if opcode not in DATA_OPCODES and opcode != CONTINUATION:
            return 0  # a reserved opcode: noted, not counted
        if opcode == CONTINUATION and not self.in_message:
            return 0
        self.message_bytes += self.frame_length
        self.in_message = not self.fin
        if self.in_message:
            return 0
        self.messages += 1
        self.bytes += self.message_bytes
        self.message_bytes = 0
        return 1

    def _read_close(self, payload: bytes) -> None:
        """Section 5.5.1: a 2-byte code, then a UTF-8 reason; both optional together."""
        self.closed = True
        if not payload:
            self.close_code, self.close_reason = NO_STATUS_RECEIVED, ""
            return
        if len(payload) == 1:
            self._note(Violation.CLOSE_PAYLOAD_ONE_BYTE)
            self.close_code, self.close_reason = None, ""
            return
        (code,) = struct.unpack_from("!H", payload)
        if code < 1000 or code > 4999:
            self._note(Violation.INVALID_CLOSE_CODE)
        elif code in LOCAL_ONLY_CLOSE_CODES:
            self._note(Violation.LOCAL_ONLY_CLOSE_CODE)
        elif code < 3000 and code not in ASSIGNED_CLOSE_CODES:
            self._note(Violation.RESERVED_CLOSE_CODE)
        try:
            reason = payload[2:].decode("utf-8")
        except UnicodeDecodeError:
            self._note(Violation.INVALID_UTF8_CLOSE_REASON)
            reason = payload[2:].decode("utf-8", "replace")
        self.close_code, self.close_reason = code, reason


class ObservedConnection:
    """Both directions of one connection: who sent the first Close, and the round trips."""

    __slots__ = ("first_close", "first_violation", "readers", "round_trips")

    def __init__(self, *, deflate: bool = False) -> None:
        self.round_trips = RoundTrips()
        self.readers = {
            side: FrameReader(side, self.round_trips, deflate=deflate) for side in SIDES
        }
        #: The side whose Close frame passed first (section 7.1.2: it started the closing).
        self.first_close: str | None = None
        #: The first RFC 6455 rule either side broke, and that side.
        self.first_violation: tuple[str, Violation] | None = None

    def feed(self, side: str, data: bytes, at: float) -> int:
        """`side` sent `data` at epoch seconds `at`; returns how many data messages it ended."""
        reader = self.readers[side]
        completed = reader.feed(data, at)
        if self.first_close is None and reader.closed:
            self.first_close = side
        if self.first_violation is None and reader.violations:
            self.first_violation = (side, reader.violations[0])
        return completed

    def per_side(self, counter: str) -> dict[str, int]:
        """One counter ("messages", "bytes", "pings", "pongs") of both readers."""
        return {side: getattr(reader, counter) for side, reader in self.readers.items()}

    def violations(self) -> dict[str, list[str]]:
        """Per side, the RFC 6455 rules its bytes broke, in the order first broken."""
        return {side: [v.value for v in reader.violations] for side, reader in self.readers.items()}
