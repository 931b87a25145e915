"""The hostile-input corpus (issue 6, "Trust"): raw clients and raw upstreams put broken, odd and
oversized bytes through a real mitmproxy running wswatch, and every case checks the same promises:

- the proxy keeps serving: afterwards a good client still gets a 101 and its echo;
- no traceback and no "Addon error" in anything the proxy logged;
- exactly one `ws.handshake` per upgrade request the proxy received, and exactly one `ws.closed`
  per upgraded connection (one that got a 101);
- the outcome RFC 6455 and the README's event contract call for (outcome, status, failure,
  problems, close code and who closed), and what the hostile peer itself must receive;
- no planted secret (`?token=`, `Authorization: Token`, `Cookie`, `Sec-WebSocket-Protocol:
  token, KEY`) in the JSON file, the terminal, the log records or the flows.

Expectations come from the issue and the RFC, not from what the code does today: a case fails
until the defect it exposes is fixed. Each case reports every promise it breaks at once.
A few cases run through a `mitmdump` subprocess at `flow_detail` 0 to 3 with `-w`, and search the
terminal and every field of the saved flows too.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import json
import logging
import re
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hostile_peers import (
    GOOD_KEY,
    GOOD_PATH,
    READ_TIMEOUT,
    Behaviour,
    RawUpstream,
    Received,
    UpstreamConnection,
    echo_frames,
    echo_websocket,
    raw_client,
    raw_upstream,
    request_bytes,
    response_bytes,
    upgrade_headers,
)
from mitmproxy import io as flow_io
from proxy_harness import RunningProxy, running_proxy
from raw_frames import Opcode, accept_for, close_payload, frame, frame_header
from test_mitmdump_script import launch
from websockets.asyncio.client import connect
from wswatchlib.tapes.schema import tape_schema

# Planted secrets: letters, digits and dashes only, so URL-encoding cannot disguise them.
TOKEN = b"qtok-HOSTILE-3e5f7a9c1b"
AUTH_KEY = b"authkey-HOSTILE-8d6b4f2a0e"
COOKIE = b"cookie-HOSTILE-1c3e5a7b9d"
PROTOCOL_KEY = b"protokey-HOSTILE-6a4c2e0f8b"
PLANTED = (TOKEN, AUTH_KEY, COOKIE, PROTOCOL_KEY)

TARGET = b"/hostile?model=nova&token=" + TOKEN
NOT_UTF8 = b"\xff\xfe\xc3("
CLIENT_CLOSE = frame(Opcode.CLOSE, close_payload(1000), masked=True)

#: How long a case waits for the events it expects before checking what it has.
SETTLE_SECONDS = 2.0
#: How long a hostile client waits for the proxy to end its connection.
CLIENT_SECONDS = 5.0


def secret_headers() -> list[tuple[bytes, bytes]]:
    return [
        (b"Authorization", b"Token " + AUTH_KEY),
        (b"Cookie", b"session=" + COOKIE),
        (b"Sec-WebSocket-Protocol", b"token, " + PROTOCOL_KEY),
    ]


def upgrade(
    target: bytes = TARGET,
    *,
    method: bytes = b"GET",
    version: bytes = b"HTTP/1.1",
    key: bytes | None = GOOD_KEY,
    ws_version: bytes | None = b"13",
    replace: dict[bytes, bytes] | None = None,
    extra: Sequence[tuple[bytes, bytes]] = (),
) -> bytes:
    """An upgrade request carrying every planted secret; `replace` swaps header values by name."""
    headers = upgrade_headers(key=key, version=ws_version) + secret_headers() + list(extra)
    replacements = {name.lower(): value for name, value in (replace or {}).items()}
    headers = [(name, replacements.get(name.lower(), value)) for name, value in headers]
    return request_bytes(target, headers, method=method, version=version)


# Hostile clients --------------------------------------------------------------------------------

#: A hostile client: given the proxy's port and the upstream behind it, returns what it got.
Client = Callable[[int, RawUpstream], Awaitable[Received]]


class Finish(enum.Enum):
    """How a hostile peer leaves once it sent its bytes."""

    #: Wait for the proxy to end the connection (a client), or echo frames (an upstream).
    READ_TO_END = "read"
    #: Close the TCP connection at once (FIN), no close frame.
    HANG_UP = "hang_up"
    #: Abort with a TCP RST.
    RESET = "reset"


def exchange(request: bytes, *frames: bytes, finish: Finish = Finish.READ_TO_END) -> Client:
    """Send `request`; after a 101 send `frames` and finish; after any other answer read its body."""

    async def client(port: int, _upstream: RawUpstream) -> Received:
        async with raw_client(port) as peer:
            await peer.send(request)
            head = await peer.read_head()
            if head is None:
                return peer.received
            if head.status != 101:
                await peer.read_body()
                return peer.received
            with contextlib.suppress(ConnectionError):
                for data in frames:
                    await peer.send(data)
            if finish is Finish.HANG_UP:
                peer.hang_up()
            elif finish is Finish.RESET:
                peer.reset()
            else:
                await peer.read_until_end(CLIENT_SECONDS)
            return peer.received

    return client


def round_trip(request: bytes, *frames: bytes, replies: int) -> Client:
    """Send `request` and, after a 101, `frames`; wait for `replies` frames, then close 1000."""

    async def client(port: int, _upstream: RawUpstream) -> Received:
        async with raw_client(port) as peer:
            await peer.send(request)
            head = await peer.read_head()
            if head is None or head.status != 101:
                return peer.received
            for data in frames:
                await peer.send(data)
            await peer.read_frames(replies)
            with contextlib.suppress(ConnectionError):
                await peer.send(CLIENT_CLOSE)
            await peer.read_until_end(CLIENT_SECONDS)
            return peer.received

    return client


def hang_up_after(data: bytes) -> Client:
    """Send `data` (part of a request, or nothing) and hang up."""

    async def client(port: int, _upstream: RawUpstream) -> Received:
        async with raw_client(port) as peer:
            if data:
                await peer.send(data)
            peer.hang_up()
            return peer.received

    return client


def give_up_waiting(request: bytes) -> Client:
    """Send a whole request, then hang up once the (silent) upstream holds it."""

    async def client(port: int, upstream: RawUpstream) -> Received:
        async with raw_client(port) as peer:
            await peer.send(request)
            await asyncio.wait_for(upstream.request_arrived.wait(), READ_TIMEOUT)
            peer.hang_up()
            return peer.received

    return client


async def good_client_is_served(port: int) -> str | None:
    """None when a well-behaved client gets a 101 and its echo through the proxy; else why not."""
    try:
        async with connect(
            f"ws://127.0.0.1:{port}{GOOD_PATH}", open_timeout=5, close_timeout=5
        ) as ws:
            await ws.send("still serving?")
            echoed = await asyncio.wait_for(ws.recv(), 5)
    except Exception as error:  # any failure is the finding; the message says which
        return f"a good client was not served: {error!r}"
    return None if echoed == "still serving?" else f"a good client got {echoed!r}"


def slowloris(request: bytes, *, complete: bool) -> Client:
    """Dribble `request` a byte at a time (all of it, or half and hang up) while a good client
    is served; the proxy must not wait on the slow one."""

    async def client(port: int, _upstream: RawUpstream) -> Received:
        async with raw_client(port) as peer:
            data = request if complete else request[: len(request) // 2]
            interval = 1.0 / len(data)  # about a second for the whole dribble
            dribbling = asyncio.create_task(peer.dribble(data, interval, max_seconds=10))
            served = await good_client_is_served(port)
            assert not dribbling.done(), "the good client was only served after the dribble"
            assert served is None, served
            await asyncio.wait_for(dribbling, 15)
            if not complete:
                peer.hang_up()
                return peer.received
            head = await peer.read_head()
            if head is not None and head.status == 101:
                await peer.send(CLIENT_CLOSE)
                await peer.read_until_end(CLIENT_SECONDS)
            return peer.received

    return client


#: Payload lengths in the 7-bit, 16-bit and 64-bit forms of RFC 6455 section 5.2, at each edge.
LENGTHS = (125, 126, 65535, 65536)
FIFTY_MB = 50 * 1024 * 1024
MEGABYTE_PATTERN = bytes(range(256)) * 4096


def fifty_megabyte_message() -> Client:
    """One 50 MB binary message, streamed as 50 masked 1 MB frames (64-bit lengths)."""

    async def client(port: int, _upstream: RawUpstream) -> Received:
        async with raw_client(port) as peer:
            await peer.send(upgrade())
            head = await peer.read_head()
            assert head is not None and head.status == 101, head
            pieces = FIFTY_MB // len(MEGABYTE_PATTERN)
            for index in range(pieces):
                opcode = Opcode.BINARY if index == 0 else Opcode.CONTINUATION
                await peer.send(
                    frame(opcode, MEGABYTE_PATTERN, fin=index == pieces - 1, masked=True)
                )
            await peer.read_frames(1, timeout=60)
            assert peer.received.data[:1] == [b"got %d intact=1" % FIFTY_MB], peer.received.data
            await peer.send(CLIENT_CLOSE)
            await peer.read_until_end(CLIENT_SECONDS)
            return peer.received

    return client


async def count_fifty_megabytes(connection: UpstreamConnection) -> None:
    """Upstream: read one fragmented message, check every byte, answer with its size."""
    await connection.switch_protocols()
    total, intact = 0, True
    for _ in range(FIFTY_MB // len(MEGABYTE_PATTERN) * 2):
        received = await connection.next_frame(timeout=60)
        if received is None:
            return
        intact = intact and received.payload == MEGABYTE_PATTERN[: len(received.payload)]
        total += len(received.payload)
        if received.fin:
            break
    await connection.send(frame(Opcode.TEXT, b"got %d intact=%d" % (total, intact)))
    await echo_frames(connection)


# Hostile upstreams ------------------------------------------------------------------------------


def answer(raw: bytes) -> Behaviour:
    """Send exactly `raw` and hang up."""

    async def behaviour(connection: UpstreamConnection) -> None:
        await connection.send(raw)
        connection.hang_up()

    return behaviour


def reset_at_once() -> Behaviour:
    async def behaviour(connection: UpstreamConnection) -> None:
        connection.reset()

    return behaviour


async def silent(connection: UpstreamConnection) -> None:
    """Never answer; wait (bounded) for the proxy to give up."""
    await connection.wait_for_hang_up()


def switch_then(
    raw: bytes = b"",
    *,
    extra: Sequence[tuple[bytes, bytes]] = (),
    finish: Finish = Finish.READ_TO_END,
    status_line: bytes = b"HTTP/1.1 101 Switching Protocols",
    drop: Iterable[bytes] = (),
) -> Behaviour:
    """A 101 (with `extra` header lines, without the `drop`ped ones), then `raw`; then echo
    frames, or hang up, or reset once the client's first frame shows the proxy relays frames
    (a RST would discard bytes still unread)."""
    dropped = {name.lower() for name in drop}

    async def behaviour(connection: UpstreamConnection) -> None:
        key = connection.head.header(b"sec-websocket-key") or b""
        headers = [
            (b"Upgrade", b"websocket"),
            (b"Connection", b"Upgrade"),
            (b"Sec-WebSocket-Accept", accept_for(key)),
        ]
        headers = [(n, v) for n, v in headers if n.lower() not in dropped] + list(extra)
        await connection.send(response_bytes(status_line, headers) + raw)
        if finish is Finish.HANG_UP:
            connection.hang_up()
        elif finish is Finish.RESET:
            await connection.next_frame()
            connection.reset()
        else:
            await echo_frames(connection)

    return behaviour


def echo_secrets_rejection() -> Behaviour:
    """A careless server that echoes every credential it got: reason phrase, headers, body."""

    async def behaviour(connection: UpstreamConnection) -> None:
        head = connection.head
        auth = head.header(b"authorization") or b""
        cookie = head.header(b"cookie") or b""
        protocols = head.header(b"sec-websocket-protocol") or b""
        body = b'{"err_msg": "bad credentials ' + auth + b" " + head.target + b'"}'
        await connection.send(
            response_bytes(
                b"HTTP/1.1 401 Unauthorized " + auth,
                [
                    (b"Content-Type", b"application/json"),
                    (b"X-Error", b"rejected " + auth + b" for " + head.target),
                    (b"Set-Cookie", cookie + b"; HttpOnly"),
                    (b"WWW-Authenticate", b'Token realm="' + protocols + b'"'),
                    (b"X-Echo-Protocol", protocols),
                    (b"Content-Length", str(len(body)).encode()),
                ],
                body,
            )
        )
        connection.hang_up()

    return behaviour


def echo_secrets_101() -> Behaviour:
    """A 101 that echoes credentials in its reason phrase and headers, then echoes frames."""

    async def behaviour(connection: UpstreamConnection) -> None:
        auth = connection.head.header(b"authorization") or b""
        protocols = connection.head.header(b"sec-websocket-protocol") or b""
        await switch_then(
            status_line=b"HTTP/1.1 101 Switching for " + auth,
            extra=[(b"X-Echo-Authorization", auth), (b"X-Echo-Protocol", protocols)],
        )(connection)

    return behaviour


def rejection(
    status_line: bytes, headers: Sequence[tuple[bytes, bytes]], body: bytes = b""
) -> bytes:
    return response_bytes(
        status_line, [*headers, (b"Content-Length", str(len(body)).encode())], body
    )


# Cases ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expect:
    """What must be logged, and what the hostile client must get.

    `outcome`, `status`, `failure` and `problems` are compared with the `ws.handshake` exactly;
    `outcome` None means the proxy never got a whole request, so no event at all. A `ws.closed`
    is expected exactly when the status is 101. The other fields are not checked when None.
    """

    outcome: str | None
    status: int | None = 101
    failure: str | None = None
    problems: tuple[str, ...] = ()
    close_code: int | None = None
    closed_by: str | None = None
    #: The status line the hostile client must receive (None: not checked).
    answer: int | None = None
    #: The close code the hostile client must receive in a close frame (None: not checked).
    client_close: int | None = None
    #: The hostile client must see its connection end without any close frame (RFC 6455 7.1.5).
    client_sees_abnormal_close: bool = False
    #: The (opcode, payload) of every frame but Close the hostile client must receive, in order.
    client_frames: tuple[tuple[int, bytes], ...] | None = None


@dataclass(frozen=True)
class Case:
    id: str
    client: Client
    upstream: Behaviour
    expect: Expect
    settle: float = SETTLE_SECONDS


def accepted(**kwargs: Any) -> Expect:
    return Expect("accepted", answer=101, **kwargs)


def invalid(*problems: str, **kwargs: Any) -> Expect:
    return Expect("invalid", problems=problems, answer=101, **kwargs)


def rejected(status: int, *problems: str) -> Expect:
    return Expect("rejected", status=status, problems=problems, answer=status)


def failed(failure: str | None, answer: int | None = 502) -> Expect:
    return Expect("failed", status=None, failure=failure, answer=answer)


def proxy_fails(code: int = 1002) -> Expect:
    """RFC 6455 section 7.1.7: the proxy fails the connection after a protocol violation, with
    1002 (or 1007 for bytes that are not UTF-8, section 8.1); the close is the proxy's own."""
    return accepted(close_code=code, closed_by="proxy", client_close=code)


