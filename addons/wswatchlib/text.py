"""Text helpers every concern shares: make any text safe to write (valid UTF-8 for the JSON file,
no control bytes on a terminal), and split a header's comma-separated tokens.

mitmproxy decodes bytes off the wire with "surrogateescape", so a non-UTF-8 byte in a path,
header, reason phrase or body arrives here as a lone surrogate ("\\udcff") that no UTF-8 encoder
accepts. Such text is written escaped ("\\xff") instead of failing the event. Pure: no mitmproxy.
"""

from __future__ import annotations

import re
from typing import Any

from structlog.typing import EventDict, WrappedLogger

#: C0 and C1 control characters except tab: a hostile reason phrase must not drive the terminal
#: (ANSI escapes, carriage returns that overwrite the line).
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def wire_bytes(text: str) -> bytes:
    """The bytes behind `text` as mitmproxy decoded them (non-UTF-8 bytes are surrogate escapes)."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate that is no escaped byte
        return text.encode("utf-8", "backslashreplace")


def encodable(text: str) -> str:
    """`text` as valid UTF-8: surrogate-escaped bytes become backslash escapes (\\xff)."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate that is no escaped byte, e.g. from JSON "\ud800"
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


def terminal_safe(text: str) -> str:
    """`text` encodable and with control characters shown as escapes, for one terminal line."""
    if text.isascii() and text.isprintable():
        return text  # nothing to escape: most lines, checked without the regex
    return _CONTROL.sub(lambda found: repr(found.group())[1:-1], encodable(text))


#: Values that hold no text: passed through as they are.
_TEXTLESS = frozenset({int, float, bool, type(None)})


def make_encodable(value: Any) -> Any:
    """`value` with every string, key and nested item made encodable (containers copied)."""
    kind = type(value)
    if kind is str:
        return value if value.isascii() else encodable(value)
    if kind in _TEXTLESS:
        return value
    if kind is dict:
        # Most of an event's keys and values are ASCII text or numbers: kept without a call.
        return {
            (key if type(key) is str and key.isascii() else make_encodable(key)): (
                item
                if type(item) in _TEXTLESS or (type(item) is str and item.isascii())
                else make_encodable(item)
            )
            for key, item in value.items()
        }
    if isinstance(value, str):
        return encodable(value)
    if isinstance(value, dict):
        return {make_encodable(key): make_encodable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [make_encodable(item) for item in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return value


def encodable_event(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: every string of the event is valid UTF-8 from here on."""
    made: EventDict = make_encodable(event_dict)
    return made


def split_tokens(value: str | None) -> list[str]:
    """Split a comma-separated header value into trimmed, non-empty tokens."""
    if not value:
        return []
    return [token.strip() for token in value.split(",") if token.strip()]
