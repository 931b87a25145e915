"""Redaction: secrets hidden by name in URLs and headers, and scrubbed by value from events."""

from __future__ import annotations

import logging
import random
import urllib.parse
from typing import Any

import pytest
from wswatchlib.redaction.mitmproxy_log import PROXY_SERVER_LOGGER, RawHeadRedaction
from wswatchlib.redaction.redactor import (
    MIN_SCRUB_LENGTH,
    REDACTED,
    SECRETS_KEY,
    Redactor,
    SecretNames,
    redact_event,
    scrub,
    scrub_variants,
)
from wswatchlib.watch.vendors import DEFAULT_VENDORS_PATH, load_catalog


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    """A redactor knowing the secret names of every shipped vendor profile."""
    return Redactor(load_catalog(DEFAULT_VENDORS_PATH).all_secrets)


URL_CASES = [
    pytest.param(
        "wss://api.deepgram.com/v1/listen?model=nova-2&token=dgkey123&encoding=linear16",
        "wss://api.deepgram.com/v1/listen?model=nova-2&token=[redacted]&encoding=linear16",
        id="token",
    ),
    pytest.param(
        "wss://h.example/ws?Access_Token=abc&a=1&TOKEN=def",
        "wss://h.example/ws?Access_Token=[redacted]&a=1&TOKEN=[redacted]",
        id="names-case-insensitive",
    ),
    pytest.param(
        "wss://x.execute-api.eu-west-1.amazonaws.com/prod?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKIA%2F20250101%2Feu-west-1&X-Amz-Signature=deadbeef&X-Amz-Expires=300",
        "wss://x.execute-api.eu-west-1.amazonaws.com/prod?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=[redacted]&X-Amz-Signature=[redacted]&X-Amz-Expires=300",
        id="sigv4",
    ),
    pytest.param(
        "wss://h.example/listen?keywords=snuffleupagus:5,kansas&search=a+b&token=k1234&flag",
        "wss://h.example/listen?keywords=snuffleupagus:5,kansas&search=a+b&token=[redacted]&flag",
        id="other-params-verbatim",
    ),
    pytest.param(
        "wss://h.example/ws?to%6Ben=abc", "wss://h.example/ws?to%6Ben=[redacted]", id="encoded-name"
    ),
    pytest.param(
        "wss://user:hunter22@h.example:8443/ws?x=1",
        "wss://[redacted]@h.example:8443/ws?x=1",
        id="userinfo",
    ),
    pytest.param("wss://h.example/ws?model=x", "wss://h.example/ws?model=x", id="no-secret"),
    pytest.param("ws://h.example/ws", "ws://h.example/ws", id="no-query"),
]


@pytest.mark.parametrize(("url", "expected"), URL_CASES)
def test_redact_url(redactor: Redactor, url: str, expected: str) -> None:
    """Secret query values and userinfo are replaced; everything else is kept as written."""
    assert redactor.redact_url(url) == expected


def test_redact_url_without_query_answers_as_the_split_and_join_would(redactor: Redactor) -> None:
    """URLs with nothing to redact skip urlsplit: 20,000 generated ones (odd schemes, hosts,
    IPv6, userinfo-like, spaces, non-UTF-8 escapes) give what splitting and joining gives."""
    draw = random.Random(6455)
    alphabet = "aZ09:/.-+[]%é\udcff_~!$&'()*,;= @?#"
    starts = ["ws://", "WS://", "wss://h", "wss://", "ws://[::1]", "ws://127.0.0.1:80", "http:", ""]
    for _ in range(20_000):  # bounded
        url = draw.choice(starts) + "".join(
            draw.choice(alphabet) for _ in range(draw.randint(0, 12))
        )
        try:
            parts = urllib.parse.urlsplit(url)
        except ValueError:
            continue
        netloc = parts.netloc
        if "@" in netloc:
            netloc = f"{REDACTED}@{netloc.rsplit('@', 1)[1]}"
        joined = urllib.parse.urlunsplit(
            parts._replace(netloc=netloc, query=redactor.redact_query(parts.query))
        )
        assert redactor.redact_url(url) == joined, url


