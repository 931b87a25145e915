"""mitmproxy's and asyncio's connection-failure texts mapped to a failure kind and a reason."""

from __future__ import annotations

import pytest
from wswatchlib.watch.network_errors import (
    ERROR_PATTERNS,
    INJECTED_FAILURES,
    FailureKind,
    InjectedEnd,
    classify_failure,
    classify_network_error,
)

REFUSED = "connection refused"
UNRESOLVED = "host name could not be resolved"
UNREACHABLE = "host unreachable"
UPSTREAM_CLOSED = "upstream closed the connection before answering"
NOT_HTTP = "upstream answered with something that is not HTTP"

#: Texts as mitmproxy 11/12 and asyncio word them (flow.error.msg), with the expected result.
REAL_TEXTS = [
    # asyncio's sock_connect: "[Errno N] Connect call failed (address)"; the errno decides.
    ("[Errno 111] Connect call failed ('127.0.0.1', 9)", FailureKind.REFUSED, REFUSED),
    ("[Errno 61] Connect call failed ('127.0.0.1', 9)", FailureKind.REFUSED, REFUSED),
    (
        "Multiple exceptions: [Errno 111] Connect call failed ('::1', 9, 0, 0), "
        "[Errno 111] Connect call failed ('127.0.0.1', 9)",
        FailureKind.REFUSED,
        REFUSED,
    ),
    ("[Errno 113] Connect call failed ('192.0.2.99', 80)", FailureKind.UNREACHABLE, UNREACHABLE),
    ("[Errno 110] Connect call failed ('192.0.2.99', 80)", FailureKind.TIMEOUT, "timed out"),
    ("[Errno 110] Connection timed out", FailureKind.TIMEOUT, "timed out"),
    ("[Errno -2] Name or service not known", FailureKind.DNS, UNRESOLVED),
    ("[Errno -3] Temporary failure in name resolution", FailureKind.DNS, UNRESOLVED),
    ("[Errno 8] nodename nor servname provided, or not known", FailureKind.DNS, UNRESOLVED),
    ("[Errno 113] No route to host", FailureKind.UNREACHABLE, UNREACHABLE),
    ("[Errno 101] Network is unreachable", FailureKind.UNREACHABLE, UNREACHABLE),
    (
        "Certificate verify failed: self-signed certificate",
        FailureKind.TLS,
        "untrusted upstream certificate: self-signed certificate",
    ),
    (
        "Certificate verify failed: unable to get local issuer certificate",
        FailureKind.TLS,
        "untrusted upstream certificate: unable to get local issuer certificate",
    ),
    (
        "The remote server does not speak TLS.",
        FailureKind.TLS,
        "TLS failure: The remote server does not speak TLS.",
    ),
    (
        "OpenSSL Error([('SSL routines', '', 'sslv3 alert handshake failure')])",
        FailureKind.TLS,
        "TLS failure: OpenSSL Error([('SSL routines', '', 'sslv3 alert handshake failure')])",
    ),
    # mitmproxy reports some TLS alerts by their bare OpenSSL reason.
    ("tlsv1 alert unknown ca", FailureKind.TLS, "TLS failure: tlsv1 alert unknown ca"),
    ("sslv3 alert bad certificate", FailureKind.TLS, "TLS failure: sslv3 alert bad certificate"),
    (
        "Client disconnected.",
        FailureKind.CLIENT_GAVE_UP,
        "client closed the connection before an answer came",
    ),
    ("server closed connection", FailureKind.UPSTREAM_CLOSED, UPSTREAM_CLOSED),
    ("connection closed", FailureKind.UPSTREAM_CLOSED, UPSTREAM_CLOSED),
    ("[Errno 104] Connection reset by peer", FailureKind.UPSTREAM_CLOSED, UPSTREAM_CLOSED),
    (
        "unexpected server response: b'HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: websocket'",
        FailureKind.UPSTREAM_CLOSED,
        "upstream closed the connection in the middle of its answer",
    ),
    (
        "unexpected server response: b'SSH-2.0-OpenSSH_9.6'",
        FailureKind.UPSTREAM_PROTOCOL,
        "upstream answered with something that is not HTTP",
    ),
    (
        "HTTP/1 protocol error: peer closed connection without sending complete message body: "
        "received 10 bytes, expected 100",
        FailureKind.UPSTREAM_CLOSED,
        UPSTREAM_CLOSED,
    ),
    (
        "Received invalid header name: b'X-\\xff' from server, refusing to prevent request "
        "smuggling attacks. Disable the validate_inbound_headers option to skip this security check.",
        FailureKind.UPSTREAM_PROTOCOL,
        "upstream answered with an HTTP header mitmproxy refuses to pass on",
    ),
    ("Connection killed.", FailureKind.KILLED, "flow killed"),
    ("Connection killed: blocked by rule", FailureKind.KILLED, "flow killed"),
    (
        "Cannot parse HTTP response: Bad HTTP response line: b'SSH-2.0-OpenSSH_9.6'",
        FailureKind.UPSTREAM_PROTOCOL,
        NOT_HTTP,
    ),
    ("Cannot parse HTTP response: Bad status code", FailureKind.UPSTREAM_PROTOCOL, NOT_HTTP),
    ("something nobody has seen before ", FailureKind.OTHER, "something nobody has seen before"),
]


