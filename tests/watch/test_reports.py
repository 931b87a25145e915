"""Reports: the plain facts of a handshake or a connection's end turned into an event."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from wswatchlib.output.summary import failure_reason
from wswatchlib.redaction.redactor import Redactor
from wswatchlib.watch.client_history import SincePrevious
from wswatchlib.watch.handshake import Problem
from wswatchlib.watch.hints import (
    ABNORMAL_HINTS,
    CLOSE_CODE_HINTS,
    FAILURE_HINTS,
    PROBLEM_HINTS,
    RAW_TCP_HINT,
    VIOLATION_HINTS,
)
from wswatchlib.watch.network_errors import FailureKind
from wswatchlib.watch.reports import (
    UNANALYSED_HINT,
    ConnectionFacts,
    HandshakeFacts,
    ObservedFacts,
    analyse_close,
    analyse_handshake,
    close_level,
    excerpt,
    parse_retry_after,
    unanalysed_handshake,
    ws_url,
)
from wswatchlib.watch.vendors import DEFAULT_VENDORS_PATH, VendorCatalog, load_catalog
from wswatchlib.watch.violations import Violation

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

#: 2015-10-21T07:28:00Z, the RFC 9110 example date, as epoch seconds.
RFC_DATE_EPOCH = 1445412480.0

REQUEST = {
    "host": "api.deepgram.com",
    "upgrade": "websocket",
    "connection": "Upgrade",
    "sec-websocket-key": KEY,
    "sec-websocket-version": "13",
    "authorization": "Token dgkey123",
}

OK_101 = {"upgrade": "websocket", "connection": "Upgrade", "sec-websocket-accept": ACCEPT}


@pytest.fixture(scope="module")
def catalog() -> VendorCatalog:
    """The catalog shipped in config/vendors.yaml."""
    return load_catalog(DEFAULT_VENDORS_PATH)


@pytest.fixture(scope="module")
def redactor(catalog: VendorCatalog) -> Redactor:
    """A redactor for every shipped vendor's secret names."""
    return Redactor(catalog.all_secrets)


def facts(**changes: Any) -> HandshakeFacts:
    """A valid, accepted Deepgram handshake over wss, with the given fields replaced."""
    base = HandshakeFacts(
        client="127.0.0.1:50000",
        scheme="wss",
        host="api.deepgram.com",
        port=443,
        path="/v1/listen?model=nova-2&token=qtoken99",
        method="GET",
        http_version="HTTP/1.1",
        request_headers=REQUEST,
        status=101,
        reason="Switching Protocols",
        response_headers=OK_101,
        body=None,
        error=None,
        started=100.0,
        ended=100.25,
    )
    return dataclasses.replace(base, **changes)


# --- small helpers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "now", "expected"),
    [
        ("120", 0.0, 120.0),
        (" 0 ", 0.0, 0.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", RFC_DATE_EPOCH - 90, 90.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", RFC_DATE_EPOCH + 10, 0.0),
        ("Wednesday, 21-Oct-15 07:28:00 GMT", RFC_DATE_EPOCH - 5, 5.0),
        ("Wed Oct 21 07:28:00 2015", RFC_DATE_EPOCH - 30, 30.0),
        ("soon", 0.0, None),
        ("-5", 0.0, None),
        ("1.5", 0.0, None),
        ("", 0.0, None),
        (None, 0.0, None),
    ],
)
def test_parse_retry_after(value: str | None, now: float, expected: float | None) -> None:
    """Retry-After is delta seconds or an HTTP date relative to now (never negative); else None."""
    assert parse_retry_after(value, now) == expected


