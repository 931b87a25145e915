"""Addon: what mitmproxy shows and keeps of a WebSocket's messages carries no secret; the peers
still get every byte as it was sent.

mitmproxy's WebSocket layer appends each message to `flow.websocket.messages`, runs the
`websocket_message` hook chain, then sends the message object it made, not the list's last
entry. So this addon puts a scrubbed copy in the list in its own hook (`payloads.PayloadScrubber`):
mitmproxy's dumper (`flow_detail` 3), its savers (`-w`, `hardump`, which read the list at the
connection's end) and mitmweb read the copy, and the original goes out. Addons after wswatch see
the copy too; `KeepEdits`, appended after every other addon while one of them may edit
messages, carries an edit or a drop one of them (a user's script, an interception) made on the
copy over to the message that is sent, with the secrets the copy hid put back
(`payloads.edit_of_original`). The close reason is scrubbed in `websocket_end`, once the Close
frame is on its way.

Upgraded connections relayed as TCP (the observe relay, raw TCP relays) keep TCP reads, not
messages: their frames' payloads are not parsed, and a client's are masked, so no scrub could be
trusted; each kept read becomes a placeholder saying how many bytes passed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from mitmproxy import ctx, http, tcp, websocket

from .. import events
from .payloads import MessageKeyRules, PayloadScrubber, edit_of_original

logger = logging.getLogger(__name__)

#: What a message that could not be scrubbed shows instead (it is still sent as it was).
UNSCRUBBABLE = b"[wswatch: message not shown: it could not be scrubbed]"


def relayed_as_tcp(size: int) -> bytes:
    """What a kept TCP read of an upgraded connection shows instead of its bytes."""
    return f"[wswatch: {size} bytes of WebSocket frames relayed as TCP, not kept]".encode()


@dataclass
class _Shown:
    """A message in flight: the one mitmproxy sends, and the copy everything else sees."""

    original: websocket.WebSocketMessage | tcp.TCPMessage
    copy: websocket.WebSocketMessage | tcp.TCPMessage
    shown: bytes
    scrub: Callable[[websocket.WebSocketMessage | tcp.TCPMessage], bytes]

    def restore(self, edited: bytes) -> bytes | None:
        """An edit of the copy as it applies to the original; None when it cannot."""
        if isinstance(self.original, tcp.TCPMessage):
            return None  # a placeholder hides everything: nothing to put back
        return edit_of_original(self.original.content, self.shown, edited)


class MessageRedaction:
    """Scrubs messages as they are kept; `remember` gives it a connection's handshake secrets."""

    def __init__(self, rules: Callable[[], MessageKeyRules]) -> None:
        self._rules = rules
        #: Each open connection's scrubber, by the upgrade flow's id.
        self._scrubbers: dict[str, PayloadScrubber] = {}
        #: Messages whose copy is shown until `KeepEdits` has seen them, by flow id.
        self._in_flight: dict[str, _Shown] = {}
        self._keep_edits = KeepEdits(self)
        #: `wswatch_redact_flows` (declared by the watcher), read when it changes, not per message.
        self.enabled = True

    def configure(self, updated: set[str]) -> None:
        if "wswatch_redact_flows" in updated:
            self.enabled = ctx.options.wswatch_redact_flows

    def remember(self, flow: http.HTTPFlow, secrets: frozenset[str]) -> None:
        """The secret values the upgrade request of an accepted connection carried."""
        if flow.response is not None and flow.response.status_code == 101:
            self._scrubbers[flow.id] = PayloadScrubber(self._rules(), secrets)

    def learned(self, flow_id: str) -> frozenset[str]:
        """The secrets a connection's messages revealed so far, for its `ws.closed`."""
        scrubber = self._scrubbers.get(flow_id)
        return frozenset(scrubber.learned) if scrubber else frozenset()

    def keep_edits(self, needed: bool) -> None:
        """Put `KeepEdits` at the end of mitmproxy's chain while an addon after wswatch may edit
        messages (the watcher asks at each accepted upgrade), and take it out while none may:
        mitmproxy asks every addon in its chain for every hook it triggers, so even an addon
        with nothing to do costs each connection (about 0.3 M instructions per handshake)."""
        present = ctx.master.addons.get(KeepEdits.name) is self._keep_edits
        if needed and not present:
            ctx.master.addons.add(self._keep_edits)
        elif present and not needed:
            ctx.master.addons.remove(self._keep_edits)

    def done(self) -> None:
        self.keep_edits(False)
        self._scrubbers.clear()
        self._in_flight.clear()

    def websocket_message(self, flow: http.HTTPFlow) -> None:
        if flow.websocket is None or not self.enabled:
            return
        scrubber = self._scrubber(flow.id)
        message = flow.websocket.messages[-1]
        shown = _scrubbed(scrubber, message)
        if shown == message.content:
            return
        copy = websocket.WebSocketMessage(
            message.type,
            message.from_client,
            shown,
            message.timestamp,
            message.dropped,
            message.injected,
        )
        flow.websocket.messages[-1] = copy
        self._in_flight[flow.id] = _Shown(message, copy, shown, _rescrub(scrubber))

    def websocket_end(self, flow: http.HTTPFlow) -> None:
        self._in_flight.pop(flow.id, None)
        scrubber = self._scrubbers.pop(flow.id, None)
        if flow.websocket is None or not self.enabled:
            return
        reason = flow.websocket.close_reason
        if reason:
            scrubber = scrubber or PayloadScrubber(self._rules())
            flow.websocket.close_reason = scrubber.text(reason)

    def tcp_message(self, flow: tcp.TCPFlow) -> None:
        if not self.enabled or events.UPGRADE_FLOW_METADATA_KEY not in flow.metadata:
            return
        message = flow.messages[-1]
        shown = relayed_as_tcp(len(message.content))
        copy = tcp.TCPMessage(message.from_client, shown, message.timestamp)
        flow.messages[-1] = copy
        self._in_flight[flow.id] = _Shown(
            message, copy, shown, lambda edited: relayed_as_tcp(len(edited.content))
        )

    def tcp_end(self, flow: tcp.TCPFlow) -> None:
        self._in_flight.pop(flow.id, None)
        upgrade_flow_id = flow.metadata.get(events.UPGRADE_FLOW_METADATA_KEY)
        if upgrade_flow_id is not None:
            self._scrubbers.pop(upgrade_flow_id, None)

    tcp_error = tcp_end

    def take(self, flow_id: str) -> _Shown | None:
        return self._in_flight.pop(flow_id, None)

    def _scrubber(self, flow_id: str) -> PayloadScrubber:
        """The connection's scrubber; one without known secrets for a connection wswatch did not
        see accepted (redaction switched on midway)."""
        scrubber = self._scrubbers.get(flow_id)
        if scrubber is None:
            scrubber = self._scrubbers[flow_id] = PayloadScrubber(self._rules())
        return scrubber


