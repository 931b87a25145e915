"""Fault rules: parsing with defaults, presets, exact error messages, and request matching."""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path

import pytest
from wswatchlib.faults.rules import (
    DEFAULT_PRESETS_PATH,
    FaultRulesError,
    disconnect_action,
    load_presets,
    load_rule_files,
    parse_rules_text,
)
from wswatchlib.faults.spec import (
    CAPTIVE_PORTAL_HTML,
    Bad101,
    Bad101Defect,
    Close,
    CloseBeforeAnswer,
    Delay,
    Direction,
    Drop,
    Hang,
    Html,
    Match,
    MessageFault,
    MessageOp,
    MessageType,
    Per,
    Phase,
    PongFault,
    PongOp,
    Redirect,
    Reject,
    RequestFacts,
    Reset,
    Rule,
    Scheme,
    Stall,
    Throttle,
    Toward,
    When,
    Window,
    matches,
)

FAULTS_DIR = Path(__file__).resolve().parents[2] / "config" / "faults"
SHIPPED_SCENARIOS = sorted(set(FAULTS_DIR.glob("*.yaml")) - {FAULTS_DIR / "presets.yaml"})

PRESETS = {
    "teapot": {
        "status": 418,
        "reason": "I'm a teapot",
        "headers": {"X-Brew": "earl-grey", "Retry-After": "5"},
        "body": "short and stout",
    },
}

ALL_ACTIONS = (
    "reject, delay, hang, reset, close_before_answer, bad_101, html, redirect,"
    " close, drop, stall, messages, pongs, throttle, script"
)


def parse(text: str) -> list[Rule]:
    """Rules of *text*, as if read from faults.yaml with the test presets."""
    return parse_rules_text(text, "faults.yaml", PRESETS)


def parse_action(action: str):
    """The action of a one-rule document whose action is *action* (YAML flow style)."""
    [rule] = parse(f"rules: [{{id: r, action: {action}}}]")
    return rule.action


def parse_error(text: str) -> str:
    """The message of the FaultRulesError that parsing *text* raises."""
    with pytest.raises(FaultRulesError) as caught:
        parse(text)
    return str(caught.value)


# --- actions -----------------------------------------------------------------------------------

ACTION_DEFAULTS = [
    ("{reject: {status: 418}}", Reject(status=418, reason="", headers=(), body="", preset=None)),
    ("{delay: {ms: 250}}", Delay(ms=250, jitter_ms=0)),
    ("{hang: {}}", Hang(max_s=None)),
    ("{reset: {}}", Reset()),
    ("{reset: null}", Reset()),
    ("{close_before_answer: {}}", CloseBeforeAnswer()),
    ("{bad_101: {defect: wrong_accept}}", Bad101(Bad101Defect.WRONG_ACCEPT, subprotocol=None)),
    (
        "{bad_101: {defect: unrequested_subprotocol}}",
        Bad101(Bad101Defect.UNREQUESTED_SUBPROTOCOL, subprotocol="wswatch-unrequested"),
    ),
    ("{html: {}}", Html(status=200, body=CAPTIVE_PORTAL_HTML)),
    ("{redirect: {location: 'https://login.example/'}}", Redirect("https://login.example/", 302)),
    (
        "{close: {after_messages: 20}}",
        Close(code=1000, reason="", after_messages=20, after_s=None, toward=Toward.BOTH),
    ),
    ("{drop: {after_s: 1.5}}", Drop(after_messages=None, after_s=1.5)),
    (
        "{stall: {direction: server_to_client}}",
        Stall(Direction.SERVER_TO_CLIENT, after_messages=None, after_s=None, for_s=None),
    ),
    (
        "{messages: {do: duplicate}}",
        MessageFault(
            do=MessageOp.DUPLICATE,
            direction=Direction.BOTH,
            type=MessageType.ANY,
            pattern=None,
            probability=1.0,
            delay_ms=None,
            truncate_to=None,
        ),
    ),
    ("{pongs: {do: suppress}}", PongFault(do=PongOp.SUPPRESS, delay_ms=None)),
    ("{throttle: {bytes_per_s: 1024}}", Throttle(bytes_per_s=1024, direction=Direction.BOTH)),
]


@pytest.mark.parametrize(("action", "expected"), ACTION_DEFAULTS)
def test_action_defaults(action, expected):
    """Each action parses with only its required parameters, filling in the documented defaults."""
    assert parse_action(action) == expected


