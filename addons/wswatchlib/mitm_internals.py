"""The one place wswatch reaches into mitmproxy's private internals (WebSocket layer, options).

mitmproxy has no public API for these; each was verified on 11.0.x and 12.x and is covered by
end-to-end tests on both, so an upgrade that breaks one fails loudly rather than silently.

- Abnormal-close fidelity: when one peer drops the TCP connection without a close frame, wsproto
  reports CloseConnection(1006) and mitmproxy forwards it to the other peer, where wsproto
  rewrites 1006 into a clean Close 1000. That hides a crash from the client. `SendFilter`s wrap
  `WebsocketConnection.send2` so such a close is not put on the wire; mitmproxy then closes the
  TCP connection, and the other peer sees an abnormal closure (1006), as it would without a proxy.
- Closing a live WebSocket with a chosen code (upstream issue #4773): a CloseConnection event is
  queued on the layer's wsproto connection as if the peer had sent it, and an empty injected
  message wakes the layer up. That message reaches `websocket_message` even after
  `websocket_end`; `is_wakeup_message` recognises it so it can be dropped.
- Resetting a client connection: SO_LINGER 0 on its socket and an abort, so it gets a TCP RST.
- Pongs: a SendFilter can swallow them; `release_pong` sends one later, queued on the layer's
  wsproto connection like a close, so it goes through TLS and tunnels as mitmproxy's own frames do.
- Finding a connection's layers: the handler's layer stack is walked from its root. The regular and
  upstream modes' root layers keep their child only in the bound method they install as their own
  `_handle_event`; `_children` follows it, or nothing under a CONNECT tunnel would be found.
- Settings held back for options not declared yet (`OptManager.deferred`): `--set` text is kept
  as `optmanager._UnconvertedStrings`; `pending_settings` hands it over as text, and
  `drop_pending_setting` takes a setting out before mitmproxy converts it. `option_types` reads
  each declared option's type from mitmproxy's private `_Option` records.
- Protocol violations: when a peer's bytes break RFC 6455, wsproto raises ParseFailed inside
  `Connection.events()` and turns it into CloseConnection(1002 or 1007, its error text); mitmproxy
  records that like a close the peer sent (`close_code`, `closed_by_client`) and sends it to both
  peers. The text alone cannot tell it from a peer that really sent Close(1002, same text), so
  each WebsocketConnection's frame parser is wrapped to note the ParseFailed itself, keyed by the
  connection whose bytes failed; `take_parser_failure` hands it to `websocket_end`.
- Text sent as it is: mitmproxy decodes a modified text message with replacement characters
  before wsproto encodes it (`Fragmentizer.msg`), so a truncated or corrupted text would arrive
  with U+FFFD in it. `send_text_verbatim` has the patched `send2` put the message's exact bytes
  on the wire as one text frame instead, serialised by the connection's own wsproto frame
  protocol (masking and permessage-deflate included).
- Injected text (duplicates, delayed and released messages): mitmproxy cuts an injected message
  into 4000-byte fragments and decodes each with replacement characters, breaking a character
  that straddles a cut. `inject_message` remembers such a text's exact bytes, and
  `restore_injected_text` puts them back (and sends them verbatim) when it comes back through
  `websocket_message`.
- Who ended a raw TCP relay first: mitmproxy's TCP layer half-closes the other side when one side
  closes and calls `tcp_end` only once both are closed, with no trace of the order (connection
  timestamps are set later, in no fixed order). `patch_tcp_relay` wraps the layer's
  `relay_messages` to note the first ConnectionClosed of an upgraded connection's TCP flow.
- Ending a raw TCP relay as the proxy (observe-only connections): an injected event the wrapped
  `relay_messages` answers with the layer's own commands, Close frames then CloseConnection, so
  they pass through TLS and tunnels (bytes written to a socket directly would not).
- Relaying without a TCP flow (observe-only connections nothing else would see as TCP flows):
  mitmproxy's TCP layer keeps no flow and triggers no hook when made with `ignore=True`, as for
  its own ignored hosts. Each hook costs a walk over every addon, twice (the hook, then
  `update`): four hooks, start, end and a read each way, cost a connection that only opens and
  closes more than wswatch's own work on it. `relay_without_flow` marks a client connection
  before mitmproxy makes its TCP layer (the wrapped `TCPLayer.__init__` then ignores), and the
  wrapped `relay_messages` hands each read and the end to a `RelayFollower` instead.
"""