@pytest.fixture
def tokyo_local_time() -> Iterator[None]:
    """The process runs in a zone 9 hours east of UTC for the test."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TZ", "JST-9")
        time.tzset()
        yield
    time.tzset()


@pytest.mark.parametrize(
    "value",
    ["Wed Oct 21 07:28:00 2015", "Wed, 21 Oct 2015 07:28:00 -0000"],
    ids=["asctime", "-0000"],
)
@pytest.mark.usefixtures("tokyo_local_time")
def test_parse_retry_after_zoneless_date_is_utc(value: str) -> None:
    """HTTP dates without a zone (asctime form, -0000) are GMT, not the machine's local time."""
    assert parse_retry_after(value, RFC_DATE_EPOCH - 60) == 60.0


@pytest.mark.parametrize(
    ("body", "limit", "expected"),
    [
        ("short", 10, "short"),
        ("exactly10!", 10, "exactly10!"),
        ("0123456789abcdef", 10, "0123456789... [6 more characters]"),
        ("", 10, None),
        (None, 10, None),
    ],
)
def test_excerpt(body: str | None, limit: int, expected: str | None) -> None:
    """A body is shown whole up to the limit, else cut with a marker; empty is None."""
    assert excerpt(body, limit) == expected


@pytest.mark.parametrize(
    ("scheme", "host", "port", "path", "expected"),
    [
        ("ws", "example.com", 80, "/chat", "ws://example.com/chat"),
        ("wss", "example.com", 443, "/chat?x=1", "wss://example.com/chat?x=1"),
        ("ws", "example.com", 443, "/", "ws://example.com:443/"),
        ("wss", "example.com", 80, "/", "wss://example.com:80/"),
        ("ws", "127.0.0.1", 8765, "/", "ws://127.0.0.1:8765/"),
        ("wss", "::1", 443, "/", "wss://[::1]/"),
        ("ws", "2001:db8::1", 8080, "/p", "ws://[2001:db8::1]:8080/p"),
    ],
)
def test_ws_url(scheme: str, host: str, port: int, path: str, expected: str) -> None:
    """The URL drops the scheme's default port and brackets IPv6 hosts."""
    assert ws_url(scheme, host, port, path) == expected


# --- analyse_handshake --------------------------------------------------------------------------


def test_valid_101_is_accepted_without_hint(catalog: VendorCatalog, redactor: Redactor) -> None:
    """A valid 101 is accepted, with no hint, error, problems, excerpt or summary reason."""
    analysis = analyse_handshake(
        facts(
            response_headers={**OK_101, "sec-websocket-protocol": "token"},
            request_headers={**REQUEST, "sec-websocket-protocol": "token, dgkey123"},
        ),
        catalog,
        redactor,
        100,
    )
    event = analysis.event
    assert (event.outcome, event.status, event.hint, event.error, event.problems) == (
        "accepted",
        101,
        None,
        None,
        [],
    )
    assert (event.body_excerpt, event.failure, event.subprotocol) == (None, None, "token")
    assert (event.vendor, event.path, event.duration_ms) == ("deepgram", "/v1/listen", 250.0)
    assert failure_reason(analysis.event.fields()) is None


def test_deepgram_401_is_rejected_with_vendor_error(
    catalog: VendorCatalog, redactor: Redactor
) -> None:
    """A Deepgram 401 carries the vendor, its error text, request id, retry-after and hint."""
    body = '{"err_code":"INVALID_AUTH","err_msg":"Invalid credentials."}'
    analysis = analyse_handshake(
        facts(
            host="127.0.0.1",
            port=8443,
            status=401,
            reason="Unauthorized",
            body=body,
            response_headers={
                "dg-error": "Invalid credentials.",
                "dg-request-id": "rid-1",
                "content-type": "application/json",
                "retry-after": "30",
            },
        ),
        catalog,
        redactor,
        20,
    )
    event = analysis.event
    assert (event.outcome, event.status, event.reason) == ("rejected", 401, "Unauthorized")
    assert (event.vendor, event.error, event.request_id) == (
        "deepgram",
        "Invalid credentials.",
        "rid-1",
    )
    assert event.error_headers == {"dg-error": "Invalid credentials."}
    assert event.retry_after == 30.0
    assert event.body_excerpt == '{"err_code":"INVALID... [40 more characters]'
    assert event.hint is not None and "'Token <key>'" in event.hint
    assert analysis.vendor is not None and analysis.vendor.id == "deepgram"
    assert failure_reason(analysis.event.fields()) == "401 Invalid credentials."


