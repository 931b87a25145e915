"""Hand-built RFC 6455 bytes for tests that must send what no conforming library would.

The one home of RFC 6455 wire bytes for the tests (the hostile peers build on it). Builders
return exact wire bytes (any opcode, RSV bits, masking, control frames of any length, length
fields in a longer form than needed); `FrameParser` / `frames_in` / `read_frame` read frames
back, so a test can assert what a peer received.
Nothing here validates: that is the point.
"""

from __future__ import annotations

import asyncio
import base64
import enum
import hashlib
import os
import struct
from dataclasses import dataclass

#: RFC 6455 section 1.3.
ACCEPT_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#: A fixed Sec-WebSocket-Key (base64 of 16 bytes), so tests are reproducible.
KEY = "dGhlIHNhbXBsZSBub25jZQ=="
#: A fixed masking key for client frames (RFC 6455 section 5.3 wants a random one; tests don't).
MASK = b"\x37\xfa\x21\x3d"


class Opcode(enum.IntEnum):
    """RFC 6455 section 5.2 opcodes, plus reserved ones a hostile peer may send."""

    #: Section 5.4: continues a fragmented message.
    CONTINUATION = 0x0
    #: Section 5.6: UTF-8 text.
    TEXT = 0x1
    #: Section 5.6: binary data.
    BINARY = 0x2
    #: Section 5.2: reserved for further non-control frames.
    RESERVED_DATA = 0x3
    #: Section 5.5.1.
    CLOSE = 0x8
    #: Section 5.5.2.
    PING = 0x9
    #: Section 5.5.3.
    PONG = 0xA
    #: Section 5.2: reserved for further control frames.
    RESERVED_CONTROL = 0xB


def masked_payload(payload: bytes, mask: bytes) -> bytes:
    """XOR with the 4-byte key repeated (section 5.3), fast for megabytes."""
    if not payload:
        return b""
    repeated = (mask * (len(payload) // 4 + 1))[: len(payload)]
    value = int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")
    return value.to_bytes(len(payload), "big")


def frame_header(
    opcode: int,
    length: int,
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: bytes | None = None,
    length_bytes: int | None = None,
) -> bytes:
    """The header of one frame (section 5.2): FIN, RSV1-3 (`rsv` as 3 bits), opcode, the mask
    bit, the payload length in the minimal form or, with `length_bytes` 2 or 8, in that form
    even when a shorter one would do; then the masking key."""
    first = (0x80 if fin else 0) | ((rsv & 0b111) << 4) | (opcode & 0x0F)
    mask_bit = 0x80 if mask is not None else 0
    if length_bytes is None:
        length_bytes = 0 if length < 126 else 2 if length < (1 << 16) else 8
    if length_bytes == 0:
        head = bytes([first, mask_bit | length])
    elif length_bytes == 2:
        head = bytes([first, mask_bit | 126]) + struct.pack("!H", length)
    else:
        head = bytes([first, mask_bit | 127]) + struct.pack("!Q", length)
    return head + (mask or b"")


def frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    masked: bool = False,
    mask: bytes | None = None,
    length_bytes: int | None = None,
) -> bytes:
    """One whole frame: masked with `mask`, or with a random key when `masked` (as a client must,
    section 5.3), else unmasked (as a server must); `length_bytes` as for `frame_header`."""
    key = mask if mask is not None else os.urandom(4) if masked else None
    header = frame_header(
        opcode, len(payload), fin=fin, rsv=rsv, mask=key, length_bytes=length_bytes
    )
    return header + (masked_payload(payload, key) if key else payload)


def client_frame(opcode: int, payload: bytes = b"", **kwargs: object) -> bytes:
    """A frame as a client sends it: masked (RFC 6455 section 5.3)."""
    return frame(opcode, payload, mask=MASK, **kwargs)  # type: ignore[arg-type]


def close_payload(code: int, reason: bytes = b"") -> bytes:
    """A Close frame's body (section 5.5.1): a 2-byte code, then the reason bytes."""
    return struct.pack("!H", code) + reason


def accept_for(key: bytes) -> bytes:
    """The Sec-WebSocket-Accept for `key` (RFC 6455 section 4.2.2 item 5.4)."""
    return base64.b64encode(hashlib.sha1(key.strip() + ACCEPT_GUID).digest())


def upgrade_request(host: str, path: str = "/", *, key: str = KEY, version: int = 13) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: {version}\r\n\r\n"
    ).encode()


def switching_protocols(key: str = KEY) -> bytes:
    """A correct 101 for `key`."""
    return (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept_for(key.encode()).decode()}\r\n\r\n"
    ).encode()


async def read_head(reader: asyncio.StreamReader) -> tuple[str, dict[str, str]]:
    """An HTTP head: the start line and lower-cased headers."""
    lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return lines[0], headers


@dataclass(frozen=True)
class Frame:
    """One frame as it arrived."""

    fin: bool
    rsv: int
    opcode: int
    masked: bool
    payload: bytes

    @property
    def close_code(self) -> int | None:
        """The code of a Close frame; None for other frames and for an empty Close."""
        if self.opcode != Opcode.CLOSE or len(self.payload) < 2:
            return None
        return int(struct.unpack("!H", self.payload[:2])[0])

    @property
    def close_reason(self) -> bytes:
        return self.payload[2:]


class FrameParser:
    """Splits a byte stream into frames (unmasking masked ones); keeps an unfinished tail."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def feed(self, data: bytes) -> list[Frame]:
        self.buffer += data
        frames = []
        while (parsed := self._next()) is not None:
            frames.append(parsed)
        return frames

    def _next(self) -> Frame | None:
        data = self.buffer
        if len(data) < 2:
            return None
        length, offset = data[1] & 0x7F, 2
        if length == 126:
            if len(data) < 4:
                return None
            length, offset = struct.unpack("!H", data[2:4])[0], 4
        elif length == 127:
            if len(data) < 10:
                return None
            length, offset = struct.unpack("!Q", data[2:10])[0], 10
        first, masked = data[0], bool(data[1] & 0x80)
        mask = bytes(data[offset : offset + 4]) if masked else b""
        offset += len(mask)
        if len(data) < offset + length:
            return None
        payload = bytes(data[offset : offset + length])
        del data[: offset + length]
        return Frame(
            fin=bool(first & 0x80),
            rsv=(first >> 4) & 0b111,
            opcode=first & 0x0F,
            masked=masked,
            payload=masked_payload(payload, mask) if masked else payload,
        )


def frames_in(data: bytes) -> list[Frame]:
    """Every whole frame in `data` (bytes a peer received), in order."""
    return FrameParser().feed(data)


async def read_frame(reader: asyncio.StreamReader) -> Frame:
    """The next frame on `reader` (raises IncompleteReadError at EOF)."""
    first, second = await reader.readexactly(2)
    length = second & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", await reader.readexactly(2))
    elif length == 127:
        (length,) = struct.unpack("!Q", await reader.readexactly(8))
    mask = await reader.readexactly(4) if second & 0x80 else None
    payload = await reader.readexactly(length)
    if mask is not None:
        payload = masked_payload(payload, mask)
    return Frame(bool(first & 0x80), first >> 4 & 0x7, first & 0xF, mask is not None, payload)