def test_redact_headers(redactor: Redactor) -> None:
    """Secret headers are replaced whole; subprotocol secrets only in their token."""
    headers = {
        "Authorization": "Token dgkey123",
        "Cookie": "sid=abcdef",
        "xi-api-key": "xi123456",
        "Ocp-Apim-Subscription-Key": "az123456",
        "user-agent": "test/1.0",
        "sec-websocket-version": "13",
    }
    assert redactor.redact_headers(headers) == {
        "Authorization": REDACTED,
        "Cookie": REDACTED,
        "xi-api-key": REDACTED,
        "Ocp-Apim-Subscription-Key": REDACTED,
        "user-agent": "test/1.0",
        "sec-websocket-version": "13",
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("token, KEY", "token, [redacted]"),
        ("Bearer, eyJhbGciOi.jwt", "Bearer, [redacted]"),
        ("openai-insecure-api-key.KEY, realtime", "openai-insecure-api-key.[redacted], realtime"),
        (
            "realtime, openai-insecure-api-key.sk-proj-9, openai-beta.realtime-v1",
            "realtime, openai-insecure-api-key.[redacted], openai-beta.realtime-v1",
        ),
        ("base64url.bearer.phx.dG9rZW4, phoenix", "base64url.bearer.phx.[redacted], phoenix"),
        ("graphql-transport-ws", "graphql-transport-ws"),
        ("token", "token"),
    ],
)
def test_redact_subprotocol_header(redactor: Redactor, value: str, expected: str) -> None:
    """Sec-WebSocket-Protocol keeps its protocol names and loses the secret tokens."""
    assert redactor.redact_headers({"Sec-WebSocket-Protocol": value}) == {
        "Sec-WebSocket-Protocol": expected
    }


SECRET_VALUE_CASES = [
    pytest.param(
        "", {"authorization": "Token dgkey123"}, {"Token dgkey123", "dgkey123"}, id="token-scheme"
    ),
    pytest.param(
        "", {"authorization": "Bearer eyJ.jwt"}, {"Bearer eyJ.jwt", "eyJ.jwt"}, id="bearer-scheme"
    ),
    pytest.param("", {"xi-api-key": "xi123456"}, {"xi123456"}, id="plain-header"),
    pytest.param(
        "",
        {"cookie": "sid=cookieval1; theme=dark; x=ab"},
        {"sid=cookieval1; theme=dark; x=ab", "cookieval1", "dark"},
        id="cookie-values",
    ),
    pytest.param(
        "",
        {"sec-websocket-protocol": "token, dgkey123"},
        {"dgkey123"},
        id="subprotocol-marker",
    ),
    pytest.param(
        "",
        {"sec-websocket-protocol": "realtime, openai-insecure-api-key.sk-proj-9"},
        {"sk-proj-9"},
        id="subprotocol-prefix",
    ),
    pytest.param(
        "model=nova-2&token=querysecret&api_key=a%2Fb%2Bc%3D",
        {},
        {"querysecret", "a/b+c="},
        id="query-decoded",
    ),
    pytest.param(
        "token=abc&key=xy",
        {"authorization": "Token k1", "x-api-key": "123"},
        {"Token k1"},
        id="short",
    ),
    pytest.param("model=nova-2", {"user-agent": "test/1.0"}, set(), id="none"),
]


@pytest.mark.parametrize(("query", "headers", "expected"), SECRET_VALUE_CASES)
def test_secret_values(
    redactor: Redactor, query: str, headers: dict[str, str], expected: set[str]
) -> None:
    """The secret values a request carries are collected; ones shorter than the minimum are not."""
    assert redactor.secret_values(query, headers) == expected


def test_min_scrub_length_is_four() -> None:
    """The minimum scrubbed length the 'short' case above relies on."""
    assert MIN_SCRUB_LENGTH == 4