ACTION_EXPLICIT = [
    (
        "{reject: {status: 400, reason: Nope, headers: {X-A: b}, body: no}}",
        Reject(status=400, reason="Nope", headers=(("X-A", "b"),), body="no", preset=None),
    ),
    ("{delay: {ms: 0, jitter_ms: 50}}", Delay(ms=0, jitter_ms=50)),
    ("{hang: {max_s: 30}}", Hang(max_s=30.0)),
    (
        "{bad_101: {defect: unrequested_subprotocol, subprotocol: mqtt}}",
        Bad101(Bad101Defect.UNREQUESTED_SUBPROTOCOL, subprotocol="mqtt"),
    ),
    ("{html: {status: 511, body: '<p>login</p>'}}", Html(status=511, body="<p>login</p>")),
    ("{redirect: {location: /login, status: 308}}", Redirect(location="/login", status=308)),
    (
        "{close: {code: 4000, reason: bye, after_messages: 0, after_s: 2, toward: client}}",
        Close(code=4000, reason="bye", after_messages=0, after_s=2.0, toward=Toward.CLIENT),
    ),
    ("{drop: {after_messages: 3, after_s: 0}}", Drop(after_messages=3, after_s=0.0)),
    (
        "{stall: {direction: both, after_messages: 5, for_s: 0.5}}",
        Stall(Direction.BOTH, after_messages=5, after_s=None, for_s=0.5),
    ),
    (
        "{messages: {direction: client_to_server, type: text, pattern: '^ping',"
        " probability: 0.25, do: delay, delay_ms: 100}}",
        MessageFault(
            do=MessageOp.DELAY,
            direction=Direction.CLIENT_TO_SERVER,
            type=MessageType.TEXT,
            pattern=re.compile("^ping"),
            probability=0.25,
            delay_ms=100,
            truncate_to=None,
        ),
    ),
    (
        "{messages: {type: binary, do: truncate, truncate_to: 0}}",
        MessageFault(do=MessageOp.TRUNCATE, type=MessageType.BINARY, truncate_to=0),
    ),
    ("{pongs: {do: delay, delay_ms: 1500}}", PongFault(do=PongOp.DELAY, delay_ms=1500)),
    (
        "{throttle: {bytes_per_s: 10, direction: server_to_client}}",
        Throttle(bytes_per_s=10, direction=Direction.SERVER_TO_CLIENT),
    ),
]


@pytest.mark.parametrize(("action", "expected"), ACTION_EXPLICIT)
def test_action_explicit_parameters(action, expected):
    """Every documented parameter of each action is read into its field."""
    assert parse_action(action) == expected


PHASES = [
    (Reject, Phase.HANDSHAKE),
    (Delay, Phase.HANDSHAKE),
    (Hang, Phase.HANDSHAKE),
    (Reset, Phase.HANDSHAKE),
    (CloseBeforeAnswer, Phase.HANDSHAKE),
    (Bad101, Phase.HANDSHAKE),
    (Html, Phase.HANDSHAKE),
    (Redirect, Phase.HANDSHAKE),
    (Close, Phase.CONNECTION),
    (Drop, Phase.CONNECTION),
    (Stall, Phase.CONNECTION),
    (MessageFault, Phase.CONNECTION),
    (PongFault, Phase.CONNECTION),
    (Throttle, Phase.CONNECTION),
]


@pytest.mark.parametrize(("cls", "phase"), PHASES)
def test_action_phase(cls, phase):
    """Handshake actions and connection actions declare their phase on the class."""
    assert cls.phase is phase


PARAMS = [
    (
        "{reject: {status: 503, headers: {Retry-After: '1'}}}",
        {
            "status": 503,
            "reason": "",
            "headers": [["Retry-After", "1"]],
            "body": "",
            "preset": None,
        },
    ),
    ("{reset: {}}", {}),
    (
        "{messages: {do: drop, match: {json: {type: KeepAlive}}}}",
        {
            "do": "drop",
            "direction": "both",
            "type": "any",
            "pattern": None,
            "match": {"json": {"type": "KeepAlive"}},
            "probability": 1.0,
            "delay_ms": None,
            "truncate_to": None,
        },
    ),
    (
        "{messages: {do: drop, pattern: 'a+', type: text}}",
        {
            "do": "drop",
            "direction": "both",
            "type": "text",
            "pattern": "a+",
            "match": None,
            "probability": 1.0,
            "delay_ms": None,
            "truncate_to": None,
        },
    ),
    (
        "{close: {code: 1011, after_s: 3}}",
        {"code": 1011, "reason": "", "after_messages": None, "after_s": 3.0, "toward": "both"},
    ),
]


@pytest.mark.parametrize(("action", "expected"), PARAMS)
def test_params_are_plain_json(action, expected):
    """params() gives enums by value, regexes by source and tuples as lists, so it JSON-encodes."""
    params = parse_action(action).params()
    assert params == expected
    assert json.loads(json.dumps(params)) == expected


def test_rule_defaults():
    """A rule with only id and action is enabled, matches everything and always qualifies."""
    [rule] = parse("rules: [{id: r, action: {reset: {}}}]")
    assert rule == Rule(
        id="r",
        description="",
        enabled=True,
        match=Match(),
        when=When(),
        action=Reset(),
        source="faults.yaml",
        seed=0,
    )


SEEDS = [
    ("rules: [{id: r, action: {reset: {}}}]", 0),
    ("seed: 42\nrules: [{id: r, action: {reset: {}}}]", 42),
    ("seed: 42\nrules: [{id: r, when: {seed: 7}, action: {reset: {}}}]", 7),
    ("rules: [{id: r, when: {seed: -3}, action: {reset: {}}}]", -3),
]


@pytest.mark.parametrize(("text", "seed"), SEEDS)
def test_seed_resolution(text, seed):
    """Rule.seed is when.seed, else the file seed, else 0."""
    [rule] = parse(text)
    assert rule.seed == seed


def test_when_fields():
    """Every when condition is read into When, with the window as its own value."""
    [rule] = parse(
        "rules: [{id: r, action: {reset: {}}, when: {probability: 0.2, seed: 7, first: 9,"
        " after: 3, every: 2, times: 5, window: {start_s: 10, end_s: 60.5}, per: client,"
        " max_active: 2}}]"
    )
    assert rule.when == When(
        probability=0.2,
        seed=7,
        first=9,
        after=3,
        every=2,
        times=5,
        window=Window(start_s=10.0, end_s=60.5),
        per=Per.CLIENT,
        max_active=2,
    )


