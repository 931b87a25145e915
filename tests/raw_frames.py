"""Hand-built RFC 6455 bytes for tests that must send what no conforming library would.

Builders return exact wire bytes (any opcode, RSV bits, masking, control frames of any length);
`read_frame` reads one frame back from a stream, so a test can assert what a peer received.
Nothing here validates: that is the point.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import enum
import hashlib
import struct
from dataclasses import dataclass

#: RFC 6455 section 1.3.
ACCEPT_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#: A fixed Sec-WebSocket-Key (base64 of 16 bytes), so tests are reproducible.
KEY = "dGhlIHNhbXBsZSBub25jZQ=="
#: A fixed masking key for client frames (RFC 6455 section 5.3 wants a random one; tests don't).
MASK = b"\x37\xfa\x21\x3d"


class Op(enum.IntEnum):
    """RFC 6455 section 5.2 opcodes, plus reserved ones a peer must not send."""

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    RESERVED_DATA = 0x3
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA
    RESERVED_CONTROL = 0xB


def frame(
    opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0, mask: bytes | None = None
) -> bytes:
    """One frame: `rsv` is the 3 RSV bits (0-7), `mask` a 4-byte key or None for unmasked."""
    first = (0x80 if fin else 0) | (rsv & 0x7) << 4 | opcode & 0xF
    mask_bit = 0x80 if mask is not None else 0
    length = len(payload)
    if length <= 125:
        header = bytes([first, mask_bit | length])
    elif length <= 0xFFFF:
        header = bytes([first, mask_bit | 126]) + struct.pack("!H", length)
    else:
        header = bytes([first, mask_bit | 127]) + struct.pack("!Q", length)
    if mask is None:
        return header + payload
    return header + mask + bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))


def client_frame(opcode: int, payload: bytes = b"", **kwargs: object) -> bytes:
    """A frame as a client sends it: masked (RFC 6455 section 5.3)."""
    return frame(opcode, payload, mask=MASK, **kwargs)  # type: ignore[arg-type]


def close_payload(code: int, reason: bytes = b"") -> bytes:
    """A Close frame's body: the 2-byte code, then the reason bytes as given (not validated)."""
    return struct.pack("!H", code) + reason


def accept_for(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.encode() + ACCEPT_GUID).digest()).decode()


def upgrade_request(host: str, path: str = "/", *, key: str = KEY, version: int = 13) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: {version}\r\n\r\n"
    ).encode()


def switching_protocols(key: str = KEY) -> bytes:
    """A correct 101 for `key`."""
    return (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept_for(key)}\r\n\r\n"
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
    fin: bool
    rsv: int
    opcode: int
    masked: bool
    payload: bytes  # unmasked

    @property
    def close_code(self) -> int | None:
        return struct.unpack("!H", self.payload[:2])[0] if len(self.payload) >= 2 else None

    @property
    def close_reason(self) -> bytes:
        return self.payload[2:]


async def frames_in(data: bytes) -> list[Frame]:
    """Every whole frame in `data` (bytes a peer received), in order."""
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    found = []
    with contextlib.suppress(asyncio.IncompleteReadError):
        for _ in range(len(data) // 2):  # a frame takes at least 2 bytes
            found.append(await read_frame(reader))
    return found


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
        payload = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    return Frame(bool(first & 0x80), first >> 4 & 0x7, first & 0xF, mask is not None, payload)