def test_redact_event_scrubs_nested_strings() -> None:
    """Every string of an event, inside dicts and lists, loses the secret; _secrets is removed."""
    event: dict[str, Any] = {
        "event": "ws.handshake",
        "error": "bad key dgkey123",
        "error_headers": {"www-authenticate": "Token dgkey123"},
        "problems": ["x dgkey123 y", 5],
        "nested": {"list": [{"deep": "dgkey123dgkey123"}]},
        "status": 401,
        SECRETS_KEY: frozenset({"dgkey123"}),
    }
    assert redact_event(None, "info", event) == {
        "event": "ws.handshake",
        "error": f"bad key {REDACTED}",
        "error_headers": {"www-authenticate": f"Token {REDACTED}"},
        "problems": [f"x {REDACTED} y", 5],
        "nested": {"list": [{"deep": f"{REDACTED}{REDACTED}"}]},
        "status": 401,
    }


@pytest.mark.parametrize(
    ("secret", "text", "expected"),
    [
        ("ab/cd+ef==", "url ?token=ab%2Fcd%2Bef%3D%3D end", f"url ?token={REDACTED} end"),
        ("ab/cd+ef==", "raw ab/cd+ef== end", f"raw {REDACTED} end"),
        ("my secret key", "form token=my+secret+key", f"form token={REDACTED}"),
        ("my secret key", "path token=my%20secret%20key", f"path token={REDACTED}"),
    ],
)
def test_redact_event_scrubs_url_encoded_forms(secret: str, text: str, expected: str) -> None:
    """A secret is scrubbed raw, percent-encoded and form-encoded."""
    assert redact_event(None, "info", {"error": text, SECRETS_KEY: frozenset({secret})}) == {
        "error": expected
    }


def test_redact_event_longest_secret_first() -> None:
    """A secret containing another is replaced whole, not left half-visible."""
    event = {"error": "Token dgkey123", SECRETS_KEY: frozenset({"dgkey123", "Token dgkey123"})}
    assert redact_event(None, "info", event) == {"error": REDACTED}


def test_redact_event_without_secrets_is_unchanged() -> None:
    """An event without secrets keeps every field as it was."""
    event = {"event": "session.summary", "hosts": {"a": {"accepted": 1}}, "reasons": ["x"]}
    assert redact_event(None, "info", dict(event)) == event


def test_redact_event_removes_empty_secrets_key() -> None:
    """An empty _secrets set is removed too and changes nothing else."""
    assert redact_event(None, "info", {"error": "x", SECRETS_KEY: frozenset()}) == {"error": "x"}


def test_short_subprotocol_secret_does_not_mangle_other_tokens(redactor: Redactor) -> None:
    """Redaction is per token: a one-letter key after "token" leaves the word "token" intact."""
    assert redactor.redact_subprotocols("token, t") == "token, [redacted]"
    assert redactor.redact_subprotocols("token, abc, realtime") == "token, [redacted], realtime"


PARTIAL_HEAD = (
    b"GET /listen?model=nova&token=QTOK1234 HTTP/1.1\r\nHost: x\r\n"
    b"Authorization: Token HDRKEY1234\r\nCookie: s=CK1234\r\n"
    b"Sec-WebSocket-Protocol: token, SPKEY1234\r\nX-Other: keep\r\nAuthorization: To"
)


@pytest.mark.parametrize(
    ("logged", "expected"),
    [
        (
            f"Client closed connection before completing request headers: {PARTIAL_HEAD!r}",
            "Client closed connection before completing request headers: "
            "b'GET /listen?model=nova&token=[redacted] HTTP/1.1\\r\\nHost: x\\r\\n"
            "Authorization: [redacted]\\r\\nCookie: [redacted]\\r\\n"
            "Sec-WebSocket-Protocol: token, [redacted]\\r\\nX-Other: keep\\r\\n"
            "Authorization: [redacted]'",
        ),
        (
            "GET /?key=K1234&x=1 HTTP/1.1\r\nX-Api-Key: AK1234\r\n",
            "GET /?key=[redacted]&x=1 HTTP/1.1\r\nX-Api-Key: [redacted]\r\n",
        ),
        ("client connect", "client connect"),
    ],
    ids=["bytes-repr-cut-mid-value", "real-crlf", "no-head"],
)
def test_raw_head_is_redacted_by_name(redactor: Redactor, logged: str, expected: str) -> None:
    """A partial request mitmproxy logs raw keeps its shape but no secret, even one cut short."""
    assert redactor.redact_raw_head(logged) == expected


