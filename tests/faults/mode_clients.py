"""Every proxy mode users run, each with a real client that reaches the upstream through it.

A `ModeSession` starts the scenario upstream (tests/upstreams.py) and wswatch in one mode, and
opens real clients the way a user's app would in that mode:

- `reverse`: python `websockets` straight to the proxy (reverse:http://upstream);
- `regular-connect`: `websockets` with `proxy=` (a CONNECT tunnel carrying ws://);
- `regular-connect-tls`: the same for wss:// to a TLS upstream, the client trusting mitmproxy's CA;
- `regular-absolute`: `aiohttp` with `proxy=`, which sends ws:// requests in absolute form
  (`GET http://host/path`, no tunnel);
- `upstream`: `websockets` with `proxy=`, wswatch in upstream mode chaining to a plain forward
  proxy (`upstreams.forward_proxy`), as behind a corporate proxy.

Each client is driven through one small interface (`ModeClient`) so a test states what the client
must receive once, and it is checked in every mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import websockets
from proxy_harness import RunningProxy, running_proxy
from upstreams import ForwardProxy, forward_proxy, scenario_server, self_signed_context
from websockets.asyncio.client import ClientConnection, connect

MODES = ["reverse", "regular-connect", "regular-connect-tls", "regular-absolute", "upstream"]


class ClientSawClose(Exception):
    """The connection ended under the client: `code` and `reason` of the close frame it
    received, or `code` None when none arrived (the client reports 1006)."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"client saw close {code} {reason!r}")
        self.code = code
        self.reason = reason


class ModeClient:
    """What a test does with a client, whichever library it is."""

    async def send(self, text: str) -> None:
        raise NotImplementedError

    async def recv(self, timeout: float = 5) -> str:
        """The next text message; raises `ClientSawClose` when the connection ends instead."""
        raise NotImplementedError

    async def ping(self) -> asyncio.Future[None]:
        """Send a ping; the future is done once its pong has been read."""
        raise NotImplementedError

    async def pong(self, waiter: asyncio.Future[None], timeout: float = 5) -> None:
        """Wait up to `timeout` seconds for the pong of `waiter`."""
        raise NotImplementedError


class WebsocketsClient(ModeClient):
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def send(self, text: str) -> None:
        await self.ws.send(text)

    async def recv(self, timeout: float = 5) -> str:
        try:
            message = await asyncio.wait_for(self.ws.recv(), timeout)
        except websockets.ConnectionClosed as closed:
            received = closed.rcvd
            raise ClientSawClose(
                received.code if received else None, received.reason if received else ""
            ) from None
        assert isinstance(message, str), message
        return message

    async def ping(self) -> asyncio.Future[None]:
        return await self.ws.ping()

    async def pong(self, waiter: asyncio.Future[None], timeout: float = 5) -> None:
        await asyncio.wait_for(asyncio.shield(waiter), timeout)


class AiohttpClient(ModeClient):
    """aiohttp with autoping off, so pongs are read in order with the messages."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.pending_pongs: list[asyncio.Future[None]] = []

    async def send(self, text: str) -> None:
        await self.ws.send_str(text)

    async def _receive(self, timeout: float) -> aiohttp.WSMessage:
        message = await self.ws.receive(timeout)
        if message.type is aiohttp.WSMsgType.PONG and self.pending_pongs:
            self.pending_pongs.pop(0).set_result(None)
        return message

    async def recv(self, timeout: float = 5) -> str:
        for _ in range(100):  # pongs in between; bounded
            message = await self._receive(timeout)
            if message.type is aiohttp.WSMsgType.TEXT:
                return message.data
            if message.type is aiohttp.WSMsgType.CLOSE:
                raise ClientSawClose(message.data, message.extra or "")
            if message.type in (
                aiohttp.WSMsgType.CLOSED,
                aiohttp.WSMsgType.CLOSING,
                aiohttp.WSMsgType.ERROR,
            ):
                raise ClientSawClose(None, "")
        raise AssertionError("no text message among the next 100 frames")

    async def ping(self) -> asyncio.Future[None]:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pending_pongs.append(waiter)
        await self.ws.ping()
        return waiter

    async def pong(self, waiter: asyncio.Future[None], timeout: float = 5) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not waiter.done():
            left = deadline - loop.time()
            assert left > 0, "no pong in time"
            await self._receive(left)


@dataclass
class ModeSession:
    """wswatch in one mode in front of the scenario upstream; `open` connects a real client."""

    mode: str
    proxy: RunningProxy
    upstream_port: int
    tls: ssl.SSLContext | None = None
    forwarder: ForwardProxy | None = None
    http: aiohttp.ClientSession | None = None

    def url(self, path: str) -> str:
        if self.mode == "reverse":
            return f"ws://127.0.0.1:{self.proxy.port}{path}"
        scheme = "wss" if self.tls is not None else "ws"
        return f"{scheme}://127.0.0.1:{self.upstream_port}{path}"

    @contextlib.asynccontextmanager
    async def open(self, path: str = "/echo", **options: Any) -> AsyncIterator[ModeClient]:
        """A client connected to `path` through the proxy, past a first echo (so the
        connection is fully started on both sides when the test begins)."""
        if self.mode == "regular-absolute":
            assert self.http is not None
            async with self.http.ws_connect(
                self.url(path).replace("ws://", "http://", 1),
                proxy=self.proxy.url,
                autoping=False,
                **options,
            ) as ws:
                client: ModeClient = AiohttpClient(ws)
                await _first_echo(client)
                yield client
            return
        if self.mode != "reverse":
            options["proxy"] = self.proxy.url
        if self.tls is not None:
            options["ssl"] = self.tls
        async with connect(self.url(path), open_timeout=5, **options) as ws:
            client = WebsocketsClient(ws)
            await _first_echo(client)
            yield client


async def _first_echo(client: ModeClient) -> None:
    await client.send("hello")
    assert await client.recv() == "hello"


@contextlib.asynccontextmanager
async def mode_session(
    mode: str, tmp_path: Path, confdir: Path, **wswatch_options: Any
) -> AsyncIterator[ModeSession]:
    """The scenario upstream and wswatch in `mode` (see MODES), both stopped on exit."""
    tls = self_signed_context(tmp_path) if mode == "regular-connect-tls" else None
    async with contextlib.AsyncExitStack() as stack:
        up = await stack.enter_async_context(scenario_server(tls))
        forwarder = None
        if mode == "reverse":
            proxy_mode = f"reverse:http://127.0.0.1:{up}"
        elif mode == "upstream":
            forwarder = await stack.enter_async_context(forward_proxy())
            proxy_mode = f"upstream:http://127.0.0.1:{forwarder.port}"
        else:
            proxy_mode = "regular"
        if tls is not None:
            wswatch_options["ssl_insecure"] = True
        proxy = await stack.enter_async_context(
            running_proxy(tmp_path, proxy_mode, confdir, **wswatch_options)
        )
        client_tls = None
        if tls is not None:
            client_tls = ssl.create_default_context(cafile=str(confdir / "mitmproxy-ca-cert.pem"))
        http = None
        if mode == "regular-absolute":
            http = await stack.enter_async_context(aiohttp.ClientSession())
        session = ModeSession(mode, proxy, up, client_tls, forwarder, http)
        yield session
        if forwarder is not None:
            assert forwarder.requests, "nothing went through the upstream proxy"