from __future__ import annotations

import dataclasses
import socket
import struct
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from typing import Any, NamedTuple, Protocol

import wsproto.events
import wsproto.frame_protocol
from mitmproxy import ctx, http, optmanager, tcp, websocket
from mitmproxy.connection import ConnectionState
from mitmproxy.proxy import commands
from mitmproxy.proxy import events as proxy_events
from mitmproxy.proxy.layers import tcp as tcp_layer
from mitmproxy.proxy.layers import websocket as websocket_layer
from mitmproxy.utils import typecheck
from wsproto.frame_protocol import Frame, ParseFailed

from . import events
from .rfc6455 import NO_FRAME_CLOSE_CODES

#: A filter sees each event mitmproxy sends on a WebSocket connection; returning False keeps it
#: off the wire (wsproto's state still advances, so the connection stays consistent).
SendFilter = Callable[[websocket_layer.WebsocketConnection, wsproto.events.Event], bool]

_ORIGINAL_SEND2 = websocket_layer.WebsocketConnection.send2
#: Installed filters, in installation order, each with the owners that want it: a filter stays
#: while any owner holds it, so one owner letting go never removes another's.
_filters: dict[SendFilter, set[str]] = {}

#: Connection id -> the text message whose exact bytes go to it next, or None once they are on
#: the wire and the rest of that message's fragments must be swallowed.
_verbatim: dict[str, websocket.WebSocketMessage | None] = {}

#: (flow id, the bytes mitmproxy makes of an injected text) -> the exact bytes of the texts
#: `inject_message` injected that mitmproxy's fragmenting damages, in injection order.
_injected_text: dict[tuple[str, bytes], list[bytes]] = {}


def _filtered_send2(
    self: websocket_layer.WebsocketConnection, event: wsproto.events.Event
) -> commands.SendData:
    if _verbatim and isinstance(event, wsproto.events.TextMessage):
        verbatim = _verbatim_frame(self, event)
        if verbatim is not None:
            return commands.SendData(self.conn, verbatim)
    data = self.send(event)
    if all(keep(self, event) for keep in _filters):
        return commands.SendData(self.conn, data)
    return commands.SendData(self.conn, b"")


def _verbatim_frame(
    connection: websocket_layer.WebsocketConnection, event: wsproto.events.TextMessage
) -> bytes | None:
    """The frame for a text message registered by `send_text_verbatim`, b"" for its further
    fragments, or None when `event` is not one (mitmproxy sends it as usual)."""
    key = connection.conn.id
    if key not in _verbatim or connection.state is not wsproto.ConnectionState.OPEN:
        return None
    message = _verbatim[key]
    if event.message_finished:
        del _verbatim[key]
    else:
        _verbatim[key] = None
    if message is None:
        return b""
    # The whole message as one final frame: wsproto's outbound state stays "no message open".
    frame = connection._proto._serialize_frame(wsproto.frame_protocol.Opcode.TEXT, message.content)
    return bytes(frame)


def _update_patch() -> None:
    """The patched send2 is in place while a filter is installed or a verbatim text is due."""
    patched = _filtered_send2 if _filters or _verbatim else _ORIGINAL_SEND2
    websocket_layer.WebsocketConnection.send2 = patched  # type: ignore[method-assign]


def add_send_filter(send_filter: SendFilter, owner: str) -> None:
    """Install `send_filter` on behalf of `owner` (a name; adding twice is harmless)."""
    _filters.setdefault(send_filter, set()).add(owner)
    _update_patch()


def remove_send_filter(send_filter: SendFilter, owner: str) -> None:
    """`owner` no longer needs `send_filter`; it goes once no owner holds it."""
    owners = _filters.get(send_filter)
    if owners is not None:
        owners.discard(owner)
        if not owners:
            del _filters[send_filter]
    _update_patch()


def send_text_verbatim(flow: http.HTTPFlow, message: websocket.WebSocketMessage) -> None:
    """Have the text `message`, being relayed now (called from `websocket_message`), go out with
    its content bytes exactly as they are, valid UTF-8 or not, as one text frame."""
    destination = flow.server_conn if message.from_client else flow.client_conn
    _verbatim[destination.id] = message
    _update_patch()


def forget_verbatim(flow: http.HTTPFlow) -> None:
    """Drop a verbatim text that was never sent (another addon dropped its message)."""
    if _verbatim:
        _verbatim.pop(flow.client_conn.id, None)
        _verbatim.pop(flow.server_conn.id, None)


