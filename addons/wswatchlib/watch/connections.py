"""Addon: follow each upgraded connection to its end and report it as one `ws.closed`.

The watcher hands over each connection its 101 opened: a WebSocket mitmproxy relays with its
message layer (`follow`, then `websocket_message` / `websocket_end`), or one relayed as TCP
(`relay/relays.py` calls `relay_ended`). Either way the event is built once from plain facts
(`reports.analyse_close`) and logged at the level `reports.close_level` gives. Open connections
are reported when the proxy stops. Owns `wswatch_faithful_close`, and notes which side's bytes
broke the WebSocket parser (`mitm_internals.take_parser_failure`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mitmproxy import ctx, http

from .. import events, mitm_internals
from ..output.event_log import EventLog
from ..relay.choice import Relay
from ..relay.frame_reader import ObservedConnection
from ..relay.relays import RelayEnd
from . import reports
from .client_history import ClientHistory
from .message_gaps import MessageGaps
from .vendors import VendorProfile
from .violations import Violation, classify_violation

#: This addon's name as an owner of the abnormal-close send filter (`wswatch_faithful_close`).
FAITHFUL_CLOSE = "wswatch_faithful_close"


@dataclass
class ConnectionTrack:
    """Running counts for one upgraded connection; the per-message hot path touches only this."""

    url: str
    vendor: VendorProfile | None
    secrets: frozenset[str]
    started: float = field(default_factory=time.time)
    messages: dict[str, int] = field(default_factory=lambda: {"client": 0, "server": 0})
    bytes: dict[str, int] = field(default_factory=lambda: {"client": 0, "server": 0})
    #: Messages not forwarded when they arrived (a stall or delay may still deliver them later).
    dropped: dict[str, int] = field(default_factory=lambda: {"client": 0, "server": 0})
    #: The flow's metadata, where a connection fault counts the held messages it delivered.
    flow_metadata: dict[str, Any] = field(default_factory=dict)
    client_id: str = ""
    #: Why the frames of a raw TCP relay are not read (None when they are, or not raw TCP).
    frames_unread: str | None = None
    #: The client memory the attempt was counted in: told when the connection ends.
    history: ClientHistory = field(default_factory=ClientHistory)
    gaps: MessageGaps = field(init=False)

    def __post_init__(self) -> None:
        self.gaps = MessageGaps(self.started)


def _relay_name(raw_tcp: bool, observed: ObservedConnection | None) -> str:
    if raw_tcp:
        return Relay.TCP.value
    return Relay.OBSERVE.value if observed is not None else Relay.WEBSOCKET.value


def _observed_facts(observed: ObservedConnection) -> reports.ObservedFacts:
    return reports.ObservedFacts(
        pings=observed.per_side("pings"),
        pongs=observed.per_side("pongs"),
        pong_rtt_ms=observed.round_trips.fields(),
        protocol_violations=observed.violations(),
        first_violation=observed.first_violation,
        bytes_compressed=observed.readers["client"].deflate,
    )


class ConnectionWatch:
    def __init__(
        self,
        event_log: EventLog,
        learned_secrets: Callable[[str], frozenset[str]] = lambda _flow_id: frozenset(),
    ) -> None:
        self.event_log = event_log
        #: The secrets a connection's messages revealed (`redaction.messages`), for its close
        #: reason: a server may echo in its Close frame a token the client sent in a message.
        self.learned_secrets = learned_secrets
        #: Open WebSocket connections on mitmproxy's message layer, by flow id.
        self.connections: dict[str, ConnectionTrack] = {}

    def load(self, loader: Any) -> None:
        mitm_internals.note_parser_failures(True)
        loader.add_option(
            "wswatch_faithful_close",
            bool,
            True,
            "When a peer drops the connection without a close frame, drop the other side too "
            "(it sees 1006) instead of mitmproxy's clean close 1000.",
        )

    def configure(self, updated: set[str]) -> None:
        if "wswatch_faithful_close" in updated:
            if ctx.options.wswatch_faithful_close:
                mitm_internals.add_send_filter(
                    mitm_internals.keep_abnormal_closes_abnormal, FAITHFUL_CLOSE
                )
            else:
                mitm_internals.remove_send_filter(
                    mitm_internals.keep_abnormal_closes_abnormal, FAITHFUL_CLOSE
                )

    def follow(self, flow: http.HTTPFlow, track: ConnectionTrack) -> None:
        """Follow a WebSocket mitmproxy relays with its message layer."""
        self.connections[flow.id] = track

    # Connections ----------------------------------------------------------------------------

    def websocket_message(self, flow: http.HTTPFlow) -> None:
        track = self.connections.get(flow.id)
        if track is None or flow.websocket is None:
            return
        message = flow.websocket.messages[-1]
        if message.injected:
            return
        side = "client" if message.from_client else "server"
        track.messages[side] += 1
        track.bytes[side] += len(message.content)
        track.gaps.observe(side, message.timestamp)
        if message.dropped:  # this addon runs after the fault addons
            track.dropped[side] += 1

    def websocket_end(self, flow: http.HTTPFlow) -> None:
        parser_failure = mitm_internals.take_parser_failure(flow)
        track = self.connections.pop(flow.id, None)
        if track is None or flow.websocket is None:
            return
        websocket = flow.websocket
        code = int(websocket.close_code) if websocket.close_code is not None else None
        fault = events.FaultMark.of(flow.metadata)
        if (fault and fault.closed_by_proxy) or parser_failure:
            closed_by = "proxy"
        else:
            closed_by = "client" if websocket.closed_by_client else "server"
        self._report_close(
            flow.id,
            track,
            code,
            websocket.close_reason,
            closed_by,
            websocket.timestamp_end or time.time(),
            len(websocket.messages),
            violation=classify_violation(parser_failure.text) if parser_failure else None,
            violated_by=parser_failure.side if parser_failure else None,
        )

    def relay_ended(self, flow_id: str, track: ConnectionTrack, end: RelayEnd) -> None:
        """A connection the relays followed ended: its counts are the reader's (observe-only)
        or raw bytes (raw TCP)."""
        observed = end.observed
        if observed is not None:
            track.messages = observed.per_side("messages")
            track.bytes = observed.per_side("bytes")
        self._report_close(
            flow_id,
            track,
            end.close.code,
            end.close.reason,
            end.close.closed_by,
            end.ended,
            end.retained,
            tcp_bytes=end.tcp_bytes,
            observed=observed,
        )

    def _report_close(
        self,
        flow_id: str,
        track: ConnectionTrack,
        code: int | None,
        reason: str | None,
        closed_by: str | None,
        ended: float,
        retained: int | None,
        *,
        violation: Violation | None = None,
        violated_by: str | None = None,
        tcp_bytes: dict[str, int] | None = None,
        observed: ObservedConnection | None = None,
    ) -> None:
        """Report one connection's end. `tcp_bytes`: mitmproxy relayed it as raw TCP;
        `observed`: the frame reader followed it (observe-only, or a raw relay in a frame
        format it reads). A raw relay nobody read has bytes only."""
        track.history.connection_ended(track.client_id, ended)
        raw_tcp = tcp_bytes is not None
        unread = raw_tcp and observed is None
        last_message, longest_gap = (None, None) if unread else track.gaps.finish(ended)
        # A fault marks the flow's metadata, which the track holds: one place, whichever path
        # (and whichever hook, shutdown included) reports the close.
        fault = events.FaultMark.of(track.flow_metadata)
        facts = reports.ConnectionFacts(
            url=track.url,
            close_code=code,
            close_reason=reason,
            closed_by=closed_by,
            started=track.started,
            ended=ended,
            messages=None if unread else track.messages,
            bytes=None if unread else track.bytes,
            retained_messages=retained,
            violation=violation,
            violated_by=violated_by,
            tcp_bytes=tcp_bytes,
            dropped=track.dropped,
            redelivered=fault.redelivered if fault else {},
            sent=fault.sent if fault else {},
            client_id=track.client_id,
            last_message_s=last_message,
            longest_gap_s=longest_gap,
            rule_id=fault.rule_id if fault else None,
            relay=_relay_name(raw_tcp, observed),
            observed=_observed_facts(observed) if observed is not None else None,
            frames_unread=track.frames_unread if unread else None,
        )
        event = reports.analyse_close(facts, track.vendor)
        if tape := track.flow_metadata.get(events.TAPE_METADATA_KEY):
            event = dataclasses.replace(event, replayed=True, tape=tape)
        self.event_log.emit(
            events.CLOSED,
            event.fields(),
            flow_id=flow_id,
            secrets=track.secrets | self.learned_secrets(flow_id),
            level=reports.close_level(event),
        )

    def done(self) -> None:
        for flow_id, track in list(self.connections.items()):
            self._report_close(flow_id, track, None, "proxy shut down", "proxy", time.time(), None)
        self.connections.clear()
        mitm_internals.remove_send_filter(
            mitm_internals.keep_abnormal_closes_abnormal, FAITHFUL_CLOSE
        )
        mitm_internals.note_parser_failures(False)
