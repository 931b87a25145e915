"""Which relay follows an upgraded connection: mitmproxy's WebSocket layer, or observe-only.

Observe-only lets mitmproxy relay the upgraded bytes as raw TCP and reads the frames on the side
(frame_reader.py): many times faster and in constant memory, but nothing can then act on or show
single messages. Pure: the watcher gathers the facts from mitmproxy and acts on the choice.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Relay(enum.StrEnum):
    """The values of the `wswatch_relay` option, and of `ws.closed`'s `relay`."""

    #: Observe-only where nothing needs mitmproxy's message layer, that layer elsewhere.
    AUTO = "auto"
    #: mitmproxy's WebSocket layer parses, re-frames and stores every message (RFC 6455 sec. 5).
    WEBSOCKET = "websocket"
    #: mitmproxy relays the bytes as TCP; wswatch reads the frame headers as they pass.
    OBSERVE = "observe"
    #: mitmproxy relayed the upgrade as raw TCP on its own (not version 13, or websocket=false).
    TCP = "tcp"


#: The choices of the `wswatch_relay` option.
RELAY_OPTION_CHOICES = (Relay.AUTO.value, Relay.WEBSOCKET.value, Relay.OBSERVE.value)


@dataclass(frozen=True, slots=True)
class MessageLayerUsers:
    """What could need mitmproxy's WebSocket message layer on one upgraded connection."""

    #: A connection-phase fault rule matches the flow, or its client asked for a fault.
    fault_may_act: bool
    #: mitmproxy's `flow_detail`: at 3 and above the dumper prints each message's content.
    flow_detail: int
    #: Other addons with WebSocket hooks (`websocket_start`/`_message`/`_end`) in force: mitmproxy
    #: calls none of them on a connection it relays as TCP.
    websocket_hooks: tuple[str, ...]
    #: An interactive flow view (mitmweb, the mitmproxy console) shows the messages.
    message_view: bool
    #: mitmproxy's `rawtcp` option: without it, it would close an upgrade it does not parse.
    rawtcp: bool


def choose_relay(requested: Relay, users: MessageLayerUsers) -> Relay:
    """The relay for one accepted upgrade: `requested` unless it cannot be had."""
    if not users.rawtcp:
        return Relay.WEBSOCKET
    if requested is not Relay.AUTO:
        return requested
    needed = (
        users.fault_may_act
        or users.flow_detail >= 3
        or bool(users.websocket_hooks)
        or users.message_view
    )
    return Relay.WEBSOCKET if needed else Relay.OBSERVE