def _as_injected(content: bytes) -> bytes:
    """The text mitmproxy assembles from injected bytes: `Fragmentizer` cuts them every
    FRAGMENT_SIZE bytes and decodes each piece with replacement characters."""
    size = websocket_layer.Fragmentizer.FRAGMENT_SIZE
    pieces = (content[start : start + size] for start in range(0, len(content), size))
    return b"".join(piece.decode("utf-8", errors="replace").encode() for piece in pieces)


def inject_message(flow: http.HTTPFlow, message: websocket.WebSocketMessage) -> bool:
    """Inject a copy of `message` into `flow`'s WebSocket; False when the connection has ended.
    A text that mitmproxy's fragmenting would damage is remembered for `restore_injected_text`."""
    if flow.websocket is None or flow.websocket.timestamp_end is not None:
        return False
    if message.is_text:
        assembled = _as_injected(message.content)
        if assembled != message.content:
            _injected_text.setdefault((flow.id, assembled), []).append(message.content)
    copy = websocket.WebSocketMessage(message.type, message.from_client, message.content)
    ctx.master.addons.get("proxyserver").inject_event(
        websocket_layer.WebSocketMessageInjected(flow, copy)
    )
    return True


def restore_injected_text(flow: http.HTTPFlow, message: websocket.WebSocketMessage) -> None:
    """In `websocket_message`: give an injected text that mitmproxy damaged its exact bytes
    back, and have them sent as they are."""
    if not _injected_text or not message.injected or not message.is_text:
        return
    key = (flow.id, message.content)
    originals = _injected_text.get(key)
    if originals:
        message.content = originals.pop(0)
        if not originals:
            del _injected_text[key]
        send_text_verbatim(flow, message)


def forget_injected_text(flow: http.HTTPFlow) -> None:
    """Drop what `inject_message` remembered for `flow` (its connection has ended)."""
    for key in [key for key in _injected_text if key[0] == flow.id]:
        del _injected_text[key]


def keep_abnormal_closes_abnormal(
    _connection: websocket_layer.WebsocketConnection, event: wsproto.events.Event
) -> bool:
    """SendFilter: never turn a missing close frame into a clean one on the other side."""
    return not (
        isinstance(event, wsproto.events.CloseConnection) and event.code in NO_FRAME_CLOSE_CODES
    )


def _handler(flow: http.HTTPFlow) -> Any:
    proxyserver = ctx.master.addons.get("proxyserver")
    return proxyserver.connections.get(flow.client_conn.id) if proxyserver else None


def _children(layer: Any) -> Iterator[Any]:
    """The layers directly below `layer`.

    Most layers keep their child in `layer` (NextLayer) or `child_layer`. The regular and upstream
    proxy modes' root layers (`HttpProxy`, `HttpUpstreamProxy`) keep it nowhere but in the bound
    method they install as their own `_handle_event`, so that method's owner is a child too:
    without it, nothing under a regular-mode connection could be found.
    """
    for name in ("layer", "child_layer"):
        child = getattr(layer, name, None)
        if child is not None:
            yield child
    handler = layer.__dict__.get("_handle_event") if hasattr(layer, "__dict__") else None
    owner = getattr(handler, "__self__", None)
    if owner is not None and owner is not layer:
        yield owner


def _layers(root: Any) -> Iterator[Any]:
    """Every layer below `root`, breadth first (bounded: layer stacks are a few levels deep)."""
    queue, seen = [root], {id(root)}
    while queue and len(seen) < 256:
        current = queue.pop(0)
        yield current
        for child in _children(current):
            if id(child) not in seen:
                seen.add(id(child))
                queue.append(child)
        streams = getattr(current, "streams", None)
        if isinstance(streams, dict):
            queue.extend(streams.values())


def websocket_layer_of(flow: http.HTTPFlow) -> websocket_layer.WebsocketLayer | None:
    """The live WebsocketLayer relaying `flow`, or None once the connection is gone."""
    handler = _handler(flow)
    if handler is None:
        return None
    for candidate in _layers(handler.layer):
        if isinstance(candidate, websocket_layer.WebsocketLayer) and candidate.flow is flow:
            return candidate
    return None


def is_wakeup_message(message: websocket.WebSocketMessage) -> bool:
    """The empty injected text message `close_websocket` uses to wake the layer."""
    return message.injected and message.content == b"" and message.is_text


