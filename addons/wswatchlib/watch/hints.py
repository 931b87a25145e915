"""One sentence of likely cause and next step for every failure.

Generic facts live in the tables below; vendor facts live in the vendor profiles. The lookup order
is fixed, most specific first, and every path ends in a table entry, so no failure goes unexplained:

  handshake: vendor error text > vendor status > RFC problem > network failure kind >
             generic status > status class
  close:     RFC 6455 violation the proxy closed for > raw TCP relay > vendor close reason >
             vendor close code > generic close code > code range
"""

from __future__ import annotations

from collections.abc import Sequence

from ..events import Outcome
from ..rfc6455 import Violation
from .handshake import Problem
from .network_errors import FailureKind
from .vendors import VendorCatalog, VendorProfile

STATUS_HINTS: dict[int, str] = {
    200: "The server answered as plain HTTP, not as a WebSocket endpoint: check the path, or a proxy that strips the Upgrade header.",
    204: "The server answered with no content instead of 101: the path is not a WebSocket endpoint.",
    301: "The endpoint moved: browsers and many WebSocket clients do not follow redirects, so connect to the Location URL directly.",
    302: "The server redirects (often to a login page): browsers and many WebSocket clients do not follow redirects; authenticate first or use the Location URL.",
    303: "The server redirects: browsers and many WebSocket clients do not follow redirects; connect to the Location URL.",
    307: "The server redirects temporarily: browsers and many WebSocket clients do not follow redirects; connect to the Location URL.",
    308: "The endpoint moved permanently: update the client's URL to the Location header.",
    400: "The server rejected the request: check the query parameters and the Sec-WebSocket-* headers.",
    401: "Authentication failed: check the API key or token and the header or query parameter that carries it.",
    402: "Payment required: the account has no credit or plan for this feature.",
    403: "Forbidden: the credentials are valid but not allowed here, or an Origin or IP check failed.",
    404: "No WebSocket endpoint at this path: check the URL's path and version prefix.",
    405: "Method not allowed: the endpoint does not accept a GET upgrade here (wrong path, or HTTP-only route).",
    406: "Not acceptable: the server cannot satisfy the offered subprotocols or formats.",
    408: "The server timed out waiting for the request: the client sent the handshake too slowly.",
    409: "Conflict: the server rejects a second session with the same id or resource.",
    410: "Gone: this endpoint or API version was retired; move to the current one.",
    413: "The handshake was too large: shorten the URL, cookies or headers.",
    414: "The URL is too long for the server: move parameters out of the query string.",
    415: "Unsupported media type: the requested encoding or format is not supported.",
    422: "The server understood the request but rejected its parameters: check their values.",
    426: "Upgrade required: the server wants a different WebSocket version (see Sec-WebSocket-Version) or TLS (wss://).",
    429: "Rate limited: wait as long as Retry-After says before reconnecting, and back off exponentially.",
    431: "Request headers too large: drop cookies or oversized headers.",
    500: "The server failed while handling the upgrade: retry with back-off and check the server's logs with the request id.",
    501: "The server does not implement WebSocket upgrades on this route.",
    502: "A gateway could not get a valid answer from the upstream: the upstream is down or answered garbage.",
    503: "The service is unavailable or overloaded: honour Retry-After and back off.",
    504: "A gateway timed out waiting for the upstream: the upstream is slow or unreachable.",
    505: "HTTP version not supported: WebSocket upgrades need HTTP/1.1.",
    511: "Network authentication required: a captive portal wants a login before any traffic passes.",
}

#: Fallback by status class, so an unlisted status still gets a hint.
STATUS_CLASS_HINTS: dict[int, str] = {
    1: "An informational status other than 101 ended the handshake: the server does not speak WebSocket here.",
    2: "The server answered with a success status instead of 101: this URL is not a WebSocket endpoint.",
    3: "The server redirects: browsers and many WebSocket clients do not follow redirects; connect to the Location URL.",
    4: "The server refused the request: read the error text and body for the reason.",
    5: "The server failed: retry with back-off and report the request id to the operator.",
}

#: A 200 whose body is HTML is its own case: a login page or captive portal, not the API.
HTML_OK_HINT = (
    "The server answered 200 with an HTML page: not a WebSocket endpoint, or a captive portal "
    "or login page in between; open the URL in a browser to see it."
)