def client_closes(code: int, **kwargs: Any) -> Expect:
    return accepted(close_code=code, closed_by="client", **kwargs)


def client_drops() -> Expect:
    return accepted(close_code=1006, closed_by="client")


def server_drops() -> Expect:
    """The upstream vanished without a close frame: 1006, and the client sees it abnormal too."""
    return accepted(close_code=1006, closed_by="server", client_sees_abnormal_close=True)


def client_sends(*frames: bytes) -> Client:
    return exchange(upgrade(), *frames)


def server_sends(raw: bytes) -> Behaviour:
    return switch_then(raw)


def masked_close(code: int, reason: bytes = b"") -> bytes:
    return frame(Opcode.CLOSE, close_payload(code, reason), masked=True)


def server_close(code: int, reason: bytes = b"") -> bytes:
    return frame(Opcode.CLOSE, close_payload(code, reason))


REQUEST_CASES = [
    Case(
        "bad-key",
        exchange(upgrade(key=b"c2hvcnQ="), CLIENT_CLOSE),
        echo_websocket,
        invalid("request_bad_key", close_code=1000, closed_by="client"),
    ),
    Case(
        "missing-key",
        exchange(upgrade(key=None), CLIENT_CLOSE),
        echo_websocket,
        invalid("request_missing_key", close_code=1000, closed_by="client"),
    ),
    Case(
        "version-8",
        exchange(upgrade(ws_version=b"8"), CLIENT_CLOSE),
        echo_websocket,
        invalid("request_bad_version"),
    ),
    Case(
        "missing-version",
        exchange(upgrade(ws_version=None), CLIENT_CLOSE),
        echo_websocket,
        invalid("request_missing_version"),
    ),
    Case(
        "http-1.0",
        exchange(upgrade(version=b"HTTP/1.0"), CLIENT_CLOSE),
        echo_websocket,
        invalid("request_not_http11", close_code=1000, closed_by="client"),
    ),
    Case(
        "post-method",
        exchange(upgrade(method=b"POST"), CLIENT_CLOSE),
        echo_websocket,
        invalid("request_method_not_get", close_code=1000, closed_by="client"),
    ),
    Case(
        "64kb-header",
        exchange(upgrade(extra=[(b"X-Filler", b"f" * 65536)]), CLIENT_CLOSE),
        echo_websocket,
        client_closes(1000),
    ),
    Case(
        "64kb-header-refused-431",
        exchange(upgrade(extra=[(b"X-Filler", b"f" * 65536)])),
        answer(rejection(b"HTTP/1.1 431 Request Header Fields Too Large", [])),
        rejected(431),
    ),
    Case(
        "500-headers",
        exchange(
            upgrade(extra=[(b"X-Header-%d" % n, b"v%d" % n) for n in range(500)]), CLIENT_CLOSE
        ),
        echo_websocket,
        client_closes(1000),
    ),
    Case(
        "slowloris-completes",
        slowloris(upgrade(), complete=True),
        echo_websocket,
        client_closes(1000),
    ),
    Case("slowloris-abandons", slowloris(upgrade(), complete=False), echo_websocket, Expect(None)),
    Case(
        "absolute-form-target",
        exchange(upgrade(b"http://elsewhere.example/hostile?token=" + TOKEN), CLIENT_CLOSE),
        echo_websocket,
        client_closes(1000),
    ),
    Case(
        "tls-client-hello-to-plain-port",
        hang_up_after(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(64)),
        echo_websocket,
        Expect(None),
    ),
]

