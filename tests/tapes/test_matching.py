"""Which tape answers a request: keys without secrets, tapes in recording order, last repeats."""

from __future__ import annotations

from pathlib import Path

import pytest
from wswatchlib.tapes.format import RecordedRequest, TapeHeader, TapeSummary
from wswatchlib.tapes.matching import (
    KeyRules,
    RequestKey,
    TapeLibrary,
    describe_key,
    request_key,
)


def is_secret(name: str) -> bool:
    return name in {"token"}


def tape(
    name: str,
    recorded_at: str,
    path: str = "/v1/listen?model=nova",
    method: str = "GET",
    headers: list[tuple[str, str]] | None = None,
) -> TapeSummary:
    request = RecordedRequest(
        method, "wss", "api.example.com", 443, path, "HTTP/1.1", headers or []
    )
    return TapeSummary(Path("/tapes") / name, TapeHeader(recorded_at, "0.9.0", request, None))


#: name -> (method, path, headers, rules, the key).
KEYS: dict[str, tuple[str, str, dict[str, str], KeyRules, RequestKey]] = {
    "plain": ("GET", "/v1/listen", {}, KeyRules(), ("GET", "/v1/listen", (), ())),
    "method_upper_cased": ("get", "/v1/listen", {}, KeyRules(), ("GET", "/v1/listen", (), ())),
    "secret_param_left_out": (
        "GET",
        "/v1/listen?token=abc123&model=nova",
        {},
        KeyRules(),
        ("GET", "/v1/listen", (("model", "nova"),), ()),
    ),
    "redacted_secret_param_left_out": (
        "GET",
        "/v1/listen?model=nova&token=[redacted]",
        {},
        KeyRules(),
        ("GET", "/v1/listen", (("model", "nova"),), ()),
    ),
    "ignored_param_left_out_any_case": (
        "GET",
        "/v1/listen?model=nova&Session=42&request_id=7",
        {},
        KeyRules(ignored_params=frozenset({"session", "request_id"})),
        ("GET", "/v1/listen", (("model", "nova"),), ()),
    ),
    "params_sorted_blank_kept": (
        "GET",
        "/v1/listen?z=1&a=2&m=&a=1",
        {},
        KeyRules(),
        ("GET", "/v1/listen", (("a", "1"), ("a", "2"), ("m", ""), ("z", "1")), ()),
    ),
    "percent_encoding_decoded": (
        "GET",
        "/v1/listen?lang=en%2DUS&q=a+b",
        {},
        KeyRules(),
        ("GET", "/v1/listen", (("lang", "en-US"), ("q", "a b")), ()),
    ),
    "named_headers_sorted_others_ignored": (
        "GET",
        "/v1/listen",
        {"x-model": "nova", "openai-beta": "realtime=v1", "user-agent": "curl"},
        KeyRules(headers=("x-model", "openai-beta")),
        ("GET", "/v1/listen", (), (("openai-beta", "realtime=v1"), ("x-model", "nova"))),
    ),
    "named_header_absent_is_empty": (
        "GET",
        "/v1/listen",
        {},
        KeyRules(headers=("x-model",)),
        ("GET", "/v1/listen", (), (("x-model", ""),)),
    ),
}


@pytest.mark.parametrize("name", list(KEYS))
def test_request_key(name: str) -> None:
    """A key is the method, the bare path, the sorted non-secret non-ignored params and the
    named headers' values."""
    method, path, headers, rules, expected = KEYS[name]
    assert request_key(method, path, headers, rules, is_secret) == expected


def test_live_request_with_a_token_matches_its_redacted_recording() -> None:
    """The recording (token redacted) and a live request (a fresh token) have one key."""
    library = TapeLibrary(
        [tape("a", "1", "/v1/listen?token=[redacted]&model=nova")], KeyRules(), is_secret
    )
    live = request_key(
        "GET", "/v1/listen?model=nova&token=fresh-each-run", {}, KeyRules(), is_secret
    )
    assert taken(library, live) == "a"


#: name -> (a key, how a person reads it).
DESCRIBED: dict[str, tuple[RequestKey, str]] = {
    "bare": (("GET", "/v1/listen", (), ()), "GET /v1/listen"),
    "params": (
        ("GET", "/v1/listen", (("lang", "en US"), ("model", "nova")), ()),
        "GET /v1/listen?lang=en+US&model=nova",
    ),
    "headers": (
        ("GET", "/ws", (), (("x-a", "1"), ("x-b", ""))),
        "GET /ws [x-a: 1, x-b: ]",
    ),
    "both": (
        ("GET", "/v1/listen", (("model", "nova"),), (("x-model", "a"),)),
        "GET /v1/listen?model=nova [x-model: a]",
    ),
}


@pytest.mark.parametrize("name", list(DESCRIBED))
def test_describe_key(name: str) -> None:
    """A key reads as `METHOD path?params [header: value, ...]`."""
    described, text = DESCRIBED[name]
    assert describe_key(described) == text


def key(path: str = "/v1/listen?model=nova") -> RequestKey:
    return request_key("GET", path, {}, KeyRules(), is_secret)


def taken(library: TapeLibrary, request: RequestKey) -> str:
    """The name of the tape the next attempt with `request` gets (one must)."""
    found = library.take(request)
    assert found is not None
    return found.name


