"""Turn the plain facts of one handshake, or of one connection's end, into an event.

Pure: the watcher copies what it needs out of a mitmproxy flow into `HandshakeFacts` /
`ConnectionFacts`; everything from here on is a function of that data, unit-tested without a proxy.
"""

from __future__ import annotations

import datetime
import email.utils
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..events import ClosedEvent, HandshakeEvent, Outcome, utc_timestamp
from ..redaction.redactor import Redactor, scrub_secrets
from ..rfc6455 import NO_FRAME_CLOSE_CODES, Violation
from . import handshake, hints, vendors
from .client_history import FIRST_ATTEMPT, SincePrevious
from .network_errors import NetworkFailure, classify_failure


@dataclass(frozen=True, slots=True)
class HandshakeFacts:
    """What wswatch saw of one upgrade attempt."""

    client: str
    scheme: str  # "ws" or "wss"
    host: str
    port: int
    path: str  # with the query string
    method: str
    http_version: str
    request_headers: Mapping[str, str]
    status: int | None
    reason: str | None
    response_headers: Mapping[str, str]
    body: str | None
    error: str | None
    started: float
    ended: float
    injected_end: str | None = None  # how a handshake fault ended the flow, if one did
    client_id: str = ""
    since: SincePrevious = FIRST_ATTEMPT
    #: The request's secret values (`Redactor.secret_values`), when the caller has them.
    request_secrets: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class HandshakeAnalysis:
    event: HandshakeEvent
    vendor: vendors.VendorProfile | None
    secrets: frozenset[str]


def ws_url(scheme: str, host: str, port: int, path: str) -> str:
    default_port = 443 if scheme == "wss" else 80
    authority = host if port == default_port else f"{host}:{port}"
    if ":" in host and not host.startswith("["):
        authority = f"[{host}]" if port == default_port else f"[{host}]:{port}"
    return f"{scheme}://{authority}{path}"


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Retry-After in seconds: delta-seconds or an HTTP date (RFC 9110 section 10.2.3)."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        # HTTP dates are always GMT; asctime() dates and "-0000" parse without a zone.
        moment = moment.replace(tzinfo=datetime.UTC)
    return max(0.0, round(moment.timestamp() - now, 3))


def excerpt(body: str | None, limit: int) -> str | None:
    """The start of a body, marked when cut; None for an empty body."""
    if not body:
        return None
    if len(body) <= limit:
        return body
    return body[:limit] + f"... [{len(body) - limit} more characters]"


def _judged(
    facts: HandshakeFacts,
) -> tuple[Outcome, list[handshake.Problem], NetworkFailure | None]:
    """The attempt's outcome, the RFC 6455 problems of its request and 101, and, when nothing
    answered, the network failure its error text names."""
    request_found = handshake.request_problems(
        facts.method, facts.http_version, facts.request_headers
    )
    response_found = (
        handshake.response_problems(facts.request_headers, facts.response_headers)
        if facts.status == 101
        else []
    )
    outcome = handshake.classify(facts.status, request_found, response_found)
    failure = None
    if facts.status is None:
        failure = classify_failure(facts.error or "no answer", facts.injected_end)
    return outcome, request_found + response_found, failure


