"""Addon: follow upgraded connections that mitmproxy relays as TCP, to their end.

Two kinds: observe-only connections (an accepted WebSocket wswatch chose to relay as TCP, its
frames read on the side by `frame_reader`), and raw TCP relays mitmproxy makes of an upgrade it
does not parse (no frames read: bytes counted). The watcher hands each over with `follow` and
hears back per data message and once at the end (`RelayEnd`); `outcome` decides how it ended.
The fault addons close observe-only connections through `close_observed`.

An observe-only connection that no other addon would see as a TCP flow is relayed without one
(`mitm_internals.relay_without_flow`): its reads and its end come straight from mitmproxy's TCP
layer instead of through the `tcp_` hooks, which spares mitmproxy four walks over its addons
per connection. Either way each read goes through `_read`, to the frame reader and to the
readers added with `add_reader` (the tape recorder).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from mitmproxy import http, tcp

from .. import events, mitm_internals
from .frame_reader import ObservedConnection
from .outcome import PROXY, CloseOutcome, FirstClose, close_outcome

#: Why a connection still open when the proxy stops ended.
PROXY_SHUT_DOWN = "proxy shut down"


@dataclass(frozen=True, slots=True)
class RelayEnd:
    """How a followed connection ended, for its `ws.closed`."""

    close: CloseOutcome
    ended: float
    #: Messages mitmproxy kept in the TCP flow (None at shutdown).
    retained: int | None
    #: What the frame reader saw; None when the frames were not read.
    observed: ObservedConnection | None
    #: Raw TCP relays (mitmproxy did not parse the upgrade): bytes each side sent. None for an
    #: observe-only connection.
    tcp_bytes: dict[str, int] | None


@dataclass
class FollowedRelay:
    """One followed connection."""

    flow: http.HTTPFlow  # the flow whose ws.handshake was reported
    observed: ObservedConnection | None
    on_message: Callable[[str, float], None]
    on_end: Callable[[RelayEnd], None]
    #: mitmproxy relays it as raw TCP of its own accord (it did not parse the upgrade), as
    #: opposed to an observe-only connection wswatch chose to relay so.
    raw: bool = False
    tcp_flow: tcp.TCPFlow | None = None
    #: The close code and reason a fault closed this observed connection with, first.
    proxy_close: tuple[int, str] | None = None
    tcp_bytes: dict[str, int] = field(default_factory=lambda: {"client": 0, "server": 0})
    #: Relayed without a TCP flow (`mitm_internals.relay_without_flow`).
    flowless: bool = False
    #: Without a TCP flow: the side whose connection closed first.
    closed_first: str | None = None

    @property
    def closable(self) -> bool:
        """An observe-only connection whose closing nobody has started: no fault, and no peer's
        Close frame yet (RFC 6455 section 5.5.1: one Close each way, no second one)."""
        return (
            self.observed is not None
            and (self.tcp_flow is not None or self.flowless)
            and self.proxy_close is None
            and self.observed.first_close is None
        )


#: Reads a relayed connection's bytes too: (client connection id, side, bytes, read at).
RelayReader = Callable[[str, str, bytes, float], None]


class _Follower:
    """mitmproxy's TCP layer reports to it, for a relay without a flow."""

    def __init__(self, relays: UpgradeRelays, client_id: str, relay: FollowedRelay) -> None:
        self._relays = relays
        self._client_id = client_id
        self._relay = relay

    def read(self, side: str, data: bytes, at: float) -> None:
        self._relays._read(self._client_id, self._relay, side, data, at)

    def closed(self, side: str) -> None:
        if self._relay.closed_first is None:
            self._relay.closed_first = side

    def ended(self) -> None:
        self._relays._end(self._client_id, None, self._relay.closed_first, 0)