@pytest.mark.parametrize(("message", "kind", "reason"), REAL_TEXTS)
def test_classify_real_error_text(message: str, kind: FailureKind, reason: str) -> None:
    """Each real error text maps to its failure kind and short reason."""
    failure = classify_network_error(message)
    assert (failure.kind, failure.reason) == (kind, reason)


def test_classification_ignores_case() -> None:
    """Wordings are matched without regard to case."""
    assert classify_network_error("CLIENT DISCONNECTED.").kind is FailureKind.CLIENT_GAVE_UP


INJECTED_KINDS = {failure.kind for failure in INJECTED_FAILURES.values()}


def test_every_failure_kind_but_other_has_a_pattern_or_an_injected_end() -> None:
    """Every FailureKind except OTHER comes from one ERROR_PATTERNS row or one InjectedEnd."""
    produced = {kind for _pattern, kind, _reason in ERROR_PATTERNS}
    assert produced.isdisjoint(INJECTED_KINDS)
    assert produced | INJECTED_KINDS == set(FailureKind) - {FailureKind.OTHER}
    assert set(INJECTED_FAILURES) == set(InjectedEnd)
    assert len(INJECTED_KINDS) == len(InjectedEnd)


def test_real_text_table_covers_every_failure_kind_from_text() -> None:
    """The table of real texts above exercises every kind error text gives, OTHER included."""
    assert {kind for _message, kind, _reason in REAL_TEXTS} == set(FailureKind) - INJECTED_KINDS


KILLED = "Connection killed."
GAVE_UP = "Client disconnected."

#: (error text, what the fault injector recorded, expected kind): the injector's record names a
#: kill it did; whatever else ended the flow keeps the kind its text gives.
INJECTED_CASES = [
    (KILLED, "reset", FailureKind.INJECTED_RESET),
    (KILLED, "close", FailureKind.INJECTED_CLOSE),
    (KILLED, "hang_expired", FailureKind.INJECTED_HANG_EXPIRED),
    (KILLED, None, FailureKind.KILLED),
    (KILLED, "something newer", FailureKind.KILLED),
    (GAVE_UP, None, FailureKind.CLIENT_GAVE_UP),
    (GAVE_UP, "hang_expired", FailureKind.CLIENT_GAVE_UP),
    (GAVE_UP, "reset", FailureKind.CLIENT_GAVE_UP),
    ("[Errno 111] Connect call failed ('127.0.0.1', 9)", "close", FailureKind.REFUSED),
]


@pytest.mark.parametrize(("message", "injected_end", "kind"), INJECTED_CASES)
def test_a_kill_by_an_injected_fault_is_named_for_what_the_client_saw(
    message: str, injected_end: str | None, kind: FailureKind
) -> None:
    """classify_failure: an injected kill gets its injected kind, anything else its text's."""
    assert classify_failure(message, injected_end).kind is kind


def test_injected_failures_have_exact_reasons() -> None:
    """Each injected kind carries a reason saying what the client went through."""
    assert {end.value: classify_failure(KILLED, end.value).reason for end in InjectedEnd} == {
        "reset": "the proxy sent the client a TCP RST instead of an answer",
        "close": "the proxy closed the client's connection without an answer",
        "hang_expired": "the proxy held the request for max_s, then closed the connection",
    }
