"""Secrets inside WebSocket messages never reach an output; the peers get every byte as sent.

An attacker's test: a real client, through real `mitmdump -s addons/wswatch.py` (reverse and
regular mode, every `flow_detail`, the message layer and the observe relay), sends the vendors'
real auth messages (Home Assistant, Polygon, Alpaca, ElevenLabs, Coinbase, graphql-ws,
Socket.IO) and a binary message carrying the handshake's token; a real upstream records what it
got, echoes each message, echoes the handshake's `?token=` and `Authorization` (plain,
percent-encoded, base64, in text and binary), repeats in plain text a key it read in a message,
and closes with the token in its reason. Then every output is searched for every form of every
secret: the JSON file, the terminal, `-w` flows (raw bytes and as mitmproxy's own reader reads
them), the HAR (`hardump`), the HTML report and `/metrics`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import random
import re
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from mitmproxy import http, io, tcp
from test_mitmdump_script import mitmdump
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

QUERY_TOKEN = "hs-QUERY/tok+9a8b=7c6d"
AUTH_TOKEN = "hs-AUTH-5e4f3a2b1c0d9e8f"
HA_TOKEN = "ha-ACCESS-1f2e3d4c5b6a"
POLYGON_KEY = "poly-KEY-8a7b6c5d4e3f"
ALPACA_KEY = "alp-KEYID-2b3c4d5e6f7a"
ALPACA_SECRET = "alp-SECRET-9f8e7d6c5b4a"
XI_KEY = "xi-KEY-0a1b2c3d4e5f6a7b"
COINBASE_KEY = "cb-KEY-6d5c4b3a2f1e"
COINBASE_PASSPHRASE = "cb-PASS-7e6d5c4b3a"
COINBASE_SIGNATURE = "cb-SIG-3c2b1a0f9e8d7c6b=="
GRAPHQL_TOKEN = "gql-TOKEN-4a5b6c7d8e9f"
GRAPHQL_AUTH_TOKEN = "gql-AUTHTOKEN-1a2b3c4d"
SOCKETIO_TOKEN = "sio-TOKEN-5b6c7d8e9f0a"
SECRETS = (
    QUERY_TOKEN,
    AUTH_TOKEN,
    HA_TOKEN,
    POLYGON_KEY,
    ALPACA_KEY,
    ALPACA_SECRET,
    XI_KEY,
    COINBASE_KEY,
    COINBASE_PASSPHRASE,
    COINBASE_SIGNATURE,
    GRAPHQL_TOKEN,
    GRAPHQL_AUTH_TOKEN,
    SOCKETIO_TOKEN,
)

#: What the client sends, in order: each vendor's auth message as the vendor documents it, a
#: binary frame with the handshake token in it, then the commands the upstream answers.
CLIENT_MESSAGES: list[str | bytes] = [
    json.dumps({"type": "auth", "access_token": HA_TOKEN}),
    json.dumps({"action": "auth", "params": POLYGON_KEY}),
    json.dumps({"action": "subscribe", "params": "T.AAPL,Q.MSFT"}),
    json.dumps({"action": "auth", "key": ALPACA_KEY, "secret": ALPACA_SECRET}),
    json.dumps({"text": " ", "voice_settings": {"stability": 0.5}, "xi_api_key": XI_KEY}),
    json.dumps(
        {
            "type": "subscribe",
            "product_ids": ["BTC-USD"],
            "channels": ["full"],
            "key": COINBASE_KEY,
            "passphrase": COINBASE_PASSPHRASE,
            "signature": COINBASE_SIGNATURE,
            "timestamp": "1700000000",
        }
    ),
    json.dumps(
        {"type": "connection_init", "payload": {"Authorization": f"Bearer {GRAPHQL_TOKEN}"}}
    ),
    json.dumps({"type": "connection_init", "payload": {"authToken": GRAPHQL_AUTH_TOKEN}}),
    '40{"token":"' + SOCKETIO_TOKEN + '"}',
    b"\x00\x01audio-frame:" + QUERY_TOKEN.encode() + b"\xff\xfe",
]
ECHO_HANDSHAKE = "echo-handshake"
ECHO_LEARNED = "echo-learned"


def handshake_echoes(token: str, authorization: str) -> list[str | bytes]:
    """What a careless server sends back of the handshake's credentials."""
    return [
        f"error: invalid token {token}",
        f"error: invalid token {urllib.parse.quote(token, safe='')}",
        f"error: token (base64) {base64.b64encode(token.encode()).decode()}",
        f"rejected credentials: {authorization}",
        json.dumps({"type": "error", "detail": f"denied {authorization}"}),
        b"\x07binary-echo:" + token.encode() + b"|" + authorization.encode(),
    ]


