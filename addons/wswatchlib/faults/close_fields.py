"""The close code and reason a fault may send, checked as rule files are read (pure).

One home for the rule shared by a `close` action, a script's `close` step and the commands
that close connections: which codes an endpoint may put in a Close frame, and how long its
reason may be.
"""

from __future__ import annotations

from typing import Final

from ..options.config_fields import integer, string
from ..rfc6455 import MAX_CONTROL_PAYLOAD

_SENDABLE_CLOSE_CODES: Final = (range(1000, 1004), range(1007, 1015), range(3000, 5000))
#: ``1000-1003, 1007-1014 or 3000-4999``, for messages.
SENDABLE_CLOSE_CODES_TEXT: Final = " or ".join(
    (
        ", ".join(f"{codes.start}-{codes.stop - 1}" for codes in _SENDABLE_CLOSE_CODES[:-1]),
        f"{_SENDABLE_CLOSE_CODES[-1].start}-{_SENDABLE_CLOSE_CODES[-1].stop - 1}",
    )
)


def sendable(code: int) -> bool:
    """Whether an endpoint may send *code* (RFC 6455 section 7.4, IANA registry)."""
    return any(code in codes for codes in _SENDABLE_CLOSE_CODES)


def close_code(value: object) -> int:
    """A close code an endpoint may send."""
    code = integer(value)
    if not sendable(code):
        raise ValueError(
            f"must be {SENDABLE_CLOSE_CODES_TEXT}"
            f" (1004-1006, 1015 and 1016-2999 are reserved), got {code}"
        )
    return code


#: A Close frame's payload is at most 125 bytes, 2 of them the code.
MAX_REASON_BYTES: Final = MAX_CONTROL_PAYLOAD - 2


def close_reason(value: object) -> str:
    """A close reason that fits a control frame: 125 payload bytes minus the 2-byte code."""
    reason = string(value)
    size = len(reason.encode("utf-8"))
    if size > MAX_REASON_BYTES:
        raise ValueError(f"must be at most {MAX_REASON_BYTES} UTF-8 bytes, got {size}")
    return reason
