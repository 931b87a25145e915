"""Real local upstreams on 127.0.0.1 for end-to-end tests: each scenario a path or a server.

Every server is an async context manager that yields its port and stops itself on exit.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import gzip
import hashlib
import ipaddress
import json
import socket
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from raw_frames import switching_protocols
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

DEEPGRAM_REQUEST_ID = "3f1c2a9e-5b7d-4e21-9c0a-1d2e3f4a5b6c"
HTML_PAGE = (
    b"<!doctype html><html><head><title>Wi-Fi login</title></head><body>Sign in</body></html>"
)

#: path -> (status, reason, headers, body) answered instead of an upgrade.
REJECTIONS: dict[str, tuple[int, str, dict[str, str], bytes]] = {
    "/deepgram401": (
        401,
        "Unauthorized",
        {
            "dg-error": "Invalid credentials.",
            "dg-request-id": DEEPGRAM_REQUEST_ID,
            "content-type": "application/json",
        },
        b'{"err_code":"INVALID_AUTH","err_msg":"Invalid credentials.","request_id":"'
        + DEEPGRAM_REQUEST_ID.encode()
        + b'"}',
    ),
    "/bad400": (
        400,
        "Bad Request",
        {"content-type": "text/plain"},
        b"sample_rate must be an integer",
    ),
    "/ratelimit": (
        429,
        "Too Many Requests",
        {"retry-after": "7", "x-request-id": "rl-42"},
        b"slow down",
    ),
    "/portal": (200, "OK", {"content-type": "text/html; charset=utf-8"}, HTML_PAGE),
    "/moved": (301, "Moved Permanently", {"location": "ws://127.0.0.1:1/elsewhere"}, b""),
    "/login": (
        401,
        "Unauthorized",
        {"set-cookie": "session=cookie-FROM-SERVER-77aa; HttpOnly"},
        b"",
    ),
}


def _reject(_connection: ServerConnection, request: Request) -> Response | None:
    path = request.path.split("?")[0]
    if path == "/leaky401":
        # A careless server echoing the credentials it got: wswatch must scrub them by value.
        echoed = f"denied {request.path} auth={request.headers.get('authorization')} "
        echoed += f"protocols={request.headers.get('sec-websocket-protocol')}"
        return Response(401, "Unauthorized", Headers({"x-error": echoed}), echoed.encode())
    if path in ("/echo-all401", "/echo-all-gzip401"):
        # Every credential echoed everywhere a response can carry it: reason, headers, body.
        auth = request.headers.get("authorization", "")
        echoed = (
            f"denied {request.path} auth={auth} cookie={request.headers.get('cookie')} "
            f"protocols={request.headers.get('sec-websocket-protocol')}"
        )
        headers = Headers({"x-error": echoed, "set-cookie": f"echo={auth}", "x-auth": auth})
        body = echoed.encode()
        if path == "/echo-all-gzip401":
            headers["content-encoding"] = "gzip"
            body = gzip.compress(body)
        return Response(401, f"Unauthorized {auth}", headers, body)
    if path in REJECTIONS:
        status, reason, headers, body = REJECTIONS[path]
        return Response(status, reason, Headers(headers), body)
    return None


def _tag_deepgram(_connection: ServerConnection, request: Request, response: Response) -> Response:
    """Deepgram sends dg-request-id on successful upgrades too: it identifies the vendor."""
    if request.path.startswith("/net0001"):
        response.headers["dg-request-id"] = DEEPGRAM_REQUEST_ID
    return response


async def _scenario(connection: ServerConnection) -> None:
    path = connection.request.path.split("?")[0]
    if path == "/headers":
        # Tells the client which request headers reached the upstream.
        await connection.send(
            json.dumps(sorted(name.lower() for name in connection.request.headers))
        )
    if path == "/close4001":
        await connection.close(4001, "bye")
        return
    async for message in connection:
        if path == "/net0001":
            await connection.close(
                1011,
                "NET-0001: Deepgram did not receive audio data or a text message within the timeout window.",
            )
            return
        if path == "/abort":
            await connection.send("last words")
            await asyncio.sleep(0)
            connection.transport.abort()
            return
        if path == "/count":
            continue
        await connection.send(message)


@contextlib.asynccontextmanager
async def scenario_server(ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[int]:
    """A websockets server whose behaviour depends on the path (see REJECTIONS, _scenario)."""
    async with serve(
        _scenario,
        "127.0.0.1",
        0,
        process_request=_reject,
        process_response=_tag_deepgram,
        ssl=ssl_context,
        max_size=None,
    ) as server:
        yield server.sockets[0].getsockname()[1]


async def _read_head(reader: asyncio.StreamReader) -> dict[str, str]:
    head = await reader.readuntil(b"\r\n\r\n")
    headers = {}
    for line in head.decode("latin-1").split("\r\n")[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return headers


@contextlib.asynccontextmanager
async def raw_server(
    answer_101: bool, *, bad_accept: bool = False, close_at_once: bool = False
) -> AsyncIterator[int]:
    """A hand-written upstream: a 101 (with a wrong Sec-WebSocket-Accept when asked), silence,
    or a connection closed as soon as the request arrived."""
    writers: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            headers = await _read_head(reader)
            if close_at_once:
                writer.close()
                return
            if answer_101:
                key = headers.get("sec-websocket-key", "")
                accept = base64.b64encode(
                    hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
                ).decode()
                if bad_accept:
                    accept = base64.b64encode(b"definitely-not-the-right-accept").decode()
                writer.write(
                    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                    b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept.encode() + b"\r\n\r\n"
                )
                await writer.drain()
            await reader.read()  # hold the connection until the peer goes away

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()


def refused_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def self_signed_context(directory: Path) -> ssl.SSLContext:
    """A server TLS context with a fresh self-signed certificate for 127.0.0.1."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "wswatch-test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "upstream-cert.pem", directory / "upstream-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context