def analyse_handshake(
    facts: HandshakeFacts,
    catalog: vendors.VendorCatalog,
    redactor: Redactor,
    body_limit: int,
) -> HandshakeAnalysis:
    """Classify an attempt, recognise its vendor, extract error and request id, pick a hint."""
    path, _, query = facts.path.partition("?")
    offered = tuple(handshake.split_tokens(facts.request_headers.get("sec-websocket-protocol")))
    exchange = vendors.Exchange(
        facts.host, path, facts.request_headers, facts.response_headers, offered
    )
    vendor = vendors.identify(catalog, exchange)
    outcome, problems, failure = _judged(facts)
    secrets = facts.request_secrets
    if secrets is None:
        secrets = redactor.secret_values(query, facts.request_headers)
    # Scrub before cutting: a secret across the cut would otherwise be written minus its end.
    body = scrub_secrets(facts.body or "", secrets)
    if failure:
        error = facts.error
    elif facts.status != 101:
        error = vendors.error_text(catalog, vendor, facts.response_headers, body)
    else:
        error = None
    hint = hints.handshake_hint(
        catalog,
        vendor,
        outcome,
        facts.status,
        facts.response_headers.get("content-type", ""),
        error,
        problems,
        failure.kind if failure else None,
        waited_s=facts.ended - facts.started,
    )
    event = HandshakeEvent(
        client=facts.client,
        url=redactor.redact_url(ws_url(facts.scheme, facts.host, facts.port, facts.path)),
        host=facts.host,
        path=path,
        outcome=outcome.value,
        status=facts.status,
        reason=failure.reason if failure else facts.reason,
        vendor=vendor.id if vendor else None,
        request_id=vendors.request_id(catalog, vendor, facts.response_headers),
        error=error or None,
        error_headers=vendors.error_headers(catalog, vendor, facts.response_headers),
        retry_after=parse_retry_after(facts.response_headers.get("retry-after"), facts.ended),
        body_excerpt=excerpt(body, body_limit) if facts.status != 101 else None,
        problems=[problem.value for problem in problems],
        hint=hint,
        duration_ms=round((facts.ended - facts.started) * 1000, 1),
        failure=failure.kind.value if failure else None,
        subprotocol=facts.response_headers.get("sec-websocket-protocol")
        if facts.status == 101
        else None,
        client_id=facts.client_id,
        started=utc_timestamp(facts.started),
        since_previous_attempt_s=facts.since.attempt_s,
        since_previous_close_s=facts.since.close_s,
    )
    return HandshakeAnalysis(event, vendor, secrets)


#: The hint of an attempt wswatch could not analyse.
UNANALYSED_HINT = (
    "wswatch could not analyse this attempt (see `error`): the facts shown are the plain ones; "
    "please report it with the flow saved by mitmdump -w."
)


def unanalysed_handshake(
    *,
    client: str,
    url: str,
    host: str,
    path: str,
    status: int | None,
    problem: str,
    secrets: frozenset[str],
    client_id: str,
    started: float,
    since: SincePrevious = FIRST_ATTEMPT,
) -> HandshakeAnalysis:
    """The event of an attempt whose analysis raised: still one `ws.handshake`, saying so."""
    outcome = handshake.classify(status, [], [])
    event = HandshakeEvent(
        client=client,
        url=url,
        host=host,
        path=path,
        outcome=outcome.value,
        status=status,
        reason=None,
        vendor=None,
        request_id=None,
        error=f"wswatch could not analyse this attempt: {problem}",
        error_headers={},
        retry_after=None,
        body_excerpt=None,
        problems=[],
        hint=UNANALYSED_HINT,
        duration_ms=None,
        failure="other" if status is None else None,
        client_id=client_id,
        started=utc_timestamp(started),
        since_previous_attempt_s=since.attempt_s,
        since_previous_close_s=since.close_s,
    )
    return HandshakeAnalysis(event, None, secrets)


@dataclass(frozen=True, slots=True)
class ConnectionFacts:
    """What wswatch saw of one upgraded connection by its end."""

    url: str
    close_code: int | None
    close_reason: str | None
    closed_by: str | None
    started: float
    ended: float
    messages: Mapping[str, int] | None  # None for a raw TCP relay: frames were not parsed
    bytes: Mapping[str, int] | None
    retained_messages: int | None
    violation: Violation | None = None
    violated_by: str | None = None
    tcp_bytes: Mapping[str, int] | None = None  # set only for a raw TCP relay
    #: Per side: messages not forwarded when they arrived, and of those, how many a fault held
    #: back and delivered later (a stall with for_s, a delayed message).
    dropped: Mapping[str, int] = field(default_factory=dict)
    redelivered: Mapping[str, int] = field(default_factory=dict)
    #: Messages a fault sent to each peer (`to_client`, `to_server`).
    sent: Mapping[str, int] = field(default_factory=dict)
    client_id: str = ""
    #: Per side (message_gaps.py); None for a raw TCP relay.
    last_message_s: Mapping[str, float | None] | None = None
    longest_gap_s: Mapping[str, float] | None = None
    #: The fault rule that disturbed the connection, if one did.
    rule_id: str | None = None
    #: Which relay followed it (relay/choice.py `Relay`).
    relay: str = "websocket"
    #: What the frame reader saw: observe-only relays, and raw TCP relays in a frame format it
    #: reads (None otherwise).
    observed: ObservedFacts | None = None
    #: Why a raw TCP relay's frames were not read.
    frames_unread: str | None = None


