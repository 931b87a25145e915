"""Addon: record every upgrade attempt as a tape (`wswatch_record=DIR`), accepted or not.

The watcher reports the attempt first (its `ws.handshake`, which this addon hears as a listener
of the event log, gives the outcome and vendor); this addon then writes the header, follows the
connection on whichever relay carries it (mitmproxy's message layer: `websocket_message`; the
observe-only or raw TCP relay: the bytes, read by `capture`), and ends the tape when the
connection's `ws.closed` is written. Everything written is scrubbed first: the handshake with the
redactor every output uses, each message with its connection's payload scrubber; `writer` then
refuses a tape that still holds a known secret.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mitmproxy import ctx, exceptions, http

from .. import events
from ..redaction.payloads import MessageKeyRules, PayloadScrubber
from ..redaction.redactor import REDACTED, Redactor, scrub, scrub_bytes_of, scrub_variants
from ..rfc6455 import FRAME_FORMAT_VERSIONS
from ..text import encodable
from ..watch.handshake import header_map, is_upgrade_request
from .capture import MessageCapture
from .format import (
    ClientBinary,
    End,
    RecordedRequest,
    RecordedResponse,
    TapeEnd,
    TapeHeader,
    TapeMessage,
    end_line,
    header_line,
    message_line,
    wswatch_version,
)
from .writer import TapeWriter, tape_name

logger = logging.getLogger("wswatch")

TAPE_RECORDED = "tape.recorded"
TAPE_NOT_WRITTEN = "tape.not_written"

#: flow.metadata key: record this flow into the directory it names (replay's `record` on a miss).
RECORD_INTO_KEY = "wswatch.record_into"


@dataclass
class Recording:
    """One tape being written."""

    writer: TapeWriter
    url: str
    opened_at: float
    scrubber: PayloadScrubber
    client_binary: ClientBinary
    #: Per side, the reader of its raw bytes (TCP relays only).
    captures: dict[str, MessageCapture] = field(default_factory=dict)
    messages: dict[str, int] = field(default_factory=lambda: {"client": 0, "server": 0})


def _pairs(headers: http.Headers, redactor: Redactor, forms: list[str]) -> list[tuple[str, str]]:
    """Headers as [name, value] pairs, in order, secret values redacted."""
    return [
        (encodable(name), encodable(scrub(redactor.redact_header(name, value), forms)))
        for name, value in headers.items(multi=True)
    ]


class TapeRecorder:
    def __init__(
        self,
        event_log: Any,
        request_view: Callable[[http.HTTPFlow], tuple[str, frozenset[str]]],
        redactor: Callable[[], Redactor],
        message_rules: Callable[[], MessageKeyRules],
    ) -> None:
        self.event_log = event_log
        self._request_view = request_view
        self._redactor = redactor
        self._message_rules = message_rules
        #: Tapes being written, by the upgrade flow's id.
        self.recordings: dict[str, Recording] = {}
        #: TCP relays' client connection id -> the upgrade flow's id.
        self._relayed: dict[str, str] = {}
        #: The `ws.handshake` just written for a flow, until its hook records it.
        self._handshakes: dict[str, dict[str, Any]] = {}
        #: The redacted URL and the secret values of each upgrade request to record, read in
        #: `request`: once reported, the flow itself is redacted (`wswatch_redact_flows`).
        self._requests: dict[str, tuple[str, frozenset[str]]] = {}
        self._sequence = itertools.count(1)
        #: `wswatch_record`'s directory, read when the option changes, not per request.
        self._record_into: Path | None = None
        #: Called with each tape written (replay adds tapes recorded on a miss).
        self.on_written: list[Callable[[Path], None]] = []
        event_log.add_listener(self._heard)

    def load(self, loader: Any) -> None:
        loader.add_option(
            "wswatch_record",
            str,
            "",
            "Record every WebSocket upgrade attempt as a tape (*.tape.jsonl) in this directory "
            "(created if missing), secrets scrubbed; replay them with wswatch_replay.",
        )
        loader.add_option(
            "wswatch_record_client_binary",
            str,
            ClientBinary.DIGEST.value,
            "How a tape keeps the client's binary messages: digest (length and SHA-256: uploads "
            "such as audio are large and are your own data; replay needs only their count, size "
            "and digest) or whole (base64).",
            choices=[each.value for each in ClientBinary],
        )

    def configure(self, updated: set[str]) -> None:
        if "wswatch_record" in updated:
            self._record_into = None
        if "wswatch_record" in updated and ctx.options.wswatch_record:
            directory = Path(ctx.options.wswatch_record).expanduser()
            try:
                directory.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise exceptions.OptionsError(
                    f"Cannot use wswatch_record directory {directory}: {error.strerror or error}"
                ) from error
            self._record_into = directory

    def _directory(self, flow: http.HTTPFlow) -> Path | None:
        into = flow.metadata.get(RECORD_INTO_KEY)
        if into:
            return Path(into)
        return self._record_into

    def _heard(self, event: dict[str, Any]) -> None:
        name, flow_id = event.get("event"), event.get("flow_id")
        if name == events.HANDSHAKE and flow_id:
            # Popped by this addon's `response` or `error` in the same hook chain.
            self._handshakes[flow_id] = event
        elif name == events.CLOSED and flow_id in self.recordings:
            self._end_connection(flow_id, event)

    # The attempt ---------------------------------------------------------------------------

    def request(self, flow: http.HTTPFlow) -> None:
        if self._directory(flow) is not None and is_upgrade_request(
            header_map(flow.request.headers)
        ):
            self._requests[flow.id] = self._request_view(flow)

    def response(self, flow: http.HTTPFlow) -> None:
        self._attempt(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        if flow.id not in self.recordings:
            self._attempt(flow)

    def _attempt(self, flow: http.HTTPFlow) -> None:
        reported = self._handshakes.pop(flow.id, None)
        seen = self._requests.pop(flow.id, None)
        directory = self._directory(flow)
        if reported is None or directory is None:
            return
        if seen is None:
            # A request mitmproxy refused before its `request` hook (a malformed head): the
            # flow holds only what it parsed, already redacted by the watcher's report, so
            # its "secrets" are the placeholders.
            url, placeholders = self._request_view(flow)
            seen = (url, frozenset(value for value in placeholders if REDACTED not in value))
        try:
            self._start(flow, reported, directory, *seen)
        except OSError as error:
            logger.error(f"wswatch: could not write a tape in {directory}: {error}")

    def _start(
        self,
        flow: http.HTTPFlow,
        reported: dict[str, Any],
        directory: Path,
        url: str,
        secrets: frozenset[str],
    ) -> None:
        redactor = self._redactor()
        forms = scrub_variants(secrets)
        request, response = flow.request, flow.response
        status = response.status_code if response is not None else None
        name = tape_name(
            request.timestamp_start, next(self._sequence), request.host, request.path, status
        )
        writer = TapeWriter(directory, name)
        extensions = response.headers.get("sec-websocket-extensions") if response else None
        header = TapeHeader(
            recorded_at=events.utc_timestamp(request.timestamp_start),
            wswatch_version=wswatch_version(),
            request=RecordedRequest(
                method=request.method,
                scheme="wss" if request.scheme == "https" else "ws",
                host=request.host,
                port=request.port,
                path=encodable(redactor.redact_url(request.path)),
                http_version=request.http_version,
                headers=_pairs(request.headers, redactor, forms),
            ),
            response=self._response(response, redactor, forms) if response else None,
            outcome=reported.get("outcome"),
            vendor=reported.get("vendor"),
            subprotocol=reported.get("subprotocol"),
            extensions=extensions,
            client_binary=ctx.options.wswatch_record_client_binary,
        )
        recording = Recording(
            writer,
            url,
            response.timestamp_end or time.time() if response else time.time(),
            PayloadScrubber(self._message_rules(), secrets),
            ClientBinary(ctx.options.wswatch_record_client_binary),
        )
        if status == 101 and flow.websocket is None:
            version = header_map(request.headers).get("sec-websocket-version", "").strip()
            if version in FRAME_FORMAT_VERSIONS:
                deflate = "permessage-deflate" in (extensions or "").lower()
                recording.captures = {
                    "client": MessageCapture(True, deflate=deflate),
                    "server": MessageCapture(False, deflate=deflate),
                }
                self._relayed[flow.client_conn.id] = flow.id
            header = _with_relay(header, "observe" if version == "13" else "tcp")
        elif status == 101:
            header = _with_relay(header, "websocket")
        writer.write(header_line(header))
        self.recordings[flow.id] = recording
        if status != 101:
            end = (
                TapeEnd(End.HANDSHAKE)
                if response is not None
                else TapeEnd(
                    End.ERROR, error=scrub(encodable(flow.error.msg), forms) if flow.error else None
                )
            )
            writer.write(end_line(end))
            self._finish(flow.id, reported.get("outcome"))

    @staticmethod
    def _response(
        response: http.Response, redactor: Redactor, forms: list[str]
    ) -> RecordedResponse:
        raw = response.raw_content or b""
        body: str | None = None
        body_base64: str | None = None
        if raw:
            raw = scrub_bytes_of(raw, forms)
            try:
                body = raw.decode("utf-8")
            except UnicodeDecodeError:
                body_base64 = base64.b64encode(raw).decode("ascii")
        return RecordedResponse(
            status=response.status_code,
            reason=encodable(response.reason),
            http_version=response.http_version,
            headers=_pairs(response.headers, redactor, forms),
            body=body,
            body_base64=body_base64,
        )

    # Messages ------------------------------------------------------------------------------

    def websocket_message(self, flow: http.HTTPFlow) -> None:
        recording = self.recordings.get(flow.id)
        if recording is None or flow.websocket is None:
            return
        message = flow.websocket.messages[-1]
        if message.injected:
            return  # wswatch's own (a script's send): not what the endpoint or client said
        self._record(
            recording, message.from_client, message.is_text, message.content, message.timestamp
        )

    def relayed_read(self, client_id: str, side: str, data: bytes, at: float) -> None:
        """A read of a connection relayed as TCP (`UpgradeRelays.add_reader`), with or without
        a TCP flow."""
        flow_id = self._relayed.get(client_id)
        if flow_id is None:
            return
        recording = self.recordings.get(flow_id)
        if recording is None:
            return
        from_client = side == "client"
        for captured in recording.captures[side].feed(data, at):
            self._record(recording, from_client, captured.text, captured.payload, captured.at)

    def _record(
        self, recording: Recording, from_client: bool, is_text: bool, payload: bytes, at: float
    ) -> None:
        t_ms = (at - recording.opened_at) * 1000
        scrubber = recording.scrubber
        if is_text:
            line = TapeMessage(
                t_ms, from_client, text=scrubber.text(payload.decode("utf-8", "replace"))
            )
        elif from_client and recording.client_binary is ClientBinary.DIGEST:
            line = TapeMessage(
                t_ms, True, length=len(payload), sha256=hashlib.sha256(payload).hexdigest()
            )
        else:
            line = TapeMessage(t_ms, from_client, data=scrubber.binary(payload))
        recording.writer.write(message_line(line))
        recording.messages["client" if from_client else "server"] += 1

    # The end -------------------------------------------------------------------------------

    def _end_connection(self, flow_id: str, closed: dict[str, Any]) -> None:
        recording = self.recordings.get(flow_id)
        if recording is None:
            return
        duration = closed.get("duration_s")
        line = end_line(
            TapeEnd(
                End.CLOSED,
                t_ms=round(duration * 1000, 3) if isinstance(duration, int | float) else None,
                code=closed.get("close_code"),
                reason=closed.get("close_reason"),
                closed_by=closed.get("closed_by"),
                clean=bool(closed.get("clean")),
            )
        )
        line.update(_unrecorded(recording.captures))
        recording.writer.write(line)
        self._finish(flow_id, events.Outcome.ACCEPTED.value)

    def _finish(self, flow_id: str, outcome: str | None) -> None:
        recording = self.recordings.pop(flow_id)
        for client_id, relayed in list(self._relayed.items()):
            if relayed == flow_id:
                del self._relayed[client_id]
        writer = recording.writer
        try:
            found = writer.finish(recording.scrubber.secrets)
        except OSError as error:
            logger.error(f"wswatch: could not finish tape {writer.path}: {error}")
            return
        if found:
            self.event_log.emit(
                TAPE_NOT_WRITTEN,
                {
                    "tape": writer.path.name,
                    "url": recording.url,
                    "why": "a known secret value is still there after scrubbing, on line(s) "
                    f"{', '.join(map(str, found[:10]))}; nothing was written",
                },
                flow_id=flow_id,
                secrets=recording.scrubber.secrets,
                level=logging.ERROR,
            )
            return
        self.event_log.emit(
            TAPE_RECORDED,
            {
                "tape": writer.path.name,
                "path": str(writer.path),
                "url": recording.url,
                "outcome": outcome,
                "messages": dict(recording.messages),
            },
            flow_id=flow_id,
            secrets=recording.scrubber.secrets,
            level=logging.INFO,
        )
        for listener in self.on_written:
            listener(writer.path)

    def done(self) -> None:
        for flow_id in list(self.recordings):
            self._finish(flow_id, None)
        self._handshakes.clear()
        self._requests.clear()


def _unrecorded(captures: dict[str, MessageCapture]) -> dict[str, Any]:
    """What the raw-bytes reader could not put in the tape, per side, for the end line:
    `skipped` (messages over its size limit) and `unreadable` (why it stopped following)."""
    fields: dict[str, Any] = {}
    skipped = {side: capture.skipped for side, capture in captures.items() if capture.skipped}
    unreadable = {side: capture.broken for side, capture in captures.items() if capture.broken}
    if skipped:
        fields["skipped"] = skipped
    if unreadable:
        fields["unreadable"] = unreadable
    return fields


def _with_relay(header: TapeHeader, relay: str) -> TapeHeader:
    return dataclasses.replace(header, relay=relay)