#: Non-UTF-8 bytes in each place of the request, one place per case.
NOT_UTF8_REQUEST_CASES = [
    Case(
        "not-utf8-in-path",
        exchange(upgrade(b"/hostile/" + NOT_UTF8 + b"?token=" + TOKEN), CLIENT_CLOSE),
        echo_websocket,
        client_closes(1000),
    ),
    Case(
        "not-utf8-in-query",
        exchange(upgrade(TARGET + b"&note=" + NOT_UTF8), CLIENT_CLOSE),
        echo_websocket,
        client_closes(1000),
    ),
    Case(
        "not-utf8-in-secret-query",
        exchange(upgrade(TARGET + NOT_UTF8), CLIENT_CLOSE),
        echo_websocket,
        client_closes(1000),
    ),
    Case(
        "not-utf8-in-key",
        exchange(upgrade(key=GOOD_KEY[:-2] + NOT_UTF8), CLIENT_CLOSE),
        echo_websocket,
        invalid("request_bad_key", close_code=1000, closed_by="client"),
    ),
    *(
        Case(
            f"not-utf8-in-{name.decode().lower()}",
            exchange(upgrade(replace={name: value}), CLIENT_CLOSE),
            echo_websocket,
            client_closes(1000),
        )
        for name, value in (
            (b"Host", b"127.0.0.1" + NOT_UTF8),
            (b"Authorization", b"Token " + AUTH_KEY + NOT_UTF8),
            (b"Cookie", b"session=" + COOKIE + NOT_UTF8),
            (b"Sec-WebSocket-Protocol", b"token, " + PROTOCOL_KEY + NOT_UTF8),
        )
    ),
    Case(
        "not-utf8-in-header-name",
        exchange(upgrade(extra=[(b"X-" + NOT_UTF8, b"v")]), CLIENT_CLOSE),
        echo_websocket,
        failed("other", answer=400),
    ),
    *(
        Case(
            f"not-utf8-in-{name.decode().lower()}",
            exchange(upgrade(extra=[(name, value)]), CLIENT_CLOSE),
            echo_websocket,
            client_closes(1000),
        )
        for name, value in (
            (b"Origin", b"http://" + NOT_UTF8 + b".example"),
            (b"User-Agent", b"agent/" + NOT_UTF8),
            (b"Sec-WebSocket-Extensions", b"x-" + NOT_UTF8),
            (b"X-Request-Id", NOT_UTF8),
        )
    ),
]

