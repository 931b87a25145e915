"""Scrub secrets from WebSocket message payloads, for what is shown and kept (never what is sent).

Three layers, each for what the one before cannot know:
1. Known values: every secret the handshake carried (a header's credential, a `?token=`, a
   cookie, a key in `Sec-WebSocket-Protocol`), and every value found under a secret key in an
   earlier message of the same connection, is replaced wherever it appears later: in either
   direction, in text and in binary messages, raw, percent-encoded, base64 or JSON-escaped.
   So a server that echoes the client's token in an error message does not leak it.
2. Keys: a text message that is JSON (or a Socket.IO packet: digits, then JSON) has the value of
   every secret key replaced, at any depth (keys compared case-insensitively, ignoring `-`, `_`
   and `.`: `apiKey`, `api_key` and `API-KEY` are one key), plus context rules for generic names
   that are secret only in some messages (Polygon's `params` when `action` is `auth`). Keys stay,
   values become "[redacted]", the rest of the text is left byte for byte.
3. Shapes: `Bearer <token>`, a JWT's signature, and key prefixes no ordinary text has
   (`sk-...`, `ghp_...`, `xoxb-...`, `AKIA...`), in text that is not JSON or under a key no rule
   names.

Pure: no mitmproxy. `PayloadScrubber` is one connection's (it learns); `MessageKeyRules` is shared.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from structlog.typing import EventDict, WrappedLogger

from .. import events
from .redactor import MIN_SCRUB_LENGTH, REDACTED, scrub, scrub_bytes_of, scrub_variants

#: Secret keys of every message, before normalising: the union of what common scrubbers use
#: (Sentry's denylist, Google's and Cloudflare's HAR sanitizers, cassetter) and the credentials
#: real WebSocket APIs send in their first message (Home Assistant's `access_token`, ElevenLabs'
#: `xi_api_key`, Coinbase's `passphrase` and `signature`, graphql-ws's `authToken`).
BUILTIN_MESSAGE_KEYS: tuple[str, ...] = (
    "password",
    "passwd",
    "pwd",
    "secret",
    "client_secret",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "auth_token",
    "authToken",
    "session_token",
    "api_key",
    "apikey",
    "x-api-key",
    "xi_api_key",
    "api_secret",
    "secret_key",
    "private_key",
    "privatekey",
    "authorization",
    "proxy-authorization",
    "auth",
    "credentials",
    "credential",
    "session",
    "sessionid",
    "cookie",
    "set-cookie",
    "csrf",
    "csrf_token",
    "csrftoken",
    "xsrf-token",
    "passphrase",
    "signature",
    "sign",
    "jwt",
    "bearer",
    "ticket",
    "otp",
)

#: Secret keys whose value may be a whole configuration object (OpenAI realtime's
#: `session.update` carries `"session": {...}`): a string value is redacted, an object is
#: searched key by key like any other.
_SEARCHED_WHEN_OBJECT = frozenset({"session"})

#: Values of these types under a secret key are redacted; booleans and nulls say nothing secret.
_SECRET_SCALARS = (str, int, float)


@functools.lru_cache(maxsize=4096)
def message_key(name: str) -> str:
    """A key as rules compare it: lower case, without `-`, `_`, `.` and spaces (cached: a
    stream repeats the same few keys in every message)."""
    return name.lower().translate(_KEY_PUNCTUATION)


_KEY_PUNCTUATION = str.maketrans("", "", "-_. ")


@dataclass(frozen=True, slots=True)
class ContextRule:
    """Keys that are secret only in an object whose fields have the given values: Polygon's
    `params` holds the API key when `action` is `auth`, and a subscription list otherwise."""

    when: tuple[tuple[str, Any], ...]  # (normalised key, the value as JSON has it)
    keys: frozenset[str]  # normalised

    def applies_to(self, fields: Mapping[str, Any]) -> bool:
        """Whether an object, its keys normalised (`message_key`), is one this rule is for."""
        return all(fields.get(key) == value for key, value in self.when)


@dataclass(frozen=True, slots=True)
class MessageKeyRules:
    """Which JSON keys hold secrets: always (`keys`), or in some objects (`rules`)."""

    keys: frozenset[str] = frozenset(message_key(key) for key in BUILTIN_MESSAGE_KEYS)
    rules: tuple[ContextRule, ...] = ()
    #: The rules by the first (key, value) of their `when`: an object is checked only against
    #: the rules one of its fields can start (this runs on every JSON message kept).
    by_first_field: Mapping[tuple[str, Any], tuple[ContextRule, ...]] = field(
        init=False, compare=False
    )

    def __post_init__(self) -> None:
        index: dict[tuple[str, Any], tuple[ContextRule, ...]] = {}
        for rule in self.rules:
            if rule.when:
                index[rule.when[0]] = (*index.get(rule.when[0], ()), rule)
        object.__setattr__(self, "by_first_field", index)

    def merged(self, other: MessageKeyRules) -> MessageKeyRules:
        return MessageKeyRules(
            self.keys | other.keys, tuple(dict.fromkeys(self.rules + other.rules))
        )

    @classmethod
    def of(cls, keys: Iterable[str] = (), rules: Iterable[ContextRule] = ()) -> MessageKeyRules:
        """Rules with only these keys and context rules (no built-in list)."""
        return cls(frozenset(message_key(key) for key in keys), tuple(rules))


#: Shapes of a credential that ordinary text, transcripts and base64 audio do not have. The
#: group `keep` is shown, the group `secret` becomes "[redacted]".
_SHAPES = re.compile(
    "|".join(
        (
            # RFC 6750 bearer token: "Bearer" capitalised, then 16+ token characters with a digit
            # ("the bearer of bad news" and "Bearer bonds" are not).
            r"(?P<bearer>Bearer\s+)(?=[A-Za-z0-9\-._~+/]*[0-9])[A-Za-z0-9\-._~+/]{16,}=*",
            # A JWT (RFC 7519, JWS compact form): header and claims are kept, the signature goes.
            r"(?P<jwt>\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.)[A-Za-z0-9_-]{16,}",
            # Key prefixes their issuers reserve, so nothing else starts with them.
            r"(?<![A-Za-z0-9_-])(?P<openai>sk-(?:proj-|ant-(?:api\d+-)?|svcacct-|admin-)?)"
            r"[A-Za-z0-9_-]{20,}",
            r"(?<![A-Za-z0-9_])(?P<stripe>(?:sk|rk)_(?:live|test)_|whsec_)[A-Za-z0-9]{16,}",
            r"(?<![A-Za-z0-9_])(?P<github>gh[pousr]_|github_pat_)[A-Za-z0-9_]{30,}",
            r"(?<![A-Za-z0-9_-])(?P<slack>xox[abposre]-|xapp-)[A-Za-z0-9-]{10,}",
            r"(?<![A-Za-z0-9_-])(?P<gitlab>glpat-)[A-Za-z0-9_-]{20,}",
            r"(?<![A-Za-z0-9_])(?P<huggingface>hf_)[A-Za-z0-9]{30,}",
            r"\b(?P<aws>)(?:AKIA|ASIA)[0-9A-Z]{16}\b",
            r"(?<![A-Za-z0-9_-])(?P<google>AIza)[0-9A-Za-z_-]{35}(?![A-Za-z0-9_-])",
        )
    )
)

#: The detectors by name, as documented (docs/redaction.md) and tested.
SHAPES: tuple[str, ...] = tuple(_SHAPES.groupindex)


def _kept_prefix(found: re.Match[str]) -> str:
    return f"{found.group(found.lastgroup or 0)}{REDACTED}"


#: What every shape starts with: text without any of them is left without running the regex
#: (a few substring searches cost far less than the regex tried at every position).
_SHAPE_ANCHORS = (
    "Bearer", "eyJ", "sk-", "sk_", "rk_", "whsec_", "gh", "xox", "xapp-", "glpat-", "hf_",
    "AKIA", "ASIA", "AIza",
)  # fmt: skip


def scrub_shapes(text: str) -> str:
    """`text` with every credential-shaped token redacted (its telling prefix kept)."""
    if not any(anchor in text for anchor in _SHAPE_ANCHORS):
        return text
    return _SHAPES.sub(_kept_prefix, text)


def scrub_peer_text(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: credential shapes out of the text of an event that a peer chose
    (a reason phrase, error headers, a body excerpt, a close reason); wswatch's own fields are
    left alone."""
    for name in events.PEER_TEXT_FIELDS:
        value = event_dict.get(name)
        if isinstance(value, str):
            event_dict[name] = scrub_shapes(value)
        elif isinstance(value, dict):
            event_dict[name] = {
                key: scrub_shapes(item) if isinstance(item, str) else item
                for key, item in value.items()
            }
    return event_dict


