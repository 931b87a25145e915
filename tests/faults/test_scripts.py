"""Scripted streams, the pure parts: matching, templates, reading scripts, running them on a
fake clock."""

from __future__ import annotations

import json
import re

import pytest
from mitmproxy.test import tflow
from wswatchlib.faults.matching import MAX_DEPTH, MessageMatch, contains_anywhere
from wswatchlib.faults.rules import FaultRulesError, load_presets, parse_rules_text
from wswatchlib.faults.script import (
    CloseOut,
    DropOut,
    HandshakeFacts,
    ScriptRun,
    SendOut,
    SwallowOut,
)
from wswatchlib.faults.scripted import shown_handshake
from wswatchlib.faults.spec import Script, Toward
from wswatchlib.faults.steps import Peer
from wswatchlib.faults.templates import TemplateFacts, parse_template, render, render_json

PRESETS = load_presets()

#: Every script preset the issue names: shipped, and nothing else unnamed.
SCRIPT_PRESETS = (
    "openai-realtime-rate-limit",
    "openai-realtime-server-error",
    "slack-disconnect-refresh-requested",
    "slack-disconnect-warning",
    "slack-disconnect-link-disabled",
    "home-assistant-auth-invalid",
    "polygon-auth-failed",
    "graphql-ws-4401",
    "graphql-ws-4403",
    "graphql-ws-4408",
    "graphql-ws-4429",
    "deepgram-idle-timeout",
)


def script_of(steps_yaml: str) -> Script:
    text = f"rules:\n  - id: s\n    action:\n      script:\n{steps_yaml}"
    [rule] = parse_rules_text(text, "rules.yaml", PRESETS)
    assert isinstance(rule.action, Script)
    return rule.action


def script_error(steps_yaml: str) -> str:
    with pytest.raises(FaultRulesError) as error:
        script_of(steps_yaml)
    message = str(error.value)
    assert "\n" not in message
    return message


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def run_of(steps_yaml: str, clock: FakeClock | None = None, **handshake: dict) -> ScriptRun:
    facts = HandshakeFacts(headers=handshake.get("headers", {}), query=handshake.get("query", {}))
    ids = iter(f"id-{n}" for n in range(100))
    return ScriptRun(
        script_of(steps_yaml).steps,
        facts,
        clock=clock or FakeClock(),
        new_uuid=lambda: next(ids),
        now_ms=lambda: 1_700_000_000_000,
    )


# Matching ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subset", "document", "found"),
    [
        ({"type": "Configure"}, {"type": "Configure", "features": {"a": 1}}, True),
        ({"type": "Configure"}, [{"id": 1, "type": "Configure"}], True),
        ({"type": "Configure"}, {"outer": {"inner": {"type": "Configure"}}}, True),
        ({"type": "Configure"}, {"type": "configure"}, False),
        ({"a": {"b": 1}}, {"a": {"b": 1, "c": 2}}, True),
        ({"a": {"b": 1}}, {"a": {"c": 2}}, False),
        ({"ids": [2]}, {"ids": [1, 2, 3]}, True),
        ({"ok": True}, {"ok": 1}, False),
        ({"n": 1}, {"n": 1.0}, True),
        ({"n": 1}, {"n": True}, False),
        ("text", ["text"], True),
    ],
)
def test_a_json_subset_matches_at_any_depth(subset, document, found):
    assert contains_anywhere(document, subset) is found


def test_each_kind_of_match():
    text = MessageMatch(text="Configure")
    assert text.matches(b'{"type":"Configure"}', True)
    assert not text.matches(b"other", True)
    assert MessageMatch(regex=re.compile(r"^ping \d+$")).matches(b"ping 12", True)
    subset = MessageMatch(json={"type": "auth"}, has_json=True)
    assert subset.matches(b'{"type": "auth", "token": "x"}', True)
    assert not subset.matches(b'{"type": "auth"', True)  # not JSON
    assert not subset.matches(b'{"type": "auth"}', False)  # binary is never JSON here
    sized = MessageMatch(binary_len=(2, 4))
    assert sized.matches(b"abc", False)
    assert not sized.matches(b"abcde", False) and not sized.matches(b"abc", True)
    assert MessageMatch(text="\xff").matches(b"\xff", False)  # binary read as latin-1


def test_hostile_messages_never_raise_and_never_match():
    subset = MessageMatch(json={"type": "x"}, has_json=True)
    deep = b"[" * 100_000 + b"]" * 100_000
    assert not subset.matches(deep, True)
    assert not subset.matches(b"\xff\xfe{", True)
    nested = {"type": "x"}
    for _ in range(MAX_DEPTH + 10):
        nested = {"n": nested}
    assert not contains_anywhere(nested, {"type": "x"})


