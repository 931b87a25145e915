"""Vendor profiles: shipped catalog, recognition, request id and error extraction, file errors."""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path
from typing import Any

import pytest
from wswatchlib.watch.vendors import (
    DEFAULT_VENDORS_PATH,
    Exchange,
    VendorCatalog,
    VendorFileError,
    error_headers,
    error_text,
    first_vendor_matcher,
    identify,
    load_catalog,
    parse_catalog,
    request_id,
)

PATH = "vendors.yaml"


@pytest.fixture(scope="module")
def catalog() -> VendorCatalog:
    """The catalog shipped in config/vendors.yaml."""
    return load_catalog(DEFAULT_VENDORS_PATH)


def vendor(catalog: VendorCatalog, vendor_id: str) -> Any:
    """The shipped profile with this id."""
    [profile] = [v for v in catalog.vendors if v.id == vendor_id]
    return profile


def exchange(
    host: str = "127.0.0.1",
    path: str = "/",
    request_headers: dict[str, str] | None = None,
    response_headers: dict[str, str] | None = None,
    subprotocols: tuple[str, ...] = (),
) -> Exchange:
    """An exchange with nothing vendor-specific unless given."""
    return Exchange(host, path, request_headers or {}, response_headers or {}, subprotocols)


def test_default_vendors_path_is_the_shipped_file() -> None:
    """DEFAULT_VENDORS_PATH points at config/vendors.yaml of this repository."""
    repo = Path(__file__).resolve().parents[2]
    assert Path(DEFAULT_VENDORS_PATH) == repo / "config" / "vendors.yaml"


@pytest.mark.parametrize(
    "vendor_id",
    [
        "deepgram",
        "openai_realtime",
        "assemblyai",
        "aws",
        "azure",
        "cloudflare",
        "elevenlabs",
        "graphql_ws",
        "socketio",
        "discord",
    ],
)
def test_shipped_catalog_has_vendor(catalog: VendorCatalog, vendor_id: str) -> None:
    """The shipped catalog loads and has a profile for each well-known vendor."""
    assert vendor(catalog, vendor_id).id == vendor_id


def test_shipped_catalog_generic_profile(catalog: VendorCatalog) -> None:
    """The generic profile carries request-id headers and secret names for every endpoint."""
    assert catalog.generic.id == "generic"
    assert catalog.generic.request_id_headers[0] == "x-request-id"
    assert "authorization" in catalog.generic.secrets.headers
    assert "token" in catalog.generic.secrets.query


def test_cloudflare_signature_is_checked_last(catalog: VendorCatalog) -> None:
    """Cloudflare's broad cf-ray signature comes after every other vendor's."""
    assert catalog.vendors[-1].id == "cloudflare"


IDENTIFY_CASES = [
    pytest.param(exchange(host="api.deepgram.com"), "deepgram", id="host-exact"),
    pytest.param(exchange(host="API.Deepgram.com"), "deepgram", id="host-case"),
    pytest.param(
        exchange(host="abc123.execute-api.us-east-1.amazonaws.com"), "aws", id="host-glob"
    ),
    pytest.param(
        exchange(response_headers={"dg-request-id": "1b2c"}), "deepgram", id="response-header"
    ),
    pytest.param(exchange(request_headers={"xi-api-key": "k"}), "elevenlabs", id="request-header"),
    pytest.param(exchange(subprotocols=("graphql-transport-ws",)), "graphql_ws", id="subprotocol"),
    pytest.param(
        exchange(
            subprotocols=("realtime", "openai-insecure-api-key.sk-abc", "openai-beta.realtime-v1")
        ),
        "openai_realtime",
        id="subprotocol-glob",
    ),
    pytest.param(exchange(path="/socket.io/"), "socketio", id="path-glob"),
    pytest.param(
        exchange(host="api.openai.com", response_headers={"dg-request-id": "1b2c"}),
        "openai_realtime",
        id="host-beats-signature",
    ),
    pytest.param(
        exchange(response_headers={"cf-ray": "8a1b-AMS", "dg-error": "bad"}),
        "deepgram",
        id="specific-signature-beats-cf-ray",
    ),
    pytest.param(
        exchange(response_headers={"cf-ray": "8a1b-AMS"}), "cloudflare", id="cf-ray-alone"
    ),
    pytest.param(exchange(host="example.com", path="/ws"), None, id="nothing"),
]