#: A key the server read in a message, repeated in plain text (no secret key names it there).
LEARNED_ECHOES = [f"auth_failed for key {POLYGON_KEY} and token {HA_TOKEN}"]
CLOSE_CODE = 4001


def close_reason(token: str) -> str:
    return f"bad token {token}"


def forms(secret: str) -> set[str]:
    """Every form of a secret an output must not hold (computed here, not by wswatch)."""
    raw = secret.encode()
    return {
        secret,
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote_plus(secret),
        base64.b64encode(raw).decode(),
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
    }


def leaks(outputs: dict[str, str], secrets: tuple[str, ...]) -> list[tuple[str, str]]:
    """(output, secret) for every form of every secret found in an output."""
    return [
        (name, secret)
        for name, text in outputs.items()
        for secret in secrets
        for form in forms(secret)
        if form in text
    ]


@dataclass
class Upstream:
    port: int
    received: list[str | bytes] = field(default_factory=list)


@contextlib.asynccontextmanager
async def secret_echo_server() -> AsyncIterator[Upstream]:
    """An upstream that records every message, echoes it, and leaks what it is asked to."""
    upstream = Upstream(0)

    async def handler(connection: ServerConnection) -> None:
        request = connection.request
        assert request is not None
        token = urllib.parse.parse_qs(urllib.parse.urlsplit(request.path).query)["token"][0]
        authorization = request.headers["Authorization"]
        async for message in connection:
            upstream.received.append(message)
            if message == ECHO_HANDSHAKE:
                for echo in handshake_echoes(token, authorization):
                    await connection.send(echo)
            elif message == ECHO_LEARNED:
                for echo in LEARNED_ECHOES:
                    await connection.send(echo)
            elif message == "close":
                await connection.close(CLOSE_CODE, close_reason(token))
                return
            else:
                await connection.send(message)

    async with serve(handler, "127.0.0.1", 0) as server:
        upstream.port = server.sockets[0].getsockname()[1]
        yield upstream


async def run_client(url: str, proxy: str | None) -> tuple[list[str | bytes], int, str]:
    """Send every planted message and the commands; returns what the client received and the
    close code and reason it saw."""
    received: list[str | bytes] = []
    headers = {"Authorization": f"Bearer {AUTH_TOKEN}"}
    options = {"proxy": proxy} if proxy else {"proxy": None}
    async with connect(url, additional_headers=headers, open_timeout=10, **options) as ws:
        for message in CLIENT_MESSAGES:
            await ws.send(message)
            received.append(await asyncio.wait_for(ws.recv(), 10))
        await ws.send(ECHO_HANDSHAKE)
        for _ in handshake_echoes(QUERY_TOKEN, ""):
            received.append(await asyncio.wait_for(ws.recv(), 10))
        await ws.send(ECHO_LEARNED)
        for _ in LEARNED_ECHOES:
            received.append(await asyncio.wait_for(ws.recv(), 10))
        await ws.send("close")
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 10)
        assert ws.close_code is not None and ws.close_reason is not None
        return received, ws.close_code, ws.close_reason