@dataclass
class ScriptedUpstream:
    """A hand-written WebSocket upstream; `received` holds, per connection, the bytes it got
    after the request head."""

    port: int
    received: list[bytearray] = field(default_factory=list)


@contextlib.asynccontextmanager
async def scripted_upstream(
    with_101: bytes = b"", on_first_data: bytes = b"", echo: bool = False
) -> AsyncIterator[ScriptedUpstream]:
    """Answers any upgrade with a correct 101 followed, in the same write, by `with_101` (bytes
    pipelined right after the handshake); sends `on_first_data` once the first bytes arrive from
    the proxy, or with `echo` sends back every chunk; records everything until the proxy closes."""
    writers: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        received = bytearray()
        upstream.received.append(received)
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            headers = await _read_head(reader)
            writer.write(switching_protocols(headers.get("sec-websocket-key", "")) + with_101)
            await writer.drain()
            first = await reader.read(65536)
            received += first
            if first and on_first_data:
                writer.write(on_first_data)
            chunk = first
            while chunk:
                if echo:
                    writer.write(chunk)
                await writer.drain()
                chunk = await reader.read(65536)
                received += chunk
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    upstream = ScriptedUpstream(server.sockets[0].getsockname()[1])
    try:
        yield upstream
    finally:
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()


@dataclass
class ForwardProxy:
    """A plain HTTP forward proxy; `requests` holds the request line of each connection it
    relayed (CONNECT host:port, or an absolute-form GET)."""

    port: int
    requests: list[str] = field(default_factory=list)


async def _splice(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy `reader` to `writer` until EOF, then half-close `writer`."""
    with contextlib.suppress(ConnectionError):
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()


@contextlib.asynccontextmanager
async def forward_proxy() -> AsyncIterator[ForwardProxy]:
    """The upstream proxy of mitmproxy's upstream mode: CONNECT tunnels, and absolute-form
    requests forwarded in origin form; bytes after the request head are copied both ways."""
    writers: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError, ValueError):
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, _, rest = head.partition(b"\r\n")
            method, target, version = request_line.decode("latin-1").split(" ")
            proxy.requests.append(f"{method} {target}")
            if method == "CONNECT":
                host, port = target.rsplit(":", 1)
                first = b""
            else:
                authority = target.split("://", 1)[1].split("/", 1)
                host, port = authority[0].rsplit(":", 1)
                path = "/" + (authority[1] if len(authority) > 1 else "")
                first = f"{method} {path} {version}\r\n".encode() + rest
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
            writers.append(up_writer)
            if method == "CONNECT":
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:
                up_writer.write(first)
            await asyncio.gather(_splice(reader, up_writer), _splice(up_reader, writer))
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    proxy = ForwardProxy(server.sockets[0].getsockname()[1])
    try:
        yield proxy
    finally:
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()