CLIENT_HANG_UP_CASES = [
    Case("client-hangs-up-before-request", hang_up_after(b""), echo_websocket, Expect(None)),
    Case(
        "client-hangs-up-mid-request-line",
        hang_up_after(b"GET /hostile?tok"),
        echo_websocket,
        Expect(None),
    ),
    Case(
        "client-hangs-up-mid-headers", hang_up_after(upgrade()[:-30]), echo_websocket, Expect(None)
    ),
    Case(
        "client-hangs-up-before-answer",
        give_up_waiting(upgrade()),
        silent,
        failed("client_gave_up", answer=None),
    ),
    Case(
        "client-hangs-up-after-101",
        exchange(upgrade(), finish=Finish.HANG_UP),
        echo_websocket,
        client_drops(),
    ),
    Case(
        "client-resets-after-101",
        exchange(upgrade(), finish=Finish.RESET),
        echo_websocket,
        client_drops(),
    ),
    Case(
        "client-hangs-up-mid-frame-header",
        exchange(upgrade(), frame(Opcode.TEXT, b"hello", masked=True)[:1], finish=Finish.HANG_UP),
        echo_websocket,
        client_drops(),
    ),
    Case(
        "client-hangs-up-mid-payload",
        exchange(
            upgrade(), frame(Opcode.BINARY, b"p" * 1000, masked=True)[:200], finish=Finish.HANG_UP
        ),
        echo_websocket,
        client_drops(),
    ),
    Case(
        "client-hangs-up-inside-fragmented-message",
        exchange(
            upgrade(),
            frame(Opcode.TEXT, b"first half", fin=False, masked=True),
            finish=Finish.HANG_UP,
        ),
        echo_websocket,
        client_drops(),
    ),
    Case(
        "client-hangs-up-right-after-close-frame",
        exchange(upgrade(), CLIENT_CLOSE, finish=Finish.HANG_UP),
        echo_websocket,
        client_closes(1000),
    ),
]

CLIENT_FRAME_CASES = [
    Case(
        "client-close-with-1-byte-payload",
        client_sends(frame(Opcode.CLOSE, b"\x03", masked=True)),
        echo_websocket,
        proxy_fails(),
    ),
    *(
        Case(
            f"client-close-code-{code}",
            client_sends(masked_close(code)),
            echo_websocket,
            proxy_fails(),
        )
        for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535)
    ),
    Case(
        "client-close-reason-not-utf8",
        client_sends(masked_close(1000, NOT_UTF8)),
        echo_websocket,
        proxy_fails(1007),
    ),
    Case(
        "client-close-without-code",
        client_sends(frame(Opcode.CLOSE, b"", masked=True)),
        echo_websocket,
        client_closes(1005),
    ),
    Case(
        "client-close-code-4999",
        client_sends(masked_close(4999, b"custom")),
        echo_websocket,
        accepted(close_code=4999, closed_by="client", client_close=4999),
    ),
    Case(
        "client-ping-126-bytes",
        client_sends(frame(Opcode.PING, b"p" * 126, masked=True)),
        echo_websocket,
        proxy_fails(),
    ),
    Case(
        "client-fragmented-ping",
        client_sends(frame(Opcode.PING, b"p", fin=False, masked=True)),
        echo_websocket,
        proxy_fails(),
    ),
    Case(
        "client-unmasked-frame",
        client_sends(frame(Opcode.TEXT, b"hello")),
        echo_websocket,
        proxy_fails(),
    ),
    Case(
        "client-continuation-without-start",
        client_sends(frame(Opcode.CONTINUATION, b"orphan", masked=True)),
        echo_websocket,
        proxy_fails(),
    ),
    Case(
        "client-new-message-inside-fragments",
        client_sends(
            frame(Opcode.TEXT, b"one", fin=False, masked=True),
            frame(Opcode.TEXT, b"two", masked=True),
        ),
        echo_websocket,
        proxy_fails(),
    ),
    Case(
        "client-rsv1-without-extension",
        client_sends(frame(Opcode.TEXT, b"hello", rsv=0b100, masked=True)),
        echo_websocket,
        proxy_fails(),
    ),
    Case(
        "client-reserved-data-opcode",
        client_sends(frame(Opcode.RESERVED_DATA, b"x", masked=True)),
        echo_websocket,
        proxy_fails(),
    ),
    Case(
        "client-reserved-control-opcode",
        client_sends(frame(Opcode.RESERVED_CONTROL, b"x", masked=True)),
        echo_websocket,
        proxy_fails(),
    ),
    Case(
        "client-text-not-utf8",
        client_sends(frame(Opcode.TEXT, b"hello " + NOT_UTF8, masked=True)),
        echo_websocket,
        proxy_fails(1007),
    ),
    Case(
        "client-16-bit-length-for-5-bytes",
        client_sends(frame(Opcode.BINARY, b"hello", masked=True, length_bytes=2)),
        echo_websocket,
        proxy_fails(),
    ),
    Case(
        "client-64-bit-length-with-top-bit",
        client_sends(frame_header(Opcode.BINARY, 1 << 63, mask=b"abcd") + b"x" * 16),
        echo_websocket,
        proxy_fails(),
    ),
    Case(
        "client-7-16-64-bit-lengths",
        round_trip(
            upgrade(),
            *(frame(Opcode.BINARY, b"x" * n, masked=True) for n in LENGTHS),
            replies=len(LENGTHS),
        ),
        echo_websocket,
        client_closes(1000, client_frames=tuple((Opcode.BINARY, b"x" * n) for n in LENGTHS)),
    ),
    Case(
        "client-close-inside-fragmented-message",
        client_sends(frame(Opcode.TEXT, b"half", fin=False, masked=True), CLIENT_CLOSE),
        echo_websocket,
        client_closes(1000),
    ),
    Case(
        "client-ping-inside-fragmented-message",
        round_trip(
            upgrade(),
            frame(Opcode.TEXT, b"one ", fin=False, masked=True),
            frame(Opcode.PING, b"are you there", masked=True),
            frame(Opcode.CONTINUATION, b"two", masked=True),
            replies=3,
        ),
        echo_websocket,
        client_closes(
            1000,
            client_frames=(
                (Opcode.PONG, b"are you there"),
                (Opcode.TEXT, b"one "),
                (Opcode.CONTINUATION, b"two"),
            ),
        ),
    ),
    Case(
        "client-frame-before-101",
        round_trip(upgrade() + frame(Opcode.TEXT, b"too early", masked=True), replies=1),
        echo_websocket,
        client_closes(1000, client_frames=((Opcode.TEXT, b"too early"),)),
    ),
    Case(
        "client-50-mb-message",
        fifty_megabyte_message(),
        count_fifty_megabytes,
        client_closes(1000),
        settle=30,
    ),
]

