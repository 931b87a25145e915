"""Why an upgrade got no HTTP answer: mitmproxy's error text mapped to a closed set of kinds.

mitmproxy reports connection failures as free text (`flow.error.msg`), worded by asyncio, the OS
or its own layers. The table below is the one place that knows those wordings; the first pattern
that matches wins, so specific wordings come before general ones.

A handshake fault that ends the flow itself (reset, close before answer, a hang's time limit)
kills it, which mitmproxy words "Connection killed."; the fault addons record which fault it
was, and `INJECTED_FAILURES` says what the client went through instead of "killed".
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass


class FailureKind(enum.StrEnum):
    """Why a handshake attempt ended without any HTTP answer."""

    #: The upstream host refused the TCP connection (nothing listens on that port).
    REFUSED = "refused"
    #: The upstream host name could not be resolved.
    DNS = "dns"
    #: The TLS handshake with the upstream failed (untrusted certificate, wrong protocol...).
    TLS = "tls"
    #: The upstream closed or reset the connection before sending a response.
    UPSTREAM_CLOSED = "upstream_closed"
    #: The upstream sent something that is not HTTP.
    UPSTREAM_PROTOCOL = "upstream_protocol"
    #: A time limit ran out before an answer came.
    TIMEOUT = "timeout"
    #: The client closed its connection while waiting for the answer.
    CLIENT_GAVE_UP = "client_gave_up"
    #: The flow was killed by a user or an addon.
    KILLED = "killed"
    #: An injected `reset` fault sent the client a TCP RST instead of an answer.
    INJECTED_RESET = "injected_reset"
    #: An injected `close_before_answer` fault closed the client's connection (FIN), no answer.
    INJECTED_CLOSE = "injected_close"
    #: An injected `hang` fault held the request for its `max_s`, then closed the connection.
    INJECTED_HANG_EXPIRED = "injected_hang_expired"
    #: The network could not reach the host (no route, network down).
    UNREACHABLE = "unreachable"
    #: None of the known wordings matched; the raw text is still reported.
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class NetworkFailure:
    """A classified failure: its kind and a short human reason."""

    kind: FailureKind
    reason: str


#: (pattern, kind, reason); `{detail}` in the reason is replaced by the first group, if any.
ERROR_PATTERNS: tuple[tuple[re.Pattern[str], FailureKind, str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), kind, reason)
    for pattern, kind, reason in (
        (
            r"certificate verify failed:?\s*(.*)",
            FailureKind.TLS,
            "untrusted upstream certificate: {detail}",
        ),
        # "OpenSSL Error(...)" and alert texts such as "sslv3 alert handshake failure".
        (r"\b(?:tls|ssl)(?:v\d)?\b|\bopenssl\b", FailureKind.TLS, "TLS failure: {detail}"),
        (
            r"name or service not known|nodename nor servname|temporary failure in name resolution"
            r"|getaddrinfo failed|no address associated|errno -[235]\b|errno 8\b|errno 11001\b",
            FailureKind.DNS,
            "host name could not be resolved",
        ),
        # asyncio words every failed connect "[Errno N] Connect call failed (...)", so the errno
        # decides: ENETUNREACH/EHOSTUNREACH (Linux 101/113, macOS 51/65) and ETIMEDOUT (Linux 110,
        # macOS 60) are matched before the catch-all "connect call failed" of the refused row.
        (
            r"no route to host|network is unreachable|errno (?:101|113|51|65)\b",
            FailureKind.UNREACHABLE,
            "host unreachable",
        ),
        (r"timed out|timeout|errno (?:110|60)\b", FailureKind.TIMEOUT, "timed out"),
        (
            r"connect call failed|connection refused|errno 111\b|errno 61\b",
            FailureKind.REFUSED,
            "connection refused",
        ),
        (
            r"client disconnected|client closed connection",
            FailureKind.CLIENT_GAVE_UP,
            "client closed the connection before an answer came",
        ),
        (r"connection killed", FailureKind.KILLED, "flow killed"),
        # mitmproxy's words for an upstream that closed with its head unfinished; the bytes it
        # got follow. An unfinished "HTTP/..." head is a hang-up mid-answer, anything else is
        # not HTTP (the upstream_protocol row below).
        (
            r"unexpected server response: b[\'\"]HTTP/",
            FailureKind.UPSTREAM_CLOSED,
            "upstream closed the connection in the middle of its answer",
        ),
        # An answer mitmproxy parsed but will not pass on: it sends the client a 502 instead.
        (
            r"from server, refusing to prevent request smuggling",
            FailureKind.UPSTREAM_PROTOCOL,
            "upstream answered with an HTTP header mitmproxy refuses to pass on",
        ),
        (
            r"server closed connection|connection closed|connection reset|peer closed"
            r"|server disconnected",
            FailureKind.UPSTREAM_CLOSED,
            "upstream closed the connection before answering",
        ),
        (
            r"cannot parse http response|unexpected server response|protocol error",
            FailureKind.UPSTREAM_PROTOCOL,
            "upstream answered with something that is not HTTP",
        ),
    )
)


class InjectedEnd(enum.StrEnum):
    """How a handshake fault ended a flow itself (recorded by the handshake fault addon)."""

    #: `reset`: the client's connection aborted with a TCP RST (RFC 9293 section 3.10.7.1).
    RESET = "reset"
    #: `close_before_answer`: the client's connection closed normally (FIN), nothing answered.
    CLOSE = "close"
    #: `hang` with `max_s`: the time limit passed and the connection was closed (FIN).
    HANG_EXPIRED = "hang_expired"


#: What the client went through when an injected fault killed its flow.
INJECTED_FAILURES: dict[InjectedEnd, NetworkFailure] = {
    InjectedEnd.RESET: NetworkFailure(
        FailureKind.INJECTED_RESET, "the proxy sent the client a TCP RST instead of an answer"
    ),
    InjectedEnd.CLOSE: NetworkFailure(
        FailureKind.INJECTED_CLOSE, "the proxy closed the client's connection without an answer"
    ),
    InjectedEnd.HANG_EXPIRED: NetworkFailure(
        FailureKind.INJECTED_HANG_EXPIRED,
        "the proxy held the request for max_s, then closed the connection",
    ),
}


def classify_network_error(message: str) -> NetworkFailure:
    """Map mitmproxy's error text to a failure kind and a short reason."""
    for pattern, kind, reason in ERROR_PATTERNS:
        found = pattern.search(message)
        if found:
            detail = (found.group(1) if found.groups() else "").strip() or message.strip()
            return NetworkFailure(kind, reason.format(detail=detail))
    return NetworkFailure(FailureKind.OTHER, message.strip())


def classify_failure(message: str, injected_end: str | None) -> NetworkFailure:
    """Like `classify_network_error`, but a kill that an injected fault did is named for what
    the client went through. Anything else that ended the flow first (the client gave up during
    a hang, say) keeps the kind its error text gives."""
    failure = classify_network_error(message)
    if failure.kind is FailureKind.KILLED and injected_end in INJECTED_FAILURES:
        return INJECTED_FAILURES[InjectedEnd(injected_end)]
    return failure