def test_match_fields():
    """Match lowercases the host glob and header names, compiles re: paths and parses CIDRs."""
    [rule] = parse(
        "rules: [{id: r, action: {reset: {}}, match: {host: API.Example.com,"
        " path: 're:^/v1/listen$', scheme: wss, client: 10.0.0.0/8,"
        " headers: {X-Test-Case: 'bad-*'}, subprotocol: 'graphql-*'}}]"
    )
    assert rule.match == Match(
        host="api.example.com",
        path_glob=None,
        path_regex=re.compile("^/v1/listen$"),
        scheme=Scheme.WSS,
        client="10.0.0.0/8",
        client_network=ipaddress.ip_network("10.0.0.0/8"),
        headers=(("x-test-case", "bad-*"),),
        subprotocol="graphql-*",
    )


def test_match_globs_kept_as_written():
    """A path without re: and a client without / stay globs, with no regex or network."""
    [rule] = parse("rules: [{id: r, action: {reset: {}}, match: {path: '/v1/*', client: '127.*'}}]")
    assert (rule.match.path_glob, rule.match.path_regex) == ("/v1/*", None)
    assert (rule.match.client, rule.match.client_network) == ("127.*", None)


# --- presets ------------------------------------------------------------------------------------

PRESET_MERGES = [
    (
        "{preset: teapot}",
        Reject(
            status=418,
            reason="I'm a teapot",
            headers=(("X-Brew", "earl-grey"), ("Retry-After", "5")),
            body="short and stout",
            preset="teapot",
        ),
    ),
    (
        "{preset: teapot, status: 503, reason: Busy, body: ''}",
        Reject(
            status=503,
            reason="Busy",
            headers=(("X-Brew", "earl-grey"), ("Retry-After", "5")),
            body="",
            preset="teapot",
        ),
    ),
    (
        "{preset: teapot, headers: {retry-after: '9', X-Extra: yes}}",
        Reject(
            status=418,
            reason="I'm a teapot",
            headers=(("X-Brew", "earl-grey"), ("retry-after", "9"), ("X-Extra", "yes")),
            body="short and stout",
            preset="teapot",
        ),
    ),
]


@pytest.mark.parametrize(("reject", "expected"), PRESET_MERGES)
def test_preset_merging(reject, expected):
    """Explicit reject fields override the preset's; headers merge by case-insensitive name."""
    assert parse_action(f"{{reject: {reject}}}") == expected


SHIPPED_PRESETS = [
    ("deepgram-401", 401, "Unauthorized", "dg-error", "Invalid credentials."),
    (
        "deepgram-400",
        400,
        "Bad Request",
        "dg-error",
        "Bad Request: failed to parse query parameters",
    ),
    ("deepgram-429", 429, "Too Many Requests", "Retry-After", "1"),
    ("cloudflare-520", 520, None, "cf-ray", "8f0c0ffee0000000-AMS"),
    ("cloudflare-521", 521, None, "cf-ray", "8f0c0ffee0000000-AMS"),
    ("cloudflare-522", 522, None, "cf-ray", "8f0c0ffee0000000-AMS"),
    ("cloudflare-524", 524, None, "server", "cloudflare"),
    ("upgrade-required-426", 426, "Upgrade Required", "Sec-WebSocket-Version", "13"),
    ("unavailable-503", 503, "Service Unavailable", "Retry-After", "1"),
]


@pytest.mark.parametrize(("name", "status", "reason", "header", "value"), SHIPPED_PRESETS)
def test_shipped_presets(name, status, reason, header, value):
    """Each shipped preset has its status, reason phrase and telltale header."""
    preset = load_presets()[name]
    assert preset["status"] == status
    assert reason is None or preset["reason"] == reason
    assert preset["headers"][header] == value


@pytest.mark.parametrize("name", ["deepgram-401", "deepgram-400", "deepgram-429"])
def test_deepgram_presets_body_matches_headers(name):
    """Deepgram bodies are JSON whose request_id and err_msg repeat the dg- headers."""
    preset = load_presets()[name]
    body = json.loads(preset["body"])
    assert body["request_id"] == preset["headers"]["dg-request-id"]
    assert body["err_msg"] == preset["headers"]["dg-error"]
    assert preset["headers"]["content-type"] == "application/json"


CLOUDFLARE_PAGES = [
    ("cloudflare-520", "Web server is returning an unknown error"),
    ("cloudflare-521", "Web server is down"),
    ("cloudflare-522", "Connection timed out"),
    ("cloudflare-524", "A timeout occurred"),
]


@pytest.mark.parametrize(("name", "title"), CLOUDFLARE_PAGES)
def test_cloudflare_presets_body_names_the_error(name, title):
    """Cloudflare bodies are HTML pages naming the error like Cloudflare's own."""
    body = load_presets()[name]["body"]
    assert body.startswith("<!DOCTYPE html>")
    assert title in body


def test_default_presets_path_points_into_config():
    """DEFAULT_PRESETS_PATH is the repository's config/faults/presets.yaml."""
    assert DEFAULT_PRESETS_PATH.resolve() == FAULTS_DIR / "presets.yaml"


