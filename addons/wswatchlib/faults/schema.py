"""A JSON Schema of fault rule files, generated from the specs the loader reads them into.

Why generated: the rule language has a loader (rules.py, script_rules.py) that gives one-line
errors, and editors want a schema for completion and inline errors while a script is written.
Written by hand the two would drift; here every field list is the loader's own (its field
tuples, the action spec dataclasses and their type hints, the enums, the shipped presets), so a
field the loader learns appears in the schema once it is regenerated, and a test regenerates it
and compares it with the shipped file (`config/faults/wswatch-rules.schema.json`).

The schema is a guide for editors, not the judge: the loader's checks (ranges, combinations,
template fields, close codes a peer may send) stay the authority, and its error names the file,
rule, step and field. Regenerate: `python -m wswatchlib.faults.schema > FILE`.
"""

from __future__ import annotations

import enum
import json
import re
import sys
import types
import typing
from collections.abc import Mapping
from dataclasses import MISSING, fields
from typing import Any, Final

from .directions import Toward
from .matching import MessageMatch
from .rules import (
    ACTION_SPECS,
    MATCH_FIELDS,
    RULE_FIELDS,
    TOP_LEVEL_FIELDS,
    WHEN_FIELDS,
    WINDOW_FIELDS,
    load_presets,
)
from .script_rules import (
    CLOSE_FIELDS,
    MESSAGE_FIELDS,
    SEND_FIELDS,
    STEP_KINDS,
    WAIT_FIELDS,
    is_script_preset,
)
from .spec import Scheme, Script, When, Window
from .steps import Peer, Side

#: Where the schema is shipped, beside the scenario files that name it.
SCHEMA_FILE_NAME: Final = "wswatch-rules.schema.json"

_INTEGER: Final = {"type": "integer"}
_NUMBER: Final = {"type": "number"}
_STRING: Final = {"type": "string"}
_STRINGS_BY_NAME: Final = {"type": "object", "additionalProperties": {"type": "string"}}

#: Match fields (what the YAML says, which the Match dataclass splits into two readings).
_MATCH_TYPES: Final[dict[str, dict[str, Any]]] = {
    "host": _STRING,
    "path": {"type": "string", "description": "a glob, or re:REGEX"},
    "scheme": {"enum": [scheme.value for scheme in Scheme]},
    "client": {"type": "string", "description": "a glob on the client IP, or a CIDR"},
    "headers": _STRINGS_BY_NAME,
    "subprotocol": _STRING,
}


def _for_hint(hint: Any) -> dict[str, Any]:
    """A JSON Schema for one dataclass field's type hint (None dropped: omit the field)."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        kept = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return _for_hint(kept[0]) if len(kept) == 1 else {"anyOf": [_for_hint(a) for a in kept]}
    if hint is bool:
        return {"type": "boolean"}
    if hint is int:
        return dict(_INTEGER)
    if hint is float:
        return dict(_NUMBER)
    if hint is str or hint is re.Pattern or typing.get_origin(hint) is re.Pattern:
        return dict(_STRING)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return {"enum": [member.value for member in hint]}
    if hint is MessageMatch:
        return {"$ref": "#/$defs/message_match"}
    if hint is Window:
        return {"$ref": "#/$defs/window"}
    if typing.get_origin(hint) is tuple:  # ((name, value), ...): headers
        return dict(_STRINGS_BY_NAME)
    raise TypeError(f"no JSON Schema for type hint {hint!r}")


def _object(properties: Mapping[str, dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": dict(properties),
        **extra,
    }


def _dataclass_object(cls: type, names: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The spec dataclass's fields (or `names` of them) as an object's properties."""
    hints = typing.get_type_hints(cls)
    chosen = [each for each in fields(cls) if names is None or each.name in names]
    return _object({each.name: _for_hint(hints[each.name]) for each in chosen})