PROBLEM_HINTS: dict[Problem, str] = {
    Problem.REQUEST_METHOD_NOT_GET: "The client sent a non-GET upgrade: RFC 6455 requires GET.",
    Problem.REQUEST_NOT_HTTP11: "The client did not use HTTP/1.1: RFC 6455 upgrades need HTTP/1.1.",
    Problem.REQUEST_MISSING_UPGRADE: "The request lacks 'Upgrade: websocket': a proxy or the client dropped it.",
    Problem.REQUEST_MISSING_CONNECTION_UPGRADE: "The request lacks 'Connection: Upgrade': a proxy in between may have rewritten the hop-by-hop headers.",
    Problem.REQUEST_MISSING_KEY: "The request lacks Sec-WebSocket-Key: the client is not a conforming WebSocket client.",
    Problem.REQUEST_BAD_KEY: "Sec-WebSocket-Key is not base64 of 16 bytes: fix the client's key generation.",
    Problem.REQUEST_MISSING_VERSION: "The request lacks Sec-WebSocket-Version: send 13.",
    Problem.REQUEST_BAD_VERSION: "Sec-WebSocket-Version is not 13: the only version RFC 6455 defines is 13.",
    Problem.RESPONSE_MISSING_UPGRADE: "The 101 lacks 'Upgrade: websocket': conforming clients abort; fix the server or the proxy that rewrites it.",
    Problem.RESPONSE_MISSING_CONNECTION_UPGRADE: "The 101 lacks 'Connection: Upgrade': conforming clients abort; fix the server or the proxy that rewrites it.",
    Problem.RESPONSE_MISSING_ACCEPT: "The 101 lacks Sec-WebSocket-Accept: conforming clients abort the connection.",
    Problem.RESPONSE_BAD_ACCEPT: "Sec-WebSocket-Accept does not match the key: a proxy or cache altered the handshake, or the server computes it wrongly; clients abort.",
    Problem.RESPONSE_UNOFFERED_SUBPROTOCOL: "The server chose a subprotocol the client did not offer: clients abort; align the offered and supported subprotocols.",
    Problem.RESPONSE_UNOFFERED_EXTENSION: "The server enabled an extension the client did not offer: clients abort; fix the server's extension negotiation.",
}

FAILURE_HINTS: dict[FailureKind, str] = {
    FailureKind.REFUSED: "Nothing accepts connections at the upstream address: check the host and port, and that the server is running.",
    FailureKind.DNS: "The upstream host name does not resolve: check its spelling and the DNS (or /etc/hosts) of the machine running the proxy.",
    FailureKind.TLS: "The TLS handshake with the upstream failed: for a self-signed or private CA certificate, trust it (--set ssl_verify_upstream_trusted_ca=...) or test with --set ssl_insecure=true.",
    FailureKind.UPSTREAM_CLOSED: "The upstream closed the connection without answering: it crashed, or it expects TLS (wss://) or another protocol on that port.",
    FailureKind.UPSTREAM_PROTOCOL: "The upstream answered with something that is not HTTP: the port serves another protocol.",
    FailureKind.TIMEOUT: "No answer came in time: the upstream is overloaded or a firewall drops packets silently.",
    FailureKind.CLIENT_GAVE_UP: "The client waited, then gave up: the upstream accepted the connection but sent no answer (it is stuck, or it waits for TLS or another protocol), or the client's handshake timeout is shorter than the upstream needs (with injected: true, a hang held the request).",
    FailureKind.KILLED: "The flow was killed by a user or an addon (or by a fault that found nothing left to act on), not by the network.",
    FailureKind.INJECTED_RESET: "An injected reset: the client got a TCP RST instead of an answer; check that it reports the failure and retries with back-off.",
    FailureKind.INJECTED_CLOSE: "An injected close: the connection ended before any answer; check that the client treats it as a failed handshake and retries with back-off.",
    FailureKind.INJECTED_HANG_EXPIRED: "An injected hang: no answer came for max_s seconds, then the connection closed; a client should give up sooner with its own handshake timeout.",
    FailureKind.UNREACHABLE: "The upstream network is unreachable from the proxy: check routing, VPN and firewall rules.",
    FailureKind.OTHER: "The connection failed for a reason mitmproxy reported verbatim in 'error'.",
}

#: A client that gave up sooner than this after sending its request did not wait for the upstream:
#: deliberate handshake timeouts are a second or more; a hang-up within 100 ms is the client's own.
CLIENT_HUNG_UP_AT_ONCE_S = 0.1

#: `client_gave_up` sooner than CLIENT_HUNG_UP_AT_ONCE_S: the client, not the upstream.
CLIENT_HUNG_UP_AT_ONCE_HINT = "The client closed its connection right after sending the request, before the upstream could answer: the client gave up on its own (a very short connect timeout, a cancelled connect, the process exiting), so look at the client, not the upstream."

