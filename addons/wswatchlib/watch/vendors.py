"""Vendor profiles: who runs an endpoint, where it puts its error text and request id, which of
its headers and query parameters hold secrets, and what its close codes mean.

Profiles come from `config/vendors.yaml` (users edit it; this module holds no vendor facts).
A vendor is recognised by host glob first, then by signature (headers, subprotocols, paths), so a
self-hosted or staging endpoint is still recognised: a 401 carrying `dg-request-id` is Deepgram's.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..options import config_fields as fields
from ..redaction.payloads import ContextRule, MessageKeyRules, message_key
from ..redaction.redactor import SecretNames

#: The vendor file shipped with wswatch; `--set wswatch_vendors=PATH` replaces it.
DEFAULT_VENDORS_PATH = str(Path(__file__).resolve().parents[3] / "config" / "vendors.yaml")

_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


class VendorFileError(ValueError):
    """The vendor file cannot be used; the message names the file, the entry and the field."""


@dataclass(frozen=True, slots=True)
class CloseCodeInfo:
    meaning: str
    hint: str | None = None


@dataclass(frozen=True, slots=True)
class Expectations:
    """What a vendor expects of its clients, for grading them (verdicts)."""

    #: The vendor closes a connection after this many seconds without data from the client.
    idle_timeout_s: float | None = None


@dataclass(frozen=True, slots=True)
class VendorProfile:
    """What wswatch knows about one vendor (or, with id "generic", about every endpoint)."""

    id: str
    name: str
    hosts: tuple[str, ...] = ()
    signature_headers: tuple[str, ...] = ()
    signature_subprotocols: tuple[str, ...] = ()
    signature_paths: tuple[str, ...] = ()
    request_id_headers: tuple[str, ...] = ()
    error_headers: tuple[str, ...] = ()
    error_body_fields: tuple[str, ...] = ()
    secrets: SecretNames = field(default_factory=SecretNames)
    #: JSON keys of its messages that hold secrets (`secrets.message_keys` / `message_rules`).
    message_secrets: MessageKeyRules = field(default_factory=MessageKeyRules.of)
    status_hints: Mapping[int, str] = field(default_factory=dict)
    error_hints: tuple[tuple[str, str], ...] = ()
    close_codes: Mapping[int, CloseCodeInfo] = field(default_factory=dict)
    close_reason_hints: tuple[tuple[str, str], ...] = ()
    expectations: Expectations = Expectations()


@dataclass(frozen=True, slots=True)
class VendorCatalog:
    vendors: tuple[VendorProfile, ...]
    generic: VendorProfile
    #: `identify`'s tests, compiled once for this catalog.
    identifier: VendorIdentifier = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "identifier", VendorIdentifier(self.vendors))

    @property
    def all_secrets(self) -> SecretNames:
        """Secret names of every profile: redacted whoever the vendor turns out to be."""
        secrets = self.generic.secrets
        for vendor in self.vendors:
            secrets = secrets.merged(vendor.secrets)
        return secrets

    @property
    def all_message_secrets(self) -> MessageKeyRules:
        """The built-in secret message keys and every profile's: scrubbed whatever the vendor."""
        rules = MessageKeyRules().merged(self.generic.message_secrets)
        for vendor in self.vendors:
            rules = rules.merged(vendor.message_secrets)
        return rules

    @property
    def idle_timeouts(self) -> dict[str, float]:
        """Vendor id -> idle timeout in seconds, for the vendors that state one."""
        return {
            vendor.id: vendor.expectations.idle_timeout_s
            for vendor in self.vendors
            if vendor.expectations.idle_timeout_s is not None
        }


@dataclass(frozen=True, slots=True)
class Exchange:
    """The plain facts of one handshake that vendor recognition and extraction look at."""

    host: str
    path: str
    request_headers: Mapping[str, str]
    response_headers: Mapping[str, str]
    subprotocols: tuple[str, ...] = ()