NOT_UTF8_ANSWER_CASES = [
    Case(
        "upstream-reason-phrase-not-utf8",
        exchange(upgrade()),
        answer(rejection(b"HTTP/1.1 401 Unauthorized " + NOT_UTF8, [])),
        rejected(401),
    ),
    Case(
        "upstream-dg-error-and-request-id-not-utf8",
        exchange(upgrade()),
        answer(
            rejection(
                b"HTTP/1.1 401 Unauthorized",
                [
                    (b"dg-error", b"Invalid credentials " + NOT_UTF8),
                    (b"dg-request-id", NOT_UTF8 + b"-id"),
                ],
            )
        ),
        rejected(401),
    ),
    Case(
        "upstream-utf8-json-error-body-not-utf8",
        exchange(upgrade()),
        answer(
            rejection(
                b"HTTP/1.1 400 Bad Request",
                [(b"Content-Type", b"application/json; charset=utf-8")],
                b'{"err_msg": "sample_rate ' + NOT_UTF8 + b'"}',
            )
        ),
        rejected(400),
    ),
    Case(
        "upstream-every-header-not-utf8",
        exchange(upgrade()),
        answer(
            rejection(
                b"HTTP/1.1 503 Service Unavailable",
                [
                    (name, value + NOT_UTF8)
                    for name, value in (
                        (b"Content-Type", b"text/plain"),
                        (b"Retry-After", b"3"),
                        (b"X-Request-Id", b"rid"),
                        (b"X-Error", b"overloaded"),
                        (b"WWW-Authenticate", b"Token"),
                        (b"Location", b"ws://127.0.0.1:1/"),
                        (b"Server", b"hostile"),
                    )
                ],
                b"down " + NOT_UTF8,
            )
        ),
        rejected(503),
    ),
    Case(
        "upstream-101-subprotocol-not-utf8",
        exchange(upgrade(), CLIENT_CLOSE),
        switch_then(extra=[(b"Sec-WebSocket-Protocol", NOT_UTF8)]),
        invalid("response_unoffered_subprotocol", close_code=1000, closed_by="client"),
    ),
    Case(
        "upstream-101-header-not-utf8",
        exchange(upgrade(), CLIENT_CLOSE),
        switch_then(extra=[(b"X-Request-Id", NOT_UTF8), (b"Server", NOT_UTF8)]),
        client_closes(1000),
    ),
]

