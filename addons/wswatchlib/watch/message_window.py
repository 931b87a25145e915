"""Addon: keep only a bounded window of each WebSocket connection's messages in memory.

mitmproxy appends every message to `flow.websocket.messages` for the life of the connection
(upstream issue #6620), so a long audio stream grows the proxy without limit. wswatch counts
messages and bytes itself, so it needs none of the old ones; mitmproxy's dumper reads only the
last one, which is always kept.
"""

from __future__ import annotations

from typing import Any

from mitmproxy import ctx, exceptions, http, tcp

from .. import events
from ..options.errors import logs_option_errors_until_running

#: `wswatch_max_messages`' default.
DEFAULT_MAX_MESSAGES = 100


@logs_option_errors_until_running
class MessageWindow:
    def __init__(self) -> None:
        #: The option's value, read when it changes, not on every message or TCP read.
        self.max_messages = DEFAULT_MAX_MESSAGES

    def load(self, loader: Any) -> None:
        loader.add_option(
            "wswatch_max_messages",
            int,
            DEFAULT_MAX_MESSAGES,
            "Keep at most this many of the latest messages per WebSocket connection in memory "
            "(at least 1; mitmproxy alone keeps them all).",
        )

    def configure(self, updated: set[str]) -> None:
        if "wswatch_max_messages" in updated and ctx.options.wswatch_max_messages < 1:
            raise exceptions.OptionsError(
                f"wswatch_max_messages must be 1 or more, got {ctx.options.wswatch_max_messages}"
            )
        if "wswatch_max_messages" in updated:
            self.max_messages = ctx.options.wswatch_max_messages

    def websocket_message(self, flow: http.HTTPFlow) -> None:
        if flow.websocket is None:
            return
        self._trim(flow.websocket.messages)

    def tcp_message(self, flow: tcp.TCPFlow) -> None:
        """An upgraded connection relayed as raw TCP grows `TCPFlow.messages` the same way;
        other TCP flows are not wswatch's to trim."""
        if events.UPGRADE_FLOW_METADATA_KEY in flow.metadata:
            self._trim(flow.messages)

    def _trim(self, messages: list[Any]) -> None:
        excess = len(messages) - self.max_messages
        if excess > 0:
            del messages[:excess]