@pytest.mark.parametrize(("facts", "expected"), IDENTIFY_CASES)
def test_identify(catalog: VendorCatalog, facts: Exchange, expected: str | None) -> None:
    """A vendor is recognised by host glob first, then by header, subprotocol or path signature."""
    found = identify(catalog, facts)
    assert (found.id if found else None) == expected


REQUEST_ID_CASES = [
    pytest.param(
        "deepgram",
        {"x-request-id": "generic-1", "dg-request-id": "dg-1"},
        "dg-1",
        id="vendor-first",
    ),
    pytest.param("deepgram", {"x-request-id": "generic-1"}, "generic-1", id="generic-fallback"),
    pytest.param(
        None, {"traceparent": "00-abc-01", "x-request-id": "r-1"}, "r-1", id="generic-order"
    ),
    pytest.param(None, {"traceparent": "00-abc-01"}, "00-abc-01", id="traceparent"),
    pytest.param("deepgram", {"dg-request-id": ""}, None, id="empty-is-absent"),
    pytest.param(None, {}, None, id="none"),
]


@pytest.mark.parametrize(("vendor_id", "headers", "expected"), REQUEST_ID_CASES)
def test_request_id(
    catalog: VendorCatalog, vendor_id: str | None, headers: dict[str, str], expected: str | None
) -> None:
    """The vendor's request-id headers are read before the generic ones; empty ones are skipped."""
    profile = vendor(catalog, vendor_id) if vendor_id else None
    assert request_id(catalog, profile, headers) == expected


ERROR_TEXT_CASES = [
    pytest.param(
        "deepgram",
        {"dg-error": "Invalid credentials."},
        '{"err_msg": "other"}',
        "Invalid credentials.",
        id="header-beats-body",
    ),
    pytest.param(
        "deepgram",
        {},
        json.dumps({"err_code": "INVALID_AUTH", "err_msg": "Invalid credentials."}),
        "Invalid credentials.",
        id="deepgram-err_msg",
    ),
    pytest.param(
        "openai_realtime",
        {},
        json.dumps({"error": {"message": "Incorrect API key provided", "code": "invalid_api_key"}}),
        "Incorrect API key provided",
        id="openai-error.message",
    ),
    pytest.param(
        None,
        {},
        json.dumps({"error": "quota exceeded"}),
        "quota exceeded",
        id="generic-error-string",
    ),
    pytest.param(None, {}, json.dumps({"error": {"code": 7}}), None, id="no-text-field"),
    pytest.param(None, {}, json.dumps({"message": True}), None, id="bool-is-not-text"),
    pytest.param(None, {}, "<html><body>Unauthorized</body></html>", None, id="html-body"),
    pytest.param(None, {}, "{not json", None, id="broken-json"),
    pytest.param(None, {}, "", None, id="empty"),
]


@pytest.mark.parametrize(("vendor_id", "headers", "body", "expected"), ERROR_TEXT_CASES)
def test_error_text(
    catalog: VendorCatalog,
    vendor_id: str | None,
    headers: dict[str, str],
    body: str,
    expected: str | None,
) -> None:
    """Error text comes from an error header, else from a JSON body field, else None."""
    profile = vendor(catalog, vendor_id) if vendor_id else None
    assert error_text(catalog, profile, headers, body) == expected


def test_error_headers_vendor_and_generic(catalog: VendorCatalog) -> None:
    """Every error-carrying header present is reported, the vendor's and the generic ones."""
    headers = {
        "dg-error": "Invalid credentials.",
        "www-authenticate": 'Token realm="Deepgram"',
        "content-type": "application/json",
    }
    assert error_headers(catalog, vendor(catalog, "deepgram"), headers) == {
        "dg-error": "Invalid credentials.",
        "www-authenticate": 'Token realm="Deepgram"',
    }


def test_error_headers_without_vendor_are_generic_only(catalog: VendorCatalog) -> None:
    """Without a vendor only the generic error headers are reported."""
    headers = {"dg-error": "x", "x-error": "boom"}
    assert error_headers(catalog, None, headers) == {"x-error": "boom"}


def test_error_headers_none_present(catalog: VendorCatalog) -> None:
    """A response without error headers yields an empty mapping."""
    assert error_headers(catalog, None, {"content-type": "text/plain"}) == {}


ID_PATTERN = "^[a-z0-9][a-z0-9_.-]*$"