#: RFC 6455 section 7.4.1 codes and the IANA registry, with what to do about each.
CLOSE_CODE_HINTS: dict[int, str] = {
    1000: "Normal closure: the peer finished on purpose.",
    1001: "Going away: the server is shutting down or the page navigated away; reconnect with back-off.",
    1002: "Protocol error: one side sent a malformed frame; check custom framing code or a proxy in between.",
    1003: "Unsupported data: the peer cannot accept this type of message (text vs binary).",
    1004: "Reserved code 1004 (RFC 6455 section 7.4.1): no endpoint may send it; the peer's WebSocket stack is broken.",
    1005: "No status code: the peer sent a close frame without a code.",
    1006: "Abnormal closure: the connection dropped without a close frame (reset, crash, idle timeout of a middlebox); see who closed it.",
    1007: "Invalid payload: a text message was not valid UTF-8 or a message was not what the peer expected.",
    1008: "Policy violation: the peer rejected the session (often auth or quota); read the close reason.",
    1009: "Message too big: split messages below the peer's limit.",
    1010: "The client required an extension the server did not negotiate.",
    1011: "Internal error on the server side: read the close reason and retry with back-off.",
    1012: "Service restart: reconnect after a short delay.",
    1013: "Try again later: the server is overloaded; back off before reconnecting.",
    1014: "Bad gateway: a gateway in front of the server got an invalid answer upstream.",
    1015: "TLS handshake failure (never sent on the wire): check certificates.",
}

#: Fallback by range for codes no table names; the first entry also covers codes above 4999.
CLOSE_RANGE_HINTS: tuple[tuple[range, str], ...] = (
    (
        range(0, 1000),
        "Close code outside 1000-4999 is not valid in RFC 6455: the peer's WebSocket stack is broken.",
    ),
    (range(1016, 3000), "A code reserved for future RFC use: the peer sent a code it should not."),
    (
        range(3000, 4000),
        "A registered library or framework code: see that framework's documentation.",
    ),
    (
        range(4000, 5000),
        "An application-defined code: see the service's documentation, and the close reason.",
    ),
)

ABNORMAL_HINTS: dict[str | None, str] = {
    "server": "The upstream dropped the TCP connection without a close frame (crash, reset or middlebox timeout); wswatch passed the abnormal closure on, so the client saw 1006.",
    "client": "The client dropped the TCP connection without a close frame (process exit, network loss, or it rejected the handshake).",
    "proxy": "The proxy ended the connection (idle timeout, shutdown or an injected fault).",
    None: "The connection ended without a close frame.",
}


#: What the peer did wrong and what to do; "{side}" is the peer whose bytes broke RFC 6455.
VIOLATION_HINTS: dict[Violation, str] = {
    Violation.INVALID_OPCODE: "The {side} sent a frame with a reserved opcode (RFC 6455 section 5.2): its framing code is broken or the stream is out of sync (bytes written outside frames).",
    Violation.RESERVED_BITS_SET: "The {side} set RSV bits without a negotiated extension (RFC 6455 section 5.2): it compresses frames without permessage-deflate in the handshake, or its framing is broken.",
    Violation.SERVER_MASKED_FRAME: "The {side} masked a frame, which only clients may do (RFC 6455 section 5.1): its WebSocket library runs in client mode or is broken.",
    Violation.CLIENT_UNMASKED_FRAME: "The {side} sent an unmasked frame; clients must mask every frame (RFC 6455 section 5.1): its WebSocket library runs in server mode or writes raw frames.",
    Violation.NON_MINIMAL_LENGTH: "The {side} encoded a frame length in more bytes than needed (RFC 6455 section 5.2): fix its frame encoder.",
    Violation.LENGTH_HIGH_BIT_SET: "The {side} sent a 64-bit frame length with the top bit set (RFC 6455 section 5.2): its frame encoder is broken or the stream is out of sync.",
    Violation.FRAGMENTED_CONTROL_FRAME: "The {side} fragmented a control frame (close, ping or pong), which RFC 6455 section 5.5 forbids: fix its framing code.",
    Violation.CONTROL_FRAME_TOO_LONG: "The {side} sent a close, ping or pong with more than 125 bytes of payload (RFC 6455 section 5.5): shorten the ping payload or close reason.",
    Violation.UNEXPECTED_CONTINUATION: "The {side} sent a continuation frame with no fragmented message open (RFC 6455 section 5.4): its fragmentation logic is broken.",
    Violation.EXPECTED_CONTINUATION: "The {side} started a new message before finishing a fragmented one (RFC 6455 section 5.4): it interleaves messages, for example from two threads writing to one socket.",
    Violation.INVALID_UTF8: "The {side} sent a text message that is not valid UTF-8 (RFC 6455 section 8.1): send binary frames for non-text data, or fix the encoding.",
    Violation.CLOSE_PAYLOAD_ONE_BYTE: "The {side} sent a close frame with a 1-byte body; a close body is empty or starts with a 2-byte code (RFC 6455 section 5.5.1).",
    Violation.INVALID_CLOSE_CODE: "The {side} sent a close code outside 1000-4999 (RFC 6455 section 7.4.2): use 1000 or an application code 4000-4999.",
    Violation.LOCAL_ONLY_CLOSE_CODE: "The {side} put 1005, 1006 or 1015 in a close frame; those only report a missing close frame locally (RFC 6455 section 7.4.1): send 1000 or an application code.",
    Violation.RESERVED_CLOSE_CODE: "The {side} sent an unassigned close code in 1000-2999, reserved for the protocol (RFC 6455 section 7.4.2; wsproto also rejects 1014): use 1000-1003, 1007-1013 or an application code 4000-4999.",
    Violation.INVALID_UTF8_CLOSE_REASON: "The {side} sent a close reason that is not valid UTF-8 (RFC 6455 section 5.5.1): check how it truncates or encodes the reason.",
    Violation.EXTENSION_ERROR: "The {side} sent a frame its negotiated extension could not decode (permessage-deflate, RFC 7692): the compressor state is out of sync or the data is not deflated.",
    Violation.OTHER: "The {side} sent bytes the proxy's WebSocket parser rejected (see close_reason for wsproto's words): capture the traffic and check its framing.",
}