def test_refused_connection_is_failed(catalog: VendorCatalog, redactor: Redactor) -> None:
    """No answer because nothing listens: failed, kind refused, mitmproxy's text as error."""
    message = "[Errno 111] Connect call failed ('127.0.0.1', 9)"
    analysis = analyse_handshake(
        facts(
            host="127.0.0.1",
            port=9,
            scheme="ws",
            status=None,
            reason=None,
            response_headers={},
            error=message,
        ),
        catalog,
        redactor,
        100,
    )
    event = analysis.event
    assert (event.outcome, event.status, event.failure, event.reason, event.error) == (
        "failed",
        None,
        "refused",
        "connection refused",
        message,
    )
    assert event.hint == FAILURE_HINTS[FailureKind.REFUSED]
    assert (event.body_excerpt, event.request_id) == (None, None)
    assert event.url == "ws://127.0.0.1:9/v1/listen?model=nova-2&token=[redacted]"
    assert failure_reason(analysis.event.fields()) == "refused: connection refused"


def test_flow_killed_by_an_injected_reset_is_reported_as_injected_reset_not_killed(
    catalog: VendorCatalog, redactor: Redactor
) -> None:
    """A kill recorded as an injected reset: failure injected_reset, its reason, hint, summary."""
    analysis = analyse_handshake(
        facts(
            status=None,
            reason=None,
            response_headers={},
            error="Connection killed.",
            injected_end="reset",
        ),
        catalog,
        redactor,
        100,
    )
    event = analysis.event
    assert (event.outcome, event.failure, event.reason, event.error) == (
        "failed",
        "injected_reset",
        "the proxy sent the client a TCP RST instead of an answer",
        "Connection killed.",
    )
    assert event.hint == FAILURE_HINTS[FailureKind.INJECTED_RESET]
    assert failure_reason(analysis.event.fields()) == (
        "injected_reset: the proxy sent the client a TCP RST instead of an answer"
    )


def test_101_with_bad_accept_is_invalid(catalog: VendorCatalog, redactor: Redactor) -> None:
    """A 101 whose accept value is wrong is invalid, with the problem and its hint."""
    analysis = analyse_handshake(
        facts(response_headers={**OK_101, "sec-websocket-accept": "AAAAAAAAAAAAAAAAAAAAAAAAAAA="}),
        catalog,
        redactor,
        100,
    )
    event = analysis.event
    assert (event.outcome, event.problems) == ("invalid", ["response_bad_accept"])
    assert event.hint == PROBLEM_HINTS[Problem.RESPONSE_BAD_ACCEPT]
    assert failure_reason(analysis.event.fields()) == "response_bad_accept"


def test_invalid_request_answered_by_101_is_invalid(
    catalog: VendorCatalog, redactor: Redactor
) -> None:
    """A 101 answering a request without a version is invalid because of the request."""
    request = {k: v for k, v in REQUEST.items() if k != "sec-websocket-version"}
    analysis = analyse_handshake(facts(request_headers=request), catalog, redactor, 100)
    assert (analysis.event.outcome, analysis.event.problems) == (
        "invalid",
        ["request_missing_version"],
    )