# Templates --------------------------------------------------------------------------------


def test_templates_fill_in_message_handshake_and_generated_values():
    facts = TemplateFacts(
        message_json={"event_id": "ev-1", "items": [{"n": 7}]},
        has_json=True,
        message_text='{"event_id": "ev-1"}',
        headers={"dg-request-id": "req-9"},
        query={"model": "nova-3"},
        new_uuid=lambda: "u-1",
        now_ms=lambda: 42,
    )
    template = parse_template(
        "{{message.json.event_id}}/{{ message.json.items.0.n }}/{{handshake.header.DG-Request-Id}}"
        "/{{handshake.query.model}}/{{uuid}}/{{now_ms}}/{{message.json.absent}}."
    )
    assert render(template, facts) == "ev-1/7/req-9/nova-3/u-1/42/."
    document = {
        "id": parse_template("{{message.json.items.0.n}}"),
        "s": parse_template("x{{now_ms}}"),
    }
    assert render_json(document, facts) == {"id": 7, "s": "x42"}
    assert render_json({"gone": parse_template("{{message.json.nothing}}")}, facts) == {
        "gone": None
    }


@pytest.mark.parametrize(
    "text",
    ["{{message.jsn.x}}", "{{handshake.cookie}}", "{{uuid.x}}", "{{message.json.}}", "{{}}"],
)
def test_an_unknown_template_field_is_refused(text):
    with pytest.raises(ValueError, match="unknown template field"):
        parse_template(text)


# Reading scripts --------------------------------------------------------------------------


def test_the_issue_example_reads_as_written():
    script = script_of(
        "        - wait: {message: {from: client, json: {type: session.update}}}\n"
        "        - swallow: {}\n"
        '        - send: {to: client, json: {type: error, event_id: "{{uuid}}"}}\n'
        "        - wait: {s: 0.2}\n"
        "        - close: {code: 1011, reason: server error, toward: client}\n"
    )
    assert [next(iter(step.describe())) for step in script.steps] == [
        "wait",
        "swallow",
        "send",
        "wait",
        "close",
    ]
    assert script.params()["steps"][2] == {
        "send": {"to": "client", "json": {"type": "error", "event_id": "{{uuid}}"}}
    }


def test_a_preset_step_expands_in_place():
    script = script_of("        - wait: {messages: 1}\n        - preset: graphql-ws-4401\n")
    assert script.presets == ("graphql-ws-4401",)
    assert script.steps[-1].describe() == {
        "close": {"code": 4401, "reason": "Unauthorized", "toward": "both"}
    }


def test_every_named_script_preset_is_shipped_and_reads():
    shipped = {name for name, preset in PRESETS.items() if "script" in preset}
    assert shipped == set(SCRIPT_PRESETS)
    for name in SCRIPT_PRESETS:
        assert script_of(f"        - preset: {name}\n").presets == (name,)


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        (
            "        - jump: {}\n",
            "action.script[1]: unknown step 'jump' (expected one of: wait, send, swallow, "
            "close, drop, preset)",
        ),
        (
            "        - wait: {}\n",
            "action.script[1].wait: needs exactly one of s, messages, message",
        ),
        (
            "        - wait: {s: 1, messages: 2}\n",
            "action.script[1].wait: needs exactly one of s, messages, message, got s, messages",
        ),
        (
            "        - wait: {message: {from: client}}\n",
            "action.script[1].wait.message: needs at least one of text, regex, json, binary_len",
        ),
        (
            "        - send: {to: client}\n",
            "action.script[1].send: needs exactly one of text, json, binary_b64",
        ),
        (
            "        - send: {to: clients, text: x}\n",
            "action.script[1].send.to: must be one of: client, server, got 'clients'",
        ),
        (
            "        - send: {to: client, text: '{{message.jsn.id}}'}\n",
            "action.script[1].send.text: unknown template field {{message.jsn.id}}",
        ),
        (
            "        - send: {to: client, binary_b64: '***'}\n",
            "action.script[1].send.binary_b64: must be base64, got '***'",
        ),
        (
            "        - close: {code: 1006}\n",
            "action.script[1].close.code: must be 1000-1003, 1007-1014 or 3000-4999",
        ),
        (
            "        - wait: {s: 1}\n        - swallow: {}\n",
            "action.script[2].swallow: must come right after a wait for a message",
        ),
        (
            "        - drop: {}\n        - send: {to: client, text: x}\n",
            "action.script[2].send: comes after a drop: it never runs",
        ),
        (
            "        - preset: deepgram-401\n",
            "action.script[1].preset: unknown script preset 'deepgram-401'",
        ),
        ("        []\n", "action.script: must have at least one step"),
    ],
)
def test_a_bad_script_is_one_line_naming_file_rule_step_and_field(steps, expected):
    if steps.strip() == "[]":
        text = "rules:\n  - id: s\n    action:\n      script: []\n"
        with pytest.raises(FaultRulesError) as error:
            parse_rules_text(text, "rules.yaml", PRESETS)
        message = str(error.value)
    else:
        message = script_error(steps)
    assert message.startswith("rules.yaml: rule 's': ")
    assert expected in message