AT_S_RULES = [
    ("{close: {code: 1012}}", "{at_s: 30}", Close(code=1012), When(at_s=30.0)),
    ("{drop: {}}", "{at_s: 0.5}", Drop(), When(at_s=0.5)),
    (
        "{close: {code: 1012}}",
        "{at_s: 30, probability: 0.5, seed: 3, times: 2, per: client}",
        Close(code=1012),
        When(at_s=30.0, probability=0.5, seed=3, times=2, per=Per.CLIENT),
    ),
]


@pytest.mark.parametrize(("action", "when", "expected_action", "expected_when"), AT_S_RULES)
def test_at_s_rule_needs_no_trigger(action, when, expected_action, expected_when):
    """A close or drop at a moment (when.at_s) is valid without after_messages or after_s."""
    [rule] = parse(f"rules: [{{id: r, when: {when}, action: {action}}}]")
    assert (rule.action, rule.when) == (expected_action, expected_when)


DISCONNECT_ACTIONS = [
    (1006, "", Drop()),
    (1012, "", Close(code=1012)),
    (4000, "deploy", Close(code=4000, reason="deploy")),
]


@pytest.mark.parametrize(("code", "reason", "expected"), DISCONNECT_ACTIONS)
def test_disconnect_action_is_a_drop_for_1006_and_a_close_otherwise(code, reason, expected):
    """The command's code picks the action: 1006 drops without a frame, others close."""
    assert disconnect_action(code, reason) == expected


DISCONNECT_ERRORS = [
    (1005, "", "code: must be 1006 (drop) or 1000-1003, 1007-1014 or 3000-4999, got 1005"),
    (1006, "bye", "reason: not allowed with code 1006 (no close frame)"),
    (1000, "é" * 62, "reason: must be at most 123 UTF-8 bytes, got 124"),
]


@pytest.mark.parametrize(("code", "reason", "problem"), DISCONNECT_ERRORS)
def test_disconnect_action_refuses_unsendable_codes_and_reasons(code, reason, problem):
    """An unsendable code, or a reason no close frame can carry, is refused with the field."""
    with pytest.raises(ValueError) as caught:
        disconnect_action(code, reason)
    assert str(caught.value) == problem


# --- errors -------------------------------------------------------------------------------------

ENTRY_ERRORS = [
    ("rules: [3]", "rule #1: must be a mapping, got 3"),
    ("rules: [{action: {reset: {}}}]", "rule #1: id: missing required field"),
    ("rules: [{id: 7, action: {reset: {}}}]", "rule #1: id: must be a string, got 7"),
    (
        "rules: [{id: Bad_Id, action: {reset: {}}}]",
        "rule #1: id: must match [a-z0-9][a-z0-9._-]*, got 'Bad_Id'",
    ),
    (
        "rules: [{id: a, action: {reset: {}}}, {description: x, action: {reset: {}}}]",
        "rule #2: id: missing required field",
    ),
    (
        "rules: [{id: a, action: {reset: {}}}, {id: a, action: {reset: {}}}]",
        "rule 'a': id: duplicate rule id (first defined in faults.yaml)",
    ),
    ("rules: [{id: r}]", "rule 'r': action: missing required field"),
]


@pytest.mark.parametrize(("text", "problem"), ENTRY_ERRORS)
def test_rule_entry_errors(text, problem):
    """A bad rule entry is labelled by its quoted id, or by #position when the id is unusable."""
    assert parse_error(text) == f"faults.yaml: {problem}"