def first_vendor_matcher(
    globs_per_vendor: list[tuple[str, ...]], lower: bool = False
) -> Callable[[str], int | None]:
    """One compiled test for "the first vendor with a glob that matches", as
    `fnmatch.fnmatchcase` decides (globs lower-cased first if `lower`): one alternative per
    vendor, in order, so the regular expression's first match is the first vendor's."""
    alternatives = [
        f"(?P<v{index}>"
        + "|".join(f"(?:{fnmatch.translate(g.lower() if lower else g)})" for g in globs)
        + ")"
        for index, globs in enumerate(globs_per_vendor)
        if globs
    ]
    if not alternatives:
        return lambda _text: None
    compiled = re.compile("|".join(alternatives))

    def first(text: str) -> int | None:
        found = compiled.match(text)
        return int(found.lastgroup[1:]) if found is not None and found.lastgroup else None

    return first


class VendorIdentifier:
    """`identify`'s tests for one catalog's vendors, compiled once: a handshake then costs one
    match per kind of signature instead of a glob test per vendor."""

    def __init__(self, vendors: tuple[VendorProfile, ...]) -> None:
        self._vendors = vendors
        self._host = first_vendor_matcher([vendor.hosts for vendor in vendors], lower=True)
        self._subprotocol = first_vendor_matcher(
            [vendor.signature_subprotocols for vendor in vendors]
        )
        self._path = first_vendor_matcher([vendor.signature_paths for vendor in vendors])
        #: Signature header name -> the first vendor that has it.
        self._header: dict[str, int] = {}
        for index, vendor in enumerate(vendors):
            for name in vendor.signature_headers:
                self._header.setdefault(name, index)

    def identify(self, exchange: Exchange) -> VendorProfile | None:
        by_host = self._host(exchange.host.lower())
        if by_host is not None:
            return self._vendors[by_host]
        # The first vendor any of its signatures points to.
        found: list[int | None] = [
            self._header[name]
            for headers in (exchange.request_headers, exchange.response_headers)
            for name in headers
            if name in self._header
        ]
        found += [self._subprotocol(protocol) for protocol in exchange.subprotocols]
        found.append(self._path(exchange.path))
        first = min((index for index in found if index is not None), default=None)
        return self._vendors[first] if first is not None else None


def identify(catalog: VendorCatalog, exchange: Exchange) -> VendorProfile | None:
    """The vendor behind an exchange: by host glob, else by signature; None if unknown."""
    return catalog.identifier.identify(exchange)


def _profiles(catalog: VendorCatalog, vendor: VendorProfile | None) -> tuple[VendorProfile, ...]:
    return (vendor, catalog.generic) if vendor else (catalog.generic,)


def request_id(
    catalog: VendorCatalog, vendor: VendorProfile | None, headers: Mapping[str, str]
) -> str | None:
    """The first request-id header present, the vendor's before the generic ones."""
    for profile in _profiles(catalog, vendor):
        for name in profile.request_id_headers:
            if headers.get(name):
                return headers[name]
    return None


def error_headers(
    catalog: VendorCatalog, vendor: VendorProfile | None, headers: Mapping[str, str]
) -> dict[str, str]:
    """Every error-carrying header present in a response, by name."""
    found: dict[str, str] = {}
    for profile in _profiles(catalog, vendor):
        for name in profile.error_headers:
            if name in headers and name not in found:
                found[name] = headers[name]
    return found


