"""Addon: watch every WebSocket upgrade, report it, and hand over the connection it opened.

Thin hooks: copy plain facts out of the flow, let `reports` decide, hand the event to the event log.
One `ws.handshake` per upgrade attempt (from `response` or `error`, whichever comes first). An
accepted upgrade's connection goes to the connection watch (`connections.py`) on mitmproxy's
message layer, or to the TCP relays (`relay/relays.py`): observe-only when nothing needs the
message layer, raw TCP when mitmproxy does not parse the upgrade (request version not 13).
Each attempt is tied to its client (`clients.py`).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

from mitmproxy import addonmanager, ctx, exceptions, http
from mitmproxy.addons.dumper import Dumper
from mitmproxy.addons.intercept import Intercept
from mitmproxy.addons.save import Save
from mitmproxy.addons.savehar import SaveHar

from .. import events
from ..options.errors import logs_option_errors_until_running
from ..output.event_log import EventLog
from ..redaction.flows import FlowRedaction
from ..redaction.messages import MessageRedaction
from ..redaction.mitmproxy_log import RawHeadRedaction
from ..redaction.redactor import Redactor, scrub_secrets
from ..relay.choice import RELAY_OPTION_CHOICES, MessageLayerUsers, Relay, choose_relay
from ..relay.frame_reader import ObservedConnection
from ..relay.relays import RelayEnd, UpgradeRelays
from ..rfc6455 import FRAME_FORMAT_VERSIONS
from . import reports
from .client_history import SincePrevious
from .clients import Clients
from .connections import ConnectionTrack, ConnectionWatch
from .handshake import header_map, is_upgrade_request
from .profiles import VendorProfiles
from .vendors import VendorCatalog

#: flow.metadata key marking a flow whose handshake was already reported.
REPORTED_KEY = "wswatch.outcome"

logger = logging.getLogger("wswatch")

#: The watcher's name as an owner of the abnormal-close send filter (`wswatch_faithful_close`).
FAITHFUL_CLOSE = "wswatch_faithful_close"

#: The client_id of an attempt whose client could not be identified (a wswatch bug, logged).
UNIDENTIFIED_CLIENT = "unidentified"


def _address(peername: Any) -> str:
    return f"{peername[0]}:{peername[1]}" if peername else ""


def _ws_scheme(flow: http.HTTPFlow) -> str:
    return "wss" if flow.request.scheme == "https" else "ws"


def _body_text(response: http.Response) -> str:
    """The body as text, whatever its declared charset or encoding claims."""
    try:
        return response.get_text(strict=False) or ""
    except ValueError:  # e.g. a Content-Encoding the body does not match
        return (response.raw_content or b"").decode("utf-8", "surrogateescape")


def _negotiated_deflate(response: http.Response) -> bool:
    """RFC 7692: the 101 accepted permessage-deflate, so RSV1 marks compressed messages."""
    return "permessage-deflate" in response.headers.get("sec-websocket-extensions", "").lower()


#: mitmproxy's hooks that only a WebSocket flow gets: an observe-only connection gets none.
WEBSOCKET_HOOKS = ("websocket_start", "websocket_message", "websocket_end")

#: mitmproxy's hooks of a TCP flow: an observe-only connection relayed without one gets none.
TCP_HOOKS = ("tcp_start", "tcp_message", "tcp_end", "tcp_error")


def _would_miss(addon: Any, hooks: tuple[str, ...]) -> bool:
    """An addon that acts on some of `hooks`: not wswatch's own, and mitmproxy's interception
    and flow savers only while they are switched on (a saver writes a flow at its end). A hook
    that is None is none, as mitmproxy skips it (wswatch's entry script has them all so)."""
    if all(getattr(addon, hook, None) is None for hook in hooks):
        return False
    if type(addon).__module__.partition(".")[0] == __name__.partition(".")[0]:
        return False
    if isinstance(addon, Intercept):
        return bool(ctx.options.intercept_active and ctx.options.intercept)
    if isinstance(addon, Save):
        return bool(ctx.options.save_stream_file)
    if isinstance(addon, SaveHar):
        return bool(ctx.options.hardump)
    return True


def _needs_websocket_flow(addon: Any) -> bool:
    """An addon that would miss its WebSocket hooks on an observe-only connection; not the
    dumper, which only prints (it prints the observe relay's TCP reads instead)."""
    return not isinstance(addon, Dumper) and _would_miss(addon, WEBSOCKET_HOOKS)


#: The hooks in which an addon may edit a message before mitmproxy sends it.
MESSAGE_HOOKS = ("websocket_message", "tcp_message")


def _may_edit_messages(addon: Any) -> bool:
    """An addon after wswatch that may edit or drop a message wswatch shows scrubbed (then
    `KeepEdits` must carry the edit over to the message sent); not the dumper, which prints."""
    return not isinstance(addon, Dumper) and _would_miss(addon, MESSAGE_HOOKS)


def _sees_tcp_flows(addon: Any) -> bool:
    """An addon that would miss the TCP flow of an observe-only connection relayed without one;
    the dumper while it prints (`flow_detail` 1 and up: a line per read)."""
    if isinstance(addon, Dumper):
        return bool(ctx.options.flow_detail)
    return _would_miss(addon, TCP_HOOKS)


#: Options that change what `_needs_websocket_flow` and `_sees_tcp_flows` answer.
_SWITCHES = ("intercept_active", "intercept", "save_stream_file", "hardump", "flow_detail")


@dataclasses.dataclass(frozen=True, slots=True)
class FlowUsers:
    """Other addons' names: those that need WebSocket flows, those that see TCP flows, those
    that may edit messages."""

    websocket: tuple[str, ...] = ()
    tcp: tuple[str, ...] = ()
    editors: tuple[str, ...] = ()


class FlowHookUsers:
    """The loaded addons that need WebSocket flows or see TCP flows, walked again only when the
    addons or the options those answers depend on change: the walk asks every addon (about 55
    under mitmdump), which was a large part of wswatch's own work per accepted handshake."""

    def __init__(self) -> None:
        self._key: tuple[Any, ...] | None = None
        self._users = FlowUsers()

    def current(self) -> FlowUsers:
        addons = ctx.master.addons
        key = (
            tuple(map(id, addons.lookup.values())),
            *(getattr(ctx.options, switch, None) for switch in _SWITCHES),
        )
        if key != self._key:
            loaded = list(addonmanager.traverse(addons.chain))
            self._users = FlowUsers(
                websocket=tuple(type(a).__name__ for a in loaded if _needs_websocket_flow(a)),
                tcp=tuple(type(a).__name__ for a in loaded if _sees_tcp_flows(a)),
                editors=tuple(type(a).__name__ for a in loaded if _may_edit_messages(a)),
            )
            self._key = key
        return self._users


@logs_option_errors_until_running
class WsWatch:
    """Reports upgrade attempts and connection ends as structured events."""

    def __init__(
        self,
        event_log: EventLog,
        relays: UpgradeRelays,
        profiles: VendorProfiles,
        connection_watch: ConnectionWatch,
        message_redaction: MessageRedaction,
        clients: Clients,
    ) -> None:
        self.event_log = event_log
        #: Who each attempt comes from, and that client's previous attempt and close.
        self.clients = clients
        #: Scrubs the messages of each accepted connection, knowing its handshake's secrets.
        self.message_redaction = message_redaction
        #: Follows each WebSocket to its end once its 101 is reported.
        self.connection_watch = connection_watch
        #: The vendor profiles and the redactor built from their secret names.
        self.profiles = profiles
        #: Follows the connections relayed as TCP (observe-only and raw).
        self.relays = relays
        self.flow_redaction = FlowRedaction(lambda: self.redactor)
        self.raw_head_redaction = RawHeadRedaction(lambda: self.redactor)
        self.flow_hook_users = FlowHookUsers()
        #: Whether a connection fault could act on a flow (the connection fault addon answers).
        self.fault_may_act: Callable[[http.HTTPFlow], bool] = lambda _flow: False

    @property
    def catalog(self) -> VendorCatalog | None:
        return self.profiles.catalog

    @property
    def redactor(self) -> Redactor:
        return self.profiles.redactor

    def load(self, loader: Any) -> None:
        self.raw_head_redaction.install()
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
            "wswatch_relay",
            str,
            Relay.AUTO.value,
            "How an accepted WebSocket is relayed: websocket (mitmproxy's message layer), observe "
            "(relayed as TCP, frames read on the side: fast, constant memory, no message faults "
            "or views), or auto (observe unless a fault, flow_detail >= 3, a flow view, a flow "
            "saver or another addon's WebSocket hooks need the message layer).",
            choices=RELAY_OPTION_CHOICES,
        )

    def configure(self, updated: set[str]) -> None:
        if "wswatch_body_excerpt" in updated and ctx.options.wswatch_body_excerpt < 0:
            raise exceptions.OptionsError(
                f"wswatch_body_excerpt must be 0 or more, got {ctx.options.wswatch_body_excerpt}"
            )

    # Handshakes -----------------------------------------------------------------------------

    def response(self, flow: http.HTTPFlow) -> None:
        self._report_handshake(flow, answered=True)

    def error(self, flow: http.HTTPFlow) -> None:
        # An error before any `response` hook: whatever the upstream began to answer (a head
        # mitmproxy refused, a body cut short) never reached the client, which got mitmproxy's
        # own 502 or nothing. The attempt failed.
        self._report_handshake(flow, answered=False)

    def running(self) -> None:
        self.flow_redaction.running()

    def _facts(
        self,
        flow: http.HTTPFlow,
        answered: bool,
        request_headers: dict[str, str],
        client_id: str,
        since: SincePrevious,
        request_secrets: frozenset[str] | None,
    ) -> reports.HandshakeFacts:
        request, response = flow.request, flow.response if answered else None
        ended = (response.timestamp_end or response.timestamp_start) if response else time.time()
        return reports.HandshakeFacts(
            client=_address(flow.client_conn.peername),
            scheme=_ws_scheme(flow),
            host=request.host,
            port=request.port,
            path=request.path,
            method=request.method,
            http_version=request.http_version,
            request_headers=request_headers,
            status=response.status_code if response else None,
            reason=response.reason if response else None,
            response_headers=header_map(response.headers) if response else {},
            body=_body_text(response) if response and response.raw_content else None,
            error=flow.error.msg if flow.error else None,
            started=request.timestamp_start,
            ended=ended or time.time(),
            injected_end=mark.ended if (mark := events.FaultMark.of(flow.metadata)) else None,
            client_id=client_id,
            since=since,
            request_secrets=request_secrets,
        )

    def request_view(self, flow: http.HTTPFlow) -> tuple[str, frozenset[str]]:
        """The flow's `ws://` URL with secrets redacted, and the secret values its request
        carries, for any event about the flow (the fault addons' too)."""
        request = flow.request
        url = reports.ws_url(_ws_scheme(flow), request.host, request.port, request.path)
        query = request.path.partition("?")[2]
        return (
            self.redactor.redact_url(url),
            self.redactor.secret_values(query, header_map(request.headers)),
        )

    def _report_handshake(self, flow: http.HTTPFlow, answered: bool) -> None:
        if REPORTED_KEY in flow.metadata or (flow.response is None and flow.error is None):
            return
        request_headers = header_map(flow.request.headers)  # read once: it costs
        if not is_upgrade_request(request_headers):
            return
        flow.metadata[REPORTED_KEY] = None
        secrets: frozenset[str] = frozenset()
        try:
            secrets = self._report_analysed_handshake(flow, answered, request_headers)
        finally:
            # Whatever happened to the report, the flow must not show the secrets.
            if ctx.options.wswatch_redact_flows:
                self.flow_redaction.redact(flow, secrets)
            self.message_redaction.remember(flow, secrets)

    def _report_analysed_handshake(
        self, flow: http.HTTPFlow, answered: bool, request_headers: dict[str, str]
    ) -> frozenset[str]:
        """Emit the attempt's `ws.handshake` and count it; returns the request's secret values."""
        assert self.catalog is not None
        secrets: frozenset[str] | None = None  # read once, for the identity and the analysis
        try:
            query = flow.request.path.partition("?")[2]
            secrets = self.redactor.secret_values(query, request_headers)
            client_id, since = self.clients.attempt(flow, request_headers, self.redactor, secrets)
        except Exception as error:  # as below: the event goes out without an identity
            logger.error(f"wswatch: could not identify the client of flow {flow.id}: {error!r}")
            client_id, since = UNIDENTIFIED_CLIENT, SincePrevious(None, None)
        try:
            analysis = reports.analyse_handshake(
                self._facts(flow, answered, request_headers, client_id, since, secrets),
                self.catalog,
                self.redactor,
                ctx.options.wswatch_body_excerpt,
            )
        except Exception as error:  # a bug here must not cost the event
            logger.error(f"wswatch: could not analyse the handshake of flow {flow.id}: {error!r}")
            analysis = self._unanalysed(flow, error, client_id, since)
        fault = events.FaultMark.of(flow.metadata)
        event = analysis.event
        if fault:
            event = dataclasses.replace(event, injected=True, rule_id=fault.rule_id)
        if tape := flow.metadata.get(events.TAPE_METADATA_KEY):
            event = dataclasses.replace(event, replayed=True, tape=tape)
        flow.metadata[REPORTED_KEY] = event.outcome
        self.event_log.emit(
            events.HANDSHAKE,
            event.fields(),
            flow_id=flow.id,
            secrets=analysis.secrets,
            level=logging.INFO if event.outcome == events.Outcome.ACCEPTED else logging.WARNING,
        )
        if event.outcome != events.Outcome.ACCEPTED:
            flow.marked = ":warning:"
            comment = (
                f"wswatch: {event.outcome} {event.status or event.failure or ''}: {event.hint}"
            )
            flow.comment = scrub_secrets(comment, analysis.secrets)
        if answered:
            self._follow_upgrade(
                flow,
                event.outcome == events.Outcome.ACCEPTED,
                ConnectionTrack(
                    event.url,
                    analysis.vendor,
                    analysis.secrets,
                    flow_metadata=flow.metadata,
                    client_id=client_id,
                    history=self.clients.history,
                ),
            )
        return analysis.secrets

    def _follow_upgrade(self, flow: http.HTTPFlow, accepted: bool, track: ConnectionTrack) -> None:
        """Track the connection a 101 opened: as a WebSocket, as an observe-only relay (an
        accepted WebSocket nothing needs the message layer of), or as the raw TCP relay
        mitmproxy makes of an upgrade it does not parse."""
        flow_id = flow.id

        def ended(end: RelayEnd) -> None:
            self.connection_watch.relay_ended(flow_id, track, end)

        users = self.flow_hook_users.current() if accepted else None
        if users is not None:
            self.message_redaction.keep_edits(bool(users.editors))
        if (
            flow.websocket is not None
            and users is not None
            and self._relay(flow, users) is Relay.OBSERVE
        ):
            assert flow.response is not None
            # mitmproxy picks the child layer after this hook: without WebSocket data, TCP.
            flow.websocket = None
            observed = ObservedConnection(deflate=_negotiated_deflate(flow.response))
            self.relays.follow(flow, observed, track.gaps.observe, ended, tcp_flow=bool(users.tcp))
        elif flow.websocket is not None:
            self.connection_watch.follow(flow, track)
        elif flow.response is not None and flow.response.status_code == 101:
            version = header_map(flow.request.headers).get("sec-websocket-version", "").strip()
            if version in FRAME_FORMAT_VERSIONS:
                reader = ObservedConnection(deflate=_negotiated_deflate(flow.response))
                self.relays.follow(flow, reader, track.gaps.observe, ended, raw=True)
            else:
                track.frames_unread = (
                    f"Sec-WebSocket-Version {version or '(none)'} is not a frame format wswatch "
                    f"reads ({', '.join(sorted(FRAME_FORMAT_VERSIONS, key=int))})"
                )
                self.relays.follow(flow, None, track.gaps.observe, ended, raw=True)

    def _relay(self, flow: http.HTTPFlow, others: FlowUsers) -> Relay:
        requested = Relay(ctx.options.wswatch_relay)
        if requested is Relay.WEBSOCKET:
            return requested
        users = MessageLayerUsers(
            fault_may_act=self.fault_may_act(flow),
            # Declared by mitmproxy's dumper, which may not be loaded.
            flow_detail=ctx.options.flow_detail if "flow_detail" in ctx.options else 0,
            websocket_hooks=others.websocket,
            message_view=ctx.master.addons.get("view") is not None,
            rawtcp=ctx.options.rawtcp,
        )
        return choose_relay(requested, users)

    def _unanalysed(
        self, flow: http.HTTPFlow, error: Exception, client_id: str, since: SincePrevious
    ) -> reports.HandshakeAnalysis:
        """The event of an attempt whose analysis failed: the plain facts, and what went wrong."""
        try:
            url, secrets = self.request_view(flow)
        except Exception:  # fall back to what needs no parsing
            url, secrets = f"{_ws_scheme(flow)}://{flow.request.host}", frozenset()
        return reports.unanalysed_handshake(
            client=_address(flow.client_conn.peername),
            url=url,
            host=flow.request.host,
            path=flow.request.path.partition("?")[0],
            status=flow.response.status_code if flow.response else None,
            problem=f"{type(error).__name__}: {error}",
            secrets=secrets,
            client_id=client_id,
            started=flow.request.timestamp_start,
            since=since,
        )

    def done(self) -> None:
        self.flow_redaction.done()
        self.raw_head_redaction.uninstall()