FIELD_ERRORS = [
    # rule
    (
        "colour: red",
        "unknown field 'colour' (expected one of: id, description, enabled, match, when, action)",
    ),
    ("description: 3", "description: must be a string, got 3"),
    ("enabled: 'yes'", "enabled: must be true or false, got 'yes'"),
    # match
    (
        "match: {colour: red}",
        "match: unknown field 'colour'"
        " (expected one of: host, path, scheme, client, headers, subprotocol)",
    ),
    ("match: []", "match: must be a mapping, got a list"),
    ("match: {host: ''}", "match.host: must not be empty"),
    (
        "match: {path: 're:('}",
        "match.path: invalid regex: missing ), unterminated subpattern at position 0",
    ),
    ("match: {scheme: http}", "match.scheme: must be one of: ws, wss, got 'http'"),
    (
        "match: {client: 10.0.0.1/8}",
        "match.client: invalid CIDR network: 10.0.0.1/8 has host bits set",
    ),
    ("match: {headers: {x-test-case: 3}}", "match.headers.x-test-case: must be a string, got 3"),
    ("match: {headers: [x-test-case]}", "match.headers: must be a mapping, got a list"),
    ("match: {headers: {'': x}}", "match.headers: invalid header name '': must not be empty"),
    ("match: {headers: {1: x}}", "match.headers: invalid header name 1: must be a string, got 1"),
    ("match: {subprotocol: 1}", "match.subprotocol: must be a string, got 1"),
    # when
    ("when: {probability: 0}", "when.probability: must be > 0 and <= 1, got 0"),
    ("when: {probability: 1.5}", "when.probability: must be > 0 and <= 1, got 1.5"),
    ("when: {probability: true}", "when.probability: must be a number, got true"),
    ("when: {probability: '0.2'}", "when.probability: must be a number, got '0.2'"),
    ("when: {probability: .nan}", "when.probability: must be a finite number, got nan"),
    ("when: {seed: abc}", "when.seed: must be an integer, got 'abc'"),
    ("when: {first: 0}", "when.first: must be >= 1, got 0"),
    ("when: {first: 1.5}", "when.first: must be an integer, got 1.5"),
    ("when: {after: -1}", "when.after: must be >= 0, got -1"),
    ("when: {every: 0}", "when.every: must be >= 1, got 0"),
    ("when: {times: null}", "when.times: must be an integer, got null"),
    ("when: {max_active: 0}", "when.max_active: must be >= 1, got 0"),
    ("when: {per: host}", "when.per: must be one of: global, client, got 'host'"),
    (
        "when: {window: {start_s: 60, end_s: 10}}",
        "when.window: start_s must be less than end_s, got 60 >= 10",
    ),
    ("when: {window: {}}", "when.window: missing required field (one of start_s, end_s)"),
    ("when: {window: {start_s: -1}}", "when.window.start_s: must be >= 0, got -1"),
    (
        "when: {window: {begin: 1}}",
        "when.window: unknown field 'begin' (expected one of: start_s, end_s)",
    ),
    (
        "when: {first: 2, after: 2}",
        "when: first, after and every leave no attempt on which the rule can fire",
    ),
    (
        "when: {first: 2, every: 3}",
        "when: first, after and every leave no attempt on which the rule can fire",
    ),
    ("when: {at_s: 0}", "when.at_s: must be > 0, got 0"),
    ("when: {at_s: soon}", "when.at_s: must be a number, got 'soon'"),
    (
        "when: {at_s: 30, window: {start_s: 30}}",
        "when: at_s cannot be combined with window (it combines with: probability, seed, times, per)",
    ),
    (
        "when: {at_s: 30, first: 1}",
        "when: at_s cannot be combined with first (it combines with: probability, seed, times, per)",
    ),
    (
        "when: {at_s: 30, max_active: 1}",
        "when: at_s cannot be combined with max_active"
        " (it combines with: probability, seed, times, per)",
    ),
    (
        "when: {colour: red}",
        "when: unknown field 'colour' (expected one of: probability, seed, first,"
        " after, every, times, window, per, max_active, at_s)",
    ),
]


@pytest.mark.parametrize(("field", "problem"), FIELD_ERRORS)
def test_rule_field_errors(field, problem):
    """A bad rule, match or when field is reported with its dotted path."""
    text = f"rules: [{{id: r, action: {{reset: {{}}}}, {field}}}]"
    assert parse_error(text) == f"faults.yaml: rule 'r': {problem}"


CLOSE_CODE_PROBLEM = (
    "must be 1000-1003, 1007-1014 or 3000-4999 (1004-1006, 1015 and 1016-2999 are reserved)"
)

