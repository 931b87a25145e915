"""Templates in the messages a script sends: `{{message.json.event_id}}`, `{{uuid}}`...

Pure: `parse_template` reads a string once, at load time, and refuses a field it does not know
(so a typo stops start-up with the file, rule, step and field, not a message with a hole in it);
`render` fills it in from `TemplateFacts`, plain data the connection gathered.

Fields:
- `message.text`, `message.json.KEY[.KEY...]` (a list index is a number): the message that
  satisfied the script's last `wait` for a message (empty when there is none, or no such key);
- `handshake.header.NAME`, `handshake.query.NAME`: from the upgrade request as wswatch shows it,
  so a secret (a credential header, a secret query parameter, a known secret value anywhere)
  is only ever `[redacted]`;
- `uuid` (a fresh UUID4 per use), `now_ms` (milliseconds since the epoch).

A JSON string that is exactly one field (`"{{message.json.seq}}"`) takes the field's value with
its JSON type; anywhere else a field is written as text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

#: `{{ name }}`: a field, spaces around the name allowed.
_FIELD: Final = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")

#: Fields without a path.
_PLAIN_FIELDS: Final = ("uuid", "now_ms", "message.text")
#: Fields followed by a path of one or more names.
_PATH_FIELDS: Final = ("message.json", "handshake.header", "handshake.query")
#: Every field, for messages.
KNOWN_FIELDS: Final = (*_PLAIN_FIELDS, *(f"{root}.NAME" for root in _PATH_FIELDS))

#: The JSON value of a field the facts do not have.
_ABSENT: Final = object()


@dataclass(frozen=True, slots=True)
class FieldRef:
    """One `{{...}}` in a template: a root (`uuid`, `message.json`...) and a path under it."""

    root: str
    path: tuple[str, ...] = ()

    def __str__(self) -> str:
        return ".".join((self.root, *self.path))


@dataclass(frozen=True, slots=True)
class Template:
    """A string cut into literal text and fields, in order."""

    parts: tuple[str | FieldRef, ...]

    @property
    def is_literal(self) -> bool:
        return all(isinstance(part, str) for part in self.parts)

    @property
    def whole_field(self) -> FieldRef | None:
        """The field, when the template is one field and nothing else."""
        if len(self.parts) == 1 and isinstance(self.parts[0], FieldRef):
            return self.parts[0]
        return None


@dataclass(frozen=True, slots=True)
class TemplateFacts:
    """What a template can be filled in from, gathered by the connection's addon."""

    #: The last matched message's JSON document, or None with `has_json` False.
    message_json: Any = None
    has_json: bool = False
    message_text: str = ""
    #: Lower-case header names to values, as shown (secrets already `[redacted]`).
    headers: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    new_uuid: Callable[[], str] = lambda: ""
    now_ms: Callable[[], int] = lambda: 0


def parse_field(name: str) -> FieldRef:
    """A field name as written between the braces; ValueError names what is known."""
    if name in _PLAIN_FIELDS:
        return FieldRef(name)
    for root in _PATH_FIELDS:
        if name.startswith(root + "."):
            path = tuple(name[len(root) + 1 :].split("."))
            if all(path):
                return FieldRef(root, path if root == "message.json" else (path[0].lower(),))
    raise ValueError(f"unknown template field {{{{{name}}}}} (known: {', '.join(KNOWN_FIELDS)})")


def parse_template(text: str) -> Template:
    """Cut `text` into literals and fields; an unknown field is a ValueError."""
    parts: list[str | FieldRef] = []
    position = 0
    for found in _FIELD.finditer(text):
        if found.start() > position:
            parts.append(text[position : found.start()])
        ref = parse_field(found.group(1))
        if ref.root.startswith("handshake.") and len(ref.path) != 1:
            raise ValueError(f"{{{{{found.group(1)}}}}}: a header or query name has no dots")
        parts.append(ref)
        position = found.end()
    if position < len(text):
        parts.append(text[position:])
    return Template(tuple(parts))


def parse_json_template(value: Any) -> Any:
    """A JSON document with a `Template` in place of each string (keys stay plain)."""
    if isinstance(value, str):
        return parse_template(value)
    if isinstance(value, list):
        return [parse_json_template(item) for item in value]
    if isinstance(value, dict):
        return {str(key): parse_json_template(item) for key, item in value.items()}
    return value


def _value(ref: FieldRef, facts: TemplateFacts) -> Any:
    if ref.root == "uuid":
        return facts.new_uuid()
    if ref.root == "now_ms":
        return facts.now_ms()
    if ref.root == "message.text":
        return facts.message_text
    if ref.root == "handshake.header":
        return facts.headers.get(ref.path[0], _ABSENT)
    if ref.root == "handshake.query":
        return facts.query.get(ref.path[0], _ABSENT)
    if not facts.has_json:
        return _ABSENT
    node = facts.message_json
    for step in ref.path:
        if isinstance(node, dict) and step in node:
            node = node[step]
        elif isinstance(node, list) and step.isdigit() and int(step) < len(node):
            node = node[int(step)]
        else:
            return _ABSENT
    return node


def _as_text(value: Any) -> str:
    if value is _ABSENT or value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def render(template: Template, facts: TemplateFacts) -> str:
    """The template's text with every field filled in (an absent one is empty)."""
    return "".join(
        part if isinstance(part, str) else _as_text(_value(part, facts)) for part in template.parts
    )


def render_json(document: Any, facts: TemplateFacts) -> Any:
    """A parsed JSON template filled in; a string that is one field keeps the value's type."""
    if isinstance(document, Template):
        whole = document.whole_field
        if whole is not None:
            value = _value(whole, facts)
            return None if value is _ABSENT else value
        return render(document, facts)
    if isinstance(document, list):
        return [render_json(item, facts) for item in document]
    if isinstance(document, dict):
        return {key: render_json(item, facts) for key, item in document.items()}
    return document


def plain_json(document: Any) -> Any:
    """A parsed JSON template written back as the user wrote it (for logs and listings)."""
    if isinstance(document, Template):
        return "".join(
            part if isinstance(part, str) else f"{{{{{part}}}}}" for part in document.parts
        )
    if isinstance(document, list):
        return [plain_json(item) for item in document]
    if isinstance(document, dict):
        return {key: plain_json(item) for key, item in document.items()}
    return document
