"""The words of RFC 6455 that every concern shares: opcodes, close codes, and the protocol
rules a peer can break. One home for each, in the style of wsproto's `frame_protocol.py`; pure,
imported by everything and importing nothing of wswatch.
"""

from __future__ import annotations

import enum


class Opcode(enum.IntEnum):
    """Section 5.2: the frame opcodes."""

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


class CloseCode(enum.IntEnum):
    """Section 7.4.1 and the IANA registry: close codes wswatch names."""

    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    #: Reported locally for a Close frame without a body (section 7.1.5), never sent.
    NO_STATUS_RECEIVED = 1005
    #: Reported locally when the connection ended without a Close frame, never sent.
    ABNORMAL_CLOSURE = 1006
    INVALID_PAYLOAD = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    #: Reported locally when the TLS handshake failed, never sent.
    TLS_HANDSHAKE = 1015


#: Codes that stand for "no close frame arrived" and must never become a real frame.
NO_FRAME_CLOSE_CODES = frozenset({CloseCode.ABNORMAL_CLOSURE, CloseCode.TLS_HANDSHAKE})
#: Section 7.4.1: codes that must never be sent in a Close frame.
LOCAL_ONLY_CLOSE_CODES = NO_FRAME_CLOSE_CODES | {CloseCode.NO_STATUS_RECEIVED}
#: Section 7.4.1 and the IANA registry: the assigned codes in the protocol's 1000-2999 range.
ASSIGNED_CLOSE_CODES = frozenset(CloseCode) - LOCAL_ONLY_CLOSE_CODES
#: Section 5.5: a control frame carries at most 125 payload bytes.
MAX_CONTROL_PAYLOAD = 125
#: Sec-WebSocket-Version values whose frames have this RFC's format: 13 (the RFC), and 7 and 8
#: (the hybi drafts 07-12 that preceded it, framed alike).
FRAME_FORMAT_VERSIONS = frozenset({"7", "8", "13"})


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
