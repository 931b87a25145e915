"""Which wswatch settings mitmproxy could not apply, decided before it tries (pure)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from wswatchlib.options.values import RefusedSetting, SetText, refused_settings

DECLARED: dict[str, object] = {
    "wswatch_log": str,
    "wswatch_max_messages": int,
    "wswatch_console": bool,
    "wswatch_faults": Sequence[str],
    "listen_port": int,
}


def _messages(**given: object) -> list[str]:
    return [refused.message for refused in refused_settings(given, DECLARED)]


@pytest.mark.parametrize(
    ("name", "given", "message"),
    [
        (
            "wswatch_max_messages",
            SetText(("abc",)),
            "wswatch: invalid value for wswatch_max_messages: 'abc' is not an integer",
        ),
        (
            "wswatch_max_messages",
            SetText(("1.5",)),
            "wswatch: invalid value for wswatch_max_messages: '1.5' is not an integer",
        ),
        (
            "wswatch_max_messages",
            SetText(()),
            "wswatch: missing value for wswatch_max_messages: write --set wswatch_max_messages=VALUE",
        ),
        (
            "wswatch_max_messages",
            SetText(("",)),
            "wswatch: missing value for wswatch_max_messages: write --set wswatch_max_messages=VALUE",
        ),
        (
            "wswatch_max_messages",
            SetText(("5", "6")),
            "wswatch: wswatch_max_messages is set 2 times ('5', '6'); it takes one value",
        ),
        (
            "wswatch_console",
            SetText(("maybe",)),
            "wswatch: invalid value for wswatch_console: 'maybe' is not true or false",
        ),
        (
            "wswatch_log",
            SetText(()),
            "wswatch: missing value for wswatch_log: write --set wswatch_log=VALUE",
        ),
        (
            "wswatch_log",
            SetText(("a.jsonl", "b.jsonl")),
            "wswatch: wswatch_log is set 2 times ('a.jsonl', 'b.jsonl'); it takes one value",
        ),
        (
            "wswatch_max_messages",
            "abc",
            "wswatch: invalid value for wswatch_max_messages: 'abc' is not an integer",
        ),
        (
            "wswatch_console",
            "yes",
            "wswatch: invalid value for wswatch_console: 'yes' is not true or false",
        ),
        (
            "wswatch_faults",
            "faults.yaml",
            "wswatch: invalid value for wswatch_faults: 'faults.yaml' is not a list of strings",
        ),
        (
            "wswatch_faults",
            ["a.yaml", 3],
            "wswatch: invalid value for wswatch_faults: ['a.yaml', 3] is not a list of strings",
        ),
        ("wswatch_log", None, "wswatch: invalid value for wswatch_log: None is not a string"),
    ],
    ids=[
        "int-word",
        "int-decimal",
        "int-bare",
        "int-empty",
        "int-twice",
        "bool-word",
        "str-bare",
        "str-twice",
        "config-int-word",
        "config-bool-word",
        "config-list-as-string",
        "config-list-with-number",
        "config-str-empty",
    ],
)
def test_value_mitmproxy_would_not_convert_is_refused_naming_option_and_value(
    name: str, given: object, message: str
) -> None:
    """A --set text or config value that does not convert for the option's type is one line."""
    assert refused_settings({name: given}, DECLARED) == [RefusedSetting(name, message)]


@pytest.mark.parametrize(
    ("name", "given"),
    [
        ("wswatch_max_messages", SetText(("12",))),
        ("wswatch_max_messages", SetText(("-1",))),  # converts; wswatch's configure refuses it
        ("wswatch_max_messages", 7),
        ("wswatch_console", SetText(())),
        ("wswatch_console", SetText(("",))),
        ("wswatch_console", SetText(("true",))),
        ("wswatch_console", SetText(("false",))),
        ("wswatch_console", SetText(("toggle",))),
        ("wswatch_console", False),
        ("wswatch_log", SetText(("",))),
        ("wswatch_log", "events.jsonl"),
        ("wswatch_faults", SetText(())),
        ("wswatch_faults", SetText(("a.yaml", "b.yaml"))),
        ("wswatch_faults", ["a.yaml"]),
    ],
)
def test_value_mitmproxy_converts_is_not_refused(name: str, given: object) -> None:
    """Every spelling mitmproxy accepts for the type passes, so valid settings still apply."""
    assert refused_settings({name: given}, DECLARED) == []


def test_misspelt_wswatch_name_is_refused_with_the_closest_option() -> None:
    """A wswatch_ name no addon declares is reported, with the option it most looks like."""
    assert _messages(wswatch_lgo=SetText(("x",))) == [
        "wswatch: unknown option wswatch_lgo (did you mean wswatch_log?)"
    ]


def test_unknown_wswatch_name_without_a_close_option_is_refused_plainly() -> None:
    """With nothing similar declared, the line only says the name is not an option."""
    assert _messages(wswatch_zzzzzzzz=SetText(("1",))) == [
        "wswatch: unknown option wswatch_zzzzzzzz"
    ]


def test_settings_of_other_addons_are_left_alone() -> None:
    """Names without the wswatch_ prefix belong to other addons (or scripts loaded later)."""
    assert _messages(other_addon_option=SetText(("x",)), listen_port="abc") == []


def test_several_wrong_settings_are_refused_in_the_order_given() -> None:
    """Each wrong setting gets its own line, in the order the user gave them."""
    refused = refused_settings(
        {
            "wswatch_console": SetText(("maybe",)),
            "wswatch_log": SetText(("ok.jsonl",)),
            "wswatch_lgo": SetText(("x",)),
        },
        DECLARED,
    )
    assert [r.name for r in refused] == ["wswatch_console", "wswatch_lgo"]
