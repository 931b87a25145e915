"""The scrubbed copy of a message is what everything after wswatch sees; the peer still gets the
original, or what a later addon made of it (an edit, a drop), and the copy shows that scrubbed.
Real mitmproxy in process, real client, real echo upstream."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from mitmproxy import http
from proxy_harness import scenario_proxy
from websockets.asyncio.client import connect

TOKEN = "edit-TOKEN-0a1b2c3d4e"
KEEP_EDITS = "wswatch-keep-message-edits"


class UserScript:
    """A user's addon after wswatch: shouts one message, drops another."""

    def websocket_message(self, flow: http.HTTPFlow) -> None:
        assert flow.websocket is not None
        message = flow.websocket.messages[-1]
        if not message.from_client:
            return
        if b'"say": "shout"' in message.content:
            message.content = message.content.replace(b"shout", b"SHOUT")
        if b'"say": "drop"' in message.content:
            message.drop()


def kept(proxy) -> list[tuple[bool, str, bool]]:
    (flow,) = [f for f in proxy.flows if isinstance(f, http.HTTPFlow) and f.websocket]
    return [(m.from_client, m.text, m.dropped) for m in flow.websocket.messages]


async def test_a_later_addons_edit_and_drop_reach_the_peer_and_show_scrubbed(
    tmp_path: Path, confdir: Path
) -> None:
    async with scenario_proxy(
        tmp_path, confdir, addons=[UserScript()], wswatch_relay="websocket"
    ) as proxy:
        async with connect(f"ws://127.0.0.1:{proxy.port}/echo") as ws:
            await ws.send(json.dumps({"token": TOKEN, "say": "shout"}))
            echoed = json.loads(await asyncio.wait_for(ws.recv(), 5))
            await ws.send(json.dumps({"token": TOKEN, "say": "drop"}))
            await ws.send(json.dumps({"token": TOKEN, "say": "last"}))
            last = json.loads(await asyncio.wait_for(ws.recv(), 5))
        await proxy.wait_for("ws.closed")
        messages = kept(proxy)
        keeper = proxy.master.addons.get(KEEP_EDITS)
        assert keeper is not None and proxy.master.addons.chain[-1] is keeper
    assert echoed == {"token": TOKEN, "say": "SHOUT"}  # the edit reached the upstream
    assert last == {"token": TOKEN, "say": "last"}  # the dropped one never did
    assert messages == [
        (True, '{"token": "[redacted]", "say": "SHOUT"}', False),
        (False, '{"token": "[redacted]", "say": "SHOUT"}', False),
        (True, '{"token": "[redacted]", "say": "drop"}', True),
        (True, '{"token": "[redacted]", "say": "last"}', False),
        (False, '{"token": "[redacted]", "say": "last"}', False),
    ]


@pytest.mark.parametrize("relay", ["websocket", "observe"])
async def test_without_an_addon_that_may_edit_messages_nothing_joins_the_chain(
    tmp_path: Path, confdir: Path, relay: str
) -> None:
    """No addon after wswatch has a message hook: nothing is there to carry an edit over, and
    wswatch adds no addon that mitmproxy would ask about every hook; the copy is still shown."""
    async with scenario_proxy(tmp_path, confdir, wswatch_relay=relay) as proxy:
        async with connect(f"ws://127.0.0.1:{proxy.port}/echo") as ws:
            await ws.send(json.dumps({"token": TOKEN, "say": "hi"}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 5))["token"] == TOKEN
        await proxy.wait_for("ws.closed")
        assert proxy.master.addons.get(KEEP_EDITS) is None
        shown = kept(proxy) if relay == "websocket" else []
    assert all(TOKEN not in text for _, text, _ in shown)
    assert len(shown) == (2 if relay == "websocket" else 0)


@pytest.mark.parametrize("redact", [True, False])
async def test_the_users_message_keys_are_secret_too(
    tmp_path: Path, confdir: Path, redact: bool
) -> None:
    """`wswatch_redact_message_keys` adds keys; `wswatch_redact_flows=false` keeps flows as
    mitmproxy recorded them."""
    async with scenario_proxy(
        tmp_path,
        confdir,
        wswatch_relay="websocket",
        wswatch_redact_message_keys=["tenant_pin"],
        wswatch_redact_flows=redact,
    ) as proxy:
        async with connect(f"ws://127.0.0.1:{proxy.port}/echo") as ws:
            await ws.send('{"tenantPin": "pin-4711-0815", "n": 1}')
            assert await asyncio.wait_for(ws.recv(), 5) == '{"tenantPin": "pin-4711-0815", "n": 1}'
        await proxy.wait_for("ws.closed")
        messages = kept(proxy)
    shown = (
        '{"tenantPin": "[redacted]", "n": 1}'
        if redact
        else '{"tenantPin": "pin-4711-0815", "n": 1}'
    )
    assert messages == [(True, shown, False), (False, shown, False)]
