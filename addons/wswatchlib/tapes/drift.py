"""Drift: do two recordings of the same exchange have the same shape? `wswatch tape diff`.

A team re-records an exchange weekly to learn when the vendor changed its protocol, so what is
compared is what a client's code depends on, never the values a run changes anyway (ids, times,
transcripts, how long a stream ran): the handshake's status, response header names, subprotocol
and extensions; per direction, which message types come and in what order; per message type,
each JSON key path and the JSON types seen at it; how the connection ended. The pure part
(`read_shape`, `shape_of`, `diff_shapes`) decides; `add_diff_command` and `run_diff` are the
command-line glue.
"""

from __future__ import annotations

import argparse
import enum
import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .format import TapeEnd, TapeError, TapeHeader, TapeMessage, read_lines, read_summary

#: Keys whose string value names a JSON object message's type, in the order they are tried.
DISCRIMINATOR_KEYS = ("type", "event", "op", "action", "kind", "msg_type")
#: Response headers whose presence varies run to run (the values are never compared at all).
VOLATILE_HEADERS = frozenset({"date", "server-timing", "content-length", "sec-websocket-accept"})
DIRECTIONS = ("client", "server")
#: Key path -> the JSON types seen there, merged over every message of one type.
KeyShape = Mapping[str, frozenset[str]]


@dataclass(frozen=True, slots=True)
class EndShape:
    """How the attempt ended, without the values that vary (time, reason text, error text)."""

    kind: str  # an `End` value, or "cut" for a tape with no end line
    code: int | None = None
    closed_by: str | None = None

    def __str__(self) -> str:
        if self.kind == "cut":
            return "cut short (no end line)"
        code = "" if self.code is None else f" {self.code}"
        by = "" if self.closed_by is None else f" by {self.closed_by}"
        return f"{self.kind}{code}{by}"


@dataclass(frozen=True, slots=True)
class Shape:
    """What of a tape a client depends on. `order` lists each direction's message types by
    first appearance: repeats and how they interleave follow the values (a longer utterance,
    one more partial result), the order in which types first come follows the protocol."""

    status: int | None
    header_names: frozenset[str]
    subprotocol: str | None
    extensions: frozenset[str]
    order: Mapping[str, tuple[str, ...]]
    keys: Mapping[tuple[str, str], KeyShape]  # (direction, message type) -> key shape
    end: EndShape

    @property
    def message_types(self) -> int:
        return sum(len(types) for types in self.order.values())


class DifferenceKind(enum.StrEnum):
    STATUS = "status"
    HEADER_ADDED = "header_added"
    HEADER_REMOVED = "header_removed"
    SUBPROTOCOL = "subprotocol"
    EXTENSIONS = "extensions"
    MESSAGE_TYPE_ADDED = "message_type_added"
    MESSAGE_TYPE_REMOVED = "message_type_removed"
    ORDER = "order"
    KEY_ADDED = "key_added"
    KEY_REMOVED = "key_removed"
    TYPE_CHANGED = "type_changed"
    CLOSE = "close"


@dataclass(frozen=True, slots=True)
class Difference:
    """One way NEW's shape is not OLD's: where (direction, message type, key path, as they
    apply), what it was and is, and a line saying so."""

    kind: DifferenceKind
    text: str
    direction: str | None = None
    message_type: str | None = None
    key_path: str | None = None
    old: str | None = None
    new: str | None = None


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):  # before numbers: Python's bool is an int, JSON's is not
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _decoded_json(message: TapeMessage) -> Any:
    """The message's JSON value, or None for binary and non-JSON text (JSON null included:
    it has no keys either). Nesting too deep for the parser is text, not a crash."""
    if message.text is None:
        return None
    try:
        return json.loads(message.text)
    except (ValueError, RecursionError):
        return None


def message_type(message: TapeMessage, value: Any) -> str:
    """The name a protocol gives this message: a JSON object's discriminator value, else what
    kind of payload it is. Digest-only client binary lines are "binary" like whole ones."""
    if message.text is None:
        return "binary"
    if isinstance(value, dict):
        for key in DISCRIMINATOR_KEYS:
            if isinstance(value.get(key), str):
                return str(value[key])
        return "json-object"
    return "json-array" if isinstance(value, list) else "text"


