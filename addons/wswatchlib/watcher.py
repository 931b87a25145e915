"""Addon: watch every WebSocket upgrade and follow each upgraded connection to its end.

Thin hooks: copy plain facts out of the flow, let `reports` decide, hand the event to the event log.
One `ws.handshake` per upgrade attempt (from `response` or `error`, whichever comes first), one
`ws.closed` per upgraded connection (from `websocket_end`, or at shutdown for those still open).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mitmproxy import ctx, exceptions, http

from . import events, mitm_internals, reports
from .event_log import EventLog
from .handshake import Outcome, is_upgrade_request
from .redaction import REDACTED, Redactor, scrub_secrets
from .summary import SessionSummary
from .vendors import (
    DEFAULT_VENDORS_PATH,
    SecretNames,
    VendorCatalog,
    VendorFileError,
    VendorProfile,
    load_catalog,
)

#: flow.metadata key marking a flow whose handshake was already reported.
REPORTED_KEY = "wswatch.outcome"


def header_map(headers: http.Headers) -> dict[str, str]:
    """Lower-cased name -> value; repeated headers joined with ", " as RFC 9110 allows."""
    joined: dict[str, str] = {}
    for name, value in headers.items(multi=True):
        name = name.lower()
        joined[name] = f"{joined[name]}, {value}" if name in joined else value
    return joined


def _address(peername: Any) -> str:
    return f"{peername[0]}:{peername[1]}" if peername else ""


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
    #: The flow's metadata, where the fault injector counts the held messages it delivered.
    flow_metadata: dict[str, Any] = field(default_factory=dict)


class WsWatch:
    """Reports upgrade attempts and connection ends as structured events."""

    def __init__(self, event_log: EventLog) -> None:
        self.event_log = event_log
        self.catalog: VendorCatalog | None = None
        self.redactor = Redactor(SecretNames())
        self.summary = SessionSummary()
        self.connections: dict[str, ConnectionTrack] = {}

    def load(self, loader: Any) -> None:
        loader.add_option(
            "wswatch_vendors",
            str,
            DEFAULT_VENDORS_PATH,
            "Vendor profiles (YAML): error and request-id headers, secrets, close codes, hints.",
        )
        loader.add_option(
            "wswatch_redact_headers",
            Sequence[str],
            [],
            "More header names whose values are secrets (added to the vendor profiles' list).",
        )
        loader.add_option(
            "wswatch_redact_params",
            Sequence[str],
            [],
            "More query parameter names whose values are secrets.",
        )
        loader.add_option(
            "wswatch_redact_flows",
            bool,
            True,
            "Once a handshake is reported, also redact secrets in the flow's request (already sent "
            "upstream) and in a 101 once sent, so mitmproxy's output, mitmweb and saved flows do "
            "not show them. Responses reach the client unchanged.",
        )
        loader.add_option(
            "wswatch_body_excerpt",
            int,
            512,
            "How many characters of a rejection body to report in body_excerpt.",
        )
        loader.add_option(
            "wswatch_faithful_close",
            bool,
            True,
            "When a peer drops the connection without a close frame, drop the other side too "
            "(it sees 1006) instead of mitmproxy's clean close 1000.",
        )

    def configure(self, updated: set[str]) -> None:
        if "wswatch_vendors" in updated:
            path = ctx.options.wswatch_vendors
            try:
                self.catalog = load_catalog(path)
            except VendorFileError as error:
                raise exceptions.OptionsError(f"Cannot load wswatch_vendors: {error}") from error
        if updated & {"wswatch_vendors", "wswatch_redact_headers", "wswatch_redact_params"}:
            assert self.catalog is not None
            extra = SecretNames(
                headers=frozenset(n.lower() for n in ctx.options.wswatch_redact_headers),
                query=frozenset(n.lower() for n in ctx.options.wswatch_redact_params),
            )
            self.redactor = Redactor(self.catalog.all_secrets.merged(extra))
        if "wswatch_body_excerpt" in updated and ctx.options.wswatch_body_excerpt < 0:
            raise exceptions.OptionsError(
                f"wswatch_body_excerpt must be 0 or more, got {ctx.options.wswatch_body_excerpt}"
            )
        if "wswatch_faithful_close" in updated:
            if ctx.options.wswatch_faithful_close:
                mitm_internals.add_send_filter(mitm_internals.keep_abnormal_closes_abnormal)
            else:
                mitm_internals.remove_send_filter(mitm_internals.keep_abnormal_closes_abnormal)

    # Handshakes -----------------------------------------------------------------------------

    def response(self, flow: http.HTTPFlow) -> None:
        self._report_handshake(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._report_handshake(flow)

    def _facts(self, flow: http.HTTPFlow) -> reports.HandshakeFacts:
        request, response = flow.request, flow.response
        ended = (response.timestamp_end or response.timestamp_start) if response else time.time()
        return reports.HandshakeFacts(
            client=_address(flow.client_conn.peername),
            scheme="wss" if request.scheme == "https" else "ws",
            host=request.host,
            port=request.port,
            path=request.path,
            method=request.method,
            http_version=request.http_version,
            request_headers=header_map(request.headers),
            status=response.status_code if response else None,
            reason=response.reason if response else None,
            response_headers=header_map(response.headers) if response else {},
            body=response.get_text(strict=False) if response and response.raw_content else None,
            error=flow.error.msg if flow.error else None,
            started=request.timestamp_start,
            ended=ended or time.time(),
            injected_end=(flow.metadata.get(events.FAULT_METADATA_KEY) or {}).get("ended"),
        )

    def _report_handshake(self, flow: http.HTTPFlow) -> None:
        if (
            not is_upgrade_request(header_map(flow.request.headers))
            or REPORTED_KEY in flow.metadata
        ):
            return
        if flow.response is None and flow.error is None:
            return
        assert self.catalog is not None
        analysis = reports.analyse_handshake(
            self._facts(flow), self.catalog, self.redactor, ctx.options.wswatch_body_excerpt
        )
        fault = flow.metadata.get(events.FAULT_METADATA_KEY)
        event = analysis.event
        if fault:
            event = dataclasses.replace(event, injected=True, rule_id=fault["rule_id"])
        flow.metadata[REPORTED_KEY] = event.outcome
        self.summary.record_handshake(
            event.host,
            event.outcome,
            scrub_secrets(analysis.summary_reason, analysis.secrets),
            event.injected,
            event.rule_id,
        )
        self.event_log.emit(
            events.HANDSHAKE,
            event.fields(),
            flow_id=flow.id,
            secrets=analysis.secrets,
            level=logging.INFO if event.outcome == Outcome.ACCEPTED else logging.WARNING,
        )
        if event.outcome != Outcome.ACCEPTED:
            flow.marked = ":warning:"
            comment = (
                f"wswatch: {event.outcome} {event.status or event.failure or ''}: {event.hint}"
            )
            flow.comment = scrub_secrets(comment, analysis.secrets)
        if flow.websocket is not None:
            self.connections[flow.id] = ConnectionTrack(
                event.url, analysis.vendor, analysis.secrets, flow_metadata=flow.metadata
            )
        if ctx.options.wswatch_redact_flows:
            self._redact_flow(flow)

    def _redact_flow(self, flow: http.HTTPFlow) -> None:
        """The request was already sent upstream: from here on it is only shown and saved.
        The response is not touched here: in the `response` hook it has not reached the client
        yet (a redacted Set-Cookie would break the client). A 101 is redacted in
        `websocket_start`, once it has been sent."""
        request = flow.request
        for name in list(request.query.keys()):
            if self.redactor.is_secret_param(name):
                request.query[name] = REDACTED
        self._redact_headers(request.headers)

    def _redact_headers(self, headers: http.Headers) -> None:
        for name in set(headers.keys()):
            value = headers[name]
            redacted = self.redactor.redact_header(name, value)
            if redacted != value:
                headers[name] = redacted

    def websocket_start(self, flow: http.HTTPFlow) -> None:
        if ctx.options.wswatch_redact_flows and flow.response is not None:
            self._redact_headers(flow.response.headers)

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
        if message.dropped:  # this addon runs after the fault injector
            track.dropped[side] += 1

    def websocket_end(self, flow: http.HTTPFlow) -> None:
        track = self.connections.pop(flow.id, None)
        if track is None or flow.websocket is None:
            return
        websocket = flow.websocket
        code = int(websocket.close_code) if websocket.close_code is not None else None
        fault = flow.metadata.get(events.FAULT_METADATA_KEY) or {}
        if fault.get("closed_by_proxy"):
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
            fault.get("rule_id"),
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
        rule_id: str | None = None,
    ) -> None:
        facts = reports.ConnectionFacts(
            url=track.url,
            close_code=code,
            close_reason=reason,
            closed_by=closed_by,
            started=track.started,
            ended=ended,
            messages=track.messages,
            bytes=track.bytes,
            retained_messages=retained,
            dropped=track.dropped,
            redelivered=(track.flow_metadata.get(events.FAULT_METADATA_KEY) or {}).get(
                "redelivered", {}
            ),
        )
        event = reports.analyse_close(facts, track.vendor)
        if rule_id:
            event = dataclasses.replace(event, injected=True, rule_id=rule_id)
        self.summary.record_close(event.close_code, event.clean, event.injected, event.rule_id)
        self.event_log.emit(
            events.CLOSED,
            event.fields(),
            flow_id=flow_id,
            secrets=track.secrets,
            level=logging.INFO
            if event.clean and event.close_code in (1000, 1001)
            else logging.WARNING,
        )

    def done(self) -> None:
        for flow_id, track in list(self.connections.items()):
            self._report_close(flow_id, track, None, "proxy shut down", "proxy", time.time(), None)
        self.connections.clear()
        self.event_log.emit(
            events.SUMMARY, self.summary.fields(), console_lines=tuple(self.summary.table())
        )
        mitm_internals.remove_send_filter(mitm_internals.keep_abnormal_closes_abnormal)
