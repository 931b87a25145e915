"""A Deepgram-like streaming endpoint on 127.0.0.1, and a client that streams to it, for the
tape tests: record a session against the real server, stop it, replay, compare.

`/v1/listen`: the client sends an auth message (a JSON access token), then binary audio chunks;
after every second chunk the server answers a JSON result naming how far the audio got; on
`{"type": "CloseStream"}` it sends its metadata and closes 1000. `/v1/listen` with
`?echo=1` quotes the request's URL (its token too) in Ready; `?fail=401` answers 401 with `dg-error` and `dg-request-id`; `/v1/flaky` answers 429 with
Retry-After to its first attempt and accepts the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import websockets
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

REQUEST_ID = "7d1c0b2a-tape-4e21-9c0a-1d2e3f4a5b6c"
CHUNK = bytes(range(256)) * 4  # 1 KB of "audio"
CHUNKS = 8
#: Seconds between the client's chunks (the audio's pace).
CHUNK_GAP_S = 0.03


@dataclass
class Endpoint:
    port: int
    attempts: dict[str, int] = field(default_factory=dict)
    #: The credentials the endpoint received (a test checks they never reach a tape).
    seen_tokens: list[str] = field(default_factory=list)


def _answer(endpoint: Endpoint, _connection: ServerConnection, request: Request) -> Response | None:
    path = request.path.split("?")[0]
    endpoint.attempts[path] = endpoint.attempts.get(path, 0) + 1
    if "fail=401" in request.path:
        body = json.dumps(
            {
                "err_code": "INVALID_AUTH",
                "err_msg": "Invalid credentials.",
                "request_id": REQUEST_ID,
            }
        ).encode()
        headers = Headers(
            {
                "dg-error": "Invalid credentials.",
                "dg-request-id": REQUEST_ID,
                "content-type": "application/json",
            }
        )
        return Response(401, "Unauthorized", headers, body)
    if path == "/v1/flaky" and endpoint.attempts[path] == 1:
        headers = Headers({"retry-after": "1", "x-request-id": "rl-7"})
        return Response(429, "Too Many Requests", headers, b"slow down")
    return None


async def _stream(endpoint: Endpoint, connection: ServerConnection) -> None:
    received = 0
    async for message in connection:
        if isinstance(message, str):
            document = json.loads(message)
            if document.get("type") == "Auth":
                endpoint.seen_tokens.append(document.get("access_token", ""))
                ready: dict[str, Any] = {"type": "Ready"}
                if "echo=1" in connection.request.path:  # a careless server quoting the URL
                    ready["url"] = connection.request.path
                await connection.send(json.dumps(ready))
            elif document.get("type") == "CloseStream":
                metadata = {"type": "Metadata", "request_id": REQUEST_ID, "chunks": received}
                await connection.send(json.dumps(metadata))
                await connection.close(1000, "done")
                return
            continue
        received += 1
        if received % 2 == 0:
            result = {"type": "Results", "start": received - 2, "end": received, "final": True}
            await connection.send(json.dumps(result))


@contextlib.asynccontextmanager
async def streaming_endpoint(tls: ssl.SSLContext | None = None) -> AsyncIterator[Endpoint]:
    endpoint = Endpoint(0)

    def answer(connection: ServerConnection, request: Request) -> Response | None:
        return _answer(endpoint, connection, request)

    async def handler(connection: ServerConnection) -> None:
        await _stream(endpoint, connection)

    async with serve(handler, "127.0.0.1", 0, process_request=answer, ssl=tls) as server:
        endpoint.port = server.sockets[0].getsockname()[1]
        yield endpoint


@dataclass
class Session:
    """What a client received: each message with its arrival (seconds since the open), and
    the close."""

    received: list[tuple[float, Any]] = field(default_factory=list)
    close_code: int | None = None
    close_reason: str | None = None
    #: For each received message, how many audio bytes the client had sent when it came.
    sent_before: list[int] = field(default_factory=list)

    def gaps(self) -> list[float]:
        times = [at for at, _ in self.received]
        return [later - earlier for earlier, later in itertools.pairwise(times)]

    @property
    def messages(self) -> list[Any]:
        return [message for _, message in self.received]


async def stream_session(
    url: str, token: str, chunk: bytes = CHUNK, chunks: int = CHUNKS, **options: Any
) -> Session:
    """Authenticate, stream `chunks` x `chunk` at the audio's pace, ask to close, read to the
    end."""
    session = Session()
    sent = 0
    async with connect(url, open_timeout=5, **options) as ws:
        opened = time.monotonic()

        async def read() -> None:
            try:
                while True:
                    message = await ws.recv()
                    session.received.append((time.monotonic() - opened, message))
                    session.sent_before.append(sent)
            except websockets.ConnectionClosed as closed:
                if closed.rcvd is not None:
                    session.close_code, session.close_reason = closed.rcvd.code, closed.rcvd.reason

        reader = asyncio.create_task(read())
        with contextlib.suppress(websockets.ConnectionClosed):  # closed early: stop sending
            await ws.send(json.dumps({"type": "Auth", "access_token": token}))
            for _ in range(chunks):
                await asyncio.sleep(CHUNK_GAP_S)  # the audio's pace, not a wait for an event
                await ws.send(chunk)
                sent += len(chunk)
            await ws.send(json.dumps({"type": "CloseStream"}))
        await asyncio.wait_for(reader, 10)
    return session


async def stream_session_absolute(url: str, token: str, proxy: str) -> Session:
    """`stream_session` with aiohttp through a regular proxy: it sends the upgrade in absolute
    form (`GET http://host/path`), no CONNECT tunnel."""
    session = Session()
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(url.replace("ws://", "http://", 1), proxy=proxy) as ws,
    ):
        opened = time.monotonic()

        async def read() -> None:
            async for message in ws:
                session.received.append((time.monotonic() - opened, message.data))

        reader = asyncio.create_task(read())
        await ws.send_str(json.dumps({"type": "Auth", "access_token": token}))
        for _ in range(CHUNKS):
            await asyncio.sleep(CHUNK_GAP_S)  # the audio's pace, not a wait for an event
            await ws.send_bytes(CHUNK)
        await ws.send_str(json.dumps({"type": "CloseStream"}))
        await asyncio.wait_for(reader, 10)
        session.close_code, session.close_reason = ws.close_code, None
    return session
