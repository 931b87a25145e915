"""RFC 6455 violations that made the proxy itself close a WebSocket connection.

When one peer's bytes break RFC 6455, mitmproxy's WebSocket parser (wsproto) fails the
connection: it sends BOTH peers a close frame with 1002 (or 1007, or an extension's code) and
its own error text as the reason, so each peer sees a close it thinks the other sent. wswatch
learns which side's bytes failed to parse and wsproto's text (see `mitm_internals`); this module
names the broken rule from that text. Pure: no mitmproxy, no wsproto.

The rules this file keeps:
- Every text wsproto 1.2 and 1.3 raise maps to one member (a completeness test checks it).
- Unknown texts (a newer wsproto) map to `OTHER`, never to a wrong member; the text itself is in
  the event's `close_reason`.
"""

from __future__ import annotations

import enum


class Violation(enum.StrEnum):
    """The RFC 6455 rule a peer broke, as named in `ws.closed`'s `violation`."""

    #: Section 5.2: opcodes 0x3-0x7 and 0xB-0xF are reserved.
    INVALID_OPCODE = "invalid_opcode"
    #: Section 5.2: RSV1-3 must be 0 unless a negotiated extension defines them.
    RESERVED_BITS_SET = "reserved_bits_set"
    #: Section 5.1: a server must not mask the frames it sends.
    SERVER_MASKED_FRAME = "server_masked_frame"
    #: Section 5.1: a client must mask every frame it sends.
    CLIENT_UNMASKED_FRAME = "client_unmasked_frame"
    #: Section 5.2: the payload length must use the minimal number of bytes.
    NON_MINIMAL_LENGTH = "non_minimal_length"
    #: Section 5.2: the most significant bit of a 64-bit payload length must be 0.
    LENGTH_HIGH_BIT_SET = "length_high_bit_set"
    #: Section 5.5: control frames must not be fragmented.
    FRAGMENTED_CONTROL_FRAME = "fragmented_control_frame"
    #: Section 5.5: control frames carry at most 125 bytes of payload.
    CONTROL_FRAME_TOO_LONG = "control_frame_too_long"
    #: Section 5.4: a continuation frame with no fragmented message to continue.
    UNEXPECTED_CONTINUATION = "unexpected_continuation"
    #: Section 5.4: a new data message started before the fragmented one was finished.
    EXPECTED_CONTINUATION = "expected_continuation"
    #: Section 8.1: a text message must be valid UTF-8.
    INVALID_UTF8 = "invalid_utf8"
    #: Section 5.5.1: a close body is empty or at least a 2-byte code.
    CLOSE_PAYLOAD_ONE_BYTE = "close_payload_one_byte"
    #: Section 7.4.2: close codes below 1000 or above 4999 are not valid.
    INVALID_CLOSE_CODE = "invalid_close_code"
    #: Section 7.4.1: 1005, 1006 and 1015 must never be sent in a close frame.
    LOCAL_ONLY_CLOSE_CODE = "local_only_close_code"
    #: Section 7.4.2: unassigned codes in 1000-2999 are reserved for the protocol.
    RESERVED_CLOSE_CODE = "reserved_close_code"
    #: Section 5.5.1: a close reason must be valid UTF-8.
    INVALID_UTF8_CLOSE_REASON = "invalid_utf8_close_reason"
    #: Section 9 and RFC 7692: a negotiated extension (permessage-deflate) could not decode a frame.
    EXTENSION_ERROR = "extension_error"
    #: A parser error this table does not know yet (its text is in `close_reason`).
    OTHER = "other"


#: Start of wsproto's ParseFailed text -> the rule it stands for (wsproto/frame_protocol.py).
WSPROTO_ERROR_PREFIXES: tuple[tuple[str, Violation], ...] = (
    ("Invalid opcode", Violation.INVALID_OPCODE),
    ("Reserved bit set unexpectedly", Violation.RESERVED_BITS_SET),
    ("client received unexpected masked frame", Violation.SERVER_MASKED_FRAME),
    ("server received unexpected unmasked frame", Violation.CLIENT_UNMASKED_FRAME),
    ("Payload length used 2 bytes when 1 would have sufficed", Violation.NON_MINIMAL_LENGTH),
    ("Payload length used 8 bytes when 2 would have sufficed", Violation.NON_MINIMAL_LENGTH),
    ("8-byte payload length with non-zero MSB", Violation.LENGTH_HIGH_BIT_SET),
    ("Invalid attempt to fragment control frame", Violation.FRAGMENTED_CONTROL_FRAME),
    ("Control frame with payload len > 125", Violation.CONTROL_FRAME_TOO_LONG),
    ("unexpected CONTINUATION", Violation.UNEXPECTED_CONTINUATION),
    ("expected CONTINUATION", Violation.EXPECTED_CONTINUATION),
    ("'utf-8' codec can't decode", Violation.INVALID_UTF8),
    ("CLOSE with 1 byte payload", Violation.CLOSE_PAYLOAD_ONE_BYTE),
    ("CLOSE with invalid code", Violation.INVALID_CLOSE_CODE),
    ("remote CLOSE with local-only reason", Violation.LOCAL_ONLY_CLOSE_CODE),
    ("CLOSE with unknown reserved code", Violation.RESERVED_CLOSE_CODE),
    ("Error decoding CLOSE reason", Violation.INVALID_UTF8_CLOSE_REASON),
    ("error in extension", Violation.EXTENSION_ERROR),
)


def classify_violation(parser_error: str) -> Violation:
    """The rule behind one wsproto ParseFailed text."""
    for prefix, violation in WSPROTO_ERROR_PREFIXES:
        if parser_error.startswith(prefix):
            return violation
    return Violation.OTHER