def close_websocket(flow: http.HTTPFlow, code: int, reason: str, as_client: bool) -> bool:
    """Close `flow`'s WebSocket as if the client (or the server) had sent Close(code, reason).

    mitmproxy relays that close to both peers. With code 1006 and the abnormal-close filter
    installed, neither peer gets a close frame: both see the TCP connection drop.
    Returns False when the connection is already gone.
    """
    layer = websocket_layer_of(flow)
    if layer is None or flow.websocket is None or flow.websocket.timestamp_end is not None:
        return False
    source = layer.client_ws if as_client else layer.server_ws
    source._events.append(wsproto.events.CloseConnection(code=code, reason=reason))
    _wake(flow, from_client=as_client)
    return True


def _wake(flow: http.HTTPFlow, from_client: bool) -> None:
    """Have the WebSocket layer process the events queued on one side's wsproto connection:
    inject the empty text message `is_wakeup_message` recognises."""
    wakeup = websocket.WebSocketMessage(websocket_layer.Opcode.TEXT, from_client, b"")
    ctx.master.addons.get("proxyserver").inject_event(
        websocket_layer.WebSocketMessageInjected(flow, wakeup)
    )


def reset_client(flow: http.HTTPFlow) -> bool:
    """Abort the client's TCP connection with a RST (SO_LINGER 0, then abort: no FIN first)."""
    handler = _handler(flow)
    transport = handler.transports.get(handler.client) if handler else None
    writer = getattr(transport, "writer", None)
    sock = writer.get_extra_info("socket") if writer is not None else None
    if writer is None or sock is None:
        return False
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
    return True


def release_pong(flow: http.HTTPFlow, payload: bytes) -> bool:
    """Send the client a Pong with `payload` now, as if the server had just sent it: it is
    queued on the layer's server-side wsproto connection and a wakeup relays it, so it goes out
    through mitmproxy's own stack (TLS, tunnels) like any frame. `is_released_pong` tells a
    SendFilter that holds pongs back to let this one pass. False once the connection is gone."""
    layer = websocket_layer_of(flow)
    if layer is None or flow.websocket is None or flow.websocket.timestamp_end is not None:
        return False
    pong = wsproto.events.Pong(payload=payload)
    _released_pongs.append(pong)
    layer.server_ws._events.append(pong)
    _wake(flow, from_client=False)
    return True


#: Pongs `release_pong` queued that a SendFilter must let through (each one once).
_released_pongs: list[wsproto.events.Pong] = []


def is_released_pong(event: wsproto.events.Event) -> bool:
    """Whether `event` is a pong `release_pong` sent (forgotten once asked about)."""
    for index, released in enumerate(_released_pongs):
        if released is event:
            del _released_pongs[index]
            return True
    return False


@dataclasses.dataclass
class _ProxyCloseInjected(tcp_layer.TcpMessageInjected):
    """Asks the TCP layer relaying an upgraded connection to end it as the proxy: send each
    peer its bytes (a Close frame, or nothing), then close both connections."""

    to_client: bytes = b""
    to_server: bytes = b""


def close_both_peers(
    flow: tcp.TCPFlow | http.HTTPFlow,
    code: int,
    reason: str,
    frame_to_client: bool,
    frame_to_server: bool,
) -> bool:
    """End an upgraded connection mitmproxy relays as TCP as if the proxy closed the WebSocket:
    a Close(code, reason) frame to each peer that is owed one (masked toward the server, RFC 6455
    5.3), then both connections close. The frames and the closes are commands of the TCP layer
    itself (see `_relay_messages`), so they pass through whatever lies under it: TLS to either
    peer, a CONNECT tunnel, an upstream proxy. A peer gets no frame with 1006 or 1015, or when
    its `frame_to_` flag is off (the caller knows a frame toward it is partly sent: a Close there
    would land inside it). `flow`: the relay's TCP flow, or, for a relay without one
    (`relay_without_flow`), the upgrade's HTTP flow (mitmproxy routes the event by the flow's
    connections, which the two share). False when the connection is gone already."""
    if isinstance(flow, tcp.TCPFlow) and not flow.live:
        return False
    if isinstance(flow, http.HTTPFlow) and flow.client_conn.id not in _flowless:
        return False
    framed = code not in NO_FRAME_CLOSE_CODES
    to_client = to_server = b""
    if framed and frame_to_client:
        to_client = wsproto.frame_protocol.FrameProtocol(False, []).close(code, reason)
    if framed and frame_to_server:
        to_server = wsproto.frame_protocol.FrameProtocol(True, []).close(code, reason)
    event = _ProxyCloseInjected(flow, tcp.TCPMessage(False, b""), to_client, to_server)
    try:
        ctx.master.addons.get("proxyserver").inject_event(event)
    except ValueError:  # "Flow is not from a live connection."
        return False
    return True