def test_take_gives_tapes_in_recording_order_then_repeats_the_last() -> None:
    """Attempts with one key get its tapes by `recorded_at`, whatever order they were found
    in; once used up, the last answers again."""
    tapes = [
        tape("c-101", "2026-12-06T10:00:03.000Z"),
        tape("a-401", "2026-12-06T10:00:01.000Z"),
        tape("b-429", "2026-12-06T10:00:02.000Z"),
    ]
    library = TapeLibrary(tapes, KeyRules(), is_secret)
    taken = [library.take(key()) for _ in range(5)]
    assert [each.name if each else None for each in taken] == [
        "a-401",
        "b-429",
        "c-101",
        "c-101",
        "c-101",
    ]


def test_same_recorded_at_breaks_ties_by_name() -> None:
    """Tapes recorded at the same moment are used in name order (their sequence number)."""
    tapes = [tape("t-0002", "2026-12-06T10:00:00.000Z"), tape("t-0001", "2026-12-06T10:00:00.000Z")]
    library = TapeLibrary(tapes, KeyRules(), is_secret)
    assert [taken(library, key()) for _ in range(2)] == ["t-0001", "t-0002"]


def test_keys_are_counted_apart() -> None:
    """Taking one key's tapes does not use up another's."""
    tapes = [
        tape("listen-1", "1"),
        tape("listen-2", "2"),
        tape("speak-1", "3", "/v1/speak"),
    ]
    library = TapeLibrary(tapes, KeyRules(), is_secret)
    names = [
        taken(library, key()),
        taken(library, key("/v1/speak")),
        taken(library, key()),
        taken(library, key("/v1/speak")),
    ]
    assert names == ["listen-1", "speak-1", "listen-2", "speak-1"]


@pytest.mark.parametrize(
    "path",
    [
        "/v1/listen",
        "/v1/listen?model=other",
        "/v1/listen?model=nova&extra=1",
        "/V1/listen?model=nova",
    ],
    ids=["no_params", "other_value", "extra_param", "path_case"],
)
def test_unknown_key_gets_none(path: str) -> None:
    """A request no tape was recorded for gets None, and uses nothing up."""
    library = TapeLibrary([tape("a", "1")], KeyRules(), is_secret)
    assert library.take(key(path)) is None
    assert taken(library, key()) == "a"


def test_method_is_part_of_the_key() -> None:
    """A recorded GET does not answer a POST to the same path."""
    library = TapeLibrary([tape("a", "1")], KeyRules(), is_secret)
    assert (
        library.take(request_key("POST", "/v1/listen?model=nova", {}, KeyRules(), is_secret))
        is None
    )


def test_named_header_must_match() -> None:
    """With a header named in the rules, tapes are told apart by its value (any case of name)."""
    rules = KeyRules(headers=("x-model",))
    tapes = [tape("a", "1", headers=[("X-Model", "a")]), tape("b", "2", headers=[("x-model", "b")])]
    library = TapeLibrary(tapes, rules, is_secret)
    live_b = request_key("GET", "/v1/listen?model=nova", {"x-model": "b"}, rules, is_secret)
    live_c = request_key("GET", "/v1/listen?model=nova", {"x-model": "c"}, rules, is_secret)
    assert taken(library, live_b) == "b"
    assert library.take(live_c) is None


def test_add_appends_after_held_tapes() -> None:
    """A tape added later (recorded on a miss) comes after the tapes already held."""
    library = TapeLibrary([tape("old", "2026-12-06T10:00:05.000Z")], KeyRules(), is_secret)
    library.add(tape("new", "2026-12-06T09:00:00.000Z"))
    assert len(library) == 2
    assert [taken(library, key()) for _ in range(3)] == ["old", "new", "new"]


def test_empty_library() -> None:
    """No tapes: nothing answers and nothing is listed."""
    library = TapeLibrary([], KeyRules(), is_secret)
    assert (len(library), library.take(key()), list(library.searched())) == (0, None, [])


def test_searched_lists_each_key_and_its_tapes() -> None:
    """What a miss reports: each key as a person reads it, with its tapes' names in order."""
    tapes = [
        tape("b.tape.jsonl", "2"),
        tape("a.tape.jsonl", "1"),
        tape("s.tape.jsonl", "3", "/v1/speak?token=[redacted]"),
    ]
    library = TapeLibrary(tapes, KeyRules(), is_secret)
    assert list(library.searched()) == [
        "GET /v1/listen?model=nova: a.tape.jsonl, b.tape.jsonl",
        "GET /v1/speak: s.tape.jsonl",
    ]


@pytest.mark.parametrize(
    ("keys", "limit", "shown", "more"),
    [
        (5, 5, 5, None),
        (6, 5, 5, "... and 1 more request keys"),
        (30, 20, 20, "... and 10 more request keys"),
    ],
    ids=["at_limit", "one_over", "default_limit"],
)
def test_searched_caps_at_the_limit(keys: int, limit: int, shown: int, more: str | None) -> None:
    """At most `limit` keys are listed, then one line saying how many more."""
    tapes = [tape(f"t{index}", f"{index:02d}", f"/p{index:02d}") for index in range(keys)]
    library = TapeLibrary(tapes, KeyRules(), is_secret)
    lines = list(library.searched(limit) if limit != 20 else library.searched())
    assert lines[:shown] == [f"GET /p{index:02d}: t{index}" for index in range(shown)]
    assert lines[shown:] == ([more] if more else [])
