"""One sentence of likely cause and next step for every failure.

Generic facts live in the tables below; vendor facts live in the vendor profiles. The lookup order
is fixed, most specific first, and every path ends in a table entry, so no failure goes unexplained:

  handshake: vendor error text > vendor status > RFC problem > network failure kind >
             generic status > status class
  close:     vendor close reason > vendor close code > generic close code > code range
"""

from __future__ import annotations

from collections.abc import Sequence

from .handshake import Outcome, Problem
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
    FailureKind.CLIENT_GAVE_UP: "The upstream accepted the connection but sent no answer before the client gave up: the server is stuck, or it waits for TLS or another protocol (with injected: true, a hang held the request).",
    FailureKind.KILLED: "The flow was killed by a user or an addon (or by a fault that found nothing left to act on), not by the network.",
    FailureKind.INJECTED_RESET: "An injected reset: the client got a TCP RST instead of an answer; check that it reports the failure and retries with back-off.",
    FailureKind.INJECTED_CLOSE: "An injected close: the connection ended before any answer; check that the client treats it as a failed handshake and retries with back-off.",
    FailureKind.INJECTED_HANG_EXPIRED: "An injected hang: no answer came for max_s seconds, then the connection closed; a client should give up sooner with its own handshake timeout.",
    FailureKind.UNREACHABLE: "The upstream network is unreachable from the proxy: check routing, VPN and firewall rules.",
    FailureKind.OTHER: "The connection failed for a reason mitmproxy reported verbatim in 'error'.",
}

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


def handshake_hint(
    catalog: VendorCatalog,
    vendor: VendorProfile | None,
    outcome: Outcome,
    status: int | None,
    content_type: str,
    error: str | None,
    problems: Sequence[Problem],
    failure: FailureKind | None,
) -> str | None:
    """The hint for a handshake attempt; None for an accepted one."""
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
) -> str | None:
    """The hint for the end of a connection; None for a normal close 1000."""
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