@dataclass(frozen=True, slots=True)
class ObservedFacts:
    """What the observe-only relay read of a connection's frames, per side."""

    pings: Mapping[str, int]
    pongs: Mapping[str, int]
    pong_rtt_ms: Mapping[str, Mapping[str, float] | None]
    #: The RFC 6455 rules each side's bytes broke, in the order first broken.
    protocol_violations: Mapping[str, Sequence[str]]
    #: The first rule either side broke, and that side (the event's violation).
    first_violation: tuple[str, Violation] | None
    bytes_compressed: bool


def undelivered(dropped: Mapping[str, int], redelivered: Mapping[str, int]) -> dict[str, int]:
    """Per side, the messages the other peer never got: dropped and not delivered later."""
    return {
        side: max(0, dropped.get(side, 0) - redelivered.get(side, 0))
        for side in ("client", "server")
    }


def analyse_close(facts: ConnectionFacts, vendor: vendors.VendorProfile | None) -> ClosedEvent:
    """Clean or abnormal, what the code means, and a hint. A rule a peer broke names the
    violation, the side and the hint, whichever relay saw it: the message layer (the proxy
    closed the connection for it) or the observe-only relay (it read it and relayed it on)."""
    clean = facts.close_code is not None and facts.close_code not in NO_FRAME_CLOSE_CODES
    raw_tcp = facts.tcp_bytes is not None
    observed = facts.observed
    violation, violated_by = facts.violation, facts.violated_by
    if violation is None and observed is not None and observed.first_violation is not None:
        violated_by, violation = observed.first_violation
    return ClosedEvent(
        url=facts.url,
        close_code=facts.close_code,
        close_reason=facts.close_reason or None,
        closed_by=facts.closed_by,
        clean=clean,
        duration_s=round(facts.ended - facts.started, 3),
        messages=dict(facts.messages) if facts.messages is not None else None,
        bytes=dict(facts.bytes) if facts.bytes is not None else None,
        vendor=vendor.id if vendor else None,
        hint=hints.close_hint(
            vendor,
            facts.close_code,
            facts.close_reason,
            clean,
            facts.closed_by,
            violation=violation,
            violated_by=violated_by,
            raw_tcp=raw_tcp and observed is None,
        ),
        dropped=undelivered(facts.dropped, facts.redelivered),
        injected_messages={
            "to_client": facts.sent.get("to_client", 0),
            "to_server": facts.sent.get("to_server", 0),
        },
        close_meaning=hints.close_meaning(vendor, facts.close_code),
        retained_messages=facts.retained_messages,
        violation=violation.value if violation else None,
        violated_by=violated_by,
        raw_tcp=raw_tcp,
        tcp_bytes=dict(facts.tcp_bytes) if facts.tcp_bytes is not None else None,
        client_id=facts.client_id,
        last_message_s=dict(facts.last_message_s) if facts.last_message_s is not None else None,
        longest_gap_s=dict(facts.longest_gap_s) if facts.longest_gap_s is not None else None,
        injected=facts.rule_id is not None,
        rule_id=facts.rule_id,
        relay=facts.relay,
        pings=dict(observed.pings) if observed else None,
        pongs=dict(observed.pongs) if observed else None,
        pong_rtt_ms=_plain_rtts(observed.pong_rtt_ms) if observed else None,
        protocol_violations=(
            {side: list(rules) for side, rules in observed.protocol_violations.items()}
            if observed
            else None
        ),
        bytes_compressed=observed.bytes_compressed if observed else False,
        frames_unread=facts.frames_unread,
    )


def _plain_rtts(
    rtts: Mapping[str, Mapping[str, float] | None],
) -> dict[str, dict[str, float] | None]:
    return {side: dict(figures) if figures is not None else None for side, figures in rtts.items()}


def close_level(event: ClosedEvent) -> int:
    """The log level of a `ws.closed`: info for a clean normal or going-away close with no
    broken rule, a warning for anything else."""
    if event.violation is None and event.clean and event.close_code in (1000, 1001):
        return logging.INFO
    return logging.WARNING