UPSTREAM_ANSWER_CASES = [
    Case(
        "upstream-echoes-secrets-in-rejection",
        exchange(upgrade()),
        echo_secrets_rejection(),
        rejected(401),
    ),
    Case(
        "upstream-echoes-secrets-in-101",
        exchange(upgrade(), CLIENT_CLOSE),
        echo_secrets_101(),
        client_closes(1000),
    ),
    Case(
        "upstream-rejection-64kb-header",
        exchange(upgrade()),
        answer(rejection(b"HTTP/1.1 403 Forbidden", [(b"X-Filler", b"f" * 65536)])),
        rejected(403),
    ),
    Case(
        "upstream-rejection-500-headers",
        exchange(upgrade()),
        answer(
            rejection(b"HTTP/1.1 403 Forbidden", [(b"X-Header-%d" % n, b"v") for n in range(500)])
        ),
        rejected(403),
    ),
    Case(
        "upstream-not-http",
        exchange(upgrade()),
        answer(b"SSH-2.0-OpenSSH_9.6\r\n"),
        failed("upstream_protocol"),
    ),
    Case(
        "upstream-hangs-up-before-answer",
        exchange(upgrade()),
        answer(b""),
        failed("upstream_closed"),
    ),
    Case(
        "upstream-resets-before-answer",
        exchange(upgrade()),
        reset_at_once(),
        failed("upstream_closed"),
    ),
    Case(
        "upstream-hangs-up-mid-status-line",
        exchange(upgrade()),
        answer(b"HTTP/1.1 10"),
        failed("upstream_closed"),
    ),
    Case(
        "upstream-hangs-up-mid-headers",
        exchange(upgrade()),
        answer(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"),
        failed("upstream_closed"),
    ),
    Case(
        "upstream-rejection-body-cut-short",
        exchange(upgrade()),
        answer(
            response_bytes(
                b"HTTP/1.1 401 Unauthorized", [(b"Content-Length", b"100")], b"only ten b"
            )
        ),
        failed("upstream_closed"),
    ),
    Case(
        "upstream-header-name-not-utf8",
        exchange(upgrade()),
        answer(rejection(b"HTTP/1.1 403 Forbidden", [(b"X-" + NOT_UTF8, b"v")])),
        failed("upstream_protocol"),
    ),
    Case(
        "upstream-101-header-name-not-utf8",
        exchange(upgrade(), CLIENT_CLOSE),
        switch_then(extra=[(b"X-" + NOT_UTF8, b"v")]),
        failed("upstream_protocol"),
    ),
    Case(
        "upstream-101-without-upgrade",
        exchange(upgrade(), CLIENT_CLOSE),
        switch_then(drop=[b"Upgrade"]),
        invalid("response_missing_upgrade"),
    ),
    Case(
        "upstream-101-without-connection",
        exchange(upgrade(), CLIENT_CLOSE),
        switch_then(drop=[b"Connection"]),
        invalid("response_missing_connection_upgrade", close_code=1000, closed_by="client"),
    ),
    Case(
        "upstream-101-unoffered-extension",
        exchange(upgrade(), CLIENT_CLOSE),
        switch_then(extra=[(b"Sec-WebSocket-Extensions", b"permessage-deflate")]),
        invalid("response_unoffered_extension", close_code=1000, closed_by="client"),
    ),
    Case(
        "upstream-101-64kb-header",
        exchange(upgrade(), CLIENT_CLOSE),
        switch_then(extra=[(b"X-Filler", b"f" * 65536)]),
        client_closes(1000),
    ),
    Case(
        "upstream-101-500-headers",
        exchange(upgrade(), CLIENT_CLOSE),
        switch_then(extra=[(b"X-Header-%d" % n, b"v") for n in range(500)]),
        client_closes(1000),
    ),
    Case(
        "upstream-101-and-a-frame-in-one-write",
        exchange(upgrade()),
        switch_then(server_close(4001, b"bye")),
        accepted(close_code=4001, closed_by="server", client_close=4001),
    ),
]

UPSTREAM_FRAME_CASES = [
    Case(
        "upstream-masked-frame",
        exchange(upgrade()),
        server_sends(frame(Opcode.TEXT, b"hi", masked=True)),
        proxy_fails(),
    ),
    Case(
        "upstream-ping-126-bytes",
        exchange(upgrade()),
        server_sends(frame(Opcode.PING, b"p" * 126)),
        proxy_fails(),
    ),
    Case(
        "upstream-fragmented-ping",
        exchange(upgrade()),
        server_sends(frame(Opcode.PING, b"p", fin=False)),
        proxy_fails(),
    ),
    Case(
        "upstream-close-with-1-byte-payload",
        exchange(upgrade()),
        server_sends(frame(Opcode.CLOSE, b"\x03")),
        proxy_fails(),
    ),
    *(
        Case(
            f"upstream-close-code-{code}",
            exchange(upgrade()),
            server_sends(server_close(code)),
            proxy_fails(),
        )
        for code in (999, 1005, 1006, 1016, 5000)
    ),
    Case(
        "upstream-close-reason-not-utf8",
        exchange(upgrade()),
        server_sends(server_close(1011, NOT_UTF8)),
        proxy_fails(1007),
    ),
    Case(
        "upstream-text-not-utf8",
        exchange(upgrade()),
        server_sends(frame(Opcode.TEXT, NOT_UTF8)),
        proxy_fails(1007),
    ),
    Case(
        "upstream-rsv-bits",
        exchange(upgrade()),
        server_sends(frame(Opcode.BINARY, b"x", rsv=0b011)),
        proxy_fails(),
    ),
    Case(
        "upstream-reserved-opcode",
        exchange(upgrade()),
        server_sends(frame(Opcode.RESERVED_CONTROL, b"x")),
        proxy_fails(),
    ),
    Case(
        "upstream-continuation-without-start",
        exchange(upgrade()),
        server_sends(frame(Opcode.CONTINUATION, b"x")),
        proxy_fails(),
    ),
    Case(
        "upstream-new-message-inside-fragments",
        exchange(upgrade()),
        server_sends(frame(Opcode.TEXT, b"one", fin=False) + frame(Opcode.BINARY, b"two")),
        proxy_fails(),
    ),
    Case(
        "upstream-hangs-up-after-101",
        exchange(upgrade()),
        switch_then(finish=Finish.HANG_UP),
        server_drops(),
    ),
    Case(
        "upstream-resets-after-101",
        exchange(upgrade(), frame(Opcode.PING, b"there?", masked=True)),
        switch_then(finish=Finish.RESET),
        server_drops(),
    ),
    Case(
        "upstream-hangs-up-mid-frame",
        exchange(upgrade()),
        switch_then(frame(Opcode.BINARY, b"p" * 1000)[:300], finish=Finish.HANG_UP),
        server_drops(),
    ),
    Case(
        "upstream-hangs-up-inside-fragmented-message",
        exchange(upgrade()),
        switch_then(frame(Opcode.TEXT, b"first half", fin=False), finish=Finish.HANG_UP),
        server_drops(),
    ),
    Case(
        "upstream-closes-4001-and-hangs-up",
        exchange(upgrade()),
        switch_then(server_close(4001, b"bye"), finish=Finish.HANG_UP),
        accepted(close_code=4001, closed_by="server", client_close=4001),
    ),
]

CASES = (
    REQUEST_CASES
    + NOT_UTF8_REQUEST_CASES
    + CLIENT_HANG_UP_CASES
    + CLIENT_FRAME_CASES
    + NOT_UTF8_ANSWER_CASES
    + UPSTREAM_ANSWER_CASES
    + UPSTREAM_FRAME_CASES
)


# Checks -----------------------------------------------------------------------------------------


def split_events(
    events: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], set[str]]:
    """(hostile handshakes, hostile closes, flow ids of good clients)."""
    good = {e["flow_id"] for e in events if e["event"] == "ws.handshake" and e["path"] == GOOD_PATH}
    handshakes = [e for e in events if e["event"] == "ws.handshake" and e["flow_id"] not in good]
    closes = [e for e in events if e["event"] == "ws.closed" and e["flow_id"] not in good]
    return handshakes, closes, good


async def settle(proxy: RunningProxy, expect: Expect, seconds: float) -> None:
    """Wait (bounded) until the events the case expects are written; never fails by itself."""
    wanted_handshakes = 0 if expect.outcome is None else 1
    wanted_closes = 1 if expect.status == 101 and expect.outcome else 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        handshakes, closes, _ = split_events(proxy.events())
        if len(handshakes) >= wanted_handshakes and len(closes) >= wanted_closes:
            return
        await asyncio.sleep(0.02)


def event_problems(events: list[dict[str, Any]], expect: Expect) -> list[str]:
    """Every way the JSON events break the case's expectations."""
    found: list[str] = []
    handshakes, closes, good = split_events(events)
    wanted = 0 if expect.outcome is None else 1
    if len(handshakes) != wanted:
        found.append(
            f"{len(handshakes)} ws.handshake events for {wanted} upgrade requests: {handshakes}"
        )
    upgraded = expect.outcome is not None and expect.status == 101
    if len(closes) != int(upgraded):
        found.append(
            f"{len(closes)} ws.closed events for {int(upgraded)} upgraded connections: {closes}"
        )
    if len(handshakes) == 1:
        event = handshakes[0]
        seen = (event["outcome"], event["status"], event["failure"], tuple(event["problems"]))
        wanted_fields = (expect.outcome, expect.status, expect.failure, expect.problems)
        if seen != wanted_fields:
            found.append(
                f"ws.handshake (outcome, status, failure, problems) = {seen}, expected {wanted_fields}"
            )
    if len(closes) == 1:
        event = closes[0]
        if expect.close_code is not None and event["close_code"] != expect.close_code:
            found.append(
                f"ws.closed close_code = {event['close_code']}, expected {expect.close_code}"
            )
        if expect.closed_by is not None and event["closed_by"] != expect.closed_by:
            found.append(
                f"ws.closed closed_by = {event['closed_by']!r}, expected {expect.closed_by!r}"
            )
    good_events = [e for e in events if e.get("flow_id") in good]
    if not good or not good_pairs_ok(good_events):
        found.append(f"the good clients' events are wrong: {good_events}")
    summaries = [e for e in events if e["event"] == "session.summary"]
    if len(summaries) != 1:
        found.append(f"{len(summaries)} session.summary events at exit, expected 1")
    return found


def good_pairs_ok(good_events: list[dict[str, Any]]) -> bool:
    """Each good client: one accepted ws.handshake and one ws.closed with 1000 (and, while
    recording, the tape of its session)."""
    flows: dict[str, list[tuple[str, Any]]] = {}
    for event in good_events:
        if event["event"] == "tape.recorded":
            continue
        flows.setdefault(event["flow_id"], []).append(
            (event["event"], event.get("outcome") or event.get("close_code"))
        )
    return all(
        sorted(pairs) == [("ws.closed", 1000), ("ws.handshake", "accepted")]
        for pairs in flows.values()
    )