#: A Socket.IO / Engine.IO packet: packet type digits, an optional namespace, an optional ack
#: id, then the JSON payload (`40{"token":...}`, `42/chat,17["auth",{...}]`).
_SOCKET_IO_PREFIX = re.compile(r"\d{1,3}(?:/[^,\[{]*,)?\d*")

#: At most this many values learned from messages per connection (memory stays bounded).
MAX_LEARNED_SECRETS = 32


@dataclass
class PayloadScrubber:
    """One connection's scrubber: the handshake's secrets, plus those its messages reveal."""

    rules: MessageKeyRules
    known: Iterable[str] = ()
    learned: list[str] = field(default_factory=list)
    #: Learned values refused because the connection already had MAX_LEARNED_SECRETS.
    unlearned: int = 0

    def __post_init__(self) -> None:
        self.known = frozenset(value for value in self.known if len(value) >= MIN_SCRUB_LENGTH)
        self._forms: list[str] | None = None

    @property
    def secrets(self) -> frozenset[str]:
        """Every value this connection scrubs: the handshake's and the learned ones."""
        return frozenset(self.known) | frozenset(self.learned)

    def text(self, text: str) -> str:
        """A text message as it may be shown: keys, then known values, then shapes."""
        scrubbed = self._json(text)
        return scrub_shapes(scrub(text if scrubbed is None else scrubbed, self._known_forms()))

    def binary(self, data: bytes) -> bytes:
        """A binary message as it may be shown: only the known values' bytes are replaced
        (shapes would find false credentials in audio)."""
        return scrub_bytes_of(data, self._known_forms())

    def _known_forms(self) -> list[str]:
        if self._forms is None:
            self._forms = scrub_variants(self.secrets)
        return self._forms

    def _learn(self, value: str) -> None:
        if len(value) < MIN_SCRUB_LENGTH or value in self.known or value in self.learned:
            return
        if len(self.learned) >= MAX_LEARNED_SECRETS:
            self.unlearned += 1
            return
        self.learned.append(value)
        self._forms = None

    def _json(self, text: str) -> str | None:
        """The JSON (or Socket.IO) text with secret keys' values redacted; None when the
        text is not JSON."""
        start = _json_start(text)
        if start is None:
            return None
        try:
            document = json.loads(text[start:])
        except ValueError:
            return None
        found: list[Any] = []
        _collect(document, self.rules, False, found)
        if not found:
            return text
        for value in found:
            if isinstance(value, str):
                self._learn(value)
        return text[:start] + _replace_values(text[start:], document, found, self.rules)


