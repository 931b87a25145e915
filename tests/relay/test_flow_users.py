"""Which other addons would miss an observe-only connection's flows: those that need WebSocket
flows (then the message layer relays it) and those that see TCP flows (then its TCP relay keeps
one); and which may edit messages (then `KeepEdits` joins mitmproxy's chain). Real mitmproxy
addons in a test master."""

from __future__ import annotations

import runpy
import types
from pathlib import Path

from mitmproxy.addons import dumper, save
from mitmproxy.test import taddons
from wswatchlib.watch.watcher import FlowHookUsers, FlowUsers


class TcpScript:
    """A user's script that counts TCP reads."""

    def tcp_message(self, _flow: object) -> None:
        pass


class WebsocketScript:
    def websocket_message(self, _flow: object) -> None:
        pass


def test_a_quiet_dumper_sees_nothing_a_printing_one_sees_tcp_flows(tmp_path):
    printer = dumper.Dumper(outfile=open(tmp_path / "out", "w"))  # noqa: SIM115 - test master
    with taddons.context(printer) as tctx:
        users = FlowHookUsers()
        tctx.configure(printer, flow_detail=0)
        assert users.current() == FlowUsers()
        tctx.configure(printer, flow_detail=1)
        assert users.current() == FlowUsers(tcp=("Dumper",))


def test_a_flow_saver_counts_only_while_it_saves(tmp_path):
    saver = save.Save()
    with taddons.context(saver) as tctx:
        users = FlowHookUsers()
        assert users.current() == FlowUsers()
        tctx.configure(saver, save_stream_file=str(tmp_path / "flows.mitm"))
        assert users.current() == FlowUsers(websocket=("Save",), tcp=("Save",))
        tctx.configure(saver, save_stream_file=None)


def test_user_scripts_count_for_the_flows_they_have_hooks_for():
    with taddons.context() as tctx:
        users = FlowHookUsers()
        assert users.current() == FlowUsers()
        tctx.master.addons.add(TcpScript())
        assert users.current() == FlowUsers(tcp=("TcpScript",), editors=("TcpScript",))
        tctx.master.addons.add(WebsocketScript())
        assert users.current() == FlowUsers(
            websocket=("WebsocketScript",),
            tcp=("TcpScript",),
            editors=("TcpScript", "WebsocketScript"),
        )


class WebsocketEnd:
    """A user's script that only hears of ends: it cannot edit a message."""

    def websocket_end(self, _flow: object) -> None:
        pass


def test_only_message_hooks_make_an_editor():
    with taddons.context() as tctx:
        users = FlowHookUsers()
        tctx.master.addons.add(WebsocketEnd())
        assert users.current() == FlowUsers(websocket=("WebsocketEnd",))


def test_the_entry_scripts_module_with_every_hook_none_counts_for_nothing():
    """wswatch's entry script answers every hook name with None (dispatch.hooks_answered_none):
    mitmproxy skips such hooks, and so does the count (else every connection would take the
    message layer and keep a TCP flow)."""
    namespace = runpy.run_path(str(Path(__file__).parents[2] / "addons" / "wswatch.py"))
    module = types.ModuleType("wswatch_script")
    module.__dict__.update(namespace)
    with taddons.context() as tctx:
        tctx.master.addons.add(module)
        assert FlowHookUsers().current() == FlowUsers()
