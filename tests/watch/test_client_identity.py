"""Client identity: the wswatch_client_key spec, and ids stable per client, secret-free."""

from __future__ import annotations

import re

import pytest
from wswatchlib.redaction.redactor import Redactor
from wswatchlib.watch.client_identity import (
    ClientKey,
    ClientRequest,
    KeySource,
    client_id,
    parse_client_key,
)
from wswatchlib.watch.vendors import DEFAULT_VENDORS_PATH, load_catalog

SALT = b"0123456789abcdef"
OTHER_SALT = b"fedcba9876543210"
API_KEY = "dgkey-IDENTITY-4a5b6c7d8e"
HASHED = re.compile(r"^c-[0-9a-f]{12}$")


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    """A redactor for every shipped vendor's secret names (authorization, ?token=, ...)."""
    return Redactor(load_catalog(DEFAULT_VENDORS_PATH).all_secrets)


def request(
    ip: str = "10.0.0.7",
    user_agent: str = "python-websockets/15",
    query: str = "model=nova",
    **headers: str,
) -> ClientRequest:
    """An upgrade request's identifying facts; `headers` use _ for -."""
    named = {name.replace("_", "-"): value for name, value in headers.items()}
    return ClientRequest(ip, {"user-agent": user_agent, **named}, query)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("", ClientKey()),
        ("header:x-client-id", ClientKey(KeySource.HEADER, "x-client-id")),
        ("header:X-Client-ID", ClientKey(KeySource.HEADER, "x-client-id")),
        ("HEADER: X-Client-ID ", ClientKey(KeySource.HEADER, "x-client-id")),
        ("query:session", ClientKey(KeySource.QUERY, "session")),
        ("query:Session", ClientKey(KeySource.QUERY, "Session")),
    ],
)
def test_valid_client_key_specs_parse_to_source_and_name(spec: str, expected: ClientKey) -> None:
    """Header names are case-insensitive (lower-cased); query names are kept as written."""
    assert parse_client_key(spec) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("cookie:sid", 'expected "" (IP, User-Agent and credential), header:NAME or query:NAME'),
        ("x-client-id", 'expected "" (IP, User-Agent and credential), header:NAME or query:NAME'),
        ("header:", "header: needs a name after the colon"),
        ("query:  ", "query: needs a name after the colon"),
        ("header:x client", "'x client' is not a valid header name"),
    ],
    ids=["unknown-source", "no-colon", "header-without-name", "query-blank-name", "bad-header"],
)
def test_bad_client_key_spec_is_refused_saying_what_is_wrong(spec: str, message: str) -> None:
    """A spec that is not "", header:NAME or query:NAME raises ValueError with the reason."""
    with pytest.raises(ValueError) as refused:
        parse_client_key(spec)
    assert str(refused.value) == message


def test_default_id_is_stable_for_the_same_ip_agent_and_credential(redactor) -> None:
    """Same client, same key, another port and query: the same `c-` id."""
    first = client_id(ClientKey(), request(authorization=f"Token {API_KEY}"), redactor, SALT)
    again = client_id(
        ClientKey(),
        request(query="model=other", authorization=f"Token {API_KEY}"),
        redactor,
        SALT,
    )
    assert HASHED.match(first) and first == again


@pytest.mark.parametrize(
    "changed",
    [
        {"ip": "10.0.0.8"},
        {"user_agent": "node-ws/8"},
        {"authorization": "Token another-KEY-00000000"},
        {"query": "token=qtok-IDENTITY-9f8e7d"},  # a secret query parameter is a credential
        {"cookie": "session=cookie-VALUE-123456"},
    ],
    ids=["ip", "user-agent", "credential", "query-token", "cookie"],
)
def test_default_id_differs_when_ip_agent_or_credential_differs(redactor, changed) -> None:
    """Each part of the default identity tells clients apart."""
    base = {"authorization": f"Token {API_KEY}"}
    other = request(**{**base, **changed})
    assert client_id(ClientKey(), request(**base), redactor, SALT) != client_id(
        ClientKey(), other, redactor, SALT
    )


def test_default_id_depends_on_the_salt_so_runs_cannot_be_matched(redactor) -> None:
    """Another run (another salt) gives the same client another id."""
    same = request(authorization=f"Token {API_KEY}")
    assert client_id(ClientKey(), same, redactor, SALT) != client_id(
        ClientKey(), same, redactor, OTHER_SALT
    )


def test_no_secret_appears_in_any_id(redactor) -> None:
    """Neither the credential nor a secret-named key's value shows through the id."""
    secret_request = request(
        query=f"token={API_KEY}", authorization=f"Bearer {API_KEY}", x_client_id="load-test-7"
    )
    ids = [
        client_id(ClientKey(), secret_request, redactor, SALT),
        client_id(ClientKey(KeySource.HEADER, "authorization"), secret_request, redactor, SALT),
        client_id(ClientKey(KeySource.QUERY, "token"), secret_request, redactor, SALT),
    ]
    assert all(HASHED.match(found) for found in ids), ids
    assert not any(API_KEY in found or "Bearer" in found for found in ids)


def test_header_key_gives_that_headers_value_as_the_id(redactor) -> None:
    """`header:x-client-id` -> the header's value, whatever the IP or credential."""
    key = parse_client_key("header:X-Client-Id")
    found = client_id(key, request(x_client_id="load-test-7", ip="10.9.9.9"), redactor, SALT)
    assert found == "load-test-7"


def test_query_key_gives_that_parameters_value_as_the_id(redactor) -> None:
    """`query:session` -> the decoded value of ?session=."""
    key = parse_client_key("query:session")
    found = client_id(key, request(query="model=nova&session=tab%2042"), redactor, SALT)
    assert found == "tab 42"


def test_secret_named_key_is_hashed_by_value_alone(redactor) -> None:
    """`header:authorization` hashes the value: one id for the same key from any IP or agent."""
    key = parse_client_key("header:authorization")
    one = client_id(key, request(authorization=f"Token {API_KEY}"), redactor, SALT)
    other_host = client_id(
        key,
        request(ip="10.1.1.1", user_agent="curl", authorization=f"Token {API_KEY}"),
        redactor,
        SALT,
    )
    other_key = client_id(key, request(authorization="Token another-KEY-0000"), redactor, SALT)
    assert HASHED.match(one) and one == other_host and one != other_key


@pytest.mark.parametrize(
    ("spec", "fields"),
    [
        ("header:x-client-id", {}),
        ("header:x-client-id", {"x_client_id": ""}),
        ("query:session", {"query": "model=nova"}),
        ("query:session", {"query": "session="}),
    ],
    ids=["header-missing", "header-empty", "query-missing", "query-empty"],
)
def test_missing_or_empty_key_falls_back_to_the_default_id(redactor, spec, fields) -> None:
    """No usable keyed value: the request gets the default IP + agent + credential id."""
    keyed = client_id(parse_client_key(spec), request(**fields), redactor, SALT)
    assert keyed == client_id(ClientKey(), request(**fields), redactor, SALT)