class UpgradeRelays:
    def __init__(self) -> None:
        #: Followed connections, by client connection id (one upgrade each).
        self.relays: dict[str, FollowedRelay] = {}
        self._readers: list[RelayReader] = []

    def add_reader(self, reader: RelayReader) -> None:
        """Have `reader` see every read of every followed connection, after the frame reader."""
        self._readers.append(reader)

    def load(self, _loader: object) -> None:
        mitm_internals.patch_tcp_relay(True)

    def follow(
        self,
        flow: http.HTTPFlow,
        observed: ObservedConnection | None,
        on_message: Callable[[str, float], None],
        on_end: Callable[[RelayEnd], None],
        *,
        raw: bool = False,
        tcp_flow: bool = True,
    ) -> None:
        """Follow the TCP relay that will carry `flow`'s upgraded connection, its frames read
        by `observed` (None: bytes only): `on_message` (side, time) for each data message the
        reader completes, `on_end` once it ends. `raw`: mitmproxy relays it as raw TCP itself
        (its bytes are counted too). `tcp_flow` False: relay it without a TCP flow (nothing
        but wswatch would see one)."""
        client_id = flow.client_conn.id
        relay = FollowedRelay(flow, observed, on_message, on_end, raw=raw, flowless=not tcp_flow)
        self.relays[client_id] = relay
        if not tcp_flow:
            mitm_internals.relay_without_flow(client_id, _Follower(self, client_id, relay))

    def observed_flows(self) -> list[http.HTTPFlow]:
        """The flows of open observe-only connections nobody is closing yet: fault commands
        and moments strike these too."""
        return [relay.flow for relay in self.relays.values() if relay.closable]

    def close_observed(self, flow: http.HTTPFlow, code: int, reason: str) -> bool:
        """Close an observe-only connection as the proxy: Close(code, reason) to both peers,
        then the TCP connections (1006: no close frame, the connections just end). A peer
        midway through receiving a frame gets no Close (it would land inside that frame): its
        connection just ends. False when it is not open, or a peer or a fault is closing it."""
        relay = self.relays.get(flow.client_conn.id)
        if relay is None or not relay.closable:
            return False
        assert relay.observed is not None
        readers = relay.observed.readers
        # Noted first: mitmproxy 12 may end the relay, `tcp_end` included, before
        # close_both_peers returns.
        relay.proxy_close = (code, reason)
        # What the client receives is what the server sends, and the other way round.
        if mitm_internals.close_both_peers(
            relay.tcp_flow or relay.flow,
            code,
            reason,
            frame_to_client=readers["server"].between_frames,
            frame_to_server=readers["client"].between_frames,
        ):
            return True
        relay.proxy_close = None
        return False

    def tcp_start(self, flow: tcp.TCPFlow) -> None:
        relay = self.relays.get(flow.client_conn.id)
        if relay is not None:
            flow.metadata[events.UPGRADE_FLOW_METADATA_KEY] = relay.flow.id
            relay.tcp_flow = flow

    def tcp_message(self, flow: tcp.TCPFlow) -> None:
        client_id = flow.client_conn.id
        relay = self.relays.get(client_id)
        if relay is None:
            return
        message = flow.messages[-1]
        side = "client" if message.from_client else "server"
        self._read(client_id, relay, side, message.content, message.timestamp)

    def _read(
        self, client_id: str, relay: FollowedRelay, side: str, data: bytes, at: float
    ) -> None:
        if relay.raw:
            relay.tcp_bytes[side] += len(data)
        if relay.observed is not None and relay.observed.feed(side, data, at):
            relay.on_message(side, at)
        for reader in self._readers:
            reader(client_id, side, data, at)

    def tcp_end(self, flow: tcp.TCPFlow) -> None:
        self._end_flow(flow, None)

    def tcp_error(self, flow: tcp.TCPFlow) -> None:
        self._end_flow(flow, flow.error.msg if flow.error else None)

    def _end_flow(self, flow: tcp.TCPFlow, error: str | None) -> None:
        closed_first = mitm_internals.first_to_close(flow)
        self._end(flow.client_conn.id, error, closed_first, len(flow.messages))

    def done(self) -> None:
        for client_id in list(self.relays):
            mitm_internals.forget_flowless(client_id)
            self._end(client_id, PROXY_SHUT_DOWN, PROXY, None)
        mitm_internals.patch_tcp_relay(False)

    def _end(
        self, client_id: str, reason: str | None, closed_first: str | None, retained: int | None
    ) -> None:
        relay = self.relays.pop(client_id, None)
        if relay is None:
            return
        observed = relay.observed
        if observed is None:
            # No frames were read, so no close code, and who closed is not reported.
            close = CloseOutcome(None, reason, None)
        else:
            first = None
            if observed.first_close is not None:
                reader = observed.readers[observed.first_close]
                first = FirstClose(observed.first_close, reader.close_code, reader.close_reason)
            close = close_outcome(relay.proxy_close, first, closed_first, reason)
        tcp_bytes = relay.tcp_bytes if relay.raw else None
        relay.on_end(RelayEnd(close, time.time(), retained, observed, tcp_bytes))