def add_key_types(value: Any, into: dict[str, set[str]]) -> None:
    """Every key path below `value` with the JSON types seen there (`a.b`, `[]` for an array's
    items). Walked with a stack: a deeply nested message cannot exhaust the recursion limit."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                child_path = f"{path}.{key}" if path else str(key)
                into.setdefault(child_path, set()).add(json_type(child))
                stack.append((child_path, child))
        elif isinstance(item, list):
            for child in item:
                into.setdefault(f"{path}[]", set()).add(json_type(child))
                stack.append((f"{path}[]", child))


def extension_names(extensions: str | None) -> frozenset[str]:
    """`permessage-deflate; client_max_window_bits=15, x-foo` -> the tokens, no parameters."""
    tokens = (part.split(";")[0].strip().lower() for part in (extensions or "").split(","))
    return frozenset(token for token in tokens if token)


def shape_of(header: TapeHeader, lines: Iterable[TapeMessage | TapeEnd]) -> Shape:
    """The shape of one tape, from its header and lines (read once, in constant memory per
    message type: a stream of any length folds into its types' key shapes)."""
    order: dict[str, list[str]] = {direction: [] for direction in DIRECTIONS}
    keys: dict[tuple[str, str], dict[str, set[str]]] = {}
    end = EndShape("cut")
    for line in lines:
        if isinstance(line, TapeEnd):
            end = EndShape(line.end.value, line.code, line.closed_by)
            continue
        direction = DIRECTIONS[0] if line.from_client else DIRECTIONS[1]
        value = _decoded_json(line)
        name = message_type(line, value)
        if (direction, name) not in keys:
            order[direction].append(name)
            keys[direction, name] = {}
        add_key_types(value, keys[direction, name])
    response = header.response
    return Shape(
        status=None if response is None else response.status,
        header_names=frozenset(name.lower() for name, _ in (response.headers if response else []))
        - VOLATILE_HEADERS,
        subprotocol=header.subprotocol,
        extensions=extension_names(header.extensions),
        order={direction: tuple(types) for direction, types in order.items()},
        keys={place: _frozen(paths) for place, paths in keys.items()},
        end=end,
    )


def _frozen(paths: dict[str, set[str]]) -> KeyShape:
    return {path: frozenset(types) for path, types in paths.items()}


def read_shape(path: Path) -> Shape:
    """The shape of the tape at `path`; a `TapeError` naming file, line and field if unreadable."""
    return shape_of(read_summary(path).header, read_lines(path))


def _types(types: frozenset[str]) -> str:
    return "|".join(sorted(types))


def _container_seen(keys: KeyShape, path: str) -> bool:
    """Did this side see what holds `path`? If not, what is under it is unknown, not different:
    an array that was always empty says nothing of its items, and a value that was never an
    object (always null, say) has its own type change reported instead."""
    if path.endswith("[]"):  # present whenever the array was ever non-empty
        return False
    parent = path.rpartition(".")[0]
    return parent == "" or "object" in keys.get(parent, frozenset())


def _key_differences(direction: str, name: str, old: KeyShape, new: KeyShape) -> list[Difference]:
    place = f'{direction} "{name}": key'
    found = []
    for path in sorted(old.keys() | new.keys()):
        where = {"direction": direction, "message_type": name, "key_path": path}
        if path not in old and _container_seen(old, path):
            text = f"{place} {path} added ({_types(new[path])})"
            found.append(Difference(DifferenceKind.KEY_ADDED, text, new=_types(new[path]), **where))
        elif path not in new and _container_seen(new, path):
            text = f"{place} {path} removed ({_types(old[path])})"
            found.append(
                Difference(DifferenceKind.KEY_REMOVED, text, old=_types(old[path]), **where)
            )
        elif path in old and path in new and old[path] != new[path]:
            was, now = _types(old[path]), _types(new[path])
            text = f"{place} {path} changed type: {was} -> {now}"
            found.append(Difference(DifferenceKind.TYPE_CHANGED, text, old=was, new=now, **where))
    return found


def _message_differences(old: Shape, new: Shape, direction: str) -> list[Difference]:
    old_types, new_types = old.order[direction], new.order[direction]
    found = []
    for kind, names, others, verb in (
        (DifferenceKind.MESSAGE_TYPE_ADDED, new_types, old_types, "added"),
        (DifferenceKind.MESSAGE_TYPE_REMOVED, old_types, new_types, "removed"),
    ):
        for name in (name for name in names if name not in others):
            text = f'{direction} message type "{name}" {verb}'
            found.append(Difference(kind, text, direction, name))
    # Order among the types both have: an added or removed type is reported already.
    was = ", ".join(name for name in old_types if name in new_types)
    now = ", ".join(name for name in new_types if name in old_types)
    if was != now:
        text = f"{direction} message order: {was} -> {now}"
        found.append(Difference(DifferenceKind.ORDER, text, direction, old=was, new=now))
    for name in (name for name in old_types if name in new_types):
        found += _key_differences(
            direction, name, old.keys[direction, name], new.keys[direction, name]
        )
    return found


def _changed(kind: DifferenceKind, what: str, old: object, new: object) -> list[Difference]:
    if old == new:
        return []
    was, now = (None if value is None else str(value) for value in (old, new))
    return [Difference(kind, f"{what}: {was or 'none'} -> {now or 'none'}", old=was, new=now)]


def diff_shapes(old: Shape, new: Shape) -> list[Difference]:
    """How NEW's shape differs from OLD's, handshake first, then each direction's messages,
    then the end; empty when they have the same shape, whatever their values."""
    found = _changed(DifferenceKind.STATUS, "handshake status", old.status, new.status)
    for name in sorted(new.header_names - old.header_names):
        text = f'response header "{name}" added'
        found.append(Difference(DifferenceKind.HEADER_ADDED, text, new=name))
    for name in sorted(old.header_names - new.header_names):
        text = f'response header "{name}" removed'
        found.append(Difference(DifferenceKind.HEADER_REMOVED, text, old=name))
    found += _changed(DifferenceKind.SUBPROTOCOL, "subprotocol", old.subprotocol, new.subprotocol)
    found += _changed(
        DifferenceKind.EXTENSIONS,
        "extensions",
        ", ".join(sorted(old.extensions)) or None,
        ", ".join(sorted(new.extensions)) or None,
    )
    for direction in DIRECTIONS:
        found += _message_differences(old, new, direction)
    found += _changed(DifferenceKind.CLOSE, "end", old.end, new.end)
    return found


def add_diff_command(commands: argparse._SubParsersAction) -> None:
    """Register `diff` under `wswatch tape`."""
    command = commands.add_parser(
        "diff",
        help="compare two recordings of the same exchange by shape, not by value",
        description="Compare two tapes of the same exchange by shape: handshake status, "
        "response header names, subprotocol and extensions; per direction the message types "
        "and their order; per message type each JSON key and the types of its values; how it "
        "ended. Values (ids, times, text, stream lengths) never count. Exit 0 when the shapes "
        "match, 1 when they differ, 2 on a usage or input error.",
    )
    command.add_argument("old", metavar="OLD", help="the earlier tape (.tape.jsonl)")
    command.add_argument("new", metavar="NEW", help="the later tape (.tape.jsonl)")
    command.add_argument(
        "--json", action="store_true", help="print the differences as a JSON array of objects"
    )
    command.set_defaults(run=run_diff)


def run_diff(arguments: argparse.Namespace) -> int:
    """`wswatch tape diff OLD NEW`: 0 same shape, 1 a difference, 2 an unreadable input."""
    try:
        old, new = read_shape(Path(arguments.old)), read_shape(Path(arguments.new))
    except (TapeError, OSError) as error:
        print(f"wswatch tape diff: error: {error}", file=sys.stderr)
        return 2
    differences = diff_shapes(old, new)
    if arguments.json:
        print(json.dumps([asdict(difference) for difference in differences], indent=2))
    elif differences:
        for difference in differences:
            print(difference.text)
    else:
        key_paths = sum(len(keys) for keys in new.keys.values())
        print(
            f"same shape: {new.message_types} message types "
            f"({', '.join(f'{d} {len(new.order[d])}' for d in DIRECTIONS)}), "
            f"{key_paths} key paths, handshake {new.status or 'unanswered'}, end {new.end}"
        )
    return 1 if differences else 0