PARSE_ERRORS = [
    pytest.param(
        ["vendors"],
        f"{PATH}: top level must be a mapping with a 'vendors' mapping",
        id="not-mapping",
    ),
    pytest.param(
        {"generic": {}},
        f"{PATH}: top level must be a mapping with a 'vendors' mapping",
        id="no-vendors",
    ),
    pytest.param(
        {"vendors": {}, "vendor": {}},
        f"{PATH}: unknown top-level field 'vendor' (expected: vendors, generic)",
        id="unknown-top-level",
    ),
    pytest.param(
        {"vendors": {"Deep Gram": {}}},
        f"{PATH}: vendor 'Deep Gram': id must match {ID_PATTERN}",
        id="bad-id",
    ),
    pytest.param(
        {"vendors": {"acme": ["api.acme.example"]}},
        f"{PATH}: vendor 'acme': must be a mapping, got a list",
        id="entry-not-mapping",
    ),
    pytest.param(
        {"vendors": {"acme": {"host": ["a.example"]}}},
        f"{PATH}: vendor 'acme': unknown field 'host' (expected one of: name, hosts, "
        "signature, request_id_headers, error_headers, error_body_fields, secrets, status_hints, "
        "error_hints, close_codes, close_reasons, expectations)",
        id="unknown-field",
    ),
    pytest.param(
        {"vendors": {"acme": {"signature": {"header": ["x"]}}}},
        f"{PATH}: vendor 'acme': signature: unknown field 'header' "
        "(expected one of: headers, subprotocols, paths)",
        id="unknown-signature-field",
    ),
    pytest.param(
        {"vendors": {"acme": {"status_hints": {401: 5}}}},
        f"{PATH}: vendor 'acme': status_hints.401: must be a string, got 5",
        id="status-hint-not-string",
    ),
    pytest.param(
        {"vendors": {"acme": {"status_hints": {600: "x"}}}},
        f"{PATH}: vendor 'acme': status_hints: must be between 100 and 599, got 600",
        id="status-out-of-range",
    ),
    pytest.param(
        {"vendors": {"acme": {"hosts": "a.example"}}},
        f"{PATH}: vendor 'acme': hosts: must be a list of strings, got 'a.example'",
        id="hosts-not-list",
    ),
    pytest.param(
        {"vendors": {"acme": {"close_codes": {4001: {"hint": "x"}}}}},
        f"{PATH}: vendor 'acme': close_codes.4001.meaning: missing required field",
        id="close-code-without-meaning",
    ),
    pytest.param(
        {"vendors": {"acme": {"close_codes": {999: "x"}}}},
        f"{PATH}: vendor 'acme': close_codes: must be between 1000 and 4999, got 999",
        id="close-code-out-of-range",
    ),
    pytest.param(
        {"vendors": {"acme": {"expectations": {"idle_timeout_s": 0}}}},
        f"{PATH}: vendor 'acme': expectations.idle_timeout_s: must be > 0, got 0",
        id="idle-timeout-not-positive",
    ),
    pytest.param(
        {"vendors": {"acme": {"expectations": {"idle_timeout_s": "10s"}}}},
        f"{PATH}: vendor 'acme': expectations.idle_timeout_s: must be a number, got '10s'",
        id="idle-timeout-not-number",
    ),
    pytest.param(
        {"vendors": {"acme": {"expectations": {"idle_timeout": 10}}}},
        f"{PATH}: vendor 'acme': expectations: unknown field 'idle_timeout' "
        "(expected one of: idle_timeout_s)",
        id="unknown-expectations-field",
    ),
    pytest.param(
        {"vendors": {}, "generic": {"secrets": {"query": "token"}}},
        f"{PATH}: generic: secrets.query: must be a list of strings, got 'token'",
        id="generic-field",
    ),
    pytest.param(
        {"vendors": {"acme": {"secrets": {"message_rules": {"when": {"a": "b"}}}}}},
        f"{PATH}: vendor 'acme': secrets.message_rules: must be a list, got a mapping",
        id="message-rules-not-list",
    ),
    pytest.param(
        {"vendors": {"acme": {"secrets": {"message_rules": [{"keys": ["params"]}]}}}},
        f"{PATH}: vendor 'acme': secrets.message_rules.0.when: missing required field",
        id="message-rule-without-when",
    ),
    pytest.param(
        {"vendors": {"acme": {"secrets": {"message_rules": [{"when": {"op": "x"}, "keys": []}]}}}},
        f"{PATH}: vendor 'acme': secrets.message_rules.0.keys: must name at least one key",
        id="message-rule-without-keys",
    ),
    pytest.param(
        {
            "vendors": {
                "acme": {
                    "secrets": {
                        "message_rules": [
                            {"when": {"op": "x"}, "keys": ["a"]},
                            {"when": {"op": ["login"]}, "keys": ["args"]},
                        ]
                    }
                }
            }
        },
        f"{PATH}: vendor 'acme': secrets.message_rules.1.when.op: "
        "must be a string, number or boolean, got a list",
        id="message-rule-value-not-scalar",
    ),
    pytest.param(
        {"vendors": {"acme": {"secrets": {"message_keys": "token"}}}},
        f"{PATH}: vendor 'acme': secrets.message_keys: must be a list of strings, got 'token'",
        id="message-keys-not-list",
    ),
]