def client_problems(received: Received, expect: Expect) -> list[str]:
    """Every way what the hostile client received breaks the case's expectations."""
    found: list[str] = []
    status = received.head.status if received.head else None
    if expect.answer is not None and status != expect.answer:
        found.append(f"the hostile client got status {status}, expected {expect.answer}")
    if expect.client_close is not None and received.close_codes[:1] != [expect.client_close]:
        found.append(
            f"the hostile client got close frames {received.close_codes}, expected [{expect.client_close}]"
        )
    if expect.client_sees_abnormal_close and (received.close_codes or not received.ended):
        found.append(
            f"the hostile client should see its connection drop without a close frame; got close frames {received.close_codes}, ended={received.ended}"
        )
    if expect.client_frames is not None:
        got = tuple((f.opcode, f.payload) for f in received.frames if f.opcode != Opcode.CLOSE)
        if got != expect.client_frames:
            found.append(
                f"the hostile client got frames {got!r:.300}, expected {expect.client_frames!r:.300}"
            )
    return found


def formatted(record: logging.LogRecord) -> str:
    return logging.Formatter("%(name)s %(levelname)s %(message)s").format(record)


def proxy_records(records: Iterable[logging.LogRecord]) -> list[str]:
    """What the proxy process logged, tracebacks included (the test's websockets client excluded)."""
    return [formatted(r) for r in records if not r.name.startswith("websockets")]


def crash_problems(lines: Iterable[str]) -> list[str]:
    return [
        f"the proxy logged an error: {line[:2000]}"
        for line in lines
        if "Traceback" in line or "Addon error" in line or "has crashed" in line
    ]