def test_a_reject_cannot_use_a_script_preset_nor_a_script_a_reject_one():
    with pytest.raises(FaultRulesError, match="unknown preset 'graphql-ws-4401'"):
        parse_rules_text(
            "rules:\n  - id: r\n    action: {reject: {preset: graphql-ws-4401}}\n",
            "rules.yaml",
            PRESETS,
        )


# Running scripts --------------------------------------------------------------------------


def test_wait_for_a_message_then_swallow_and_answer_in_place_of_the_server():
    run = run_of(
        "        - wait: {message: {from: client, json: {type: Configure}}}\n"
        "        - swallow: {}\n"
        "        - send: {to: client, json: {type: Error, request: '{{message.json.id}}'}}\n"
    )
    assert run.start() == [] and not run.finished and run.deadline is None
    assert run.message(False, b'{"type": "Configure"}', True) == []  # from the server
    assert run.message(True, b'{"type": "Other"}', True) == []
    done = run.message(True, b'{"type": "Configure", "id": "c-1"}', True)
    assert done == [
        SwallowOut(2),
        SendOut(3, Peer.CLIENT, b'{"type":"Error","request":"c-1"}', is_text=True),
    ]
    assert run.finished and run.message(True, b'{"type": "Configure"}', True) == []


def test_wait_seconds_on_the_clock_then_close():
    clock = FakeClock()
    run = run_of(
        "        - send: {to: server, text: first}\n"
        "        - wait: {s: 2}\n"
        "        - close: {code: 4001, reason: bye, toward: client}\n",
        clock,
    )
    assert run.start() == [SendOut(1, Peer.SERVER, b"first", is_text=True)]
    assert run.deadline == 102.0
    clock.now = 101.9
    assert run.tick() == []
    clock.now = 102.0
    assert run.tick() == [CloseOut(3, 4001, "bye", Toward.CLIENT)]
    assert run.finished and run.deadline is None


def test_wait_counts_messages_from_one_side_from_when_it_is_reached():
    run = run_of("        - wait: {messages: 2, from: server}\n        - drop: {}\n")
    run.start()
    assert run.message(True, b"c", True) == []
    assert run.message(False, b"s1", True) == []
    assert run.message(False, b"s2", True) == [DropOut(2)]


def test_messages_that_arrive_during_a_time_wait_do_not_advance_it():
    clock = FakeClock()
    run = run_of("        - wait: {s: 1}\n        - send: {to: client, text: late}\n", clock)
    run.start()
    assert run.message(True, b"x", True) == []
    clock.now += 1
    assert run.tick() == [SendOut(2, Peer.CLIENT, b"late", is_text=True)]


def test_handshake_templates_only_see_what_wswatch_shows():
    run = run_of(
        "        - send: {to: client, text: '{{handshake.header.authorization}}|"
        "{{handshake.query.model}}|{{handshake.query.token}}'}\n",
        headers={"authorization": "[redacted]"},
        query={"model": "nova-3", "token": "[redacted]"},
    )
    [sent] = run.start()
    assert isinstance(sent, SendOut)
    assert sent.content == b"[redacted]|nova-3|[redacted]"


def test_binary_and_json_bodies_are_sent_as_written():
    run = run_of(
        "        - send: {to: client, binary_b64: AAEC}\n"
        "        - send: {to: client, json: [1, {a: null}]}\n"
    )
    first, second = run.start()
    assert first == SendOut(1, Peer.CLIENT, b"\x00\x01\x02", is_text=False)
    assert isinstance(second, SendOut) and json.loads(second.content) == [1, {"a": None}]


def test_a_handshake_value_holding_any_secret_is_shown_redacted_whole_however_short():
    flow = tflow.tflow()
    flow.request.path = "/listen?model=nova-3&token=abc"
    flow.request.headers["Authorization"] = "Token xyz"
    flow.request.headers["Cookie"] = "sid=c00kie; theme=dark"
    facts = shown_handshake(flow, frozenset({"abc", "Token xyz", "xyz", "c00kie"}))
    assert facts.query == {"model": "nova-3", "token": "[redacted]"}
    assert facts.headers["authorization"] == "[redacted]"
    assert facts.headers["cookie"] == "[redacted]"