def _json_start(text: str) -> int | None:
    """Where the JSON payload of a text message starts, if it may be JSON."""
    stripped = text.lstrip()
    if not stripped:
        return None
    if stripped[0] in "{[":
        return len(text) - len(stripped)
    prefix = _SOCKET_IO_PREFIX.match(text)
    if prefix and prefix.end() < len(text) and text[prefix.end()] in "{[":
        return prefix.end()
    return None


def _children(
    node: dict[Any, Any], rules: MessageKeyRules, secret: bool
) -> Iterator[tuple[Any, Any, bool]]:
    """Each key and value of an object, and whether the value is under a secret key."""
    named = [
        (key, message_key(key) if isinstance(key, str) else "", value)
        for key, value in node.items()
    ]
    context_keys: frozenset[str] = frozenset()
    candidates = [
        rule
        for _key, name, value in named
        if isinstance(value, str | int | float)
        for rule in rules.by_first_field.get((name, value), ())
    ]
    if candidates:
        fields = {name: value for _key, name, value in named}
        for rule in candidates:
            if rule.applies_to(fields):
                context_keys |= rule.keys
    for key, name, value in named:
        is_secret = secret or name in rules.keys or name in context_keys
        if is_secret and not secret and name in _SEARCHED_WHEN_OBJECT:
            is_secret = not isinstance(value, dict | list)
        yield key, value, is_secret


