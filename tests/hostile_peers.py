"""Raw-socket peers that put exact bytes on the wire, for the hostile-input corpus.

A library client or server refuses to send a masked server frame, a 126-byte ping or a reason
phrase that is not UTF-8; these peers send whatever a test hands them. The rules this file keeps:
- Frames are built by hand after RFC 6455 section 5.2 (7-, 16- and 64-bit lengths, optional
  mask), so a test can break any one rule and keep the others.
- Every read has a deadline and every loop a bound; every server stops its connections on exit.
- Only 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from raw_frames import KEY, Frame, FrameParser, Opcode, accept_for, frame

#: The path on every raw upstream that behaves like a correct echo server.
GOOD_PATH = "/good"

#: How long any single wait on a peer may take.
READ_TIMEOUT = 10.0

#: Largest request or response head the peers read (a 64 KB header plus the rest fits).
MAX_HEAD = 1 << 20

#: A fixed, valid Sec-WebSocket-Key (base64 of 16 bytes), as bytes for raw heads.
GOOD_KEY = KEY.encode()


# HTTP heads ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Head:
    """A request or response head as bytes: the start line and the header lines in order."""

    start_line: bytes
    headers: tuple[tuple[bytes, bytes], ...]

    def header(self, name: bytes) -> bytes | None:
        """The first value of header `name` (case-insensitive), or None."""
        for found, value in self.headers:
            if found.lower() == name.lower():
                return value
        return None

    @property
    def status(self) -> int | None:
        """The status code of a response head; None if the start line has none."""
        parts = self.start_line.split(b" ", 2)
        return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None

    @property
    def target(self) -> bytes:
        """The request target of a request head (path and query), as sent."""
        parts = self.start_line.split(b" ", 2)
        return parts[1] if len(parts) > 1 else b""


def parse_head(raw: bytes) -> Head:
    lines = raw.rstrip(b"\r\n").split(b"\r\n")
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers.append((name.strip(), value.strip()))
    return Head(lines[0], tuple(headers))


async def read_head(reader: asyncio.StreamReader, timeout: float = READ_TIMEOUT) -> Head | None:
    """The next head on `reader`, or None when the peer hung up before finishing one."""
    try:
        raw = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    return parse_head(raw)


def upgrade_headers(
    *, key: bytes | None = GOOD_KEY, version: bytes | None = b"13"
) -> list[tuple[bytes, bytes]]:
    """The headers of an RFC 6455 section 4.1 upgrade; None leaves a header out."""
    headers = [
        (b"Host", b"127.0.0.1"),
        (b"Upgrade", b"websocket"),
        (b"Connection", b"Upgrade"),
    ]
    if key is not None:
        headers.append((b"Sec-WebSocket-Key", key))
    if version is not None:
        headers.append((b"Sec-WebSocket-Version", version))
    return headers


def request_bytes(
    target: bytes,
    headers: Sequence[tuple[bytes, bytes]],
    *,
    method: bytes = b"GET",
    version: bytes = b"HTTP/1.1",
) -> bytes:
    """A request head exactly as given: no encoding, no checks."""
    lines = [b" ".join((method, target, version))]
    lines += [name + b": " + value for name, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def response_bytes(
    status_line: bytes, headers: Sequence[tuple[bytes, bytes]], body: bytes = b""
) -> bytes:
    """A response exactly as given; Content-Length is the caller's business."""
    lines = [status_line] + [name + b": " + value for name, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


# Raw client ---------------------------------------------------------------------------------


@dataclass
class Received:
    """What a raw client got back: the response head, the bytes after it, how it ended."""

    head: Head | None = None
    after_head: bytearray = field(default_factory=bytearray)
    #: True when the proxy closed the connection (EOF or reset) within the time allowed.
    ended: bool = False

    @property
    def frames(self) -> list[Frame]:
        """The bytes after the head read as WebSocket frames (meaningful after a 101)."""
        return FrameParser().feed(bytes(self.after_head))

    @property
    def close_codes(self) -> list[int | None]:
        return [f.close_code for f in self.frames if f.opcode == Opcode.CLOSE]

    @property
    def data(self) -> list[bytes]:
        """Payloads of the data frames, fragments as they came."""
        return [
            f.payload
            for f in self.frames
            if f.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONTINUATION)
        ]


