"""Which tape answers an upgrade request. Pure.

A request's key is its method, its path, its query parameters (secret ones and ignored ones
left out: the recording has them redacted, and a token differs on every run), and the values of
any headers the user names (a model name). Several tapes with one key are used in the order they
were recorded: the first attempt gets the first recording, a retry the next (a recorded
401-then-101 replays as such). When a key's tapes are used up, its last tape answers again, so a
client that reconnects more often than the recording did still gets an answer.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from .format import TapeSummary

#: A request's key: method, path, sorted (name, value) query parameters, sorted (header, value).
RequestKey = tuple[str, str, tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]


@dataclass(frozen=True, slots=True)
class KeyRules:
    """How requests are told apart (the `wswatch_replay_*` options)."""

    #: Query parameter names never matched (lower-cased), besides the secret ones.
    ignored_params: frozenset[str] = frozenset()
    #: Header names (lower-cased) whose values must match.
    headers: tuple[str, ...] = ()


def request_key(
    method: str,
    path: str,
    headers: Mapping[str, str],
    rules: KeyRules,
    is_secret_param: Callable[[str], bool],
) -> RequestKey:
    """The key of a request (`headers`: lower-cased names, as `watch.handshake.header_map`)."""
    bare, _, query = path.partition("?")
    params = tuple(
        sorted(
            (name, value)
            for name, value in urllib.parse.parse_qsl(query, keep_blank_values=True)
            if name.lower() not in rules.ignored_params and not is_secret_param(name)
        )
    )
    named = tuple(sorted((name, headers.get(name, "")) for name in rules.headers))
    return (method.upper(), bare, params, named)


def describe_key(key: RequestKey) -> str:
    """A key as a person reads it: `GET /v1/listen?model=nova [x-model: a]`."""
    method, path, params, headers = key
    text = f"{method} {path}"
    if params:
        text += "?" + urllib.parse.urlencode(params)
    if headers:
        text += " [" + ", ".join(f"{name}: {value}" for name, value in headers) + "]"
    return text


class TapeLibrary:
    """The tapes replay answers from, by request key, each key's tapes in recording order."""

    def __init__(
        self,
        tapes: Iterable[TapeSummary],
        rules: KeyRules,
        is_secret_param: Callable[[str], bool],
    ) -> None:
        self.rules = rules
        self._is_secret_param = is_secret_param
        self._by_key: dict[RequestKey, list[TapeSummary]] = {}
        self._used: dict[RequestKey, int] = {}
        for tape in sorted(tapes, key=lambda each: (each.header.recorded_at, each.name)):
            self.add(tape)

    def key_of(self, tape: TapeSummary) -> RequestKey:
        request = tape.header.request
        headers = {name.lower(): value for name, value in request.headers}
        return request_key(request.method, request.path, headers, self.rules, self._is_secret_param)

    def add(self, tape: TapeSummary) -> None:
        """Add a tape after those already held (a tape recorded on a miss, say)."""
        self._by_key.setdefault(self.key_of(tape), []).append(tape)

    def take(self, key: RequestKey) -> TapeSummary | None:
        """The tape for the next attempt with `key`, or None when none was recorded."""
        tapes = self._by_key.get(key)
        if not tapes:
            return None
        used = self._used.get(key, 0)
        self._used[key] = used + 1
        return tapes[min(used, len(tapes) - 1)]

    def __len__(self) -> int:
        return sum(len(tapes) for tapes in self._by_key.values())

    def searched(self, limit: int = 20) -> Sequence[str]:
        """What a miss says was searched: each key held and its tapes' names, first `limit`."""
        lines = [
            f"{describe_key(key)}: {', '.join(tape.name for tape in tapes)}"
            for key, tapes in self._by_key.items()
        ]
        if len(lines) > limit:
            lines = [*lines[:limit], f"... and {len(lines) - limit} more request keys"]
        return lines