def _is_secret_scalar(node: Any, secret: bool) -> bool:
    return (
        secret and isinstance(node, _SECRET_SCALARS) and not isinstance(node, bool) and node != ""
    )


def _collect(node: Any, rules: MessageKeyRules, secret: bool, found: list[Any]) -> None:
    """Every scalar under a secret key, in document order (only containers recurse: this runs
    on every JSON message kept)."""
    if isinstance(node, dict):
        children: Iterable[tuple[Any, bool]] = (
            (value, is_secret) for _key, value, is_secret in _children(node, rules, secret)
        )
    elif isinstance(node, list):
        children = ((item, secret) for item in node)
    else:
        if _is_secret_scalar(node, secret):
            found.append(node)
        return
    for child, child_secret in children:
        if isinstance(child, dict | list):
            _collect(child, rules, child_secret, found)
        elif child_secret and _is_secret_scalar(child, True):
            found.append(child)


_REDACTED_STRING = json.dumps(REDACTED)
#: What JSON may have between two tokens, outside strings: structure, numbers, true/false/null.
_BETWEEN_TOKENS = frozenset(" \t\r\n,:[]{}0123456789.+-eEtrufalsn")


def _replace_values(text: str, document: Any, found: list[Any], rules: MessageKeyRules) -> str:
    """`text` with each found value replaced where it is written, every other byte kept; when a
    value cannot be replaced safely in place (a number, a short string, an unusual escape), the
    whole document is written again with the values redacted."""
    result = text
    in_place = all(isinstance(value, str) and len(value) >= MIN_SCRUB_LENGTH for value in found)
    if in_place and "\\" not in text and all(not set(v) <= _BETWEEN_TOKENS for v in found):
        # No escape anywhere: every string is written as '"' + value + '"', and a value with a
        # character that cannot sit between two tokens cannot match across them, so each
        # occurrence is the whole string and replacing them all is exact.
        for value in sorted(set(found), key=len, reverse=True):
            result = result.replace(f'"{value}"', _REDACTED_STRING)
        return result
    if in_place:
        for value in sorted(set(found), key=len, reverse=True):
            for form in {json.dumps(value), json.dumps(value, ensure_ascii=False)}:
                result = result.replace(form, _REDACTED_STRING)
        try:
            again: list[Any] = []
            _collect(json.loads(result), rules, False, again)
            in_place = all(value == REDACTED for value in again)
        except ValueError:
            in_place = False
    if in_place:
        return result
    return json.dumps(_redacted(document, rules, False), ensure_ascii=False)


def _redacted(node: Any, rules: MessageKeyRules, secret: bool) -> Any:
    """A copy of `node` with every scalar under a secret key replaced (as `_collect` finds them)."""
    if isinstance(node, dict):
        return {
            key: _redacted(value, rules, is_secret)
            for key, value, is_secret in _children(node, rules, secret)
        }
    if isinstance(node, list):
        return [_redacted(item, rules, secret) for item in node]
    return REDACTED if _is_secret_scalar(node, secret) else node


def edit_of_original(original: bytes, shown: bytes, edited: bytes) -> bytes | None:
    """An edit made to the shown copy of a message, applied to the original: each "[redacted]"
    of the shown copy gets back the bytes it hid, in order. None when that cannot be done
    surely: the edit added or removed a marker, or the hidden bytes cannot be told apart."""
    marker = REDACTED.encode()
    segments = shown.split(marker)
    if edited.count(marker) != len(segments) - 1 or not original.startswith(segments[0]):
        return None
    hidden: list[bytes] = []
    position = len(segments[0])
    for index, segment in enumerate(segments[1:], start=1):
        if index == len(segments) - 1:
            end = len(original) - len(segment)
            if end <= position or not original.endswith(segment):
                return None
        else:
            end = original.find(segment, position + 1) if segment else -1
            if end < 0:
                return None
        hidden.append(original[position:end])
        position = end + len(segment)
    pieces = edited.split(marker)
    restored = [pieces[0]]
    for value, piece in zip(hidden, pieces[1:], strict=True):
        restored += [value, piece]
    return b"".join(restored)