#: A 101 that mitmproxy relays as plain bytes (request version not 13, or `websocket=false`).
RAW_TCP_HINT = "mitmproxy relayed this upgrade as raw TCP, not as a WebSocket, and its Sec-WebSocket-Version is not one whose frames wswatch reads (7, 8, 13), so no frames, close codes or messages were seen, only bytes: clients should send version 13 (RFC 6455 section 4.1)."


def handshake_hint(
    catalog: VendorCatalog,
    vendor: VendorProfile | None,
    outcome: Outcome,
    status: int | None,
    content_type: str,
    error: str | None,
    problems: Sequence[Problem],
    failure: FailureKind | None,
    *,
    waited_s: float | None = None,
) -> str | None:
    """The hint for a handshake attempt; None for an accepted one. `waited_s`: from the request
    to the failure, which tells a client that hung up at once from one a silent upstream lost."""
    if outcome is Outcome.ACCEPTED:
        return None
    if vendor and error:
        for needle, hint in vendor.error_hints:
            if needle.lower() in error.lower():
                return hint
    if vendor and status is not None and status in vendor.status_hints:
        return vendor.status_hints[status]
    if problems:
        return PROBLEM_HINTS[problems[0]]
    if (
        failure is FailureKind.CLIENT_GAVE_UP
        and waited_s is not None
        and waited_s < CLIENT_HUNG_UP_AT_ONCE_S
    ):
        return CLIENT_HUNG_UP_AT_ONCE_HINT
    if failure is not None:
        return FAILURE_HINTS[failure]
    if status is None:
        return FAILURE_HINTS[FailureKind.OTHER]
    if status == 200 and "html" in content_type.lower():
        return HTML_OK_HINT
    if status in catalog.generic.status_hints:
        return catalog.generic.status_hints[status]
    return STATUS_HINTS.get(status) or STATUS_CLASS_HINTS.get(status // 100, STATUS_CLASS_HINTS[5])


def close_meaning(vendor: VendorProfile | None, code: int | None) -> str | None:
    """What a close code means, the vendor's own meaning first."""
    if code is None:
        return None
    if vendor and code in vendor.close_codes:
        return vendor.close_codes[code].meaning
    return CLOSE_CODE_HINTS.get(code)


def close_hint(
    vendor: VendorProfile | None,
    code: int | None,
    reason: str | None,
    clean: bool,
    closed_by: str | None,
    *,
    violation: Violation | None = None,
    violated_by: str | None = None,
    raw_tcp: bool = False,
) -> str | None:
    """The hint for the end of a connection; None for a normal close 1000."""
    if violation is not None:
        return VIOLATION_HINTS[violation].format(side=violated_by or "peer")
    if raw_tcp:
        return RAW_TCP_HINT
    if not clean:
        return ABNORMAL_HINTS[closed_by if closed_by in ABNORMAL_HINTS else None]
    if vendor and reason:
        for needle, hint in vendor.close_reason_hints:
            if needle.lower() in reason.lower():
                return hint
    if code is None or code == 1000:
        return None
    if vendor and code in vendor.close_codes:
        info = vendor.close_codes[code]
        return info.hint or f"{vendor.name}: {info.meaning}."
    if code in CLOSE_CODE_HINTS:
        return CLOSE_CODE_HINTS[code]
    for codes, hint in CLOSE_RANGE_HINTS:
        if code in codes:
            return hint
    return CLOSE_RANGE_HINTS[0][1]
