"""Which WebSocket messages a script's `wait` (and a `messages` rule) is looking for.

Pure: a frozen `MessageMatch` built once from the rule file, and `matches`, which takes the
message as plain data (content bytes, text or binary). Four ways to pick a message, all that
are set must hold:

- `text`: a substring of the message (a binary one read as latin-1, byte for byte);
- `regex`: a regular expression searched in the same text;
- `json`: a JSON subset: the message is a JSON text with, somewhere at any depth, an object (or
  value) that contains the subset, e.g. `{"type": "Configure"}` matches
  `{"type": "Configure", "features": {...}}` and `[{"id": 1, "type": "Configure"}]`;
- `binary_len`: a binary message whose length lies in `[MIN, MAX]`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

#: Deepest nesting a JSON subset search walks (deeper hostile documents simply do not match).
MAX_DEPTH: Final = 64

#: Longest text parsed as JSON for a `json` match: a larger message does not match (it is
#: still forwarded); it keeps a hostile 100 MB message from being parsed for every rule.
MAX_JSON_BYTES: Final = 1 << 20


@dataclass(frozen=True, slots=True)
class MessageMatch:
    """What a message must be for a `wait` to be satisfied; unset fields match anything."""

    text: str | None = None
    regex: re.Pattern[str] | None = None
    json: Any = None
    has_json: bool = False
    binary_len: tuple[int, int] | None = None

    def matches(self, content: bytes, is_text: bool) -> bool:
        """Whether a message with this content and type is what the match describes."""
        if self.binary_len is not None:
            low, high = self.binary_len
            if is_text or not low <= len(content) <= high:
                return False
        if self.text is not None or self.regex is not None:
            shown = _as_text(content, is_text)
            if self.text is not None and self.text not in shown:
                return False
            if self.regex is not None and self.regex.search(shown) is None:
                return False
        if self.has_json:
            document = parse_json(content) if is_text else _NOT_JSON
            if document is _NOT_JSON or not contains_anywhere(document, self.json):
                return False
        return True

    def describe(self) -> dict[str, Any]:
        """The match as JSON-able data, for logs and the runtime listing of rules."""
        shown: dict[str, Any] = {}
        if self.text is not None:
            shown["text"] = self.text
        if self.regex is not None:
            shown["regex"] = self.regex.pattern
        if self.has_json:
            shown["json"] = self.json
        if self.binary_len is not None:
            shown["binary_len"] = list(self.binary_len)
        return shown


_NOT_JSON: Final = object()


def _as_text(content: bytes, is_text: bool) -> str:
    if is_text:
        return content.decode("utf-8", "replace")
    return content.decode("latin-1")


def parse_json(content: bytes) -> Any:
    """The JSON document a text message holds, or `_NOT_JSON` (not JSON, too large or too deep
    for the parser): a peer's bytes never raise here."""
    if len(content) > MAX_JSON_BYTES:
        return _NOT_JSON
    try:
        return json.loads(content)
    except (ValueError, RecursionError):
        return _NOT_JSON


def is_json(value: Any) -> bool:
    """Whether `parse_json` found a document (a JSON `null` is one)."""
    return value is not _NOT_JSON


def contains(document: Any, subset: Any, depth: int = 0) -> bool:
    """Whether `document` contains `subset` where it stands: every key of an object subset with
    a contained value, every item of a list subset in some item, a scalar equal (1 is not
    true, 1 is 1.0)."""
    if depth > MAX_DEPTH:
        return False
    if isinstance(subset, dict):
        return isinstance(document, dict) and all(
            key in document and contains(document[key], value, depth + 1)
            for key, value in subset.items()
        )
    if isinstance(subset, list):
        return isinstance(document, list) and all(
            any(contains(item, wanted, depth + 1) for item in document) for wanted in subset
        )
    if isinstance(subset, bool) or isinstance(document, bool):
        return type(subset) is type(document) and subset == document
    return bool(subset == document)


def contains_anywhere(document: Any, subset: Any) -> bool:
    """Whether `document` or any value nested in it (up to MAX_DEPTH) contains `subset`."""
    return any(contains(node, subset) for node in _nodes(document))


def _nodes(document: Any) -> Iterator[Any]:
    """Every value of a document, outermost first, iteratively (no recursion to exhaust)."""
    stack = [(document, 0)]
    while stack:
        node, depth = stack.pop()
        yield node
        if depth >= MAX_DEPTH:
            continue
        if isinstance(node, dict):
            stack.extend((child, depth + 1) for child in reversed(node.values()))
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in reversed(node))
