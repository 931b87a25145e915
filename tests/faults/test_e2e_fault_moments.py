"""Faults that strike every open connection at once, end to end: `when.at_s` moments, the shipped
deploy-restart scenario and the `wswatch.disconnect_all` command, as real clients experience them
and as the JSON log reports them."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import websockets
from mitmproxy import exceptions
from proxy_harness import RunningProxy, scenario_proxy
from websockets.asyncio.client import ClientConnection, connect

DEPLOY_RESTART = Path(__file__).resolve().parents[2] / "config" / "faults" / "deploy-restart.yaml"

#: Session second of the moments below: long enough for the proxy to start and the clients to
#: connect first (checked by `connected_before`), short enough for a quick test.
MOMENT_S = 1.0


@contextlib.asynccontextmanager
async def moment_session(tmp_path: Path, confdir: Path, rules: str) -> AsyncIterator[RunningProxy]:
    """The scenario upstream behind a proxy loaded with `rules` (YAML text)."""
    path = tmp_path / "faults.yaml"
    path.write_text(rules)
    async with scenario_proxy(tmp_path, confdir, wswatch_faults=[str(path)]) as proxy:
        yield proxy


@contextlib.asynccontextmanager
async def clients(proxy: RunningProxy, *paths: str) -> AsyncIterator[list[ClientConnection]]:
    """One open client per path, each past a first echo (so its WebSocket is fully started)."""
    async with contextlib.AsyncExitStack() as stack:
        opened = []
        for path in paths:
            ws = await stack.enter_async_context(
                connect(f"ws://127.0.0.1:{proxy.port}{path}", open_timeout=5)
            )
            await ws.send("hello")
            assert await asyncio.wait_for(ws.recv(), 5) == "hello"
            opened.append(ws)
        yield opened


def connected_before(proxy: RunningProxy, moment_s: float) -> None:
    """Fail clearly if the clients connected too late for the moment under test."""
    elapsed = proxy.master.addons.get("wswatch").part("faultrules").schedule.elapsed()
    assert elapsed < moment_s, f"clients connected at {elapsed:.2f} s, after the moment"


async def closed_by_proxy(ws: ClientConnection) -> websockets.ConnectionClosed:
    """How the proxy ended `ws`, waited for up to 10 s."""
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), 10)
    return closed.value


async def closed_events(proxy: RunningProxy, count: int) -> list[dict]:
    """The first `count` ws.closed events, waited for."""
    await proxy.wait_for("ws.closed", lambda _: len(proxy.events("ws.closed")) >= count)
    return proxy.events("ws.closed")[:count]


async def test_at_s_close_hits_every_open_connection_with_the_code_and_marks_it_injected(
    tmp_path, confdir
):
    """close 1012 at_s: all three open clients get 1012; each ws.closed is injected by the rule."""
    async with moment_session(
        tmp_path,
        confdir,
        f"rules:\n  - id: deploy\n    when: {{at_s: {MOMENT_S}}}\n"
        "    action: {close: {code: 1012, reason: restart}}\n",
    ) as proxy:
        async with clients(proxy, "/echo", "/echo", "/echo") as open_clients:
            connected_before(proxy, MOMENT_S)
            closes = [await closed_by_proxy(ws) for ws in open_clients]
        ended = await closed_events(proxy, 3)
        injected = proxy.events("fault.injected")
    assert [(close.rcvd.code, close.rcvd.reason) for close in closes] == [(1012, "restart")] * 3
    assert [(e["close_code"], e["injected"], e["rule_id"], e["closed_by"]) for e in ended] == [
        (1012, True, "deploy", "proxy")
    ] * 3
    assert [(e["rule_id"], e["action"], e["phase"]) for e in injected] == [
        ("deploy", "close", "connection")
    ] * 3
    assert len({e["flow_id"] for e in injected}) == 3


async def test_at_s_drop_cuts_only_the_connections_its_match_selects(tmp_path, confdir):
    """drop at_s for /v1/*: those clients see 1006 without a close frame; /echo keeps working."""
    async with moment_session(
        tmp_path,
        confdir,
        f"rules:\n  - id: cut\n    match: {{path: /v1/*}}\n    when: {{at_s: {MOMENT_S}}}\n"
        "    action: {drop: {}}\n",
    ) as proxy:
        async with clients(proxy, "/v1/listen", "/echo", "/v1/speak") as (first, spared, second):
            connected_before(proxy, MOMENT_S)
            cuts = [await closed_by_proxy(ws) for ws in (first, second)]
            await spared.send("still here")
            assert await asyncio.wait_for(spared.recv(), 5) == "still here"
        ended = await closed_events(proxy, 3)
    assert [cut.rcvd for cut in cuts] == [None, None]  # no close frame: 1006 on the client side
    by_path = {
        urlsplit(e["url"]).path: (e["close_code"], e["injected"], e.get("rule_id")) for e in ended
    }
    assert by_path == {
        "/v1/listen": (1006, True, "cut"),
        "/v1/speak": (1006, True, "cut"),
        "/echo": (1000, False, None),
    }


def scaled_deploy_restart(tmp_path: Path, moment_s: float, window_s: float) -> str:
    """A copy of the shipped deploy-restart.yaml with its 30 s and 40 s brought forward."""
    text = DEPLOY_RESTART.read_text(encoding="utf-8")
    for shipped, scaled in (
        ("at_s: 30\n", f"at_s: {moment_s}\n"),
        ("start_s: 30\n", f"start_s: {moment_s}\n"),
        ("end_s: 40\n", f"end_s: {moment_s + window_s}\n"),
    ):
        assert text.count(shipped) == 1, shipped
        text = text.replace(shipped, scaled)
    return text


async def reconnect(proxy: RunningProxy) -> tuple[list[tuple[int, str | None]], float]:
    """Retry until a 101 (bounded): the (status, Retry-After) seen, and the session second of
    the 101. The short pause stands in for Retry-After, scaled down like the scenario's times."""
    seen: list[tuple[int, str | None]] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(seen) < 200:
        try:
            async with connect(f"ws://127.0.0.1:{proxy.port}/echo", open_timeout=5) as ws:
                accepted_at = (
                    proxy.master.addons.get("wswatch").part("faultrules").schedule.elapsed()
                )
                seen.append((101, None))
                await ws.send("back")
                assert await asyncio.wait_for(ws.recv(), 5) == "back"
                return seen, accepted_at
        except websockets.InvalidStatus as rejected:
            seen.append((rejected.response.status_code, rejected.response.headers["Retry-After"]))
            await asyncio.sleep(0.05)
    raise AssertionError(f"no 101 within 10 s: {seen}")


async def test_deploy_restart_closes_all_with_1012_then_503s_reconnects_until_the_window_ends(
    tmp_path, confdir
):
    """deploy-restart.yaml (scaled): 1012 to all, reconnects get 503 + Retry-After: 5, then 101."""
    window_s = 0.5
    async with moment_session(
        tmp_path, confdir, scaled_deploy_restart(tmp_path, MOMENT_S, window_s)
    ) as proxy:
        async with clients(proxy, "/echo", "/echo", "/echo") as open_clients:
            connected_before(proxy, MOMENT_S)
            closes = [await closed_by_proxy(ws) for ws in open_clients]
        retries = await asyncio.gather(*(reconnect(proxy) for _ in open_clients))
        ended = await closed_events(proxy, 6)
    assert [(close.rcvd.code, close.rcvd.reason) for close in closes] == [
        (1012, "service restart")
    ] * 3
    assert [e["rule_id"] for e in ended[:3]] == ["deploy-close-1012"] * 3
    for seen, accepted_at in retries:
        assert seen[0] == (503, "5") and set(seen[:-1]) == {(503, "5")}
        assert seen[-1] == (101, None)
        assert accepted_at >= MOMENT_S + window_s
    handshakes = proxy.events("ws.handshake")[3:]
    assert {(e["status"], e.get("rule_id"), e.get("retry_after")) for e in handshakes} == {
        (503, "deploy-unavailable-503", 5.0),
        (101, None, None),
    }
    assert [e["injected"] for e in ended[3:]] == [False] * 3  # the new connections are left alone


@pytest.mark.parametrize("relay", ["websocket", "observe"])
@pytest.mark.parametrize(
    ("code", "reason", "client_sees"),
    [(1012, "deploy", (1012, "deploy")), (1006, "", None)],
    ids=["close-1012", "drop-1006"],
)
async def test_disconnect_all_command_closes_every_open_connection_now(
    tmp_path, confdir, code, reason, client_sees, relay
):
    """wswatch.disconnect_all: every open client closed at once, logged as injected by the
    command, on either relay path."""
    async with scenario_proxy(tmp_path, confdir, wswatch_relay=relay) as proxy:
        async with clients(proxy, "/echo", "/v1/listen", "/echo") as open_clients:
            struck = proxy.master.commands.call("wswatch.disconnect_all", code, reason)
            closes = [await closed_by_proxy(ws) for ws in open_clients]
        async with clients(proxy, "/echo"):
            pass  # a connection opened afterwards is not affected
        ended = await closed_events(proxy, 4)
        injected = proxy.events("fault.injected")
    assert struck == 3
    received = [None if c.rcvd is None else (c.rcvd.code, c.rcvd.reason) for c in closes]
    assert received == [client_sees] * 3
    assert [(e["close_code"], e["injected"], e.get("rule_id")) for e in ended] == [
        (code, True, "wswatch.disconnect_all")
    ] * 3 + [(1000, False, None)]
    assert [(e["closed_by"], e["relay"]) for e in ended] == [("proxy", relay)] * 3 + [
        ("client", relay)
    ]
    assert [e["rule_id"] for e in injected] == ["wswatch.disconnect_all"] * 3


async def test_disconnect_all_command_refuses_a_code_no_endpoint_may_send(tmp_path, confdir):
    """wswatch.disconnect_all 1005: refused with the reason, and no connection is touched."""
    async with scenario_proxy(tmp_path, confdir) as proxy:
        async with clients(proxy, "/echo") as [ws]:
            with pytest.raises(exceptions.CommandError) as refused:
                proxy.master.commands.call("wswatch.disconnect_all", 1005)
            await ws.send("untouched")
            assert await asyncio.wait_for(ws.recv(), 5) == "untouched"
    assert str(refused.value) == (
        "wswatch.disconnect_all: code: must be 1006 (drop) or 1000-1003, 1007-1014 or 3000-4999,"
        " got 1005"
    )
    assert proxy.events("fault.injected") == []


async def test_a_moment_loaded_at_runtime_is_armed_and_strikes_on_time(tmp_path, confdir):
    """Rules set while clients are connected: their at_s moment still comes, measured from start."""
    empty = tmp_path / "none.yaml"
    empty.write_text("rules: []\n")
    async with scenario_proxy(tmp_path, confdir, wswatch_faults=[str(empty)]) as proxy:
        # Nothing needed the message layer when they connected: both are observe-only.
        async with clients(proxy, "/echo", "/echo") as open_clients:
            moment_s = (
                proxy.master.addons.get("wswatch").part("faultrules").schedule.elapsed() + 0.5
            )
            later = tmp_path / "later.yaml"
            later.write_text(
                f"rules:\n  - id: later\n    when: {{at_s: {moment_s:.3f}}}\n"
                "    action: {close: {code: 4000, reason: later}}\n"
            )
            proxy.master.options.update(wswatch_faults=[str(later)])
            closes = [await closed_by_proxy(ws) for ws in open_clients]
            struck_at = proxy.master.addons.get("wswatch").part("faultrules").schedule.elapsed()
        ended = await closed_events(proxy, 2)
    assert [(close.rcvd.code, close.rcvd.reason) for close in closes] == [(4000, "later")] * 2
    assert struck_at >= moment_s - 0.01
    assert [(e["rule_id"], e["relay"]) for e in ended] == [("later", "observe")] * 2