def test_url_is_redacted_while_secrets_are_kept(catalog: VendorCatalog, redactor: Redactor) -> None:
    """The event's URL hides ?token=; the analysis keeps the values to scrub from every event."""
    analysis = analyse_handshake(facts(), catalog, redactor, 100)
    assert analysis.event.url == "wss://api.deepgram.com/v1/listen?model=nova-2&token=[redacted]"
    assert analysis.secrets == {"qtoken99", "Token dgkey123", "dgkey123"}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, None),
        ({"status": 404, "reason": "Not Found", "response_headers": {}}, "404 Not Found"),
        ({"status": 404, "reason": None, "response_headers": {}}, "404"),
        (
            {"status": 503, "reason": "Unavailable", "response_headers": {"x-error": "overloaded"}},
            "503 overloaded",
        ),
        (
            {
                "status": None,
                "reason": None,
                "response_headers": {},
                "error": "Client disconnected.",
            },
            "client_gave_up: client closed the connection before an answer came",
        ),
        (
            {"status": None, "reason": None, "response_headers": {}, "error": None},
            "other: no answer",
        ),
        (
            {"response_headers": {"upgrade": "websocket", "sec-websocket-accept": ACCEPT}},
            "response_missing_connection_upgrade",
        ),
    ],
)
def test_summary_reason(
    catalog: VendorCatalog, redactor: Redactor, changes: dict[str, Any], expected: str | None
) -> None:
    """The summary groups attempts by status and error, failure kind, or problems."""
    assert (
        failure_reason(analyse_handshake(facts(**changes), catalog, redactor, 100).event.fields())
        == expected
    )


# --- analyse_close ------------------------------------------------------------------------------


def closing(**changes: Any) -> ConnectionFacts:
    """A connection closed normally by the client after 12.5 s, with the given fields replaced."""
    base = ConnectionFacts(
        url="wss://api.deepgram.com/v1/listen",
        close_code=1000,
        close_reason="",
        closed_by="client",
        started=10.0,
        ended=22.5,
        messages={"client": 3, "server": 4},
        bytes={"client": 300, "server": 40},
        retained_messages=7,
    )
    return dataclasses.replace(base, **changes)


def test_normal_close_is_clean_without_hint() -> None:
    """A 1000 close is clean, has no hint, and carries the counters and duration."""
    event = analyse_close(closing(), None)
    assert (event.clean, event.hint, event.close_reason, event.vendor) == (True, None, None, None)
    assert (event.duration_s, event.messages, event.bytes, event.retained_messages) == (
        12.5,
        {"client": 3, "server": 4},
        {"client": 300, "server": 40},
        7,
    )
    assert event.close_meaning == CLOSE_CODE_HINTS[1000]


@pytest.mark.parametrize(
    ("dropped", "redelivered", "expected"),
    [
        ({}, {}, {"client": 0, "server": 0}),
        ({"client": 2, "server": 1}, {}, {"client": 2, "server": 1}),
        ({"client": 2, "server": 1}, {"client": 2}, {"client": 0, "server": 1}),
        ({"client": 1}, {"client": 1, "server": 0}, {"client": 0, "server": 0}),
        # A held message delivered without a dropped count (never expected) is not negative.
        ({"server": 0}, {"server": 1}, {"client": 0, "server": 0}),
    ],
)
def test_dropped_counts_only_messages_never_delivered(
    dropped: dict[str, int], redelivered: dict[str, int], expected: dict[str, int]
) -> None:
    """ws.closed `dropped`: per side, messages dropped on arrival minus those delivered later."""
    event = analyse_close(closing(dropped=dropped, redelivered=redelivered), None)
    assert event.dropped == expected


@pytest.mark.parametrize("code", [None, 1006, 1015])
def test_close_without_close_frame_is_abnormal(code: int | None) -> None:
    """No code, 1006 or 1015 mean no close frame: unclean, hinted by who closed."""
    event = analyse_close(closing(close_code=code, closed_by="server"), None)
    assert (event.clean, event.hint) == (False, ABNORMAL_HINTS["server"])


