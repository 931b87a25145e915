"""The dispatcher: wswatch's concerns as one mitmproxy addon, with each addon's guarantees kept.

Run under mitmproxy's own addon manager (taddons), so what is checked is what mitmproxy does
with the dispatcher: hooks in order, load and commands, errors logged and isolated, halts and
option errors passed up, async hooks awaited.
"""

from __future__ import annotations

import asyncio
import logging
import runpy
import types
from pathlib import Path

import pytest
from mitmproxy import addonmanager, command, exceptions, hooks
from mitmproxy.proxy.layers.http import HttpRequestHook
from mitmproxy.proxy.layers.websocket import WebsocketStartHook
from mitmproxy.test import taddons, tflow
from wswatchlib.dispatch import Dispatcher, addon_name, commands_of, handlers_of
from wswatchlib.wiring import wswatch_addons


class Recorder:
    """A concern that writes down each hook it gets."""

    def __init__(self, label: str, seen: list[str]) -> None:
        self.name = label
        self.seen = seen

    def request(self, flow: object) -> None:
        self.seen.append(f"{self.name}.request")

    def load(self, loader: object) -> None:
        self.seen.append(f"{self.name}.load")


class Failing:
    def request(self, flow: object) -> None:
        raise RuntimeError("concern broke")


class Halting:
    def request(self, flow: object) -> None:
        raise exceptions.AddonHalt()


class Waiting:
    def __init__(self, seen: list[str]) -> None:
        self.seen = seen

    async def websocket_start(self, flow: object) -> None:
        await asyncio.sleep(0)
        self.seen.append("waiting.websocket_start")


class Syncing:
    def __init__(self, seen: list[str]) -> None:
        self.seen = seen

    def websocket_start(self, flow: object) -> None:
        self.seen.append("syncing.websocket_start")


class Commanding:
    def __init__(self) -> None:
        self.calls: list[str] = []

    @command.command("wswatchtest.hello")
    def hello(self, who: str) -> None:
        self.calls.append(who)


def test_hooks_reach_the_concerns_in_wiring_order() -> None:
    seen: list[str] = []
    dispatcher = Dispatcher([Recorder("a", seen), Recorder("b", seen)])
    with taddons.context(dispatcher) as tctx:
        seen.clear()
        tctx.master.addons.trigger(HttpRequestHook(tflow.tflow()))
    assert seen == ["a.request", "b.request"]


def test_load_reaches_every_concern_and_registers_their_commands() -> None:
    seen: list[str] = []
    commanding = Commanding()
    dispatcher = Dispatcher([Recorder("a", seen), commanding, Recorder("b", seen)])
    with taddons.context(dispatcher) as tctx:
        assert seen == ["a.load", "b.load"]
        tctx.master.commands.call("wswatchtest.hello", "there")
    assert commanding.calls == ["there"]


def test_a_concern_that_raises_is_logged_as_mitmproxy_logs_it_and_the_next_still_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[str] = []
    dispatcher = Dispatcher([Failing(), Recorder("after", seen)])
    with taddons.context(dispatcher) as tctx:
        with caplog.at_level(logging.ERROR):
            tctx.master.addons.trigger(HttpRequestHook(tflow.tflow()))
    assert seen == ["after.load", "after.request"]
    errors = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert [record.getMessage() for record in errors] == ["Addon error: concern broke"]
    assert errors[0].exc_info is not None


def test_addon_halt_stops_the_concerns_after_it_and_the_rest_of_mitmproxys_chain() -> None:
    seen: list[str] = []
    later: list[str] = []
    dispatcher = Dispatcher([Halting(), Recorder("after", seen)])
    with taddons.context(dispatcher, Recorder("other addon", later)) as tctx:
        seen.clear()
        later.clear()
        tctx.master.addons.trigger(HttpRequestHook(tflow.tflow()))
    assert seen == [] and later == []


