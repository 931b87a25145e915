"""RFC 6455 opening-handshake checks and the outcome of one upgrade attempt.

Pure functions over plain data (lower-cased header name -> value), in the spirit of wsproto's
handshake module: nothing here touches mitmproxy. The rules this file keeps:

- An attempt is `failed` when no HTTP answer came back, `rejected` for any answer but 101,
  `invalid` for a 101 that breaks RFC 6455 or answers a request that breaks it, else `accepted`.
- Problems are reported even when the other side went along with them.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from ..events import Outcome
from ..text import split_tokens, wire_bytes

#: RFC 6455 section 1.3: the GUID appended to the key before hashing.
ACCEPT_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Problem(enum.StrEnum):
    """One RFC 6455 violation in a request or a 101 response."""

    #: Section 4.1 item 2: the method must be GET.
    REQUEST_METHOD_NOT_GET = "request_method_not_get"
    #: Section 4.1 item 2: HTTP/1.1 or higher.
    REQUEST_NOT_HTTP11 = "request_not_http11"
    #: Section 4.1 item 5: Upgrade must contain "websocket".
    REQUEST_MISSING_UPGRADE = "request_missing_upgrade"
    #: Section 4.1 item 6: Connection must contain "Upgrade".
    REQUEST_MISSING_CONNECTION_UPGRADE = "request_missing_connection_upgrade"
    #: Section 4.1 item 7: Sec-WebSocket-Key is required.
    REQUEST_MISSING_KEY = "request_missing_key"
    #: Section 4.1 item 7: the key must be base64 of 16 bytes.
    REQUEST_BAD_KEY = "request_bad_key"
    #: Section 4.1 item 9: Sec-WebSocket-Version is required.
    REQUEST_MISSING_VERSION = "request_missing_version"
    #: Section 4.1 item 9: the version must be 13.
    REQUEST_BAD_VERSION = "request_bad_version"
    #: Section 4.2.2 item 5.2: Upgrade: websocket is required in a 101.
    RESPONSE_MISSING_UPGRADE = "response_missing_upgrade"
    #: Section 4.2.2 item 5.3: Connection: Upgrade is required in a 101.
    RESPONSE_MISSING_CONNECTION_UPGRADE = "response_missing_connection_upgrade"
    #: Section 4.2.2 item 5.4: Sec-WebSocket-Accept is required in a 101.
    RESPONSE_MISSING_ACCEPT = "response_missing_accept"
    #: Section 4.2.2 item 5.4: Sec-WebSocket-Accept must be derived from the key.
    RESPONSE_BAD_ACCEPT = "response_bad_accept"
    #: Section 4.2.2 item 5.5 and 4.1: the server may pick only one offered subprotocol.
    RESPONSE_UNOFFERED_SUBPROTOCOL = "response_unoffered_subprotocol"
    #: Section 4.1 item 6 (client side): an extension the client did not offer.
    RESPONSE_UNOFFERED_EXTENSION = "response_unoffered_extension"


class MultiHeaders(Protocol):
    """Headers that can list a repeated name once per value (mitmproxy's `http.Headers`)."""

    def items(self, multi: bool = False) -> Iterable[tuple[str, str]]: ...

    def get_all(self, name: str) -> list[str]: ...


def header_map(headers: MultiHeaders) -> dict[str, str]:
    """Lower-cased name -> value; repeated headers joined with ", " as RFC 9110 allows."""
    joined: dict[str, str] = {}
    for name, value in headers.items(multi=True):
        name = name.lower()
        joined[name] = f"{joined[name]}, {value}" if name in joined else value
    return joined


def accept_for_key(key: str) -> str:
    """The Sec-WebSocket-Accept value a server must send for `key` (RFC 6455 section 4.2.2)."""
    # Over the key's bytes as sent: a key with non-ASCII bytes is bad, but the server that
    # accepts it hashes those bytes, and so must the check.
    digest = hashlib.sha1(wire_bytes(key.strip() + ACCEPT_GUID)).digest()
    return base64.b64encode(digest).decode("ascii")


def is_upgrade_request(headers: Mapping[str, str]) -> bool:
    """True when the request asks for a WebSocket upgrade (the only requests wswatch follows)."""
    return "websocket" in (token.lower() for token in split_tokens(headers.get("upgrade")))


def requests_websocket(headers: MultiHeaders) -> bool:
    """`is_upgrade_request`, reading only the Upgrade headers: for hooks that see every request
    and need no other header."""
    return is_upgrade_request({"upgrade": ", ".join(headers.get_all("upgrade"))})


def _key_is_valid(key: str) -> bool:
    try:
        return len(base64.b64decode(key.strip(), validate=True)) == 16
    except (binascii.Error, ValueError):
        return False


def request_problems(method: str, http_version: str, headers: Mapping[str, str]) -> list[Problem]:
    """RFC 6455 section 4.1 violations in a client's opening handshake."""
    problems: list[Problem] = []
    if method.upper() != "GET":
        problems.append(Problem.REQUEST_METHOD_NOT_GET)
    if http_version not in ("HTTP/1.1", "HTTP/2.0", "HTTP/3"):
        problems.append(Problem.REQUEST_NOT_HTTP11)
    if not is_upgrade_request(headers):
        problems.append(Problem.REQUEST_MISSING_UPGRADE)
    if "upgrade" not in (t.lower() for t in split_tokens(headers.get("connection"))):
        problems.append(Problem.REQUEST_MISSING_CONNECTION_UPGRADE)
    key = headers.get("sec-websocket-key")
    if key is None:
        problems.append(Problem.REQUEST_MISSING_KEY)
    elif not _key_is_valid(key):
        problems.append(Problem.REQUEST_BAD_KEY)
    version = headers.get("sec-websocket-version")
    if version is None:
        problems.append(Problem.REQUEST_MISSING_VERSION)
    elif version.strip() != "13":
        problems.append(Problem.REQUEST_BAD_VERSION)
    return problems


def _extension_names(value: str | None) -> set[str]:
    return {token.split(";", 1)[0].strip().lower() for token in split_tokens(value)}


def response_problems(
    request_headers: Mapping[str, str], response_headers: Mapping[str, str]
) -> list[Problem]:
    """RFC 6455 section 4.2.2 / 4.1 violations in a 101 answering `request_headers`."""
    problems: list[Problem] = []
    if not is_upgrade_request(response_headers):
        problems.append(Problem.RESPONSE_MISSING_UPGRADE)
    if "upgrade" not in (t.lower() for t in split_tokens(response_headers.get("connection"))):
        problems.append(Problem.RESPONSE_MISSING_CONNECTION_UPGRADE)
    accept = response_headers.get("sec-websocket-accept")
    key = request_headers.get("sec-websocket-key")
    if accept is None:
        problems.append(Problem.RESPONSE_MISSING_ACCEPT)
    elif key is not None and accept.strip() != accept_for_key(key):
        problems.append(Problem.RESPONSE_BAD_ACCEPT)
    chosen = split_tokens(response_headers.get("sec-websocket-protocol"))
    offered = split_tokens(request_headers.get("sec-websocket-protocol"))
    if len(chosen) > 1 or any(protocol not in offered for protocol in chosen):
        problems.append(Problem.RESPONSE_UNOFFERED_SUBPROTOCOL)
    accepted_extensions = _extension_names(response_headers.get("sec-websocket-extensions"))
    offered_extensions = _extension_names(request_headers.get("sec-websocket-extensions"))
    if accepted_extensions - offered_extensions:
        problems.append(Problem.RESPONSE_UNOFFERED_EXTENSION)
    return problems


def classify(
    status: int | None,
    request_problems_found: Sequence[Problem],
    response_problems_found: Sequence[Problem],
) -> Outcome:
    """The outcome of an attempt from what came back (`status` None: no HTTP answer)."""
    if status is None:
        return Outcome.FAILED
    if status != 101:
        return Outcome.REJECTED
    if request_problems_found or response_problems_found:
        return Outcome.INVALID
    return Outcome.ACCEPTED