class RawClient:
    """One TCP connection to the proxy that sends exactly the bytes it is given."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.received = Received()

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def dribble(self, data: bytes, interval: float, max_seconds: float) -> None:
        """Slowloris: one byte at a time, `interval` apart; gives up after `max_seconds`."""
        deadline = time.monotonic() + max_seconds
        for index in range(len(data)):
            if time.monotonic() > deadline:
                raise AssertionError(f"dribbled only {index} of {len(data)} bytes in time")
            await self.send(data[index : index + 1])
            await asyncio.sleep(interval)

    async def read_head(self, timeout: float = READ_TIMEOUT) -> Head | None:
        self.received.head = await read_head(self.reader, timeout)
        if self.received.head is None:
            self.received.ended = True
        return self.received.head

    async def read_frames(self, count: int, timeout: float = READ_TIMEOUT) -> list[Frame]:
        """Wait until `count` frames came after the head (fewer if the connection ends)."""
        deadline = time.monotonic() + timeout
        with contextlib.suppress(TimeoutError):
            while len(self.received.frames) < count and not self.received.ended:
                await self._read_some(deadline)
        return self.received.frames

    async def read_body(self, timeout: float = READ_TIMEOUT) -> bytes:
        """The body of a non-101 answer, by its Content-Length (up to the end otherwise)."""
        assert self.received.head is not None
        length = self.received.head.header(b"content-length")
        deadline = time.monotonic() + timeout
        with contextlib.suppress(TimeoutError):
            while not self.received.ended and (
                length is None or len(self.received.after_head) < int(length)
            ):
                await self._read_some(deadline)
        return bytes(self.received.after_head)

    async def read_until_end(self, timeout: float = READ_TIMEOUT) -> Received:
        """Everything until the proxy closes the connection, or `timeout` runs out."""
        deadline = time.monotonic() + timeout
        with contextlib.suppress(TimeoutError):
            while not self.received.ended:
                await self._read_some(deadline)
        return self.received

    async def _read_some(self, deadline: float) -> None:
        try:
            data = await asyncio.wait_for(
                self.reader.read(1 << 16), max(deadline - time.monotonic(), 0)
            )
        except ConnectionError:
            data = b""
        if not data:
            self.received.ended = True
        self.received.after_head += data

    def hang_up(self) -> None:
        """Close the TCP connection (a FIN), whatever state the exchange is in."""
        self.writer.close()

    def reset(self) -> None:
        """Abort the TCP connection with a RST (SO_LINGER 0)."""
        reset(self.writer)


def reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@contextlib.asynccontextmanager
async def raw_client(port: int) -> AsyncIterator[RawClient]:
    """A raw client connected to 127.0.0.1:`port`; closed on exit."""
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port, limit=MAX_HEAD), READ_TIMEOUT
    )
    client = RawClient(reader, writer)
    try:
        yield client
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await asyncio.wait_for(writer.wait_closed(), READ_TIMEOUT)


# Raw upstream -------------------------------------------------------------------------------


class UpstreamConnection:
    """One connection the raw upstream accepted, with the request head it read."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: Head
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.head = head
        self._parser = FrameParser()
        self._pending: list[Frame] = []

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def switch_protocols(self, extra: Sequence[tuple[bytes, bytes]] = ()) -> None:
        """A correct 101 for whatever key came (a lax server), plus `extra` header lines."""
        key = self.head.header(b"sec-websocket-key") or b""
        headers = [
            (b"Upgrade", b"websocket"),
            (b"Connection", b"Upgrade"),
            (b"Sec-WebSocket-Accept", accept_for(key)),
            *extra,
        ]
        await self.send(response_bytes(b"HTTP/1.1 101 Switching Protocols", headers))

    async def next_frame(self, timeout: float = READ_TIMEOUT) -> Frame | None:
        """The next whole frame from the proxy, or None once it hung up."""
        deadline = time.monotonic() + timeout
        while not self._pending:
            try:
                data = await asyncio.wait_for(
                    self.reader.read(1 << 20), max(deadline - time.monotonic(), 0)
                )
            except ConnectionError:
                data = b""
            if not data:
                return None
            self._pending += self._parser.feed(data)
        return self._pending.pop(0)

    async def wait_for_hang_up(self, timeout: float = READ_TIMEOUT) -> None:
        """Discard whatever comes until the proxy closes the connection."""
        deadline = time.monotonic() + timeout
        with contextlib.suppress(ConnectionError, TimeoutError):
            while await asyncio.wait_for(
                self.reader.read(1 << 16), max(deadline - time.monotonic(), 0)
            ):
                pass

    def hang_up(self) -> None:
        self.writer.close()

    def reset(self) -> None:
        reset(self.writer)


