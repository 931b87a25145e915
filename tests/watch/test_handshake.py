"""RFC 6455 opening handshake: accept key, request and 101 checks, and the outcome of an attempt."""

from __future__ import annotations

import pytest
from wswatchlib.watch.handshake import (
    Outcome,
    Problem,
    accept_for_key,
    classify,
    is_upgrade_request,
    request_problems,
    response_problems,
)

#: RFC 6455 section 1.3's example key and the accept value it must produce.
RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
RFC_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

VALID_REQUEST = {
    "host": "example.com",
    "upgrade": "websocket",
    "connection": "Upgrade",
    "sec-websocket-key": RFC_KEY,
    "sec-websocket-version": "13",
}

VALID_101 = {
    "upgrade": "websocket",
    "connection": "Upgrade",
    "sec-websocket-accept": RFC_ACCEPT,
}


def changed(headers: dict[str, str], **changes: str | None) -> dict[str, str]:
    """A copy of *headers* with keys set (underscores as dashes), or removed when None."""
    result = dict(headers)
    for name, value in changes.items():
        name = name.replace("_", "-")
        if value is None:
            result.pop(name, None)
        else:
            result[name] = value
    return result


def test_accept_for_key_matches_rfc_6455_example() -> None:
    """The RFC 6455 section 1.3 example key yields the example accept value."""
    assert accept_for_key(RFC_KEY) == RFC_ACCEPT


def test_accept_for_key_ignores_surrounding_whitespace() -> None:
    """Whitespace around the key header value does not change the accept value."""
    assert accept_for_key(f"  {RFC_KEY} ") == RFC_ACCEPT


def test_valid_request_has_no_problems() -> None:
    """A conforming GET HTTP/1.1 upgrade request has no problems."""
    assert request_problems("GET", "HTTP/1.1", VALID_REQUEST) == []


REQUEST_CASES = [
    pytest.param("POST", "HTTP/1.1", VALID_REQUEST, Problem.REQUEST_METHOD_NOT_GET, id="method"),
    pytest.param("GET", "HTTP/1.0", VALID_REQUEST, Problem.REQUEST_NOT_HTTP11, id="http10"),
    pytest.param(
        "GET",
        "HTTP/1.1",
        changed(VALID_REQUEST, upgrade=None),
        Problem.REQUEST_MISSING_UPGRADE,
        id="no-upgrade",
    ),
    pytest.param(
        "GET",
        "HTTP/1.1",
        changed(VALID_REQUEST, connection="keep-alive"),
        Problem.REQUEST_MISSING_CONNECTION_UPGRADE,
        id="no-connection-upgrade",
    ),
    pytest.param(
        "GET",
        "HTTP/1.1",
        changed(VALID_REQUEST, sec_websocket_key=None),
        Problem.REQUEST_MISSING_KEY,
        id="no-key",
    ),
    pytest.param(
        "GET",
        "HTTP/1.1",
        changed(VALID_REQUEST, sec_websocket_key="AAAAAAAAAAA="),
        Problem.REQUEST_BAD_KEY,
        id="key-8-bytes",
    ),
    pytest.param(
        "GET",
        "HTTP/1.1",
        changed(VALID_REQUEST, sec_websocket_key="not base64!"),
        Problem.REQUEST_BAD_KEY,
        id="key-not-base64",
    ),
    pytest.param(
        "GET",
        "HTTP/1.1",
        changed(VALID_REQUEST, sec_websocket_version=None),
        Problem.REQUEST_MISSING_VERSION,
        id="no-version",
    ),
    pytest.param(
        "GET",
        "HTTP/1.1",
        changed(VALID_REQUEST, sec_websocket_version="8"),
        Problem.REQUEST_BAD_VERSION,
        id="version-8",
    ),
]


@pytest.mark.parametrize(("method", "version", "headers", "problem"), REQUEST_CASES)
def test_request_problem_is_reported_alone(
    method: str, version: str, headers: dict[str, str], problem: Problem
) -> None:
    """Each single RFC 6455 section 4.1 violation is reported as exactly its problem."""
    assert request_problems(method, version, headers) == [problem]


def test_request_cases_cover_every_request_problem() -> None:
    """The table above has a case for every request-side Problem member."""
    covered = {case.values[3] for case in REQUEST_CASES}
    assert covered == {problem for problem in Problem if problem.startswith("request_")}


def test_request_problems_are_case_insensitive_for_tokens_and_method() -> None:
    """Method, Upgrade and Connection tokens are compared without case, inside lists."""
    headers = changed(VALID_REQUEST, upgrade="WebSocket", connection="keep-alive, UPGRADE")
    assert request_problems("get", "HTTP/1.1", headers) == []


def test_valid_101_has_no_problems() -> None:
    """A 101 with Upgrade, Connection and the right accept value has no problems."""
    assert response_problems(VALID_REQUEST, VALID_101) == []