def metrics_text(output: list[str]) -> str:
    """`/metrics` of the running proxy, at the address it logged."""
    found = re.search(r"Prometheus metrics at (http://\S+/metrics)", "".join(output))
    assert found, "".join(output)
    with urllib.request.urlopen(found.group(1), timeout=10) as response:
        return response.read().decode()


def flow_contents(path: Path) -> tuple[list[bytes], list[str]]:
    """The messages and close reasons of `-w` flows, as mitmproxy's own reader reads them."""
    contents: list[bytes] = []
    reasons: list[str] = []
    with path.open("rb") as file:
        for flow in io.FlowReader(file).stream():
            if isinstance(flow, http.HTTPFlow) and flow.websocket is not None:
                contents.extend(message.content for message in flow.websocket.messages)
                reasons.append(flow.websocket.close_reason or "")
            elif isinstance(flow, tcp.TCPFlow):
                contents.extend(message.content for message in flow.messages)
    return contents, reasons


#: (mode, flow_detail, relay) of each run.
RUNS = [
    ("reverse", 0, "auto"),
    ("reverse", 1, "auto"),
    ("reverse", 2, "auto"),
    ("reverse", 3, "auto"),
    ("regular", 3, "auto"),
    ("reverse", 3, "observe"),
]


@pytest.mark.parametrize(
    ("mode", "flow_detail", "relay"), RUNS, ids=[f"{m}-detail{d}-{r}" for m, d, r in RUNS]
)
async def test_no_secret_sent_in_messages_reaches_any_output(
    tmp_path: Path, confdir: Path, mode: str, flow_detail: int, relay: str
) -> None:
    """Every form of every planted secret is absent from every output, while the client and
    the upstream each received every byte exactly as the other sent it."""
    flows, har, report, log = (
        tmp_path / "flows.mitm",
        tmp_path / "session.har",
        tmp_path / "report.html",
        tmp_path / "events.jsonl",
    )
    async with secret_echo_server() as upstream:
        mode_args = (
            ("--mode", f"reverse:http://127.0.0.1:{upstream.port}") if mode == "reverse" else ()
        )
        settings = [
            f"flow_detail={flow_detail}",
            f"wswatch_relay={relay}",
            f"hardump={har}",
            f"wswatch_report={report}",
            f"wswatch_log={log}",
            "wswatch_metrics=127.0.0.1:0",
        ]
        args = [word for setting in settings for word in ("--set", setting)]
        async with mitmdump(*mode_args, *args, "-w", str(flows), confdir=confdir) as (
            port,
            output,
        ):
            path = f"/stream?model=nova&token={urllib.parse.quote(QUERY_TOKEN, safe='')}"
            if mode == "reverse":
                url, proxy = f"ws://127.0.0.1:{port}{path}", None
            else:
                url, proxy = f"ws://127.0.0.1:{upstream.port}{path}", f"http://127.0.0.1:{port}"
            received, code, reason = await run_client(url, proxy)
            metrics = metrics_text(output)
        upstream_received = list(upstream.received)

    # The peers: every byte as sent, both ways.
    assert upstream_received == [*CLIENT_MESSAGES, ECHO_HANDSHAKE, ECHO_LEARNED, "close"]
    assert received == [
        *CLIENT_MESSAGES,
        *handshake_echoes(QUERY_TOKEN, f"Bearer {AUTH_TOKEN}"),
        *LEARNED_ECHOES,
    ]
    assert (code, reason) == (CLOSE_CODE, close_reason(QUERY_TOKEN))

    # The outputs: no form of any secret anywhere.
    outputs = {
        "JSON file": log.read_text(encoding="utf-8"),
        "terminal": "".join(output),
        "flows file": flows.read_bytes().decode("utf-8", "replace"),
        "HAR": har.read_text(encoding="utf-8"),
        "report": report.read_text(encoding="utf-8"),
        "/metrics": metrics,
    }
    assert leaks(outputs, SECRETS) == []

    events = [json.loads(line) for line in outputs["JSON file"].splitlines()]
    (closed,) = [event for event in events if event["event"] == "ws.closed"]
    assert (closed["close_code"], closed["close_reason"]) == (CLOSE_CODE, "bad token [redacted]")

    contents, reasons = flow_contents(flows)
    if relay == "observe":
        assert contents and all(b"relayed as TCP, not kept" in content for content in contents)
        return
    # What is kept still reads: keys stay, values go, the rest is untouched.
    assert b'{"type": "auth", "access_token": "[redacted]"}' in contents
    assert b'{"action": "subscribe", "params": "T.AAPL,Q.MSFT"}' in contents
    assert b'{"action": "auth", "params": "[redacted]"}' in contents
    assert b'40{"token":"[redacted]"}' in contents
    assert b"auth_failed for key [redacted] and token [redacted]" in contents
    assert reasons == ["bad token [redacted]"]
    har_messages = [
        message["data"]
        for entry in json.loads(outputs["HAR"])["log"]["entries"]
        for message in entry.get("_webSocketMessages", [])
    ]
    assert "rejected credentials: [redacted]" in har_messages
    if flow_detail == 3:
        assert '"xi_api_key": "[redacted]"' in outputs["terminal"]