def test_vendor_close_is_explained_by_vendor(catalog: VendorCatalog) -> None:
    """Deepgram's 1011 NET-0001 close gets Deepgram's meaning and KeepAlive hint."""
    [deepgram] = [v for v in catalog.vendors if v.id == "deepgram"]
    event = analyse_close(
        closing(close_code=1011, close_reason="NET-0001", closed_by="server"), deepgram
    )
    assert (event.clean, event.vendor) == (True, "deepgram")
    assert event.close_meaning == "server-side timeout or error (NET-0000 / NET-0001)"
    assert event.hint == dict(deepgram.close_reason_hints)["NET-0001"]


def test_generic_close_code_hint() -> None:
    """Without a vendor a clean 1008 gets the generic policy-violation hint."""
    event = analyse_close(closing(close_code=1008, close_reason="quota"), None)
    assert (event.clean, event.hint, event.close_reason) == (True, CLOSE_CODE_HINTS[1008], "quota")


def test_body_excerpt_is_scrubbed_before_it_is_cut(
    catalog: VendorCatalog, redactor: Redactor
) -> None:
    """A key echoed across the excerpt's cut is redacted whole, not written minus its end."""
    body = "x" * 20 + "echoed Token dgkey123 back"
    analysis = analyse_handshake(
        facts(status=401, reason="Unauthorized", response_headers={}, body=body),
        catalog,
        redactor,
        30,
    )
    assert analysis.event.body_excerpt == "x" * 20 + "echoed [re... [12 more characters]"
    assert "dgkey" not in str(analysis.event.fields())


def test_unanalysed_handshake_is_still_one_event_saying_why() -> None:
    """An attempt whose analysis raised keeps its outcome, url and the reason, with a hint."""
    analysis = unanalysed_handshake(
        client="127.0.0.1:1",
        url="ws://h/p?token=[redacted]",
        host="h",
        path="/p",
        status=401,
        problem="ValueError: boom",
        secrets=frozenset({"s3cret"}),
        client_id="c-0123456789ab",
        started=RFC_DATE_EPOCH,
        since=SincePrevious(2.5, None),
    )
    event = analysis.event
    assert (event.outcome, event.status, event.path, event.failure) == (
        "rejected",
        401,
        "/p",
        None,
    )
    assert event.error == "wswatch could not analyse this attempt: ValueError: boom"
    assert event.hint == UNANALYSED_HINT and analysis.secrets == {"s3cret"}
    assert (event.client_id, event.started, event.since_previous_attempt_s) == (
        "c-0123456789ab",
        "2015-10-21T07:28:00.000Z",
        2.5,
    )
    failed = unanalysed_handshake(
        client="",
        url="ws://h",
        host="h",
        path="/",
        status=None,
        problem="x",
        secrets=frozenset(),
        client_id="c-0123456789ab",
        started=RFC_DATE_EPOCH,
    )
    assert (failed.event.outcome, failed.event.failure) == ("failed", "other")


def test_close_the_proxy_sent_for_a_violation_names_rule_and_side() -> None:
    """A 1002 the proxy sent because the server masked a frame: violation, side and its hint."""
    event = analyse_close(
        closing(
            close_code=1002,
            close_reason="client received unexpected masked frame",
            closed_by="proxy",
            violation=Violation.SERVER_MASKED_FRAME,
            violated_by="server",
        ),
        None,
    )
    assert (event.closed_by, event.violation, event.violated_by, event.close_code) == (
        "proxy",
        "server_masked_frame",
        "server",
        1002,
    )
    assert event.hint == VIOLATION_HINTS[Violation.SERVER_MASKED_FRAME].format(side="server")


def test_close_without_violation_has_null_violation_fields() -> None:
    """A close a peer sent carries violation and violated_by null, and raw_tcp false."""
    fields = analyse_close(closing(), None).fields()
    assert (fields["violation"], fields["violated_by"], fields["raw_tcp"]) == (None, None, False)
    assert fields["tcp_bytes"] is None