@pytest.mark.parametrize(("document", "message"), PARSE_ERRORS)
def test_parse_catalog_error_message(document: Any, message: str) -> None:
    """A broken vendor document is rejected with a message naming file, entry and field."""
    with pytest.raises(VendorFileError) as raised:
        parse_catalog(document, PATH)
    assert str(raised.value) == message


def test_shipped_deepgram_states_its_idle_timeout(catalog: VendorCatalog) -> None:
    """Deepgram's profile says it closes after 10 s of client silence (NET-0001)."""
    assert vendor(catalog, "deepgram").expectations.idle_timeout_s == 10
    assert catalog.idle_timeouts == {"deepgram": 10}


def test_vendor_without_expectations_has_no_idle_timeout() -> None:
    """A profile that states no expectations has no idle timeout and no idle_timeouts entry."""
    parsed = parse_catalog({"vendors": {"acme": {}, "beta": {"expectations": {}}}}, PATH)
    assert [v.expectations.idle_timeout_s for v in parsed.vendors] == [None, None]
    assert parsed.idle_timeouts == {}


def test_parse_catalog_minimal_document() -> None:
    """A vendor with only a host parses, with its id as name and an empty generic profile."""
    parsed = parse_catalog({"vendors": {"acme": {"hosts": ["*.acme.example"]}}}, PATH)
    [acme] = parsed.vendors
    assert (acme.id, acme.name, acme.hosts) == ("acme", "acme", ("*.acme.example",))
    assert parsed.generic.request_id_headers == ()


def test_parse_catalog_lowercases_header_names() -> None:
    """Header names are lower-cased so they match mitmproxy's lower-cased header maps."""
    parsed = parse_catalog(
        {
            "vendors": {
                "acme": {"signature": {"headers": ["X-Acme-Id"]}, "secrets": {"headers": ["X-Key"]}}
            }
        },
        PATH,
    )
    [acme] = parsed.vendors
    assert acme.signature_headers == ("x-acme-id",)
    assert acme.secrets.headers == frozenset({"x-key"})


def test_message_secrets_of_every_profile_add_to_the_built_in_keys(catalog: VendorCatalog) -> None:
    """The shipped profiles' message keys and context rules are all in force, beside the
    built-in keys, whoever the vendor turns out to be."""
    rules = catalog.all_message_secrets
    assert {"accesstoken", "xiapikey", "passphrase", "authtoken"} <= rules.keys
    secret_when = {}
    for rule in rules.rules:
        secret_when[rule.when] = secret_when.get(rule.when, frozenset()) | rule.keys
    assert secret_when[(("action", "auth"),)] == {"params", "key", "secret"}  # Polygon, Alpaca
    assert secret_when[(("op", "login"),)] == {"args"}  # generic exchange logins


def test_load_catalog_nonexistent_file(tmp_path: Path) -> None:
    """A missing file is reported as unreadable, naming the path."""
    path = str(tmp_path / "missing.yaml")
    with pytest.raises(VendorFileError) as raised:
        load_catalog(path)
    assert str(raised.value) == f"{path}: cannot read: No such file or directory"


def test_load_catalog_not_utf8(tmp_path: Path) -> None:
    """A file that is not UTF-8 is reported as unreadable, not as a raw decode error."""
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"vendors:\n  caf\xe9: {}\n")
    with pytest.raises(VendorFileError) as raised:
        load_catalog(str(path))
    assert str(raised.value) == (
        f"{path}: cannot read: not UTF-8 (invalid continuation byte at byte 14)"
    )


@pytest.mark.parametrize(
    "text",
    ["vendors: [\n", "vendors:\n  a: {}\n  a: {}\n", "vendors: {a: 1}\n  b: 2\n"],
    ids=["unclosed-flow", "duplicate-key", "bad-indent"],
)
def test_load_catalog_invalid_yaml(tmp_path: Path, text: str) -> None:
    """YAML that does not parse (duplicate keys included) is reported with the path."""
    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(VendorFileError) as raised:
        load_catalog(str(path))
    assert str(raised.value).startswith(f"{path}: not valid YAML: ")


