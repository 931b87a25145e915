"""Keep secrets inside the process.

Two layers, because names alone are not enough: a key sent in `?token=` may come back in an error
body, and a client library may echo it in a reason text.
1. By name: secret headers, query parameters and Sec-WebSocket-Protocol tokens are replaced
   with a marker wherever a URL or header map is written out.
2. By value: the secret values found in the request are collected, and the `redact_event`
   structlog processor scrubs every string of an event for them before any renderer sees it.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from structlog.typing import EventDict, WrappedLogger

from ..text import split_tokens, wire_bytes

REDACTED = "[redacted]"

#: Secrets shorter than this are redacted by name only: scrubbing a 2-letter value would
#: shred unrelated text.
MIN_SCRUB_LENGTH = 4

#: The event-dict key that carries secret values to the processor; never rendered.
SECRETS_KEY = "_secrets"

#: A ws:// or wss:// URL as wswatch builds them, with no query, no userinfo, no fragment, and
#: nothing urlsplit strips (spaces, controls): `redact_url` gives it back as it is.
_URL_UNCHANGED = re.compile(r"wss?://[^/?@#\x00-\x20\x7f\[\]]+(?:/[^?@#\x00-\x20\x7f]*)?")

#: A line break in a raw head: a real CRLF, or the literal one of a bytes repr.
_LINE_BREAK = re.compile(r"(\\r\\n|\r\n)")
#: A query parameter in a raw request line.
_QUERY_PARAM = re.compile(r"(?<=[?&])(?P<name>[^=&\s]+)=(?P<value>[^&\s\\']*)")
#: A header line of a raw head; `quote` is the closing quote of a bytes repr on the last line.
_HEADER_LINE = re.compile(
    r"^(?P<name>[!#$%&*+.^_`|~0-9A-Za-z-]+):[ \t]*(?P<value>.*?)(?P<quote>['\"]?)$"
)

#: The userinfo of an absolute URL ("http://user:pass@host"), or of a CONNECT request's
#: authority ("CONNECT user:pass@host:443"), in a raw request line.
_URL_USERINFO = re.compile(r"(?P<lead>//|\bCONNECT\s+)(?P<userinfo>[^\s/@'\"]+)@")

#: Authorization-style schemes whose credential is the part after the scheme.
_AUTH_SCHEMES = ("bearer", "token", "basic", "digest", "apikey", "key")


@dataclass(frozen=True, slots=True)
class SecretNames:
    """Where secrets travel in a handshake request."""

    headers: frozenset[str] = frozenset()
    query: frozenset[str] = frozenset()
    #: Sec-WebSocket-Protocol entries whose NEXT entry is a secret (Deepgram's "token, KEY").
    subprotocol_markers: frozenset[str] = frozenset()
    #: Sec-WebSocket-Protocol entries with a secret after a prefix ("openai-insecure-api-key.KEY").
    subprotocol_prefixes: tuple[str, ...] = ()

    def merged(self, other: SecretNames) -> SecretNames:
        return SecretNames(
            self.headers | other.headers,
            self.query | other.query,
            self.subprotocol_markers | other.subprotocol_markers,
            tuple(dict.fromkeys(self.subprotocol_prefixes + other.subprotocol_prefixes)),
        )


@dataclass(frozen=True, slots=True)
class Redactor:
    """Knows the names of secrets and hides their values."""

    names: SecretNames

    def is_secret_header(self, name: str) -> bool:
        return name.lower() in self.names.headers

    def is_secret_param(self, name: str) -> bool:
        return name.lower() in self.names.query

    def subprotocol_secrets(self, value: str) -> list[str]:
        """Secret tokens inside a Sec-WebSocket-Protocol value."""
        tokens = split_tokens(value)
        secrets = []
        for index, token in enumerate(tokens):
            lowered = token.lower()
            if lowered in self.names.subprotocol_markers and index + 1 < len(tokens):
                secrets.append(tokens[index + 1])
            for prefix in self.names.subprotocol_prefixes:
                if lowered.startswith(prefix.lower()) and len(token) > len(prefix):
                    secrets.append(token[len(prefix) :])
        return secrets

    def redact_subprotocols(self, value: str) -> str:
        """Token by token, so a short secret never mangles another token that contains it."""
        tokens = split_tokens(value)
        redacted = []
        for index, token in enumerate(tokens):
            lowered = token.lower()
            if index > 0 and tokens[index - 1].lower() in self.names.subprotocol_markers:
                token = REDACTED
            for prefix in self.names.subprotocol_prefixes:
                if lowered.startswith(prefix.lower()) and len(token) > len(prefix):
                    token = token[: len(prefix)] + REDACTED
            redacted.append(token)
        return ", ".join(redacted)

    def redact_header(self, name: str, value: str) -> str:
        if self.is_secret_header(name):
            return REDACTED
        if name.lower() == "sec-websocket-protocol":
            return self.redact_subprotocols(value)
        return value

    def may_change_header(self, name: str) -> bool:
        """Whether `redact_header` can change a header of this name, whatever its value."""
        return self.is_secret_header(name) or name.lower() == "sec-websocket-protocol"

    def changes_header(self, name: str, value: str, variants: list[str]) -> bool:
        """Whether `redact_header`, then `scrub` with `variants`, changes this header; False for
        almost every header, so the caller can leave it alone."""
        return scrub(self.redact_header(name, value), variants) != value

    def redact_headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        return {name: self.redact_header(name, value) for name, value in headers.items()}

    def redact_query(self, query: str) -> str:
        """A query string with the values of secret parameters replaced; every other byte kept."""
        pieces = []
        for piece in query.split("&"):
            raw_name = piece.partition("=")[0]
            if self.is_secret_param(urllib.parse.unquote_plus(raw_name)):
                piece = f"{raw_name}={REDACTED}"
            pieces.append(piece)
        return "&".join(pieces)

    def redact_url(self, url: str) -> str:
        if _URL_UNCHANGED.fullmatch(url):
            return url  # nothing to redact, nothing urlsplit would change
        parts = urllib.parse.urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            netloc = f"{REDACTED}@{netloc.rsplit('@', 1)[1]}"
        return urllib.parse.urlunsplit(
            parts._replace(netloc=netloc, query=self.redact_query(parts.query))
        )

    def redact_raw_head(self, text: str) -> str:
        """A raw HTTP head as text, as mitmproxy logs a partial request (a bytes repr, lines
        split by a literal or a real CRLF) or a bad request line, with secret query values,
        headers and URL userinfo (an absolute URL's, a CONNECT authority's) redacted."""
        pieces = _LINE_BREAK.split(text)
        for index in range(0, len(pieces), 2):
            piece = _QUERY_PARAM.sub(self._redacted_param, pieces[index])
            piece = _URL_USERINFO.sub(rf"\g<lead>{REDACTED}@", piece)
            header = _HEADER_LINE.match(piece)
            if header and index > 0:
                name, value, quote = header.group("name", "value", "quote")
                piece = f"{name}: {self.redact_header(name, value)}{quote}"
            pieces[index] = piece
        return "".join(pieces)

    def _redacted_param(self, found: re.Match[str]) -> str:
        name = found.group("name")
        if self.is_secret_param(urllib.parse.unquote_plus(name)):
            return f"{name}={REDACTED}"
        return found.group()

    def secret_values(self, query: str, headers: Mapping[str, str]) -> frozenset[str]:
        """Every secret value a request carries, to scrub from any text written out."""
        values: list[str] = []
        for name, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
            if self.is_secret_param(name):
                values.append(value)
        for name, value in headers.items():
            if self.is_secret_header(name):
                values.append(value)
                scheme, _, credential = value.partition(" ")
                if scheme.lower() in _AUTH_SCHEMES:
                    values.append(credential.strip())
                if name.lower() == "cookie":
                    values.extend(part.partition("=")[2] for part in value.split(";"))
            elif name.lower() == "sec-websocket-protocol":
                values.extend(self.subprotocol_secrets(value))
        return frozenset(value for value in values if len(value) >= MIN_SCRUB_LENGTH)


def secret_forms(secret: str) -> set[str]:
    """The forms a secret takes in a payload: as it is, percent-encoded (both ways), base64
    (standard and URL-safe, padded or not) and JSON-escaped."""
    raw = wire_bytes(secret)
    forms = {secret, urllib.parse.quote(raw, safe=""), urllib.parse.quote_plus(raw)}
    for encoded in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
        text = encoded.decode("ascii")
        forms.update((text, text.rstrip("=")))
    forms.add(json.dumps(secret)[1:-1])
    return {form for form in forms if len(form) >= MIN_SCRUB_LENGTH}


def scrub_variants(secrets: Iterable[str]) -> list[str]:
    """The forms of each secret a text may carry (`secret_forms`), longest first: compute
    once, then `scrub` as many values as needed with them."""
    variants: set[str] = set()
    for secret in secrets:
        variants |= secret_forms(secret)
    # Longest first, so a secret containing another is replaced whole.
    return sorted(variants, key=lambda variant: (-len(variant), variant))


def scrub(value: Any, secrets: list[str]) -> Any:
    """`value` with every occurrence of a secret replaced, through dicts and lists."""
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {key: scrub(item, secrets) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(item, secrets) for item in value]
    return value


def scrub_secrets(value: Any, secrets: Iterable[str]) -> Any:
    """`value` scrubbed of each secret, raw and URL-encoded."""
    variants = scrub_variants(secrets)
    return scrub(value, variants) if variants else value


def scrub_bytes(data: bytes, secrets: Iterable[str]) -> bytes:
    """`data` with every secret replaced, in every form, whatever the data's encoding."""
    return scrub_bytes_of(data, scrub_variants(secrets))


def scrub_bytes_of(data: bytes, variants: list[str]) -> bytes:
    """`data` with the bytes of every variant (`scrub_variants`, computed once) replaced."""
    for variant in variants:
        raw = wire_bytes(variant)
        if raw in data:
            data = data.replace(raw, REDACTED.encode())
    return data


def redact_event(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: scrub the secret values an event carries under `_secrets`."""
    return scrub_secrets(event_dict, event_dict.pop(SECRETS_KEY, ()))