def test_an_options_error_from_configure_goes_up_to_mitmproxy() -> None:
    class Refusing:
        def load(self, loader: addonmanager.Loader) -> None:
            loader.add_option("wswatch_test", str, "", "refused when set")

        def configure(self, updated: set[str]) -> None:
            if "wswatch_test" in updated:
                raise exceptions.OptionsError("wswatch_test: refused")

    with taddons.context(Dispatcher([Refusing()])) as tctx:
        with pytest.raises(exceptions.OptionsError, match="refused"):
            tctx.configure(tctx.master.addons.get("wswatch"), wswatch_test="x")


async def test_a_hook_with_an_async_handler_is_awaited_in_order() -> None:
    seen: list[str] = []
    dispatcher = Dispatcher([Waiting(seen), Syncing(seen)])
    with taddons.context(dispatcher) as tctx:
        await tctx.master.addons.trigger_event(HttpRequestHook(tflow.tflow()))
        await tctx.master.addons.handle_lifecycle(WebsocketStartHook(tflow.twebsocketflow()))
    assert seen == ["waiting.websocket_start", "syncing.websocket_start"]


async def test_a_plain_handler_returning_an_awaitable_is_awaited_before_the_next_runs() -> None:
    seen: list[str] = []

    class Delaying:
        def websocket_start(self, flow: object) -> object:
            async def later() -> None:
                await asyncio.sleep(0)
                seen.append("delaying.websocket_start")

            return later()

    with taddons.context(Dispatcher([Delaying(), Syncing(seen)])) as tctx:
        await tctx.master.addons.handle_lifecycle(WebsocketStartHook(tflow.twebsocketflow()))
    assert seen == ["delaying.websocket_start", "syncing.websocket_start"]


def test_only_the_hooks_some_concern_has_are_shown_to_mitmproxy() -> None:
    dispatcher = Dispatcher([Recorder("a", [])])
    assert dispatcher.hook_names == ("request",)
    assert getattr(dispatcher, "response", None) is None
    assert getattr(dispatcher, "update", None) is None


def test_handlers_skip_modules_named_like_hooks() -> None:
    class ImportsLog:
        from mitmproxy import log  # a module under the name of the "log" hook

    assert handlers_of([ImportsLog()], "log") == ()


def test_two_concerns_with_one_name_are_refused() -> None:
    with pytest.raises(ValueError, match="share a name"):
        Dispatcher([Recorder("same", []), Recorder("same", [])])


def test_wswatch_is_one_addon_whose_parts_keep_mitmproxys_names() -> None:
    (dispatcher,) = wswatch_addons()
    names = [addon_name(concern) for concern in dispatcher.concerns]
    assert names[0] == "proxydefaults" and names[-1] == "optioncheck"
    for name in ("faultrules", "wswatch", "eventlog", "metricsexporter"):
        assert addon_name(dispatcher.part(name)) == name
    assert dispatcher.part("nothing") is None
    assert not hasattr(dispatcher, "addons"), "mitmproxy would walk the concerns again"
    commands = {name for concern in dispatcher.concerns for name, _ in commands_of(concern)}
    assert {"wswatch.faults", "wswatch.disconnect_all"} <= commands


def test_the_entry_script_answers_every_hook_mitmproxy_asks_it_from_its_dict() -> None:
    """mitmproxy walks the script's module for each hook: every hook name is there, None
    (skipped as a missing hook is), so no lookup raises; the addons are still found, once."""
    namespace = runpy.run_path(str(Path(__file__).parents[1] / "addons" / "wswatch.py"))
    module = types.ModuleType("wswatch_script")
    module.__dict__.update(namespace)
    for hook_name in hooks.all_hooks:
        assert hook_name in module.__dict__ and getattr(module, hook_name) is None
    [dispatcher] = module.addons
    found = list(addonmanager.traverse([module]))
    assert found == [module, dispatcher]
    with taddons.context(module) as tctx:
        assert tctx.master.addons.get("wswatch") is dispatcher
