"""The entry script's options: declared once in code, documented in the README, validated."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from mitmproxy import exceptions
from mitmproxy.test import taddons
from wswatchlib.event_log import EventLog
from wswatchlib.message_window import MessageWindow
from wswatchlib.watcher import WsWatch

REPO = Path(__file__).resolve().parents[1]


def _readme_options() -> dict[str, str]:
    """Option name -> default as written in the README's option table."""
    rows = re.findall(
        r"^\| `(wswatch_\w+)` \| [^|]+ \| `([^`]*)` \|", (REPO / "README.md").read_text(), re.M
    )
    return dict(rows)


async def test_readme_documents_exactly_the_declared_options_with_their_defaults() -> None:
    """Every wswatch_ option the script declares is in the README table with the same default."""
    with taddons.context() as tctx:
        tctx.script(str(REPO / "addons" / "wswatch.py"))
        declared = {
            name: tctx.options._options[name].default
            for name in tctx.options.keys()  # noqa: SIM118 - OptManager is not iterable
            if name.startswith("wswatch_")
        }
    documented = _readme_options()
    assert set(documented) == set(declared)
    for name, default in declared.items():
        if name == "wswatch_vendors":
            assert (
                default.endswith("config/vendors.yaml")
                and documented[name] == "config/vendors.yaml"
            )
        else:
            assert documented[name] == _as_written(default), name


def _as_written(default: object) -> str:
    """A default the way the README's table writes it."""
    if isinstance(default, bool):
        return "true" if default else "false"
    if default == "":
        return '""'
    if isinstance(default, list | tuple):
        return "[" + ", ".join(map(str, default)) + "]"
    return str(default)


@pytest.mark.parametrize("value", [0, -5])
async def test_message_window_below_one_is_refused(value: int) -> None:
    """wswatch_max_messages must keep at least the last message (mitmproxy's dumper reads it)."""
    addon = MessageWindow()
    with (
        taddons.context(addon) as tctx,
        pytest.raises(
            exceptions.OptionsError, match=f"wswatch_max_messages must be 1 or more, got {value}"
        ),
    ):
        tctx.configure(addon, wswatch_max_messages=value)


async def test_negative_body_excerpt_is_refused() -> None:
    """wswatch_body_excerpt cannot be negative."""
    watcher = WsWatch(EventLog())
    with (
        taddons.context(watcher) as tctx,
        pytest.raises(
            exceptions.OptionsError, match="wswatch_body_excerpt must be 0 or more, got -1"
        ),
    ):
        tctx.configure(watcher, wswatch_body_excerpt=-1)