@pytest.mark.parametrize(
    ("name", "value", "secrets", "expected"),
    [
        pytest.param("Authorization", "Token abcd1234", (), True, id="secret-name"),
        pytest.param(
            "Sec-WebSocket-Protocol", "token, abcd1234", (), True, id="secret-subprotocol"
        ),
        pytest.param("Sec-WebSocket-Protocol", "chat, superchat", (), False, id="plain-protocols"),
        pytest.param("X-Error", "denied abcd1234", ("abcd1234",), True, id="echoed-secret"),
        pytest.param("X-Error", "denied abcd%2F1234", ("abcd/1234",), True, id="echoed-encoded"),
        pytest.param("Content-Type", "application/json", ("abcd1234",), False, id="untouched"),
    ],
)
def test_changes_header_says_whether_redaction_changes_it(
    redactor: Redactor, name: str, value: str, secrets: tuple[str, ...], expected: bool
) -> None:
    """Only a header that redaction by name or scrubbing by value would change is touched."""
    variants = scrub_variants(secrets)
    assert redactor.changes_header(name, value, variants) is expected
    assert (scrub(redactor.redact_header(name, value), variants) != value) is expected


def test_scrub_variants_are_raw_url_base64_and_json_encoded_longest_first() -> None:
    """Each secret is looked for raw, percent-encoded, form-encoded, base64 (padded or not)
    and JSON-escaped, the longest first."""
    assert scrub_variants(["ab c/1"]) == ["ab%20c%2F1", "YWIgYy8x", "ab+c%2F1", "ab c/1"]
    assert scrub_variants(["sk-secret-x"]) == ["c2stc2VjcmV0LXg=", "c2stc2VjcmV0LXg", "sk-secret-x"]
    assert scrub_variants(['tok"\u00e9']) == [
        "tok%22%C3%A9",
        'tok\\"\\u00e9',
        "dG9rIsOp",
        'tok"\u00e9',
    ]


@pytest.mark.parametrize(
    ("line", "redacted"),
    [
        (
            "Bad HTTP request line: b'GET http://user:pw@host:80/p?x=1 HTTP/1.1'",
            "Bad HTTP request line: b'GET http://[redacted]@host:80/p?x=1 HTTP/1.1'",
        ),
        (
            "Bad HTTP request line: b'CONNECT user:pw@host:443 HTTP/1.1'",
            "Bad HTTP request line: b'CONNECT [redacted]@host:443 HTTP/1.1'",
        ),
        ("b'GET wss://TOKEN@host/ HTTP/1.1'", "b'GET wss://[redacted]@host/ HTTP/1.1'"),
        # No userinfo: an address or a mail-like word outside a URL stays.
        ("127.0.0.1:5000: client connect", "127.0.0.1:5000: client connect"),
        ("contact ops@example.com", "contact ops@example.com"),
    ],
)
def test_raw_request_lines_lose_their_url_userinfo(line: str, redacted: str) -> None:
    assert Redactor(SecretNames()).redact_raw_head(line) == redacted


def test_mitmproxys_ping_and_pong_lines_lose_credential_shapes() -> None:
    """mitmproxy logs every ping and pong it relays with its payload; a credential-shaped
    payload is scrubbed there, the rest of the line kept."""
    log_filter = RawHeadRedaction(lambda: Redactor(SecretNames()))
    record = logging.LogRecord(
        PROXY_SERVER_LOGGER,
        logging.INFO,
        __file__,
        1,
        "Received WebSocket %s from client (payload: %r)",
        ("ping", b"Bearer abcdef0123456789ghij"),
        None,
    )
    assert log_filter.filter(record)
    assert record.getMessage() == (
        "Received WebSocket ping from client (payload: b'Bearer [redacted]')"
    )
