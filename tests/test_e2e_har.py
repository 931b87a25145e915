"""A HAR of a wswatch session, made by mitmproxy itself, holds no secret: wswatch redacts each
flow in place once reported, before mitmproxy's HAR export (`hardump`) or flow file (`-w`)
reads it. Real `mitmdump`, real clients planting secrets, real upstream echoing them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from test_mitmdump_script import MITMDUMP, scenario_mitmdump
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

TOKEN = "har-TOKEN-5e4d3c2b1a"
COOKIE = "har-COOKIE-0f9e8d7c"
#: What the upstream's /login sets: a secret the client never sent.
SERVER_COOKIE = "cookie-FROM-SERVER-77aa"
SECRETS = (TOKEN, COOKIE, SERVER_COOKIE)
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Cookie": f"sid={COOKIE}"}


async def plant_secrets(port: int) -> bytes:
    """Three attempts carrying the token (query, Authorization) and the cookie: one echoed back
    in a 401's reason, headers, Set-Cookie and body; one answered with the upstream's own
    Set-Cookie; one accepted WebSocket. Returns the echoing 401's body as the client got it."""
    with pytest.raises(InvalidStatus) as echoed:
        async with connect(
            f"ws://127.0.0.1:{port}/echo-all401?token={TOKEN}",
            additional_headers=HEADERS,
            open_timeout=5,
        ):
            pass
    with pytest.raises(InvalidStatus):
        async with connect(f"ws://127.0.0.1:{port}/login", open_timeout=5):
            pass
    async with connect(
        f"ws://127.0.0.1:{port}/echo?token={TOKEN}", additional_headers=HEADERS, open_timeout=5
    ) as ws:
        await ws.send("hello")
        assert await ws.recv() == "hello"
    return echoed.value.response.body


async def export_har(flows: Path, har: Path, confdir: Path) -> None:
    """`mitmdump -n -r FLOWS --set hardump=HAR`: mitmproxy's own export of saved flows."""
    process = await asyncio.create_subprocess_exec(
        str(MITMDUMP), "-q", "-n", "-r", str(flows), "--set", f"hardump={har}",
        "--set", f"confdir={confdir}",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, output.decode()


@pytest.mark.parametrize("route", ["hardump", "saved-flows-exported"])
async def test_har_of_the_session_leaks_no_planted_secret(
    tmp_path: Path, confdir: Path, route: str
) -> None:
    """Either way the README gives (`--set hardump=` live, or `-w` then export), the HAR has
    every attempt, redacted: no token, cookie or upstream Set-Cookie value anywhere in it."""
    har, flows = tmp_path / "session.har", tmp_path / "flows.mitm"
    how = ("--set", f"hardump={har}") if route == "hardump" else ("-w", str(flows))
    async with scenario_mitmdump(confdir, f"wswatch_log={tmp_path / 'e.jsonl'}", args=how) as (
        port,
        _,
    ):
        echoed_body = await plant_secrets(port)
    assert TOKEN.encode() in echoed_body  # the client got the upstream's answer as sent
    if route != "hardump":
        assert not any(secret.encode() in flows.read_bytes() for secret in SECRETS)
        await export_har(flows, har, confdir)
    text = har.read_text(encoding="utf-8")
    entries = json.loads(text)["log"]["entries"]
    assert [entry["response"]["status"] for entry in entries] == [401, 401, 101]
    assert [secret for secret in SECRETS if secret in text] == []
    assert "auth=[redacted]" in entries[0]["response"]["content"]["text"]
    assert entries[2]["_resourceType"] == "websocket"
    assert [m["data"] for m in entries[2]["_webSocketMessages"]] == ["hello", "hello"]
    handshakes = [json.loads(line) for line in (tmp_path / "e.jsonl").read_text().splitlines()]
    started = [event["started"] for event in handshakes if event["event"] == "ws.handshake"]
    # The README's way to find an event's HAR entry: its start, cut to milliseconds.
    assert [entry["startedDateTime"][:23] for entry in entries] == [t[:23] for t in started]