def holds_secret(value: Any, secret: bytes) -> bool:
    """Whether `value` (a flow's state: dicts, lists, str, bytes) contains `secret` anywhere."""
    if isinstance(value, bytes | bytearray):
        return secret in value
    if isinstance(value, str):
        return secret.decode() in value
    if isinstance(value, dict):
        return any(holds_secret(k, secret) or holds_secret(v, secret) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(holds_secret(item, secret) for item in value)
    return False


def secret_problems(places: dict[str, Any]) -> list[str]:
    return [
        f"planted secret {secret.decode()} found in {place}"
        for place, content in places.items()
        for secret in PLANTED
        if holds_secret(content, secret)
    ]


# The corpus -------------------------------------------------------------------------------------


async def hostile_case_problems(
    tmp_path: Path,
    confdir: Path,
    caplog: pytest.LogCaptureFixture,
    case: Case,
    relay: str,
    **options: Any,
) -> list[str]:
    """Every promise `case` breaks behind a proxy relaying upgrades with `relay` (and `options`)."""
    caplog.set_level(logging.DEBUG)
    async with (
        raw_upstream(case.upstream) as upstream,
        running_proxy(
            tmp_path,
            f"reverse:http://127.0.0.1:{upstream.port}",
            confdir,
            wswatch_relay=relay,
            **options,
        ) as proxy,
    ):
        received = await asyncio.wait_for(case.client(proxy.port, upstream), 90)
        await settle(proxy, case.expect, case.settle)
        still_serving = await good_client_is_served(proxy.port)
        flow_states = [flow.get_state() for flow in proxy.flows]
    # After shutdown the JSON file is complete: events emitted at exit are counted too.
    events = proxy.events()
    logged = proxy_records(caplog.records)
    found = [still_serving] if still_serving else []
    found += [f"the hostile upstream itself broke: {error!r}" for error in upstream.errors]
    found += crash_problems(logged)
    found += event_problems(events, case.expect)
    if relay == "observe":  # an accepted upgrade: nothing may fall back to the message layer
        found += [
            f"ws.closed relayed by {e['relay']!r}, not 'observe': {e}"
            for e in events
            if e["event"] == "ws.closed" and e["relay"] != relay
        ]
    found += client_problems(received, case.expect)
    found += secret_problems(
        {
            "the JSON file": proxy.log_path.read_bytes(),
            "the terminal lines": proxy.console.lines,
            "the log records": logged,
            "the flows": flow_states,
        }
    )
    return found


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
async def test_hostile_input_keeps_the_proxy_serving_and_the_log_true(
    tmp_path, confdir, caplog, case
):
    """Hostile bytes from a client or an upstream, on mitmproxy's message layer: still serving,
    no crash, one event each, the right outcome and close, no secret anywhere."""
    found = await hostile_case_problems(tmp_path, confdir, caplog, case, "websocket")
    assert not found, "\n".join(found)


def relayed_as_is(expect: Expect) -> Expect:
    """What an observe-only relay promises for a case: the handshake is judged alike, but frames
    pass as they are, so neither peer gets a close from the proxy for a violation."""
    return dataclasses.replace(
        expect,
        close_code=None,
        closed_by=None,
        client_close=None,
        client_sees_abnormal_close=False,
        client_frames=None,
    )


OBSERVED_CASES = [
    dataclasses.replace(case, expect=relayed_as_is(case.expect))
    for case in CASES
    if case.expect.outcome == "accepted"
]


@pytest.mark.parametrize("case", OBSERVED_CASES, ids=[case.id for case in OBSERVED_CASES])
async def test_hostile_frames_keep_the_observe_relay_serving_and_the_log_true(
    tmp_path, confdir, caplog, case
):
    """The same hostile bytes on an accepted upgrade relayed observe-only: still serving, no
    crash, exactly one ws.handshake and one ws.closed, no secret anywhere."""
    found = await hostile_case_problems(tmp_path, confdir, caplog, case, "observe")
    assert not found, "\n".join(found)


#: A script that reads every message of the connection (each is parsed as JSON and searched) and
#: never finds what it waits for, so the case's expectations hold as they are.
WAITING_SCRIPT = """\
rules:
  - id: waiting
    action:
      script:
        - wait: {message: {json: {type: a-type-no-hostile-peer-sends}}}
        - drop: {}
"""


@pytest.mark.parametrize("case", OBSERVED_CASES, ids=[case.id for case in OBSERVED_CASES])
async def test_hostile_frames_under_a_waiting_script_keep_the_proxy_serving_and_the_log_true(
    tmp_path, confdir, caplog, case
):
    """The accepted cases again, with a script reading every message: the same promises, and
    the script claims nothing (it never acted)."""
    rules = tmp_path / "waiting.yaml"
    rules.write_text(WAITING_SCRIPT)
    scripted = next(each for each in CASES if each.id == case.id)
    found = await hostile_case_problems(
        tmp_path, confdir, caplog, scripted, "websocket", wswatch_faults=[str(rules)]
    )
    logged = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    found += [
        f"the script that never acted claims an effect: {event}"
        for event in logged
        if event["event"] == "fault.injected" or event.get("injected")
    ]
    assert any(event["event"] == "fault.rules_loaded" for event in logged), "no script loaded"
    assert not found, "\n".join(found)


def tape_problems(tapes: Path, events: list[dict[str, Any]]) -> list[str]:
    """Promises of recording under hostile input: a tape per upgrade attempt, each line valid
    against the shipped schema, none left half-written, no planted secret in any."""
    found: list[str] = []
    written = sorted(tapes.glob("*.tape.jsonl")) if tapes.exists() else []
    attempts = sum(1 for event in events if event["event"] == "ws.handshake")
    not_written = [event for event in events if event["event"] == "tape.not_written"]
    if len(written) + len(not_written) != attempts:
        found.append(f"{attempts} upgrade attempts but {len(written)} tapes: {written}")
    found += [f"a tape was refused: {event}" for event in not_written]
    found += [f"left half-written: {path}" for path in tapes.glob("*.partial")]
    schema = tape_schema()
    for path in written:
        content = path.read_bytes()
        found += secret_problems({f"the tape {path.name}": content})
        for number, line in enumerate(content.decode().splitlines(), start=1):
            try:
                jsonschema.validate(json.loads(line), schema)
            except (ValueError, jsonschema.ValidationError) as error:
                found.append(f"{path.name} line {number} is not a tape line: {error}")
    return found


@pytest.mark.parametrize(
    ("case", "relay"),
    [(case, "websocket") for case in CASES] + [(case, "observe") for case in OBSERVED_CASES],
    ids=[f"{case.id}-websocket" for case in CASES]
    + [f"{case.id}-observe" for case in OBSERVED_CASES],
)
async def test_hostile_input_while_recording_keeps_tapes_true_and_secret_free(
    tmp_path, confdir, caplog, case, relay
):
    """The corpus again while every attempt is recorded, on both relays: the same promises,
    and every tape is whole, valid and free of the planted secrets."""
    tapes = tmp_path / "tapes"
    found = await hostile_case_problems(
        tmp_path, confdir, caplog, case, relay, wswatch_record=str(tapes)
    )
    logged = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    found += tape_problems(tapes, logged)
    assert not found, "\n".join(found)


# Through mitmdump at every flow_detail, with saved flows ----------------------------------------


@dataclass(frozen=True)
class DumpCase:
    """One exchange through mitmdump: the request, the upstream, whether a 101 gets relayed."""

    id: str
    request: bytes
    upstream: Behaviour
    upgraded: bool


DUMP_CASES = [
    DumpCase("upstream-echoes-secrets-in-rejection", upgrade(), echo_secrets_rejection(), False),
    DumpCase("upstream-echoes-secrets-in-101", upgrade(), echo_secrets_101(), True),
    DumpCase(
        "not-utf8-in-path",
        upgrade(b"/hostile/" + NOT_UTF8 + b"?token=" + TOKEN),
        echo_websocket,
        True,
    ),
    DumpCase(
        "upstream-reason-and-dg-headers-not-utf8",
        upgrade(),
        answer(
            rejection(
                b"HTTP/1.1 401 Unauthorized " + NOT_UTF8,
                [(b"dg-error", NOT_UTF8), (b"dg-request-id", NOT_UTF8)],
            )
        ),
        False,
    ),
    DumpCase(
        "upstream-masked-frame",
        upgrade(),
        server_sends(frame(Opcode.TEXT, b"hi", masked=True)),
        True,
    ),
]


@contextlib.asynccontextmanager
async def mitmdump_keeping_bytes(confdir: Path, *args: str) -> AsyncIterator[tuple[int, bytearray]]:
    """`mitmdump -s addons/wswatch.py` on 127.0.0.1 (as in test_mitmdump_script), its terminal
    kept as bytes and read as it comes: mitmproxy prints a request's raw path, which need not be
    UTF-8, and a full pipe would stall it."""
    process = await launch(confdir, "--listen-host", "127.0.0.1", *args)
    assert process.stdout is not None
    output = bytearray()
    listening: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def read_terminal() -> None:
        assert process.stdout is not None
        while line := await process.stdout.readline():
            output.extend(line)
            found = re.search(rb"listening at (\S+):(\d+)", line)
            if found and not listening.done():
                listening.set_result(int(found.group(2)))
        if not listening.done():
            listening.set_exception(AssertionError(f"mitmdump exited before listening: {output!r}"))

    reader = asyncio.create_task(read_terminal())
    try:
        yield await asyncio.wait_for(listening, 30), output
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
        await asyncio.wait_for(process.wait(), 30)
        await asyncio.wait_for(reader, 30)


@pytest.mark.parametrize("flow_detail", [0, 1, 2, 3], ids=lambda n: f"flow_detail={n}")
@pytest.mark.parametrize("case", DUMP_CASES, ids=[case.id for case in DUMP_CASES])
async def test_hostile_input_through_mitmdump_leaks_no_secret_at_any_flow_detail(
    tmp_path, confdir, case, flow_detail
):
    """mitmdump -s wswatch.py at flow_detail N with -w: still serving, no crash, one event each,
    and no planted secret in the terminal, the JSON file or any field of the saved flows."""
    log_path, saved = tmp_path / "events.jsonl", tmp_path / "saved.flows"
    async with (
        raw_upstream(case.upstream) as upstream,
        mitmdump_keeping_bytes(
            confdir,
            "--mode",
            f"reverse:http://127.0.0.1:{upstream.port}",
            "--set",
            f"flow_detail={flow_detail}",
            "--set",
            f"wswatch_log={log_path}",
            "-w",
            str(saved),
        ) as (port, terminal),
    ):
        await asyncio.wait_for(exchange(case.request, CLIENT_CLOSE)(port, upstream), 30)
        still_serving = await good_client_is_served(port)
    events = [json.loads(line) for line in log_path.read_text(encoding="utf-8").splitlines()]
    handshakes, closes, _ = split_events(events)
    with saved.open("rb") as file:
        flow_states = [flow.get_state() for flow in flow_io.FlowReader(file).stream()]
    found = [still_serving] if still_serving else []
    found += [f"the hostile upstream itself broke: {error!r}" for error in upstream.errors]
    found += crash_problems(terminal.decode("utf-8", "replace").splitlines())
    if len(handshakes) != 1:
        found.append(f"{len(handshakes)} ws.handshake events for 1 upgrade request")
    if len(closes) != int(case.upgraded):
        found.append(
            f"{len(closes)} ws.closed events for {int(case.upgraded)} upgraded connections"
        )
    found += secret_problems(
        {
            f"the terminal at flow_detail={flow_detail}": bytes(terminal),
            "the JSON file": log_path.read_bytes(),
            "the saved flows": flow_states,
        }
    )
    assert not found, "\n".join(found)