#: Ordinary traffic of the kinds users stream: chat, a transcript with words that look like
#: secret names, market data, a realtime session event, base64 audio in JSON, raw audio.
ORDINARY: list[str | bytes] = [
    "hello, can you hear me? the bearer of this token of thanks says hi",
    json.dumps(
        {
            "type": "Results",
            "channel": {
                "alternatives": [{"transcript": "my password is on the desk", "confidence": 0.98}]
            },
            "is_final": True,
        }
    ),
    json.dumps([{"ev": "T", "sym": "AAPL", "p": 189.5, "s": 100}]),
    json.dumps({"type": "session.created", "session": {"id": "sess_001", "voice": "alloy"}}),
    json.dumps(
        {
            "type": "input_audio_buffer.append",
            "audio": base64.b64encode(random.Random(3).randbytes(3000)).decode(),
        }
    ),
    random.Random(4).randbytes(4096),
]


async def test_ordinary_messages_pass_through_every_output_unchanged(
    tmp_path: Path, confdir: Path
) -> None:
    """No false positive: chat, transcripts, market data and audio are kept and shown exactly
    as sent, in the `-w` flows, the HAR and on the terminal at flow_detail 3."""
    flows, har = tmp_path / "flows.mitm", tmp_path / "session.har"
    async with secret_echo_server() as upstream:
        async with mitmdump(
            "--mode", f"reverse:http://127.0.0.1:{upstream.port}",
            "--set", "flow_detail=3", "--set", f"hardump={har}", "-w", str(flows),
            confdir=confdir,
        ) as (port, output):  # fmt: skip
            url = f"ws://127.0.0.1:{port}/chat?token={urllib.parse.quote(QUERY_TOKEN)}"
            async with connect(
                url, additional_headers={"Authorization": f"Bearer {AUTH_TOKEN}"}, proxy=None
            ) as ws:
                for message in ORDINARY:
                    await ws.send(message)
                    assert await asyncio.wait_for(ws.recv(), 10) == message
    contents, _ = flow_contents(flows)
    assert contents == [
        message if isinstance(message, bytes) else message.encode()
        for message in ORDINARY
        for _direction in ("client", "server")
    ]
    har_texts = [
        message["data"]
        for entry in json.loads(har.read_text(encoding="utf-8"))["log"]["entries"]
        for message in entry.get("_webSocketMessages", [])
        if message["opcode"] == 1
    ]
    assert har_texts == [m for m in ORDINARY if isinstance(m, str) for _side in (1, 2)]
    terminal = "".join(output)
    assert ORDINARY[0] in terminal and "my password is on the desk" in terminal
