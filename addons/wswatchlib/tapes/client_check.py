"""Does the replayed client send what the recording's client sent? Pure.

`off` checks nothing (the default: clients often send what differs on every run, audio among
it). `exact` compares text as it is and binary by bytes (or by SHA-256 when the tape kept a
digest). `json` compares text messages as JSON documents, leaving out the ignored paths (ids,
timestamps); a message that is not JSON on either side is compared exactly. A path is dotted
keys, `*` for any key or index: `id`, `meta.ts`, `items.*.id`.
"""

from __future__ import annotations

import enum
import hashlib
import json
from typing import Any

from .format import TapeMessage

#: Longest text shown on each side of a mismatch.
SHOWN = 80


class ClientCheck(enum.StrEnum):
    """The values of `wswatch_replay_match`."""

    OFF = "off"
    EXACT = "exact"
    JSON = "json"


def _shown(value: Any) -> str:
    """A whole message's text as it is, any other value as JSON, cut to SHOWN characters."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= SHOWN else text[: SHOWN - 3] + "..."


def _shown_json(value: Any) -> str:
    """A value inside a JSON document, as JSON: the string "1" and the number 1 differ."""
    return _shown(json.dumps(value, ensure_ascii=False))


def _without(document: Any, path: list[str]) -> Any:
    """`document` with whatever `path` names removed (copied where changed)."""
    if not path:
        return document
    head, rest = path[0], path[1:]
    if isinstance(document, dict):
        keys = list(document) if head == "*" else [head]
        copy = dict(document)
        for key in keys:
            if key in copy:
                if rest:
                    copy[key] = _without(copy[key], rest)
                else:
                    del copy[key]
        return copy
    if isinstance(document, list):
        indexes = range(len(document)) if head == "*" else [int(head)] if head.isdigit() else []
        copy_list = list(document)
        for index in sorted(indexes, reverse=True):
            if index < len(copy_list):
                if rest:
                    copy_list[index] = _without(copy_list[index], rest)
                else:
                    del copy_list[index]
        return copy_list
    return document


def _same(expected: Any, got: Any) -> bool:
    """Equal as JSON values: Python's `==` has `true == 1` and `false == 0`, JSON does not
    (`1 == 1.0` stays equal: both are the number one)."""
    if isinstance(expected, bool) or isinstance(got, bool):
        return type(expected) is type(got) and expected == got
    if isinstance(expected, dict) and isinstance(got, dict):
        return expected.keys() == got.keys() and all(_same(expected[k], got[k]) for k in expected)
    if isinstance(expected, list) and isinstance(got, list):
        return len(expected) == len(got) and all(map(_same, expected, got))
    return bool(expected == got)


def _first_difference(expected: Any, got: Any, where: str = "") -> str:
    """Where two JSON documents first differ, and how: `items.0.text: recorded "a", sent "b"`."""
    if isinstance(expected, dict) and isinstance(got, dict):
        for key in list(expected) + [k for k in got if k not in expected]:
            here = f"{where}.{key}" if where else str(key)
            if key not in got:
                return f"{here}: missing (recorded {_shown_json(expected[key])})"
            if key not in expected:
                return f"{here}: not in the recording (sent {_shown_json(got[key])})"
            if not _same(expected[key], got[key]):
                return _first_difference(expected[key], got[key], here)
    if isinstance(expected, list) and isinstance(got, list) and len(expected) == len(got):
        for index, (left, right) in enumerate(zip(expected, got, strict=True)):
            if not _same(left, right):
                return _first_difference(left, right, f"{where}.{index}" if where else str(index))
    return (
        f"{where or '(whole message)'}: recorded {_shown_json(expected)}, sent {_shown_json(got)}"
    )


def mismatch(
    check: ClientCheck,
    recorded: TapeMessage,
    is_text: bool,
    payload: bytes,
    ignored: tuple[tuple[str, ...], ...] = (),
) -> str | None:
    """Why the client's message differs from the recorded one, in one line; None if it does
    not (or nothing is checked)."""
    if check is ClientCheck.OFF:
        return None
    if recorded.is_text != is_text:
        kinds = ("text", "binary")
        return f"recorded a {kinds[not recorded.is_text]} message, sent {kinds[not is_text]}"
    if not is_text:
        if recorded.data is not None:
            same = recorded.data == payload
        else:
            same = hashlib.sha256(payload).hexdigest() == recorded.sha256
        if same:
            return None
        return (
            f"binary: recorded {recorded.size} bytes, sent {len(payload)} bytes (content differs)"
        )
    sent = payload.decode("utf-8", "replace")
    expected_text = recorded.text or ""
    if sent == expected_text:
        return None
    if check is ClientCheck.JSON:
        try:
            expected, got = json.loads(expected_text), json.loads(sent)
        except ValueError:
            pass
        else:
            for path in ignored:
                expected, got = _without(expected, list(path)), _without(got, list(path))
            return None if _same(expected, got) else _first_difference(expected, got)
    return f"text: recorded {_shown(expected_text)}, sent {_shown(sent)}"


def parse_paths(paths: list[str] | tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    """`wswatch_replay_ignore` values as paths; raises ValueError naming a malformed one."""
    parsed = []
    for path in paths:
        parts = tuple(path.strip().removeprefix("$.").split("."))
        if not path.strip() or any(not part for part in parts):
            raise ValueError(f"{path!r} is not a path (dotted keys, * for any: items.*.id)")
        parsed.append(parts)
    return tuple(parsed)