def _scrubbed(
    scrubber: PayloadScrubber, message: websocket.WebSocketMessage | tcp.TCPMessage
) -> bytes:
    """A message's content as it may be shown; a placeholder if scrubbing fails (a bug must not
    show the secret, nor stop the relay)."""
    try:
        if isinstance(message, websocket.WebSocketMessage) and message.is_text:
            text = message.content.decode("utf-8", "surrogateescape")
            return scrubber.text(text).encode("utf-8", "surrogateescape")
        return scrubber.binary(message.content)
    except Exception as error:
        logger.error(f"wswatch: could not scrub a message: {error!r}")
        return UNSCRUBBABLE


def _rescrub(
    scrubber: PayloadScrubber,
) -> Callable[[websocket.WebSocketMessage | tcp.TCPMessage], bytes]:
    return lambda message: _scrubbed(scrubber, message)


class KeepEdits:
    """Addon at the end of mitmproxy's chain: an edit or a drop made on the shown copy after
    wswatch reaches the message mitmproxy sends, and the copy shows the edit scrubbed."""

    name = "wswatch-keep-message-edits"

    def __init__(self, redaction: MessageRedaction) -> None:
        self.redaction = redaction

    def websocket_message(self, flow: http.HTTPFlow) -> None:
        if flow.websocket is not None:
            self._reconcile(flow.id, flow.websocket.messages)

    def tcp_message(self, flow: tcp.TCPFlow) -> None:
        self._reconcile(flow.id, flow.messages)

    def _reconcile(self, flow_id: str, messages: list) -> None:
        shown = self.redaction.take(flow_id)
        if shown is None or not messages or messages[-1] is not shown.copy:
            return
        copy, original = shown.copy, shown.original
        if copy.content != shown.shown:
            restored = shown.restore(copy.content)
            if restored is None:
                logger.warning(
                    "wswatch: an addon after wswatch changed the hidden parts of a message it was "
                    "shown scrubbed; it is sent as that addon left it "
                    "(set wswatch_redact_flows=false to let addons see secrets)"
                )
            original.content = copy.content if restored is None else restored
            copy.content = shown.scrub(original)
        if isinstance(copy, websocket.WebSocketMessage) and copy.dropped:
            assert isinstance(original, websocket.WebSocketMessage)
            original.drop()