def _dotted(document: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(document, Mapping) or part not in document:
            return None
        document = document[part]
    return document


def error_text(
    catalog: VendorCatalog,
    vendor: VendorProfile | None,
    headers: Mapping[str, str],
    body: str,
) -> str | None:
    """The vendor's error text: an error header, else a field of a JSON body."""
    for value in error_headers(catalog, vendor, headers).values():
        if value:
            return value
    try:
        document = json.loads(body) if body.lstrip().startswith("{") else None
    except ValueError:
        document = None
    if not isinstance(document, Mapping):
        return None
    for profile in _profiles(catalog, vendor):
        for path in profile.error_body_fields:
            value = _dotted(document, path)
            if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
                return str(value)
    return None


_PROFILE_FIELDS = (
    "name",
    "hosts",
    "signature",
    "request_id_headers",
    "error_headers",
    "error_body_fields",
    "secrets",
    "status_hints",
    "error_hints",
    "close_codes",
    "close_reasons",
    "expectations",
)


def _names(value: Any) -> tuple[str, ...]:
    """A list of header names, lower-cased (HTTP header names are case-insensitive)."""
    return tuple(name.lower() for name in fields.string_list(value))


def _text_table(value: Any) -> tuple[tuple[str, str], ...]:
    """{substring: hint}, in the order written (the first match wins)."""
    if not isinstance(value, Mapping):
        raise ValueError(f"must be a mapping, got {fields.show(value)}")
    table = []
    for needle, hint in value.items():
        try:
            table.append((fields.nonempty(needle), fields.string(hint)))
        except ValueError as error:
            raise fields.FieldError(str(needle), str(error)) from None
    return tuple(table)


def _keyed_by_code(value: Any, low: int, high: int, read: fields.Check[Any]) -> dict[int, Any]:
    """{code: entry} with codes in [low, high]; an entry's error is reported under its code."""
    if not isinstance(value, Mapping):
        raise ValueError(f"must be a mapping, got {fields.show(value)}")
    table = {}
    for code, entry in value.items():
        table[fields.integer_between(low, high)(code)] = fields.checked_under(
            str(code), read, entry
        )
    return table


def _close_code_info(value: Any) -> CloseCodeInfo:
    """A close code's meaning: a string, or {meaning, hint}."""
    if isinstance(value, str):
        return CloseCodeInfo(value)
    spec = fields.Fields(value, ("meaning", "hint"))
    return CloseCodeInfo(spec.require("meaning", fields.string), spec.get("hint", fields.string))


def _signature(value: Any) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    spec = fields.Fields(value, ("headers", "subprotocols", "paths"))
    return (
        spec.get("headers", _names, ()),
        spec.get("subprotocols", fields.string_list, ()),
        spec.get("paths", fields.string_list, ()),
    )


_SECRET_FIELDS = (
    "headers",
    "query",
    "subprotocol_markers",
    "subprotocol_prefixes",
    "message_keys",
    "message_rules",
)


def _secrets(value: Any) -> tuple[SecretNames, MessageKeyRules]:
    """Where a vendor's secrets travel: in the handshake (names), and in its messages (keys)."""
    spec = fields.Fields(value, _SECRET_FIELDS)
    names = SecretNames(
        headers=frozenset(spec.get("headers", _names, ())),
        query=frozenset(spec.get("query", _names, ())),
        subprotocol_markers=frozenset(spec.get("subprotocol_markers", _names, ())),
        subprotocol_prefixes=spec.get("subprotocol_prefixes", fields.string_list, ()),
    )
    return names, MessageKeyRules.of(
        spec.get("message_keys", fields.string_list, ()),
        spec.get("message_rules", _context_rules, ()),
    )


def _context_rules(value: Any) -> tuple[ContextRule, ...]:
    """`[{when: {key: value, ...}, keys: [...]}, ...]`: keys secret only in matching objects."""
    if not isinstance(value, list):
        raise ValueError(f"must be a list, got {fields.show(value)}")
    return tuple(
        fields.checked_under(str(index), _context_rule, entry) for index, entry in enumerate(value)
    )


def _context_rule(value: Any) -> ContextRule:
    spec = fields.Fields(value, ("when", "keys"))
    when = spec.require("when", _field_values)
    keys = spec.require("keys", fields.string_list)
    if not keys:
        raise fields.FieldError("keys", "must name at least one key")
    return ContextRule(when, frozenset(message_key(key) for key in keys))


def _field_values(value: Any) -> tuple[tuple[str, Any], ...]:
    """`{key: value}` of a message object: keys normalised, values as the message has them."""
    if not isinstance(value, Mapping) or not value:
        raise ValueError(f"must be a non-empty mapping of key: value, got {fields.show(value)}")
    pairs = []
    for key, expected in value.items():
        if not isinstance(expected, str | int | float | bool):
            raise fields.FieldError(
                str(key), f"must be a string, number or boolean, got {fields.show(expected)}"
            )
        pairs.append((message_key(fields.nonempty(key)), expected))
    return tuple(pairs)


def _expectations(value: Any) -> Expectations:
    spec = fields.Fields(value, ("idle_timeout_s",))
    return Expectations(idle_timeout_s=spec.get("idle_timeout_s", fields.positive_number))


def parse_profile(profile_id: str, entry: Any) -> VendorProfile:
    """One vendor entry of the YAML file as a profile (raises ValueError / FieldError)."""
    spec = fields.Fields(entry, _PROFILE_FIELDS)
    headers, subprotocols, paths = spec.get("signature", _signature, ((), (), ()))
    secrets, message_secrets = spec.get("secrets", _secrets, (SecretNames(), MessageKeyRules.of()))
    return VendorProfile(
        id=profile_id,
        name=spec.get("name", fields.string, profile_id),
        hosts=spec.get("hosts", fields.string_list, ()),
        signature_headers=headers,
        signature_subprotocols=subprotocols,
        signature_paths=paths,
        request_id_headers=spec.get("request_id_headers", _names, ()),
        error_headers=spec.get("error_headers", _names, ()),
        error_body_fields=spec.get("error_body_fields", fields.string_list, ()),
        secrets=secrets,
        message_secrets=message_secrets,
        status_hints=spec.get(
            "status_hints", lambda value: _keyed_by_code(value, 100, 599, fields.string), {}
        ),
        error_hints=spec.get("error_hints", _text_table, ()),
        close_codes=spec.get(
            "close_codes", lambda value: _keyed_by_code(value, 1000, 4999, _close_code_info), {}
        ),
        close_reason_hints=spec.get("close_reasons", _text_table, ()),
        expectations=spec.get("expectations", _expectations, Expectations()),
    )


def parse_catalog(document: Any, path: str) -> VendorCatalog:
    """The whole vendor file as a catalog; errors name the file, the vendor and the field."""
    if not isinstance(document, Mapping) or not isinstance(document.get("vendors"), Mapping):
        raise VendorFileError(f"{path}: top level must be a mapping with a 'vendors' mapping")
    for key in document:
        if key not in ("vendors", "generic"):
            raise VendorFileError(
                f"{path}: unknown top-level field {key!r} (expected: vendors, generic)"
            )
    vendors = []
    for vendor_id, entry in document["vendors"].items():
        if not isinstance(vendor_id, str) or not _ID_PATTERN.match(vendor_id):
            raise VendorFileError(
                f"{path}: vendor {vendor_id!r}: id must match {_ID_PATTERN.pattern}"
            )
        try:
            vendors.append(parse_profile(vendor_id, entry))
        except ValueError as error:
            raise VendorFileError(
                fields.locate(path, f"vendor {vendor_id!r}", error=error)
            ) from error
    try:
        generic = parse_profile("generic", document.get("generic") or {})
    except ValueError as error:
        raise VendorFileError(fields.locate(path, "generic", error=error)) from error
    return VendorCatalog(tuple(vendors), generic)


def load_catalog(path: str) -> VendorCatalog:
    """Read and parse a vendor file."""
    try:
        document = fields.parse_yaml(fields.read_text(path), path)
    except fields.ConfigFileError as error:
        raise VendorFileError(str(error)) from error
    return parse_catalog(document, path)
