"""The one place wswatch reaches into mitmproxy's private WebSocket internals.

mitmproxy has no public API for these; each was verified on 11.0.x and 12.x and is covered by
end-to-end tests on both, so an upgrade that breaks one fails loudly rather than silently.

- Abnormal-close fidelity: when one peer drops the TCP connection without a close frame, wsproto
  reports CloseConnection(1006) and mitmproxy forwards it to the other peer, where wsproto
  rewrites 1006 into a clean Close 1000. That hides a crash from the client. `SendFilter`s wrap
  `WebsocketConnection.send2` so such a close is not put on the wire; mitmproxy then closes the
  TCP connection, and the other peer sees an abnormal closure (1006), as it would without a proxy.
"""

from __future__ import annotations

from collections.abc import Callable

import wsproto.events
from mitmproxy.proxy import commands
from mitmproxy.proxy.layers import websocket as websocket_layer

#: A filter sees each event mitmproxy sends on a WebSocket connection; returning False keeps it
#: off the wire (wsproto's state still advances, so the connection stays consistent).
SendFilter = Callable[[websocket_layer.WebsocketConnection, wsproto.events.Event], bool]

_ORIGINAL_SEND2 = websocket_layer.WebsocketConnection.send2
_filters: list[SendFilter] = []

#: Close codes that stand for "no close frame arrived" and must never become a real frame.
NO_FRAME_CLOSE_CODES = frozenset({1006, 1015})


def _filtered_send2(
    self: websocket_layer.WebsocketConnection, event: wsproto.events.Event
) -> commands.SendData:
    data = self.send(event)
    if all(keep(self, event) for keep in _filters):
        return commands.SendData(self.conn, data)
    return commands.SendData(self.conn, b"")


def add_send_filter(send_filter: SendFilter) -> None:
    """Install `send_filter`; the patch is in place while at least one filter is."""
    if send_filter not in _filters:
        _filters.append(send_filter)
    websocket_layer.WebsocketConnection.send2 = _filtered_send2  # type: ignore[method-assign]


def remove_send_filter(send_filter: SendFilter) -> None:
    if send_filter in _filters:
        _filters.remove(send_filter)
    if not _filters:
        websocket_layer.WebsocketConnection.send2 = _ORIGINAL_SEND2  # type: ignore[method-assign]


def keep_abnormal_closes_abnormal(
    _connection: websocket_layer.WebsocketConnection, event: wsproto.events.Event
) -> bool:
    """SendFilter: never turn a missing close frame into a clean one on the other side."""
    return not (
        isinstance(event, wsproto.events.CloseConnection) and event.code in NO_FRAME_CLOSE_CODES
    )
