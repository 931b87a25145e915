"""Who made an upgrade attempt: a client id that stays the same across its reconnects.

The source port changes on every attempt, so a client is recognised by what it sends instead:
by default its IP, its User-Agent and its credential, hashed with a salt drawn once per run (the
credential never leaves the process, and ids cannot be matched across runs) or derived from the
shared secret `wswatch_client_salt` (so the proxies of a fleet, and one proxy across restarts,
give a client the same id and their logs grade as one); or, with the option
`wswatch_client_key`, by a header or query parameter the client sets for the purpose. A key that
is itself a secret (by the vendor profiles' names) is hashed the same way, never written raw.
"""

from __future__ import annotations

import enum
import hashlib
import os
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..redaction.redactor import Redactor

#: What a hashed client id starts with; the rest is `HASH_HEX_CHARS` hex digits.
HASHED_ID_PREFIX = "c-"
HASH_HEX_CHARS = 12
#: Bytes of the per-run salt.
SALT_BYTES = 16

#: An HTTP field name: a token (RFC 9110 section 5.1).
_FIELD_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


class KeySource(enum.Enum):
    """Where the client id comes from."""

    #: IP + User-Agent + credential, hashed.
    DEFAULT = ""
    #: A request header's value.
    HEADER = "header"
    #: A query parameter's value.
    QUERY = "query"


@dataclass(frozen=True, slots=True)
class ClientKey:
    """A parsed `wswatch_client_key`."""

    source: KeySource = KeySource.DEFAULT
    name: str = ""  # lower-cased for a header, as sent for a query parameter


@dataclass(frozen=True, slots=True)
class ClientRequest:
    """The facts of one upgrade request that identify its client."""

    ip: str
    headers: Mapping[str, str]  # lower-cased names
    query: str


def parse_client_key(spec: str) -> ClientKey:
    """`""`, `header:NAME` or `query:NAME`; ValueError saying what is wrong otherwise."""
    if spec == "":
        return ClientKey()
    kind, colon, name = spec.partition(":")
    sources = {source.value: source for source in KeySource if source is not KeySource.DEFAULT}
    source = sources.get(kind.strip().lower())
    if not colon or source is None:
        raise ValueError('expected "" (IP, User-Agent and credential), header:NAME or query:NAME')
    name = name.strip()
    if not name:
        raise ValueError(f"{source.value}: needs a name after the colon")
    if source is KeySource.HEADER:
        if not _FIELD_NAME.match(name):
            raise ValueError(f"{name!r} is not a valid header name")
        name = name.lower()
    return ClientKey(source, name)


def keyed_value(key: ClientKey, request: ClientRequest) -> str | None:
    """The value of the header or query parameter the key names; None if absent or empty."""
    if key.source is KeySource.HEADER:
        return request.headers.get(key.name) or None
    if key.source is KeySource.QUERY:
        for name, value in urllib.parse.parse_qsl(request.query, keep_blank_values=True):
            if name == key.name:
                return value or None
    return None


def salt_of(shared: str) -> bytes:
    """The hashing salt: derived from a shared secret (the same on every proxy given it), or
    drawn at random for this run when there is none."""
    if not shared:
        return os.urandom(SALT_BYTES)
    return hashlib.blake2b(
        shared.encode("utf-8", "surrogatepass"), digest_size=SALT_BYTES, person=b"wswatch-salt"
    ).digest()


def hashed_id(salt: bytes, parts: Iterable[str]) -> str:
    """`c-` + 12 hex digits of a keyed hash of `parts`; unambiguous whatever the parts hold."""
    digest = hashlib.blake2b(key=salt, digest_size=HASH_HEX_CHARS // 2)
    for part in parts:
        encoded = part.encode("utf-8", "surrogatepass")
        digest.update(len(encoded).to_bytes(8, "big") + encoded)
    return HASHED_ID_PREFIX + digest.hexdigest()


def client_id(
    key: ClientKey,
    request: ClientRequest,
    redactor: Redactor,
    salt: bytes,
    credentials: frozenset[str] | None = None,
) -> str:
    """The id of the client that sent `request` (see the module docstring); `credentials`: the
    request's secret values, when the caller has them already (`Redactor.secret_values`)."""
    value = keyed_value(key, request)
    if value is not None:
        secret = (
            redactor.is_secret_header(key.name)
            if key.source is KeySource.HEADER
            else redactor.is_secret_param(key.name)
        )
        return hashed_id(salt, ("key", value)) if secret else value
    if credentials is None:
        credentials = redactor.secret_values(request.query, request.headers)
    return hashed_id(
        salt, ("default", request.ip, request.headers.get("user-agent", ""), *sorted(credentials))
    )