def _action(kind: str, cls: type, presets: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    params = _dataclass_object(cls)
    if kind == "reject":
        rejects = sorted(name for name, preset in presets.items() if not is_script_preset(preset))
        params["properties"]["preset"] = {"enum": rejects}
    required_fields = [
        each.name
        for each in fields(cls)
        if each.default is MISSING and each.default_factory is MISSING
    ]
    if kind != "reject" and required_fields:
        params["required"] = required_fields
    # `reset: {}` and `reset:` (null) read the same.
    schema = {"anyOf": [params, {"type": "null"}]} if not required_fields else params
    return _object({kind: schema}, required=[kind])


def _message_match(side: dict[str, Any]) -> dict[str, Any]:
    """A wait's `message` (and a `messages` rule's `match`): at least one condition."""
    message = _object(
        {
            "from": side,
            "text": _STRING,
            "regex": _STRING,
            "json": {"description": "a JSON subset, matched at any depth"},
            "binary_len": {
                "type": "array",
                "items": {"type": "integer", "minimum": 0},
                "minItems": 2,
                "maxItems": 2,
            },
        },
        minProperties=1,
    )
    assert tuple(message["properties"]) == MESSAGE_FIELDS
    return message


def _steps(presets: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The step kinds of a script, each an object with that one key."""
    side = {"enum": [each.value for each in Side]}
    empty = {"anyOf": [_object({}), {"type": "null"}]}
    message = _message_match(side)
    wait = _object(
        {
            "s": {"type": "number", "exclusiveMinimum": 0},
            "messages": {"type": "integer", "minimum": 1},
            "message": {"$ref": "#/$defs/message_match"},
            "from": side,
        },
        oneOf=[{"required": ["s"]}, {"required": ["messages"]}, {"required": ["message"]}],
    )
    assert tuple(wait["properties"]) == WAIT_FIELDS
    send = _object(
        {
            "to": {"enum": [each.value for each in Peer]},
            "text": {"type": "string", "description": "a template: {{message.json.KEY}}..."},
            "json": {"description": "JSON whose strings are templates"},
            "binary_b64": {"type": "string", "contentEncoding": "base64"},
        },
        required=["to"],
        oneOf=[{"required": ["text"]}, {"required": ["json"]}, {"required": ["binary_b64"]}],
    )
    assert tuple(send["properties"]) == SEND_FIELDS
    close = _object(
        {
            "code": {"type": "integer", "minimum": 1000, "maximum": 4999},
            "reason": {"type": "string"},
            "toward": {"enum": [each.value for each in Toward]},
        }
    )
    assert tuple(close["properties"]) == CLOSE_FIELDS
    scripts = sorted(name for name, preset in presets.items() if is_script_preset(preset))
    by_kind = {
        "wait": wait,
        "send": send,
        "swallow": empty,
        "close": close,
        "drop": empty,
        "preset": {"enum": scripts},
    }
    assert tuple(by_kind) == STEP_KINDS
    return {
        "message_match": message,
        "step": {
            "oneOf": [_object({kind: schema}, required=[kind]) for kind, schema in by_kind.items()]
        },
    }


def rules_schema(presets: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """The JSON Schema of a rules file, with the shipped presets' names (or `presets`')."""
    if presets is None:
        presets = load_presets()
    actions = [_action(kind, cls, presets) for kind, (cls, _) in ACTION_SPECS.items()]
    script = _object(
        {Script.kind: {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/step"}}},
        required=[Script.kind],
    )
    when = _dataclass_object(When)
    assert tuple(when["properties"]) == WHEN_FIELDS
    window = _dataclass_object(Window)
    assert tuple(window["properties"]) == WINDOW_FIELDS
    rule = _object(
        {
            "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9._-]*$"},
            "description": _STRING,
            "enabled": {"type": "boolean"},
            "match": _object({name: _MATCH_TYPES[name] for name in MATCH_FIELDS}),
            "when": {"$ref": "#/$defs/when"},
            "action": {"oneOf": [*actions, script]},
        },
        required=["id", "action"],
    )
    assert tuple(rule["properties"]) == RULE_FIELDS
    top: dict[str, dict[str, Any]] = {
        "rules": {"type": "array", "items": {"$ref": "#/$defs/rule"}},
        "seed": dict(_INTEGER),
    }
    assert tuple(top) == TOP_LEVEL_FIELDS
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "wswatch fault rules",
        "description": "Generated by wswatchlib.faults.schema from the rule loader's specs.",
        **_object(top, required=["rules"]),
        "$defs": {"rule": rule, "when": when, "window": window, **_steps(presets)},
    }


def schema_text() -> str:
    """The schema as the shipped file holds it."""
    return json.dumps(rules_schema(), indent=2, sort_keys=False) + "\n"


if __name__ == "__main__":
    sys.stdout.write(schema_text())