def test_load_catalog_empty_file(tmp_path: Path) -> None:
    """An empty file parses as nothing and is rejected as lacking the vendors mapping."""
    path = tmp_path / "empty.yaml"
    path.write_text("", encoding="utf-8")
    with pytest.raises(VendorFileError) as raised:
        load_catalog(str(path))
    assert str(raised.value) == f"{path}: top level must be a mapping with a 'vendors' mapping"


def test_empty_vendor_entry_is_an_empty_profile() -> None:
    """`acme:` with no value reads as a profile with no facts, as an empty fault action does."""
    catalog = parse_catalog({"vendors": {"acme": None}}, PATH)
    assert catalog.vendors[0].id == "acme" and catalog.vendors[0].hosts == ()


@pytest.mark.parametrize(
    ("patterns", "lower", "text", "expected"),
    [
        pytest.param(("*.deepgram.com",), True, "api.deepgram.com", True, id="host-glob"),
        pytest.param(("*.Deepgram.com",), True, "api.deepgram.com", True, id="lowered-pattern"),
        pytest.param(("*.Deepgram.com",), False, "api.deepgram.com", False, id="case-kept"),
        pytest.param(("a.example", "b.*"), False, "b.example", True, id="second-pattern"),
        pytest.param(("a.example",), False, "a.example.evil", False, id="whole-text"),
        pytest.param(("/v1/[lr]isten",), False, "/v1/listen", True, id="character-class"),
        pytest.param((), False, "anything", False, id="no-patterns"),
    ],
)
def testfirst_vendor_matcher_agrees_with_fnmatchcase(
    patterns: tuple[str, ...], lower: bool, text: str, expected: bool
) -> None:
    """The compiled matcher decides as fnmatchcase over each pattern would."""
    assert first_vendor_matcher([patterns], lower=lower)(text) == (0 if expected else None)
    shown = [pattern.lower() if lower else pattern for pattern in patterns]
    assert any(fnmatch.fnmatchcase(text, pattern) for pattern in shown) is expected


def testfirst_vendor_matcher_answers_the_first_vendor_whose_glob_matches() -> None:
    """Several vendors' globs match: the first vendor in the catalog's order wins, and a vendor
    without globs is skipped without shifting the others' positions."""
    first = first_vendor_matcher([("*.b.example",), (), ("a.*", "x.*"), ("*.example",)])
    assert first("a.b.example") == 0
    assert first("x.example") == 2
    assert first("c.example") == 3
    assert first("nowhere") is None


def _identify_by_loop(catalog: VendorCatalog, facts: Exchange) -> Any:
    """`identify` as a loop over the vendors, one fnmatchcase per glob: what the compiled
    identifier must answer."""
    host = facts.host.lower()
    for profile in catalog.vendors:
        if any(fnmatch.fnmatchcase(host, glob.lower()) for glob in profile.hosts):
            return profile
    names = set(facts.request_headers) | set(facts.response_headers)
    for profile in catalog.vendors:
        if (
            any(name in names for name in profile.signature_headers)
            or any(
                fnmatch.fnmatchcase(protocol, glob)
                for protocol in facts.subprotocols
                for glob in profile.signature_subprotocols
            )
            or any(fnmatch.fnmatchcase(facts.path, glob) for glob in profile.signature_paths)
        ):
            return profile
    return None


def test_identify_answers_as_a_loop_over_the_vendors_would(catalog: VendorCatalog) -> None:
    """Every combination of the shipped catalog's own signatures (one of each kind, from
    different vendors, plus none): the compiled identifier picks the vendor the loop picks."""
    headers = [None, *sorted({n for v in catalog.vendors for n in v.signature_headers})]
    protocols = [
        None,
        *sorted({p.replace("*", "x") for v in catalog.vendors for p in v.signature_subprotocols}),
    ]
    paths = [
        "/ws",
        *sorted({p.replace("*", "x") for v in catalog.vendors for p in v.signature_paths}),
    ]
    hosts = [
        "example.com",
        *sorted({h.replace("*", "x") for v in catalog.vendors for h in v.hosts}),
    ]
    checked = 0
    for header in headers:
        for protocol in protocols:
            for path in paths:
                facts = Exchange(
                    hosts[checked % len(hosts)],
                    path,
                    {},
                    {header: "1"} if header else {},
                    (protocol,) if protocol else (),
                )
                assert identify(catalog, facts) is _identify_by_loop(catalog, facts), facts
                checked += 1
    assert checked > 100