ACTION_ERRORS = [
    # the action mapping
    ("reset", "action: must be a mapping, got 'reset'"),
    ("{}", "action: exactly one action is required, got 0"),
    (
        "{close: {after_s: 1}, drop: {after_s: 1}}",
        "action: exactly one action is required, got 2: close, drop",
    ),
    ("{explode: {}}", f"action: unknown action 'explode' (expected one of: {ALL_ACTIONS})"),
    ("{reset: {now: true}}", "action.reset: unknown field 'now' (expected no fields)"),
    ("{reject: 3}", "action.reject: must be a mapping, got 3"),
    # reject
    ("{reject: {}}", "action.reject.status: missing required field"),
    (
        "{reject: {status: 101}}",
        "action.reject.status: must be between 100 and 599 (not 101), got 101",
    ),
    (
        "{reject: {status: 600}}",
        "action.reject.status: must be between 100 and 599 (not 101), got 600",
    ),
    ("{reject: {status: abc}}", "action.reject.status: must be an integer, got 'abc'"),
    (
        "{reject: {status: 400, colour: red}}",
        "action.reject: unknown field 'colour'"
        " (expected one of: status, reason, headers, body, preset)",
    ),
    (
        "{reject: {preset: nope}}",
        "action.reject.preset: unknown preset 'nope' (expected one of: teapot)",
    ),
    (
        "{reject: {status: 503, headers: {Retry-After: 1}}}",
        "action.reject.headers.Retry-After: must be a string, got 1",
    ),
    ('{reject: {status: 503, reason: "a\\nb"}}', "action.reject.reason: must not contain CR or LF"),
    ("{reject: {status: 503, body: 3}}", "action.reject.body: must be a string, got 3"),
    # delay, hang
    ("{delay: {}}", "action.delay.ms: missing required field"),
    ("{delay: {ms: -1}}", "action.delay.ms: must be >= 0, got -1"),
    ("{delay: {ms: 1, jitter_ms: '5'}}", "action.delay.jitter_ms: must be an integer, got '5'"),
    ("{hang: {max_s: 0}}", "action.hang.max_s: must be > 0, got 0"),
    # bad_101, html, redirect
    ("{bad_101: {}}", "action.bad_101.defect: missing required field"),
    (
        "{bad_101: {defect: nope}}",
        "action.bad_101.defect: must be one of: wrong_accept, missing_upgrade,"
        " missing_connection, unrequested_subprotocol, got 'nope'",
    ),
    (
        "{bad_101: {defect: wrong_accept, subprotocol: x}}",
        "action.bad_101.subprotocol: only allowed when defect is 'unrequested_subprotocol'",
    ),
    (
        "{html: {status: 101}}",
        "action.html.status: must be between 100 and 599 (not 101), got 101",
    ),
    ("{redirect: {}}", "action.redirect.location: missing required field"),
    (
        "{redirect: {location: /a, status: 200}}",
        "action.redirect.status: must be one of: 301, 302, 303, 307, 308, got 200",
    ),
    # close, drop, stall
    ("{close: {}}", "action.close: missing required field (one of after_messages, after_s)"),
    ("{close: {code: 1005, after_s: 1}}", f"action.close.code: {CLOSE_CODE_PROBLEM}, got 1005"),
    ("{close: {code: 2000, after_s: 1}}", f"action.close.code: {CLOSE_CODE_PROBLEM}, got 2000"),
    ("{close: {code: 5000, after_s: 1}}", f"action.close.code: {CLOSE_CODE_PROBLEM}, got 5000"),
    (
        f"{{close: {{reason: '{'é' * 62}', after_s: 1}}}}",
        "action.close.reason: must be at most 123 UTF-8 bytes, got 124",
    ),
    ("{close: {after_s: -0.5}}", "action.close.after_s: must be >= 0, got -0.5"),
    ("{close: {after_s: false}}", "action.close.after_s: must be a number, got false"),
    (
        "{close: {after_s: 1, toward: nobody}}",
        "action.close.toward: must be one of: client, server, both, got 'nobody'",
    ),
    ("{drop: {}}", "action.drop: missing required field (one of after_messages, after_s)"),
    ("{drop: {after_messages: -1}}", "action.drop.after_messages: must be >= 0, got -1"),
    ("{stall: {}}", "action.stall.direction: missing required field"),
    (
        "{stall: {direction: up}}",
        "action.stall.direction:"
        " must be one of: client_to_server, server_to_client, both, got 'up'",
    ),
    ("{stall: {direction: both, for_s: 0}}", "action.stall.for_s: must be > 0, got 0"),
    # messages, pongs, throttle
    ("{messages: {}}", "action.messages.do: missing required field"),
    ("{messages: {do: delay}}", "action.messages.delay_ms: missing required field"),
    (
        "{messages: {do: drop, delay_ms: 5}}",
        "action.messages.delay_ms: only allowed when do is 'delay'",
    ),
    ("{messages: {do: delay, delay_ms: 0}}", "action.messages.delay_ms: must be >= 1, got 0"),
    ("{messages: {do: truncate}}", "action.messages.truncate_to: missing required field"),
    (
        "{messages: {do: corrupt, truncate_to: 4}}",
        "action.messages.truncate_to: only allowed when do is 'truncate'",
    ),
    (
        "{messages: {do: drop, pattern: '['}}",
        "action.messages.pattern: invalid regex: unterminated character set at position 0",
    ),
    (
        "{messages: {do: drop, type: json}}",
        "action.messages.type: must be one of: text, binary, any, got 'json'",
    ),
    (
        "{messages: {do: drop, probability: 0}}",
        "action.messages.probability: must be > 0 and <= 1, got 0",
    ),
    ("{pongs: {do: delay}}", "action.pongs.delay_ms: missing required field"),
    (
        "{pongs: {do: suppress, delay_ms: 10}}",
        "action.pongs.delay_ms: only allowed when do is 'delay'",
    ),
    ("{pongs: {do: ignore}}", "action.pongs.do: must be one of: suppress, delay, got 'ignore'"),
    ("{throttle: {}}", "action.throttle.bytes_per_s: missing required field"),
    ("{throttle: {bytes_per_s: 0}}", "action.throttle.bytes_per_s: must be >= 1, got 0"),
]


AT_S_ACTION_ERRORS = [
    ("{reset: {}}", "when.at_s: only allowed when the action is close or drop, got reset"),
    (
        "{stall: {direction: both}}",
        "when.at_s: only allowed when the action is close or drop, got stall",
    ),
    (
        "{close: {code: 1012, after_s: 5}}",
        "action.close.after_s: not allowed with when.at_s (the moment is the trigger)",
    ),
    (
        "{drop: {after_messages: 2}}",
        "action.drop.after_messages: not allowed with when.at_s (the moment is the trigger)",
    ),
    ("{close: {code: 1006}}", f"action.close.code: {CLOSE_CODE_PROBLEM}, got 1006"),
]


@pytest.mark.parametrize(("action", "problem"), AT_S_ACTION_ERRORS)
def test_at_s_errors_for_actions_it_makes_no_sense_with(action, problem):
    """at_s only with close or drop, and never beside another trigger of theirs."""
    text = f"rules: [{{id: r, when: {{at_s: 30}}, action: {action}}}]"
    assert parse_error(text) == f"faults.yaml: rule 'r': {problem}"


@pytest.mark.parametrize(("action", "problem"), ACTION_ERRORS)
def test_action_errors(action, problem):
    """A bad action or action parameter is reported as action.<name>.<param>."""
    text = f"rules: [{{id: r, action: {action}}}]"
    assert parse_error(text) == f"faults.yaml: rule 'r': {problem}"


