"""Capture one direction's data messages from the raw bytes of an RFC 6455 connection.

The observe-only relay (relay/relays.py) relays an upgraded connection as raw TCP; a recorder
feeds each direction's bytes here, in chunks cut anywhere, and gets back the text and binary
messages they completed. Pure: no mitmproxy, no wsproto.

The rules this file keeps:
- Memory: a frame header of at most 14 bytes and the one message under way, at most
  `max_message` bytes of it; a longer message is counted in `skipped`, its frames followed but
  not kept. Control frames are followed, never kept.
- Payloads as the endpoint reads them: unmasked (section 5.3), joined (section 5.4), inflated
  when permessage-deflate compressed them (RFC 7692).
- Fast where streams are busy: a run of whole, unfragmented data frames inside one chunk is read
  by header arithmetic and one slice per payload (`_whole_messages`); the rest takes the general
  path.
- Never raises: bytes after which payloads mean nothing (framing section 5.4 forbids, a reserved
  opcode, a length with its high bit set, a payload that will not inflate, a compressed message
  over `max_message`) set `broken` once, and `feed` captures nothing after.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from ..rfc6455 import Opcode

#: RFC 6455 section 5.2 opcodes, as plain ints for the hot path.
CONTINUATION, TEXT, BINARY = int(Opcode.CONTINUATION), int(Opcode.TEXT), int(Opcode.BINARY)
DATA_OPCODES = frozenset({TEXT, BINARY})
CONTROL_OPCODES = frozenset(int(opcode) for opcode in (Opcode.CLOSE, Opcode.PING, Opcode.PONG))
#: Section 5.2: FIN, and RSV1 (the bit RFC 7692 section 6 gives permessage-deflate).
FIN, RSV1 = 0x80, 0x40
#: RFC 7692 section 7.2.2: the bytes a receiver appends to a compressed message before inflating.
DEFLATE_TAIL = b"\x00\x00\xff\xff"
#: RFC 7692 section 7.1.2: raw DEFLATE with a window of up to 2**15 bytes.
WINDOW_BITS = -15


def _unmask(payload: bytes, mask: bytes) -> bytes:
    """Section 5.3: XOR with the 4-byte key repeated, as one big-integer XOR (~3 us per KB)."""
    n = len(payload)
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "little")
    return (int.from_bytes(payload, "little") ^ key).to_bytes(n, "little")


@dataclass(frozen=True, slots=True)
class CapturedMessage:
    """One data message as its receiver reads it."""

    #: Epoch seconds passed with the chunk that completed the message.
    at: float
    #: Opcode 1 (text), not 2 (binary). Text payloads are not decoded here.
    text: bool
    #: Unmasked, defragmented, and inflated when permessage-deflate compressed it.
    payload: bytes


class MessageCapture:
    """One direction of one connection: fed its bytes in order, in chunks cut anywhere."""

    __slots__ = (
        "broken",
        "compressed",
        "control",
        "deflate",
        "dropping",
        "fin",
        "from_client",
        "head",
        "in_message",
        "inflater",
        "mask",
        "max_message",
        "parts",
        "pieces",
        "remaining",
        "size",
        "skipped",
        "text",
    )

    def __init__(
        self, from_client: bool, *, deflate: bool = False, max_message: int = 16 * 1024 * 1024
    ) -> None:
        self.from_client = from_client  # for the owner: each frame's mask bit says how to read it
        #: permessage-deflate was negotiated: RSV1 on a message's first frame marks it compressed.
        self.deflate = deflate
        self.max_message = max_message
        #: RFC 7692 section 7.2.2: one decompressor per direction, so that a message may refer to
        #: earlier ones (context takeover); it serves no_context_takeover streams alike.
        self.inflater = zlib.decompressobj(WINDOW_BITS)
        self.head = b""  # the start of a frame header split across chunks
        self.remaining = 0  # payload bytes of the current frame still to pass
        self.mask: bytes | None = None
        self.control = False  # the current frame is a control frame (followed, not kept)
        self.fin = True
        self.pieces: list[bytes] = []  # the current frame's payload so far, still masked
        self.in_message = False  # a data message is under way
        self.text = self.compressed = self.dropping = False
        self.parts: list[bytes] = []  # the message's earlier frames' payloads, unmasked
        self.size = 0  # payload bytes of the message under way, on the wire
        #: Messages not captured for being over `max_message`.
        self.skipped = 0
        #: Why the stream can no longer be followed, once it cannot.
        self.broken: str | None = None

    def feed(self, data: bytes, at: float) -> list[CapturedMessage]:
        """Read the next bytes this side sent (at epoch seconds `at`); returns the data messages
        they completed, in order."""
        captured: list[CapturedMessage] = []
        position, end = 0, len(data)
        while position < end and self.broken is None:
            if self.remaining:
                take = min(self.remaining, end - position)
                if not self.control and not self.dropping:
                    self.pieces.append(data[position : position + take])
                position += take
                self.remaining -= take
                if not self.remaining:
                    self._frame_done(at, captured)
                continue
            if not self.head and not self.in_message:
                position = self._whole_messages(data, position, end, at, captured)
                if position == end or self.broken is not None:
                    break
            header = self.head + data[position : position + 14]
            needed = 2 if len(header) < 2 else _header_length(header[1])
            if len(header) < needed:
                self.head = header
                break
            position += needed - len(self.head)
            self.head = b""
            self._frame_start(header[:needed])
            if not self.remaining and self.broken is None:
                self._frame_done(at, captured)
        return captured

    def _whole_messages(
        self, data: bytes, position: int, end: int, at: float, captured: list[CapturedMessage]
    ) -> int:
        """From a frame boundary outside a message: capture the frames that are each a whole
        text or binary message with a 7- or 16-bit length, held whole by this chunk and within
        `max_message`; stop at the first other frame. Returns where it stopped."""
        deflate, max_message = self.deflate, self.max_message
        while position + 2 <= end:
            first, second = data[position], data[position + 1]
            opcode = first & 0x0F
            if not first & FIN or (opcode != TEXT and opcode != BINARY):
                break
            length, start = second & 0x7F, position + 2
            if length == 126:
                if start + 2 > end:
                    break
                length, start = data[start] << 8 | data[start + 1], start + 2
            elif length == 127:
                break  # a 64-bit length: long frames are few
            mask_start, start = start, start + (4 if second & 0x80 else 0)
            after = start + length
            if after > end or length > max_message:
                break
            payload = data[start:after]
            if start != mask_start:
                payload = _unmask(payload, data[mask_start:start])
            if deflate and first & RSV1:
                inflated = self._inflate(payload)
                if inflated is None:
                    return after
                payload = inflated
            captured.append(CapturedMessage(at, opcode == TEXT, payload))
            position = after
        return position

    def _frame_start(self, header: bytes) -> None:
        """Section 5.2: read a whole header; begin, continue or interrupt a message."""
        first, second = header[0], header[1]
        opcode, length, offset = first & 0x0F, second & 0x7F, 2
        if length == 126:
            length, offset = int.from_bytes(header[2:4], "big"), 4
        elif length == 127:
            length, offset = int.from_bytes(header[2:10], "big"), 10
        self.mask = header[offset : offset + 4] if second & 0x80 else None
        self.remaining = length
        self.control = opcode in CONTROL_OPCODES
        if length >> 63:
            self._break("a 64-bit length with its high bit set")
        elif self.control:
            if not first & FIN:
                self._break("a fragmented control frame")
        elif opcode == CONTINUATION:
            if not self.in_message:
                self._break("a continuation frame outside a message")
        elif opcode not in DATA_OPCODES:
            self._break(f"reserved opcode {opcode:#x}")
        elif self.in_message:
            self._break("a new message inside a fragmented one")
        else:
            self.in_message, self.text, self.size, self.dropping = True, opcode == TEXT, 0, False
            self.compressed = self.deflate and bool(first & RSV1)
        if self.broken is not None or self.control:
            return
        self.fin = bool(first & FIN)
        self.size += length
        if self.size > self.max_message and not self.dropping:
            if self.compressed:  # skipping it would leave the shared decompressor behind
                self._break("a compressed message over max_message")
            self.dropping, self.parts = True, []

    def _frame_done(self, at: float, captured: list[CapturedMessage]) -> None:
        """The current frame passed whole; capture the message it ended, if any."""
        if self.control:
            return
        if not self.dropping:
            pieces, self.pieces = self.pieces, []
            payload = pieces[0] if len(pieces) == 1 else b"".join(pieces)
            self.parts.append(_unmask(payload, self.mask) if self.mask else payload)
        if not self.fin:
            return
        self.in_message = False
        if self.dropping:
            self.skipped += 1
            return
        parts, self.parts = self.parts, []
        payload = parts[0] if len(parts) == 1 else b"".join(parts)
        if self.compressed and (inflated := self._inflate(payload)) is not None:
            payload = inflated
        if self.broken is None:
            captured.append(CapturedMessage(at, self.text, payload))

    def _inflate(self, payload: bytes) -> bytes | None:
        """RFC 7692 section 7.2.2: inflate a compressed message, at most `max_message` bytes of
        it; None (and `broken`) when it will not inflate or inflates to more."""
        try:
            inflated = self.inflater.decompress(payload + DEFLATE_TAIL, self.max_message + 1)
        except zlib.error as error:
            self._break(f"permessage-deflate payload does not inflate ({error})")
            return None
        if len(inflated) > self.max_message:
            self._break("a compressed message inflates over max_message")
            return None
        if self.inflater.eof:  # the message ended its DEFLATE stream (BFINAL): the next starts anew
            self.inflater = zlib.decompressobj(WINDOW_BITS)
        return inflated

    def _break(self, reason: str) -> None:
        if self.broken is None:
            self.broken = reason
        self.pieces, self.parts = [], []


def _header_length(second: int) -> int:
    """Section 5.2: the bytes in a header whose second byte is `second`."""
    length7 = second & 0x7F
    extended = 2 if length7 == 126 else 8 if length7 == 127 else 0
    return 2 + extended + (4 if second & 0x80 else 0)