def test_valid_101_with_offered_subprotocol_and_extension_has_no_problems() -> None:
    """Choosing one offered subprotocol and an offered extension (with parameters) is fine."""
    request = changed(
        VALID_REQUEST,
        sec_websocket_protocol="graphql-transport-ws, graphql-ws",
        sec_websocket_extensions="permessage-deflate; client_max_window_bits",
    )
    response = changed(
        VALID_101,
        sec_websocket_protocol="graphql-ws",
        sec_websocket_extensions="permessage-deflate; server_no_context_takeover",
    )
    assert response_problems(request, response) == []


RESPONSE_CASES = [
    pytest.param(
        VALID_REQUEST,
        changed(VALID_101, sec_websocket_accept="x3JJHMbDL1EzLkh9GBhXDw=="),
        Problem.RESPONSE_BAD_ACCEPT,
        id="bad-accept",
    ),
    pytest.param(
        VALID_REQUEST,
        changed(VALID_101, sec_websocket_accept=None),
        Problem.RESPONSE_MISSING_ACCEPT,
        id="no-accept",
    ),
    pytest.param(
        VALID_REQUEST,
        changed(VALID_101, upgrade=None),
        Problem.RESPONSE_MISSING_UPGRADE,
        id="no-upgrade",
    ),
    pytest.param(
        VALID_REQUEST,
        changed(VALID_101, connection="keep-alive"),
        Problem.RESPONSE_MISSING_CONNECTION_UPGRADE,
        id="no-connection-upgrade",
    ),
    pytest.param(
        changed(VALID_REQUEST, sec_websocket_protocol="chat, superchat"),
        changed(VALID_101, sec_websocket_protocol="mqtt"),
        Problem.RESPONSE_UNOFFERED_SUBPROTOCOL,
        id="unoffered-subprotocol",
    ),
    pytest.param(
        VALID_REQUEST,
        changed(VALID_101, sec_websocket_protocol="chat"),
        Problem.RESPONSE_UNOFFERED_SUBPROTOCOL,
        id="subprotocol-none-offered",
    ),
    pytest.param(
        changed(VALID_REQUEST, sec_websocket_protocol="chat, superchat"),
        changed(VALID_101, sec_websocket_protocol="chat, superchat"),
        Problem.RESPONSE_UNOFFERED_SUBPROTOCOL,
        id="two-subprotocols",
    ),
    pytest.param(
        VALID_REQUEST,
        changed(VALID_101, sec_websocket_extensions="permessage-deflate"),
        Problem.RESPONSE_UNOFFERED_EXTENSION,
        id="unoffered-extension",
    ),
]


@pytest.mark.parametrize(("request_headers", "response_headers", "problem"), RESPONSE_CASES)
def test_response_problem_is_reported_alone(
    request_headers: dict[str, str], response_headers: dict[str, str], problem: Problem
) -> None:
    """Each single RFC 6455 section 4.2.2 violation in a 101 is reported as exactly its problem."""
    assert response_problems(request_headers, response_headers) == [problem]


def test_response_cases_cover_every_response_problem() -> None:
    """The table above has a case for every response-side Problem member."""
    covered = {case.values[2] for case in RESPONSE_CASES}
    assert covered == {problem for problem in Problem if problem.startswith("response_")}


def test_every_problem_is_a_request_or_response_problem() -> None:
    """Problem values are prefixed by the side they concern, which the coverage tests rely on."""
    assert all(problem.startswith(("request_", "response_")) for problem in Problem)


@pytest.mark.parametrize(
    ("status", "req", "resp", "outcome"),
    [
        (None, [], [], Outcome.FAILED),
        (None, [Problem.REQUEST_BAD_KEY], [], Outcome.FAILED),
        (200, [], [], Outcome.REJECTED),
        (401, [Problem.REQUEST_MISSING_VERSION], [], Outcome.REJECTED),
        (503, [], [], Outcome.REJECTED),
        (101, [], [], Outcome.ACCEPTED),
        (101, [Problem.REQUEST_BAD_KEY], [], Outcome.INVALID),
        (101, [], [Problem.RESPONSE_BAD_ACCEPT], Outcome.INVALID),
    ],
)
def test_classify(
    status: int | None, req: list[Problem], resp: list[Problem], outcome: Outcome
) -> None:
    """No answer is failed, non-101 rejected, 101 with any problem invalid, else accepted."""
    assert classify(status, req, resp) is outcome


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"upgrade": "websocket"}, True),
        ({"upgrade": "WebSocket"}, True),
        ({"upgrade": "WEBSOCKET"}, True),
        ({"upgrade": "h2c, websocket"}, True),
        ({"upgrade": " h2c ,WebSocket "}, True),
        ({"upgrade": "h2c"}, False),
        ({"upgrade": "websockets"}, False),
        ({"upgrade": ""}, False),
        ({}, False),
    ],
)
def test_is_upgrade_request(headers: dict[str, str], expected: bool) -> None:
    """Upgrade must list the token 'websocket', in any case, among others."""
    assert is_upgrade_request(headers) is expected
