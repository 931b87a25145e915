"""Which `wswatch_*` settings, given before wswatch declared its options, cannot be applied.

mitmproxy holds back every `--set name=value` (and every config.yaml entry) whose option no addon
has declared yet, and converts it once a script declares the option. A value that does not
convert then escapes script loading, and mitmproxy runs on without the script, saying nothing;
a name that no addon declares is held forever, also in silence. wswatch checks first: this
module decides which settings name no wswatch option and which values would not convert, with
one message each. It accepts what mitmproxy 11 and 12 accept (`OptManager._parse_setval` for
`--set` text, `typecheck.check_option_type` for config.yaml values), for the option types
wswatch declares.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

#: Every wswatch option name starts with this; other names belong to other addons.
PREFIX: Final = "wswatch_"


@dataclass(frozen=True, slots=True)
class SetText:
    """What `--set name=value` gave: one string per `--set`, none for a bare `--set name`."""

    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RefusedSetting:
    """A setting to take out before mitmproxy applies it, and the one line saying why."""

    name: str
    message: str


def _is_integer_text(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def _is_list_of_strings(value: object) -> bool:
    return isinstance(value, list | tuple) and all(isinstance(item, str) for item in value)


@dataclass(frozen=True, slots=True)
class ValueKind:
    """How mitmproxy reads one option type from `--set` text and from a config file."""

    #: What a good value is, for messages ("'abc' is not an integer").
    described: str
    #: Whether mitmproxy converts this `--set` text (several values go to sequences only).
    accepts_text: Callable[[str], bool]
    #: Whether a value already typed (from config.yaml) passes mitmproxy's type check.
    accepts_value: Callable[[object], bool]
    #: Whether `--set name` with no value is an error.
    needs_text: bool = True
    #: Whether `--set name=` (empty) counts as no value.
    empty_is_missing: bool = False
    #: Whether `--set name=a --set name=b` gives a list rather than an error.
    takes_many: bool = False


#: The option types wswatch declares, read as mitmproxy reads them.
KINDS: Final[Mapping[object, ValueKind]] = {
    str: ValueKind("a string", lambda _text: True, lambda value: isinstance(value, str)),
    int: ValueKind(
        "an integer", _is_integer_text, lambda value: isinstance(value, int), empty_is_missing=True
    ),
    bool: ValueKind(
        "true or false",
        lambda text: text in ("", "true", "false", "toggle"),
        lambda value: isinstance(value, bool),
        needs_text=False,
    ),
    Sequence[str]: ValueKind(
        "a list of strings",
        lambda _text: True,
        _is_list_of_strings,
        needs_text=False,
        takes_many=True,
    ),
}


def _value_problem(name: str, kind: ValueKind, given: object) -> str | None:
    """Why mitmproxy would refuse `given` for option `name` of this kind, or None."""
    if isinstance(given, SetText):
        values = given.values
        if len(values) > 1 and not kind.takes_many:
            shown = ", ".join(map(repr, values))
            return f"{name} is set {len(values)} times ({shown}); it takes one value"
        if kind.needs_text and (not values or (kind.empty_is_missing and values[0] == "")):
            return f"missing value for {name}: write --set {name}=VALUE"
        for text in values:
            if not kind.accepts_text(text):
                return f"invalid value for {name}: {text!r} is not {kind.described}"
        return None
    if not kind.accepts_value(given):
        return f"invalid value for {name}: {given!r} is not {kind.described}"
    return None


def _unknown_name_message(name: str, declared: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, declared, n=1)
    suggestion = f" (did you mean {close[0]}?)" if close else ""
    return f"unknown option {name}{suggestion}"


def refused_settings(
    given: Mapping[str, object], declared: Mapping[str, object]
) -> list[RefusedSetting]:
    """The `wswatch_*` settings in `given` that no option in `declared` (name -> type) takes.

    `given` holds `SetText` for `--set` values and plain values from config files. Each refused
    setting comes with one line naming the option and the value; the order is `given`'s.
    """
    ours = sorted(name for name in declared if name.startswith(PREFIX))
    refused = []
    for name, value in given.items():
        if not name.startswith(PREFIX):
            continue
        if name not in declared:
            refused.append(RefusedSetting(name, f"wswatch: {_unknown_name_message(name, ours)}"))
            continue
        kind = KINDS.get(declared[name])
        problem = _value_problem(name, kind, value) if kind is not None else None
        if problem is not None:
            refused.append(RefusedSetting(name, f"wswatch: {problem}"))
    return refused
