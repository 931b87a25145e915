"""Violations: every error the installed wsproto raises on hostile bytes names its RFC 6455 rule.

The table below feeds hand-built bytes to a real wsproto connection (the parser mitmproxy uses)
and checks the close it produces, so a wsproto upgrade that changes its texts fails here.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import pytest
import wsproto
import wsproto.events
from raw_frames import MASK, Opcode, client_frame, close_payload, frame
from wsproto.extensions import PerMessageDeflate
from wswatchlib.watch.violations import WSPROTO_ERROR_PREFIXES, Violation, classify_violation


@dataclass(frozen=True)
class Hostile:
    """Bytes one side sends, and what wsproto on the other side must make of them."""

    side: str  # who sends the bytes
    data: bytes
    violation: Violation
    code: int = 1002
    deflate: bool = False  # permessage-deflate negotiated


def _from_server(data: bytes, violation: Violation, code: int = 1002, **kw: bool) -> Hostile:
    return Hostile("server", data, violation, code, **kw)


def _from_client(data: bytes, violation: Violation, code: int = 1002, **kw: bool) -> Hostile:
    return Hostile("client", data, violation, code, **kw)


HOSTILE: dict[str, Hostile] = {
    "reserved data opcode": _from_server(
        frame(Opcode.RESERVED_DATA, b"x"), Violation.INVALID_OPCODE
    ),
    "reserved control opcode": _from_client(
        client_frame(Opcode.RESERVED_CONTROL), Violation.INVALID_OPCODE
    ),
    "rsv bits without extension": _from_server(
        frame(Opcode.TEXT, b"hi", rsv=0b010), Violation.RESERVED_BITS_SET
    ),
    "masked server frame": _from_server(
        frame(Opcode.TEXT, b"hi", mask=MASK), Violation.SERVER_MASKED_FRAME
    ),
    "unmasked client frame": _from_client(
        frame(Opcode.TEXT, b"hi"), Violation.CLIENT_UNMASKED_FRAME
    ),
    "2-byte length for 5 bytes": _from_server(
        bytes([0x82, 126]) + struct.pack("!H", 5) + b"hello", Violation.NON_MINIMAL_LENGTH
    ),
    "8-byte length for 5 bytes": _from_server(
        bytes([0x82, 127]) + struct.pack("!Q", 5) + b"hello", Violation.NON_MINIMAL_LENGTH
    ),
    "length with the top bit set": _from_server(
        bytes([0x82, 127]) + struct.pack("!Q", 1 << 63), Violation.LENGTH_HIGH_BIT_SET
    ),
    "fragmented ping": _from_server(
        frame(Opcode.PING, b"p", fin=False), Violation.FRAGMENTED_CONTROL_FRAME
    ),
    "ping of 126 bytes": _from_client(
        client_frame(Opcode.PING, b"p" * 126), Violation.CONTROL_FRAME_TOO_LONG
    ),
    "continuation first": _from_server(
        frame(Opcode.CONTINUATION, b"x"), Violation.UNEXPECTED_CONTINUATION
    ),
    "new message inside a fragmented one": _from_server(
        frame(Opcode.TEXT, b"a", fin=False) + frame(Opcode.TEXT, b"b"),
        Violation.EXPECTED_CONTINUATION,
    ),
    "text not utf-8": _from_client(
        client_frame(Opcode.TEXT, b"\xff\xfe"), Violation.INVALID_UTF8, 1007
    ),
    "close with 1 byte": _from_server(
        frame(Opcode.CLOSE, b"\x03"), Violation.CLOSE_PAYLOAD_ONE_BYTE
    ),
    "close 999": _from_server(
        frame(Opcode.CLOSE, close_payload(999)), Violation.INVALID_CLOSE_CODE
    ),
    "close 5000": _from_server(
        frame(Opcode.CLOSE, close_payload(5000)), Violation.INVALID_CLOSE_CODE
    ),
    "close 1005": _from_server(
        frame(Opcode.CLOSE, close_payload(1005)), Violation.LOCAL_ONLY_CLOSE_CODE
    ),
    "close 1006": _from_client(
        client_frame(Opcode.CLOSE, close_payload(1006)), Violation.LOCAL_ONLY_CLOSE_CODE
    ),
    "close 1015": _from_server(
        frame(Opcode.CLOSE, close_payload(1015)), Violation.LOCAL_ONLY_CLOSE_CODE
    ),
    "close 1004": _from_server(
        frame(Opcode.CLOSE, close_payload(1004)), Violation.RESERVED_CLOSE_CODE
    ),
    "close 1014 (IANA-registered, unknown to wsproto)": _from_server(
        frame(Opcode.CLOSE, close_payload(1014)), Violation.RESERVED_CLOSE_CODE
    ),
    "close 2999": _from_server(
        frame(Opcode.CLOSE, close_payload(2999)), Violation.RESERVED_CLOSE_CODE
    ),
    "close reason not utf-8": _from_server(
        frame(Opcode.CLOSE, close_payload(1000, b"\xc3")), Violation.INVALID_UTF8_CLOSE_REASON, 1007
    ),
    "deflated bytes that do not inflate": _from_server(
        frame(Opcode.BINARY, b"\xff\xff\xff\xff", rsv=0b100),
        Violation.EXTENSION_ERROR,
        1007,
        deflate=True,
    ),
    "compressed ping": _from_server(
        frame(Opcode.PING, b"p", rsv=0b100), Violation.EXTENSION_ERROR, deflate=True
    ),
}


def wsproto_close(hostile: Hostile) -> wsproto.events.CloseConnection:
    """The close wsproto produces on receiving `hostile.data` (as mitmproxy's parser would)."""
    extensions = []
    if hostile.deflate:
        deflate = PerMessageDeflate()
        deflate.finalize("permessage-deflate")
        extensions.append(deflate)
    # mitmproxy parses server bytes with a client-side connection and client bytes with a
    # server-side one.
    receiver = (
        wsproto.ConnectionType.CLIENT if hostile.side == "server" else wsproto.ConnectionType.SERVER
    )
    connection = wsproto.Connection(receiver, extensions)
    connection.receive_data(hostile.data)
    closes = [e for e in connection.events() if isinstance(e, wsproto.events.CloseConnection)]
    assert len(closes) == 1, closes
    return closes[0]


@pytest.mark.parametrize("name", HOSTILE)
def test_wsproto_error_maps_to_its_violation(name: str) -> None:
    """Each kind of hostile frame makes wsproto close with a text that names the right rule."""
    hostile = HOSTILE[name]
    close = wsproto_close(hostile)
    assert (classify_violation(close.reason), int(close.code)) == (
        hostile.violation,
        hostile.code,
    )


def test_hostile_table_reaches_every_violation_but_other() -> None:
    """Every member (except the fallback) is produced by real wsproto bytes in the table."""
    assert {hostile.violation for hostile in HOSTILE.values()} == set(Violation) - {Violation.OTHER}


def test_every_prefix_is_reached_by_real_wsproto_bytes() -> None:
    """No prefix in the table is dead: each one matches a text the installed wsproto produced."""
    reasons = [wsproto_close(hostile).reason for hostile in HOSTILE.values()]
    unmatched = [
        prefix
        for prefix, _ in WSPROTO_ERROR_PREFIXES
        if not any(r.startswith(prefix) for r in reasons)
    ]
    assert unmatched == []


def test_unknown_parser_text_is_other() -> None:
    """A text a future wsproto may raise is `other`, never a wrong rule."""
    assert classify_violation("frame too large for the moon") is Violation.OTHER


def test_utf8_text_maps_on_the_codec_message_not_its_position() -> None:
    """The UTF-8 text carries byte and position; only its stable start is matched."""
    text = "'utf-8' codec can't decode byte 0xc3 in position 7: unexpected end of data"
    assert classify_violation(text) is Violation.INVALID_UTF8