FILE_ERRORS = [
    (
        "a: 1\na: 2\n",
        'not valid YAML: found duplicate key "a" with value "2" (original value: "1") (line 2, column 1)',
    ),
    ("rules: 'x\n", "not valid YAML: found unexpected end of stream (line 2, column 1)"),
    ("", "top level must be a mapping with a 'rules' list"),
    ("- id: r\n", "top level must be a mapping with a 'rules' list"),
    ("seed: 1\n", "top level must be a mapping with a 'rules' list"),
    ("rules: {id: r}\n", "top level must be a mapping with a 'rules' list"),
    ("rules: []\nextra: 1\n", "unknown top-level field 'extra' (expected: rules, seed)"),
    ("seed: x\nrules: []\n", "seed: must be an integer, got 'x'"),
]


@pytest.mark.parametrize(("text", "problem"), FILE_ERRORS)
def test_file_errors(text, problem):
    """Problems with the document as a whole name only the file."""
    assert parse_error(text) == f"faults.yaml: {problem}"


def test_first_error_wins():
    """Only the first problem is reported, in document order."""
    text = "rules: [{id: r, when: {first: 0}, action: {explode: {}}}, {id: Bad}]"
    assert parse_error(text) == "faults.yaml: rule 'r': when.first: must be >= 1, got 0"


def test_empty_rules_list():
    """A file may hold no rules at all."""
    assert parse("rules: []") == []


# --- files --------------------------------------------------------------------------------------