def _end_tcp_relay(
    layer: tcp_layer.TCPLayer, event: _ProxyCloseInjected
) -> Generator[commands.Command, Any, None]:
    """The TCP layer's commands for `close_both_peers`, as it ends a relay itself."""
    client, server = layer.context.client, layer.context.server
    for connection, data in ((client, event.to_client), (server, event.to_server)):
        if data and connection.state & ConnectionState.CAN_WRITE:
            yield commands.SendData(connection, data)
    layer._handle_event = layer.done
    for connection in (server, client):
        if connection.state is not ConnectionState.CLOSED:
            yield commands.CloseConnection(connection)
    if layer.flow is not None:
        yield tcp_layer.TcpEndHook(layer.flow)
        layer.flow.live = False
    elif (follower := _flowless.pop(client.id, None)) is not None:
        follower.ended()


def pending_settings(
    options: optmanager.OptManager, as_text: Callable[[tuple[str, ...]], object]
) -> dict[str, object]:
    """Settings mitmproxy holds until their option is declared; `--set` text (one string per
    `--set`) handed to `as_text`."""
    return {
        name: as_text(tuple(value.val))
        if isinstance(value, optmanager._UnconvertedStrings)
        else value
        for name, value in options.deferred.items()
    }


def drop_pending_setting(options: optmanager.OptManager, name: str) -> None:
    """Take a held-back setting out: mitmproxy never applies it, the option keeps its default."""
    options.deferred.pop(name, None)


class OptionDeclaration(NamedTuple):
    """One declared option, as its addon declared it."""

    name: str
    type: str  # as mitmproxy writes it: "str", "int", "bool", "sequence of str"...
    default: Any
    help: str
    choices: Sequence[str] | None


def option_declarations(options: optmanager.OptManager) -> list[OptionDeclaration]:
    """Every declared option with its type, default, help and choices, by name."""
    return [
        OptionDeclaration(
            name,
            typecheck.typespec_to_str(option.typespec),
            option.default,
            option.help,
            option.choices,
        )
        for name, option in sorted(options.items())
    ]


def option_types(options: optmanager.OptManager) -> dict[str, object]:
    """Every declared option's name and type (`str`, `int`, `bool`, `Sequence[str]`, ...)."""
    return {name: option.typespec for name, option in options.items()}


class ParserFailure(NamedTuple):
    """wsproto could not parse one peer's bytes and failed the connection."""

    side: str  # "client" or "server": whose bytes broke RFC 6455
    text: str  # wsproto's error text, also the reason of the close the proxy sent
    code: int  # the close code the proxy sent both peers


_ORIGINAL_CONNECTION_INIT = websocket_layer.WebsocketConnection.__init__
#: mitmproxy connection id -> (wsproto's error text, close code) for bytes from that connection.
_parser_failures: dict[str, tuple[str, int]] = {}


def _init_noting_parser_failures(
    self: websocket_layer.WebsocketConnection, *args: Any, **kwargs: Any
) -> None:
    _ORIGINAL_CONNECTION_INIT(self, *args, **kwargs)
    received_frames = self._proto.received_frames
    connection_id = self.conn.id

    def received_frames_noting_failure() -> Generator[Frame, None, None]:
        try:
            yield from received_frames()
        except ParseFailed as failure:
            _parser_failures[connection_id] = (str(failure), int(failure.code))
            raise

    self._proto.received_frames = received_frames_noting_failure  # type: ignore[method-assign]


def note_parser_failures(enabled: bool) -> None:
    """Wrap the frame parser of every WebSocket connection mitmproxy opens from now on (or not)."""
    websocket_layer.WebsocketConnection.__init__ = (  # type: ignore[method-assign]
        _init_noting_parser_failures if enabled else _ORIGINAL_CONNECTION_INIT
    )
    if not enabled:
        _parser_failures.clear()