def test_raw_tcp_relay_counts_bytes_not_messages() -> None:
    """A relay mitmproxy did not parse: tcp_bytes counted, messages and bytes null, raw TCP hint."""
    event = analyse_close(
        closing(
            close_code=None,
            closed_by=None,
            messages=None,
            bytes=None,
            tcp_bytes={"client": 10, "server": 5},
        ),
        None,
    )
    assert (event.raw_tcp, event.tcp_bytes, event.messages, event.bytes) == (
        True,
        {"client": 10, "server": 5},
        None,
        None,
    )
    assert (event.close_code, event.clean, event.hint) == (None, False, RAW_TCP_HINT)


def test_handshake_event_carries_the_attempts_client_and_reconnect_facts(catalog, redactor) -> None:
    """client_id and since_previous_* come from the facts; started is the request's start."""
    event = analyse_handshake(
        facts(client_id="c-0123456789ab", since=SincePrevious(3.5, 2.25), started=RFC_DATE_EPOCH),
        catalog,
        redactor,
        512,
    ).event
    assert (event.client_id, event.started) == ("c-0123456789ab", "2015-10-21T07:28:00.000Z")
    assert (event.since_previous_attempt_s, event.since_previous_close_s) == (3.5, 2.25)


def test_closed_event_carries_client_last_messages_and_longest_gaps() -> None:
    """The connection's client_id, last_message_s and longest_gap_s are reported as given."""
    fields = analyse_close(
        closing(
            client_id="load-test-7",
            last_message_s={"client": 12.0, "server": None},
            longest_gap_s={"client": 4.5, "server": 12.5},
        ),
        None,
    ).fields()
    assert (fields["client_id"], fields["last_message_s"], fields["longest_gap_s"]) == (
        "load-test-7",
        {"client": 12.0, "server": None},
        {"client": 4.5, "server": 12.5},
    )


def _observed(first: tuple[str, Violation] | None) -> ObservedFacts:
    rules = {"client": [], "server": [first[1].value] if first else []}
    return ObservedFacts(
        pings={"client": 1, "server": 0},
        pongs={"client": 0, "server": 1},
        pong_rtt_ms={"client": {"count": 1.0, "last": 2.5}, "server": None},
        protocol_violations=rules,
        first_violation=first,
        bytes_compressed=False,
    )


def test_an_observed_violation_is_named_with_its_side_and_hint_and_is_a_warning() -> None:
    """Observe-only relay: a clean 1000 close on which the server masked a frame names the rule,
    the side and the hint, and is logged as a warning, not as a normal close."""
    first = ("server", Violation.SERVER_MASKED_FRAME)
    event = analyse_close(closing(relay="observe", observed=_observed(first)), None)
    assert (event.violation, event.violated_by, event.relay) == (
        "server_masked_frame",
        "server",
        "observe",
    )
    assert event.hint == VIOLATION_HINTS[Violation.SERVER_MASKED_FRAME].format(side="server")
    assert event.protocol_violations == {"client": [], "server": ["server_masked_frame"]}
    assert (event.pings, event.pongs) == ({"client": 1, "server": 0}, {"client": 0, "server": 1})
    assert close_level(event) == logging.WARNING


def test_close_event_is_built_once_with_its_fault_and_relay() -> None:
    """The rule that disturbed the connection and the relay that followed it are facts."""
    event = analyse_close(closing(rule_id="kick", relay="tcp"), None)
    assert (event.injected, event.rule_id, event.relay, event.pings) == (True, "kick", "tcp", None)


@pytest.mark.parametrize(
    ("changes", "level"),
    [
        ({}, logging.INFO),
        ({"close_code": 1001}, logging.INFO),
        ({"close_code": 4001}, logging.WARNING),
        ({"close_code": 1006}, logging.WARNING),
        ({"relay": "observe", "observed": _observed(None)}, logging.INFO),
    ],
)
def test_close_level(changes: dict[str, Any], level: int) -> None:
    assert close_level(analyse_close(closing(**changes), None)) == level