def write(tmp_path: Path, name: str, text: str) -> str:
    """Write *text* to tmp_path/name and return the path as a string."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_load_rule_files_keeps_file_order(tmp_path):
    """Rules come back in file order, each with its own source and file seed."""
    first = write(tmp_path, "a.yaml", "seed: 1\nrules: [{id: a1, action: {reset: {}}}]")
    second = write(
        tmp_path, "b.yaml", "rules: [{id: b1, action: {reset: {}}}, {id: b2, action: {reset: {}}}]"
    )
    rules = load_rule_files([first, second], presets={})
    assert [(rule.id, rule.source, rule.seed) for rule in rules] == [
        ("a1", first, 1),
        ("b1", second, 0),
        ("b2", second, 0),
    ]


def test_duplicate_id_across_files(tmp_path):
    """An id defined in an earlier file is reported against the later one."""
    first = write(tmp_path, "a.yaml", "rules: [{id: same, action: {reset: {}}}]")
    second = write(
        tmp_path, "b.yaml", "rules: [{id: b, action: {reset: {}}}, {id: same, action: {reset: {}}}]"
    )
    with pytest.raises(FaultRulesError) as caught:
        load_rule_files([first, second], presets={})
    problem = f"rule 'same': id: duplicate rule id (first defined in {first})"
    assert str(caught.value) == f"{second}: {problem}"


def test_missing_file(tmp_path):
    """An unreadable file is reported with the OS reason."""
    missing = str(tmp_path / "missing.yaml")
    with pytest.raises(FaultRulesError) as caught:
        load_rule_files([missing], presets={})
    assert str(caught.value) == f"{missing}: cannot read: No such file or directory"


def test_file_not_utf8(tmp_path):
    """A file that is not UTF-8 is reported as unreadable, not as a YAML error."""
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"\xff rules: []")
    with pytest.raises(FaultRulesError) as caught:
        load_rule_files([str(path)], presets={})
    assert str(caught.value) == f"{path}: cannot read: not UTF-8 (invalid start byte at byte 0)"


def test_load_rule_files_defaults_to_shipped_presets(tmp_path):
    """Without explicit presets, rules may use the shipped ones."""
    path = write(tmp_path, "a.yaml", "rules: [{id: a, action: {reject: {preset: deepgram-401}}}]")
    [rule] = load_rule_files([path])
    assert (rule.action.status, rule.action.preset) == (401, "deepgram-401")


PRESET_ERRORS = [
    ("- status: 400\n", "top level must be a mapping of preset names to presets"),
    ("Bad: {status: 400}\n", "preset 'Bad': must match [a-z0-9][a-z0-9._-]*, got 'Bad'"),
    ("x: 3\n", "preset 'x': must be a mapping, got 3"),
    (
        "x: {colour: red}\n",
        "preset 'x': unknown field 'colour' (expected one of: status, reason, headers, body)",
    ),
    ("x: {status: 101}\n", "preset 'x': status: must be between 100 and 599 (not 101), got 101"),
    ("x: {headers: {Retry-After: 1}}", "preset 'x': headers.Retry-After: must be a string, got 1"),
    (
        "x: {status: 400}\nx: {status: 401}\n",
        'not valid YAML: found duplicate key "x" with value "{}" (original value: "{}") (line 2, column 1)',
    ),
]


@pytest.mark.parametrize(("text", "problem"), PRESET_ERRORS)
def test_preset_errors(tmp_path, text, problem):
    """A bad presets file names the file, the preset and the field."""
    path = write(tmp_path, "presets.yaml", text)
    with pytest.raises(FaultRulesError) as caught:
        load_presets(path)
    assert str(caught.value) == f"{path}: {problem}"


def test_shipped_presets_load():
    """The shipped presets file loads and holds exactly the documented reject presets (the
    script presets: tests/faults/test_scripts.py)."""
    names = sorted(name for name, *_ in SHIPPED_PRESETS)
    loaded = load_presets(DEFAULT_PRESETS_PATH)
    assert sorted(name for name, preset in loaded.items() if "script" not in preset) == names


@pytest.mark.parametrize("path", SHIPPED_SCENARIOS, ids=lambda path: path.name)
def test_shipped_scenario_loads(path):
    """Every shipped scenario file loads with the shipped presets."""
    assert load_rule_files([str(path)])


def test_deploy_restart_closes_all_with_1012_at_30_s_then_503s_for_10_s():
    """deploy-restart.yaml: 1012 to every connection at 30 s, then 503 + Retry-After: 5 until 40 s."""
    close, unavailable = load_rule_files([str(FAULTS_DIR / "deploy-restart.yaml")])
    assert (close.when, close.action, close.match) == (
        When(at_s=30.0),
        Close(code=1012, reason="service restart"),
        Match(),
    )
    assert unavailable.when == When(window=Window(start_s=30.0, end_s=40.0))
    assert isinstance(unavailable.action, Reject) and unavailable.match == Match()
    assert (unavailable.action.status, unavailable.action.headers) == (503, (("Retry-After", "5"),))


def test_shipped_scenarios_load_together():
    """The shipped scenarios can be loaded side by side: their rule ids do not collide."""
    assert len(SHIPPED_SCENARIOS) >= 4
    load_rule_files([str(path) for path in SHIPPED_SCENARIOS])


# --- matching -----------------------------------------------------------------------------------


def facts(**changes) -> RequestFacts:
    """A wss request from 127.0.0.1 to api.example.com/v1/listen, with *changes* applied."""
    defaults = {
        "host": "api.example.com",
        "path": "/v1/listen?model=nova",
        "scheme": "wss",
        "client_ip": "127.0.0.1",
        "headers": (("x-test-case", "bad-key"), ("user-agent", "ws-test")),
        "subprotocols": ("graphql-transport-ws", "graphql-ws"),
    }
    return RequestFacts(**(defaults | changes))


MATCHES = [
    ("{}", {}, True),
    # host: glob, case-insensitive
    ("{host: api.example.com}", {}, True),
    ("{host: API.Example.COM}", {}, True),
    ("{host: api.example.com}", {"host": "API.EXAMPLE.COM"}, True),
    ("{host: '*.example.com'}", {}, True),
    ("{host: example.com}", {}, False),
    # path: glob or re:, query ignored, case-sensitive
    ("{path: '/v1/*'}", {}, True),
    ("{path: /v1/listen}", {}, True),
    ("{path: '/V1/*'}", {}, False),
    ("{path: '/v2/*'}", {}, False),
    ("{path: 're:^/v1/listen$'}", {}, True),
    ("{path: 're:^/v1/list$'}", {}, False),
    ("{path: 're:listen'}", {}, True),
    # scheme
    ("{scheme: wss}", {}, True),
    ("{scheme: ws}", {}, False),
    ("{scheme: wss}", {"scheme": "WSS"}, True),
    # client: glob or CIDR, IPv4-mapped IPv6 unwrapped
    ("{client: 127.0.0.1}", {}, True),
    ("{client: '127.0.0.*'}", {}, True),
    ("{client: '10.*'}", {}, False),
    ("{client: 10.0.0.0/8}", {"client_ip": "10.1.2.3"}, True),
    ("{client: 10.0.0.0/8}", {"client_ip": "192.168.0.1"}, False),
    ("{client: 127.0.0.0/8}", {"client_ip": "::ffff:127.0.0.1"}, True),
    ("{client: '127.0.0.*'}", {"client_ip": "::ffff:127.0.0.1"}, True),
    ("{client: '::1/128'}", {"client_ip": "::1"}, True),
    ("{client: 'fd00::/8'}", {"client_ip": "10.0.0.1"}, False),
    ("{client: 10.0.0.0/8}", {"client_ip": "not-an-ip"}, False),
    ("{client: 'not-*'}", {"client_ip": "not-an-ip"}, True),
    # headers: name case-insensitive, value glob case-sensitive, any repeated value
    ("{headers: {X-Test-Case: 'bad-*'}}", {}, True),
    ("{headers: {x-test-case: bad-key, user-agent: 'ws-*'}}", {}, True),
    ("{headers: {x-test-case: 'good-*'}}", {}, False),
    ("{headers: {x-test-case: 'BAD-*'}}", {}, False),
    ("{headers: {x-missing: '*'}}", {}, False),
    (
        "{headers: {x-test-case: bad-key}}",
        {"headers": (("x-test-case", "other"), ("x-test-case", "bad-key"))},
        True,
    ),
    # subprotocol: any offered one matches the glob
    ("{subprotocol: graphql-ws}", {}, True),
    ("{subprotocol: 'graphql-*'}", {}, True),
    ("{subprotocol: mqtt}", {}, False),
    ("{subprotocol: '*'}", {"subprotocols": ()}, False),
    # all given fields must match
    ("{host: api.example.com, path: '/v1/*', scheme: wss}", {}, True),
    ("{host: api.example.com, path: '/v2/*'}", {}, False),
]


@pytest.mark.parametrize(("match", "changes", "expected"), MATCHES)
def test_matches(match, changes, expected):
    """matches() checks each given field of the match against the request facts."""
    [rule] = parse(f"rules: [{{id: r, match: {match}, action: {{reset: {{}}}}}}]")
    assert matches(rule.match, facts(**changes)) is expected
