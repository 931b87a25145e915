"""The entry script's options: declared once in code, documented in docs/options.md, validated."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest
from mitmproxy import exceptions
from mitmproxy.addons.proxyserver import Proxyserver
from mitmproxy.test import taddons
from wswatchlib.options.values import KINDS
from wswatchlib.output.event_log import EventLog
from wswatchlib.redaction.messages import MessageRedaction
from wswatchlib.redaction.payloads import MessageKeyRules
from wswatchlib.relay.relays import UpgradeRelays
from wswatchlib.watch.client_identity import ClientKey, KeySource
from wswatchlib.watch.clients import Clients
from wswatchlib.watch.connections import ConnectionWatch
from wswatchlib.watch.message_window import MessageWindow
from wswatchlib.watch.profiles import VendorProfiles
from wswatchlib.watch.watcher import WsWatch

REPO = Path(__file__).resolve().parents[1]


def readme_options() -> dict[str, str]:
    """Option name -> default as written in the README's option table."""
    rows = re.findall(
        r"^\| `(wswatch_\w+)` \| [^|]+ \| `([^`]*)` \|",
        (REPO / "docs" / "options.md").read_text(),
        re.M,
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
    documented = readme_options()
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
async def test_message_window_below_one_is_refused_and_rolled_back_once_running(value: int) -> None:
    """wswatch_max_messages must keep at least the last message (mitmproxy's dumper reads it)."""
    addon = MessageWindow()
    with taddons.context(addon) as tctx:
        addon.running()
        with pytest.raises(
            exceptions.OptionsError, match=f"wswatch_max_messages must be 1 or more, got {value}"
        ):
            tctx.configure(addon, wswatch_max_messages=value)
        assert tctx.options.wswatch_max_messages == 100


def _watcher() -> WsWatch:
    """The watcher alone, with the parts it is wired to."""
    return WsWatch(
        EventLog(),
        UpgradeRelays(),
        VendorProfiles(),
        ConnectionWatch(EventLog()),
        MessageRedaction(MessageKeyRules),
        Clients(),
    )


async def test_negative_body_excerpt_is_refused_and_rolled_back_once_running() -> None:
    """wswatch_body_excerpt cannot be negative."""
    watcher = _watcher()
    with taddons.context(watcher) as tctx:
        watcher.running()
        with pytest.raises(
            exceptions.OptionsError, match="wswatch_body_excerpt must be 0 or more, got -1"
        ):
            tctx.configure(watcher, wswatch_body_excerpt=-1)
        assert tctx.options.wswatch_body_excerpt == 512


async def test_bad_client_key_is_refused_and_the_previous_key_kept_once_running() -> None:
    """A wswatch_client_key that is not "", header:NAME or query:NAME is rolled back."""
    clients = Clients()
    with taddons.context(clients) as tctx:
        tctx.configure(clients, wswatch_client_key="header:x-client-id")
        clients.running()
        with pytest.raises(exceptions.OptionsError) as refused:
            tctx.configure(clients, wswatch_client_key="header:")
        assert str(refused.value) == (
            "Cannot parse wswatch_client_key 'header:': header: needs a name after the colon"
        )
        assert tctx.options.wswatch_client_key == "header:x-client-id"
        assert clients.client_key == ClientKey(KeySource.HEADER, "x-client-id")


async def test_refused_value_at_startup_is_one_error_line_without_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Before `running`, a value configure refuses is logged as one line (errorcheck then stops
    start-up) instead of raised into mitmproxy's traceback-printing script loader."""
    addon = MessageWindow()
    with taddons.context(addon) as tctx:
        tctx.configure(addon, wswatch_max_messages=0)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == ["wswatch_max_messages must be 1 or more, got 0"]
    assert errors[0].exc_info is None


async def test_unconvertible_set_value_is_refused_and_wswatch_loads_with_the_default(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A --set value that does not convert is taken out with one error line, so the script's
    addons still load (mitmproxy would drop the whole script) and valid settings still apply."""
    with taddons.context(Proxyserver()) as tctx:  # declares connection_strategy
        tctx.options.set(
            "wswatch_max_messages=abc", "wswatch_console=false", "wswatch_lgo=x", defer=True
        )
        tctx.script(str(REPO / "addons" / "wswatch.py"))
        assert tctx.master.addons.get("wswatch") is not None
        assert tctx.options.wswatch_max_messages == 100
        assert tctx.options.wswatch_console is False
        assert "wswatch_max_messages" not in tctx.options.deferred
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [
        "wswatch: invalid value for wswatch_max_messages: 'abc' is not an integer",
        "wswatch: unknown option wswatch_lgo (did you mean wswatch_log?)",
    ]


async def test_every_declared_option_type_is_one_the_setting_check_knows() -> None:
    """A new option of a type `option_values.KINDS` lacks would go unchecked: keep it complete."""
    with taddons.context() as tctx:
        tctx.script(str(REPO / "addons" / "wswatch.py"))
        types = {
            name: option.typespec
            for name, option in tctx.options.items()
            if name.startswith("wswatch_")
        }
    assert len(types) == len(readme_options())
    assert {name: typespec in KINDS for name, typespec in types.items()} == dict.fromkeys(
        types, True
    )


def test_wswatch_options_command_lists_every_option_as_declared() -> None:
    """`wswatch options` (the installed command, as a user runs it) lists exactly the options
    the addons declare, with the README's defaults, a type and a help line; --json the same."""
    wswatch = Path(sys.executable).with_name("wswatch")
    text = subprocess.run(
        [str(wswatch), "options"], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    listed = json.loads(
        subprocess.run(
            [str(wswatch), "options", "--json"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
    )
    documented = readme_options()
    assert [option["name"] for option in listed] == sorted(documented)
    for option in listed:
        name, default = option["name"], option["default"]
        if name != "wswatch_vendors":
            assert _as_written(default) == documented[name], name
        assert option["type"] in {"str", "int", "bool", "sequence of str", "optional str"}, option
        assert option["help"].strip(), name
        heading = re.search(rf"^{name}  \({re.escape(option['type'])}, default .+\)$", text, re.M)
        assert heading, f"{name} not listed as declared:\n{text}"
    assert re.search(r"^wswatch_relay  \(str, default \"auto\", one of ", text, re.M)