def take_parser_failure(flow: http.HTTPFlow) -> ParserFailure | None:
    """The parser failure that ended `flow`'s WebSocket, if one did; forgotten once taken."""
    from_client = _parser_failures.pop(flow.client_conn.id, None)
    from_server = _parser_failures.pop(flow.server_conn.id, None)
    if from_client is not None:
        return ParserFailure("client", *from_client)
    if from_server is not None:
        return ParserFailure("server", *from_server)
    return None


_ORIGINAL_RELAY_MESSAGES = tcp_layer.TCPLayer.relay_messages
#: TCPFlow.metadata key: "client" or "server", the side whose connection closed first.
FIRST_CLOSED_METADATA_KEY = "wswatch.first_closed"


class RelayFollower(Protocol):
    """What follows an upgraded connection relayed without a TCP flow (`relay_without_flow`)."""

    def read(self, side: str, data: bytes, at: float) -> None:
        """`side` ("client" or "server") sent `data`, read at `at`, before it is passed on."""

    def closed(self, side: str) -> None:
        """`side`'s connection closed (the other may still send)."""

    def ended(self) -> None:
        """The relay ended: both connections are closed."""


#: Upgraded connections mitmproxy relays as TCP without a flow, by client connection id.
_flowless: dict[str, RelayFollower] = {}

_ORIGINAL_TCP_LAYER_INIT = tcp_layer.TCPLayer.__init__


def _tcp_layer_init(self: tcp_layer.TCPLayer, context: Any, ignore: bool = False) -> None:
    _ORIGINAL_TCP_LAYER_INIT(self, context, ignore or context.client.id in _flowless)


def relay_without_flow(client_id: str, follower: RelayFollower) -> None:
    """Have the TCP layer mitmproxy makes next for client connection `client_id` (an upgrade's,
    once its 101 is sent) keep no TCP flow and trigger no TCP hook; `follower` gets its reads
    and its end. Needs `patch_tcp_relay(True)`."""
    _flowless[client_id] = follower


def forget_flowless(client_id: str) -> None:
    """Stop following a relay without a flow (the proxy stops)."""
    _flowless.pop(client_id, None)


def _relay_followed(
    layer: tcp_layer.TCPLayer, event: proxy_events.Event, follower: RelayFollower
) -> Generator[commands.Command, Any, None]:
    """TCPLayer.relay_messages of a relay without a flow, telling `follower` what passes."""
    if isinstance(event, proxy_events.ConnectionEvent):
        side = "client" if event.connection == layer.context.client else "server"
        if isinstance(event, proxy_events.DataReceived):
            follower.read(side, event.data, time.time())
        elif isinstance(event, proxy_events.ConnectionClosed):
            follower.closed(side)
    yield from _ORIGINAL_RELAY_MESSAGES(layer, event)
    if layer._handle_event == layer.done and _flowless.pop(layer.context.client.id, None):
        follower.ended()


def _relay_messages(self: tcp_layer.TCPLayer, event: proxy_events.Event) -> Any:
    """TCPLayer.relay_messages, noting who closed first, ending the relay on request, and
    following relays without a flow."""
    if isinstance(event, _ProxyCloseInjected):
        return _end_tcp_relay(self, event)
    flow = self.flow
    if flow is None and (follower := _flowless.get(self.context.client.id)) is not None:
        return _relay_followed(self, event, follower)
    if (
        isinstance(event, proxy_events.ConnectionClosed)
        and flow is not None
        and events.UPGRADE_FLOW_METADATA_KEY in flow.metadata
    ):
        side = "client" if event.connection == self.context.client else "server"
        flow.metadata.setdefault(FIRST_CLOSED_METADATA_KEY, side)
    return _ORIGINAL_RELAY_MESSAGES(self, event)


def patch_tcp_relay(enabled: bool) -> None:
    """Have every TCP relay note which side of an upgraded connection closed first, accept
    `close_both_peers` and follow relays without a flow (or stop)."""
    tcp_layer.TCPLayer.relay_messages = (  # type: ignore[method-assign]
        _relay_messages if enabled else _ORIGINAL_RELAY_MESSAGES
    )
    tcp_layer.TCPLayer.__init__ = (  # type: ignore[method-assign]
        _tcp_layer_init if enabled else _ORIGINAL_TCP_LAYER_INIT
    )
    if not enabled:
        _flowless.clear()


def first_to_close(flow: tcp.TCPFlow) -> str | None:
    """The side whose TCP connection closed first, if noted."""
    return flow.metadata.get(FIRST_CLOSED_METADATA_KEY)
