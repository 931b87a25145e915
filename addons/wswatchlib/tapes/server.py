"""The loopback endpoint that plays tapes: a WebSocket server on 127.0.0.1 inside the proxy.

The replay addon points a matching upgrade at this server instead of the real upstream, with a
ticket naming the tape; mitmproxy then relays the connection as any other, so every hook,
fault, verdict and report sees a replayed connection as a live one. This file is the I/O
around the pure parts: wsproto speaks RFC 6455 (it builds the 101, its Sec-WebSocket-Accept for
the new client's key, and permessage-deflate only when the client offers it), `player` says
when each recorded message is due, `client_check` compares what the client sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)
from wsproto.extensions import PerMessageDeflate
from wsproto.frame_protocol import CloseReason
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from ..rfc6455 import NO_FRAME_CLOSE_CODES, CloseCode
from .client_check import ClientCheck, mismatch
from .format import End, TapeEnd, TapeError, TapeMessage, TapeSummary, read_lines
from .player import ClientExpectations, Finish, Gate, Send, TapePlayer

logger = logging.getLogger("wswatch")

#: The request header carrying a ticket from the replay addon to this server.
TICKET_HEADER = "x-wswatch-tape-ticket"
#: Longest request head the server reads, and how long it waits for it.
MAX_HEAD = 64 * 1024
HEAD_TIMEOUT_S = 10.0
#: How long the server waits for the client's Close after sending its own.
CLOSE_WAIT_S = 5.0
#: The Sec-WebSocket-* and framing headers wsproto writes itself: not copied from the tape.
_HANDSHAKE_HEADERS = frozenset(
    {
        "upgrade",
        "connection",
        "sec-websocket-accept",
        "sec-websocket-protocol",
        "sec-websocket-extensions",
        "content-length",
        "transfer-encoding",
    }
)


@dataclass(frozen=True, slots=True)
class PlaySettings:
    gate: Gate = Gate.MESSAGES
    #: Delays are divided by it; `math.inf`: no delays.
    speed: float = 1.0
    check: ClientCheck = ClientCheck.OFF
    ignored_paths: tuple[tuple[str, ...], ...] = ()
    #: Close code sent on a mismatch; None: note it and play on.
    close_on_mismatch: int | None = None


@dataclass(frozen=True, slots=True)
class Ticket:
    """One replayed attempt: which tape, how to play it, whom to tell about mismatches."""

    tape: TapeSummary
    settings: PlaySettings
    #: (message number, why) of a client message that differs from the recording's.
    on_mismatch: Callable[[int, str], None]
    #: A client text message as a tape keeps it (secrets scrubbed): what it is compared with
    #: the recording's as, so a diff never shows a credential and a new token is no mismatch.
    scrubbed: Callable[[str], str]


class ReplayServer:
    """Listens from `bind` (synchronous, so a hook knows the port at once); serves from the
    first `ensure_serving` (the proxy's event loop must be running); the connections that came
    between wait in the listen backlog."""

    def __init__(self) -> None:
        self._socket: socket.socket | None = None
        self._server: asyncio.Server | None = None
        self._starting: asyncio.Task[asyncio.Server] | None = None
        self._tickets: dict[str, Ticket] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    def bind(self) -> int:
        if self._socket is None:
            # IPPROTO_TCP named, not 0: asyncio sets TCP_NODELAY only on sockets that say so,
            # and without it a message sent right after another waits for a delayed ACK (40 ms).
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            listener.bind(("127.0.0.1", 0))
            listener.listen(128)
            listener.setblocking(False)
            self._socket = listener
            self.port = listener.getsockname()[1]
        return self.port

    def ensure_serving(self) -> None:
        if self._starting is None and self._socket is not None:
            self._starting = asyncio.ensure_future(
                asyncio.start_server(self._serve, sock=self._socket)
            )
            self._starting.add_done_callback(self._started)

    def _started(self, starting: asyncio.Task[asyncio.Server]) -> None:
        if not starting.cancelled() and starting.exception() is None:
            self._server = starting.result()

    def stop(self) -> None:
        if self._starting is not None and not self._starting.done():
            self._starting.cancel()
        if self._server is not None:
            self._server.close()
        elif self._socket is not None:
            self._socket.close()
        self._socket = self._server = self._starting = None
        self.port = 0
        for task in list(self._tasks):
            task.cancel()
        self._tickets.clear()

    def expect(self, token: str, ticket: Ticket) -> None:
        self._tickets[token] = ticket

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await _Connection(reader, writer, self._tickets).run()
        except (ConnectionError, asyncio.IncompleteReadError, LocalProtocolError):
            pass  # the proxy or the client went away: nothing left to play to
        except TapeError as error:  # a line past the header is broken: stop there, say where
            logger.error(f"wswatch: replay stopped: {error}")
        except asyncio.CancelledError:
            pass
        except Exception as error:  # one broken tape must not stop the server
            logger.error(f"wswatch: replay failed: {error!r}")
        finally:
            writer.transport.abort()
            if task is not None:
                self._tasks.discard(task)


class _ClientClosed(Exception):
    """The client sent its Close (answered) or its connection ended."""


class _Connection:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        tickets: dict[str, Ticket],
    ) -> None:
        self.reader, self.writer, self.tickets = reader, writer, tickets
        self.ws = WSConnection(ConnectionType.SERVER)
        self.parts: list[bytes | str] = []

    async def send(self, event: Event) -> None:
        self.writer.write(self.ws.send(event))
        await self.writer.drain()

    async def run(self) -> None:
        request = await asyncio.wait_for(self._request(), HEAD_TIMEOUT_S)
        if request is None:
            return
        headers = {name.decode("latin-1").lower(): value for name, value in request.extra_headers}
        ticket = self.tickets.pop(headers.get(TICKET_HEADER, b"").decode("latin-1"), None)
        if ticket is None:
            await self.send(RejectConnection(status_code=500, has_body=False))
            return
        header = ticket.tape.header
        if header.response is None:
            return  # a recorded network failure: the connection ends unanswered (aborted)
        recorded = header.response.headers
        extra = [
            (name.encode("latin-1", "replace"), value.encode("latin-1", "replace"))
            for name, value in recorded
            if name.lower() not in _HANDSHAKE_HEADERS
        ]
        deflate = "permessage-deflate" in (header.extensions or "").lower()
        offered = header.subprotocol if header.subprotocol in request.subprotocols else None
        await self.send(
            AcceptConnection(
                subprotocol=offered,
                extensions=[PerMessageDeflate()] if deflate else [],
                extra_headers=extra,
            )
        )
        await self._play(ticket)

    async def _request(self) -> Request | None:
        received = 0
        while received < MAX_HEAD:
            data = await self.reader.read(65536)
            if not data:
                return None
            received += len(data)
            try:
                self.ws.receive_data(data)
            except RemoteProtocolError:
                return None
            for event in self.ws.events():
                if isinstance(event, Request):
                    return event
        return None

    async def _play(self, ticket: Ticket) -> None:
        settings = ticket.settings
        player = TapePlayer(
            read_lines(ticket.tape.path),
            gate=settings.gate,
            speed=settings.speed,
            opened_at=time.time(),
        )
        expected = None
        if settings.check is not ClientCheck.OFF:
            expected = ClientExpectations(read_lines(ticket.tape.path))
        try:
            while True:
                action = player.next_action(time.time())
                if isinstance(action, Send):
                    await self.send(_wire(action.message))
                elif isinstance(action, Finish):
                    await self._end(action.end)
                    return
                else:
                    timeout = None if action.until is None else max(action.until - time.time(), 0)
                    for is_text, payload in await self._client_messages(timeout):
                        player.client_sent(len(payload), time.time(), is_text=is_text)
                        if expected is not None and await self._checked(
                            ticket, expected, is_text, payload
                        ):
                            return
        except _ClientClosed:
            return

    async def _checked(
        self, ticket: Ticket, expected: ClientExpectations, is_text: bool, payload: bytes
    ) -> bool:
        """Compare one client message; True when the connection was closed for a mismatch."""
        settings = ticket.settings
        recorded = expected.next()
        if recorded is None:
            why = "the recording's client sent no more messages"
        else:
            if is_text:
                payload = ticket.scrubbed(payload.decode("utf-8", "replace")).encode()
            found = mismatch(settings.check, recorded, is_text, payload, settings.ignored_paths)
            if found is None:
                return False
            why = found
        ticket.on_mismatch(expected.count + (recorded is None), why)
        if settings.close_on_mismatch is None:
            return False
        await self.send(
            CloseConnection(settings.close_on_mismatch, f"wswatch tape mismatch: {why}"[:120])
        )
        await self._await_close(CLOSE_WAIT_S)
        return True

    async def _client_messages(self, timeout: float | None) -> list[tuple[bool, bytes]]:
        """The data messages the client completes within `timeout` seconds (None: until it
        sends something); raises `_ClientClosed` when it closes."""
        try:
            data = await asyncio.wait_for(self.reader.read(65536), timeout)
        except TimeoutError:
            return []
        if not data:
            raise _ClientClosed
        self.ws.receive_data(data)
        completed: list[tuple[bool, bytes]] = []
        for event in self.ws.events():
            if isinstance(event, TextMessage | BytesMessage):
                self.parts.append(event.data)
                if event.message_finished:
                    is_text = isinstance(event, TextMessage)
                    payload = (
                        "".join(p for p in self.parts if isinstance(p, str)).encode()
                        if is_text
                        else b"".join(p for p in self.parts if isinstance(p, bytes))
                    )
                    self.parts.clear()
                    completed.append((is_text, payload))
            elif isinstance(event, Ping):
                await self.send(event.response())
            elif isinstance(event, CloseConnection):
                with contextlib.suppress(LocalProtocolError):
                    await self.send(event.response())
                raise _ClientClosed
        return completed

    async def _await_close(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with contextlib.suppress(_ClientClosed):
            while (left := deadline - time.monotonic()) > 0:
                await self._client_messages(None if math.isinf(left) else left)

    async def _end(self, end: TapeEnd | None) -> None:
        """End as recorded: the server's Close, the client's (answered), or a drop."""
        if end is None or end.end is not End.CLOSED:
            return  # the recording was cut short: a drop (the caller aborts the connection)
        code = end.code
        if code is None or code in NO_FRAME_CLOSE_CODES:
            return  # no Close frame was recorded: a drop (the caller aborts the connection)
        if end.closed_by == "client":
            await self._await_close(math.inf)
            return
        if code == CloseCode.NO_STATUS_RECEIVED:  # a Close frame without a body
            await self.send(CloseConnection(CloseReason.NO_STATUS_RCVD))
        else:
            await self.send(CloseConnection(code, end.reason))
        await self._await_close(CLOSE_WAIT_S)


def _wire(message: TapeMessage) -> Event:
    if message.text is not None:
        return TextMessage(data=message.text)
    return BytesMessage(data=message.data or b"")
