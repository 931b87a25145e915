"""End to end, the observe-only relay: the same real clients and upstream through mitmproxy's
WebSocket layer and through observe-only give the same `ws.closed`, plus what only observe sees."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import pytest
import websockets
from proxy_harness import Event, running_proxy
from upstreams import scenario_server
from websockets.asyncio.client import ClientConnection, connect

#: Fields that differ between two runs of the same traffic (timings, per-run salt, retention of
#: mitmproxy's own message list) or that only the observe-only relay has.
NOT_COMPARED = {
    "ts",
    "flow_id",
    "duration_s",
    "last_message_s",
    "longest_gap_s",
    "client_id",
    "retained_messages",
    "relay",
    "pings",
    "pongs",
    "pong_rtt_ms",
    "protocol_violations",
    "bytes_compressed",
    "proxy_id",  # two proxies, two runs
    "run_id",
}


def _client(port: int, path: str) -> Any:
    """A websockets client without compression or keepalive pings: the same bytes every run."""
    return connect(
        f"ws://127.0.0.1:{port}{path}", compression=None, ping_interval=None, max_size=None
    )


async def _echo_then_client_close(ws: ClientConnection) -> None:
    for message in ("", "hello", "é" * 100, b"\x00" * 70_000, b"\x01" * 200):
        await ws.send(message)
        assert await asyncio.wait_for(ws.recv(), 5) == message
    await ws.send(["frag", "mented ", "message"])
    assert await asyncio.wait_for(ws.recv(), 5) == "fragmented message"
    await ws.close(1000, "done")


async def _burst_then_client_close(ws: ClientConnection) -> None:
    """Many small messages sent before any echo is read: each TCP read holds many whole frames."""
    sent = [bytes([index % 256]) * (index % 300) for index in range(400)]
    sent += [f"text {index}" for index in range(100)]
    for message in sent:
        await ws.send(message)
    for message in sent:
        assert await asyncio.wait_for(ws.recv(), 5) == message
    await ws.close(1000, "burst done")


async def _server_closes_4001(ws: ClientConnection) -> None:
    with pytest.raises(websockets.ConnectionClosed):
        await asyncio.wait_for(ws.recv(), 5)


async def _server_aborts(ws: ClientConnection) -> None:
    await ws.send("hi")
    assert await asyncio.wait_for(ws.recv(), 5) == "last words"
    with pytest.raises(websockets.ConnectionClosedError):
        await asyncio.wait_for(ws.recv(), 5)


SCENARIOS = {
    "/echo": _echo_then_client_close,
    "/burst": _burst_then_client_close,
    "/close4001": _server_closes_4001,
    "/abort": _server_aborts,
}


async def _closed_event(
    tmp_path: Path, confdir: Path, up: int, relay: str, path: str, tcp_flows: bool = False
) -> Event:
    run = tmp_path / f"{relay}-{'tcp-flow' if tcp_flows else 'no-flow'}"
    run.mkdir()
    async with running_proxy(
        run, f"reverse:http://127.0.0.1:{up}", confdir, wswatch_relay=relay, tcp_flows=tcp_flows
    ) as proxy:
        async with _client(proxy.port, path) as ws:
            await SCENARIOS[path](ws)
        return await proxy.wait_for("ws.closed")


@pytest.mark.parametrize("path", list(SCENARIOS))
async def test_observe_relay_reports_a_different_close_than_the_websocket_layer(
    tmp_path, confdir, path
):
    """The same traffic through both relays gives the same ws.closed but for observe's fields,
    whether the observe relay keeps a TCP flow (another addon sees TCP flows) or not."""
    async with scenario_server() as up:
        full = await _closed_event(tmp_path, confdir, up, "websocket", path)
        observed = await _closed_event(tmp_path, confdir, up, "observe", path)
        with_flow = await _closed_event(tmp_path, confdir, up, "observe", path, tcp_flows=True)
    assert (full["relay"], observed["relay"], with_flow["relay"]) == ("websocket",) + (
        "observe",
    ) * 2
    for event in (observed, with_flow):
        assert full["pings"] is None and event["pings"] == {"client": 0, "server": 0}
        assert event["protocol_violations"] == {"client": [], "server": []}
        assert {k: v for k, v in event.items() if k not in NOT_COMPARED} == {
            k: v for k, v in full.items() if k not in NOT_COMPARED
        }
        assert set(event) == set(full)
    assert observed["retained_messages"] == 0


async def test_observe_relay_misses_pings_pongs_and_their_round_trip(tmp_path, confdir):
    """Observe-only counts the client's pings, the server's pongs, and times each round trip."""
    async with (
        scenario_server() as up,
        running_proxy(
            tmp_path, f"reverse:http://127.0.0.1:{up}", confdir, wswatch_relay="observe"
        ) as proxy,
    ):
        async with _client(proxy.port, "/echo") as ws:
            for _ in range(2):
                await asyncio.wait_for(await ws.ping(), 5)
            await ws.close()
        end = await proxy.wait_for("ws.closed")
    assert end["relay"] == "observe"
    assert end["pings"] == {"client": 2, "server": 0}
    assert end["pongs"] == {"client": 0, "server": 2}
    assert end["pong_rtt_ms"]["client"]["count"] == 2 and end["pong_rtt_ms"]["server"] is None
    assert 0 <= end["pong_rtt_ms"]["client"]["min"] <= end["pong_rtt_ms"]["client"]["max"]


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        ("rules: []\n", "observe"),
        (
            "rules:\n  - id: kick\n    match: {path: /echo}\n    action: {close: {code: 4001, after_messages: 1}}\n",
            "websocket",
        ),
        (
            "rules:\n  - id: kick\n    match: {path: /other}\n    action: {close: {code: 4001, after_messages: 1}}\n",
            "observe",
        ),
    ],
    ids=["no-rules", "matching-connection-rule", "rule-for-another-path"],
)
async def test_auto_relay_picks_observe_when_a_connection_fault_could_act(
    tmp_path, confdir, rules, expected
):
    """`auto` keeps the message layer for a flow a connection fault rule matches, else observes."""
    faults = tmp_path / "faults.yaml"
    faults.write_text(rules)
    async with (
        scenario_server() as up,
        running_proxy(
            tmp_path,
            f"reverse:http://127.0.0.1:{up}",
            confdir,
            wswatch_relay="auto",
            wswatch_faults=[str(faults)],
        ) as proxy,
    ):
        async with _client(proxy.port, "/echo") as ws:
            await ws.send("x")
            with contextlib.suppress(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5)
        end = await proxy.wait_for("ws.closed")
    assert end["relay"] == expected
