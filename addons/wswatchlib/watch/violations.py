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

from ..rfc6455 import Violation

__all__ = ["WSPROTO_ERROR_PREFIXES", "Violation", "classify_violation"]


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