Behaviour = Callable[[UpstreamConnection], Awaitable[None]]

#: Most frames an echo upstream answers on one connection.
MAX_ECHO_FRAMES = 1000


async def echo_websocket(connection: UpstreamConnection) -> None:
    """A correct server: 101, then data frames echoed, pings answered, a Close returned."""
    await connection.switch_protocols()
    await echo_frames(connection)


async def echo_frames(connection: UpstreamConnection) -> None:
    """Echo frames as a server (unmasked) until a Close or a hang-up; bounded in count."""
    for _ in range(MAX_ECHO_FRAMES):
        received = await connection.next_frame()
        if received is None:
            return
        if received.opcode == Opcode.PING:
            await connection.send(frame(Opcode.PONG, received.payload))
        elif received.opcode == Opcode.CLOSE:
            await connection.send(frame(Opcode.CLOSE, received.payload[:2]))
            connection.hang_up()
            return
        elif received.opcode != Opcode.PONG:
            await connection.send(frame(received.opcode, received.payload, fin=received.fin))


@dataclass
class RawUpstream:
    port: int
    #: Request heads received, in order (the good client's included).
    requests: list[Head] = field(default_factory=list)
    #: Set once a request head arrived, so a client can wait for it instead of sleeping.
    request_arrived: asyncio.Event = field(default_factory=asyncio.Event)
    #: Unexpected exceptions in a behaviour: a broken test peer, not a finding about the proxy.
    errors: list[BaseException] = field(default_factory=list)


@contextlib.asynccontextmanager
async def raw_upstream(behaviour: Behaviour) -> AsyncIterator[RawUpstream]:
    """An upstream on 127.0.0.1 that reads a request head and hands the connection to
    `behaviour`, or to `echo_websocket` for GOOD_PATH (so a good client can check the proxy
    still serves). On exit every connection is closed and its handler (which then reads EOF)
    awaited."""
    writers: list[asyncio.StreamWriter] = []
    handlers: set[asyncio.Task[None]] = set()
    upstream = RawUpstream(port=0)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        writers.append(writer)
        try:
            head = await read_head(reader)
            if head is None:
                return
            upstream.requests.append(head)
            upstream.request_arrived.set()
            path = head.target.split(b"?", 1)[0].decode("latin-1")
            chosen = echo_websocket if path == GOOD_PATH else behaviour
            await chosen(UpstreamConnection(reader, writer, head))
        except (ConnectionError, TimeoutError, asyncio.IncompleteReadError):
            pass  # the proxy went away: part of the game
        except Exception as error:
            upstream.errors.append(error)
        finally:
            handlers.discard(task)
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, limit=MAX_HEAD)
    upstream.port = server.sockets[0].getsockname()[1]
    try:
        yield upstream
    finally:
        server.close()
        for writer in writers:
            writer.close()
        if handlers:
            await asyncio.wait(list(handlers), timeout=READ_TIMEOUT)
        for task in list(handlers):  # still running after READ_TIMEOUT: a stuck behaviour
            upstream.errors.append(TimeoutError(f"upstream handler {task!r} did not finish"))
            task.cancel()
        await asyncio.wait_for(server.wait_closed(), READ_TIMEOUT)
