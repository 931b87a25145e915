"""Scripted streams through the real proxy, in every proxy mode: what the real client received
(messages in order, then the close), and what the events claim.

The upstream is the scenario server's echo; the client's first message ("hello", sent by
`ModeSession.open`) is echoed before each test begins, so a script that waits for a message
that is not "hello" sees the test's own message first.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from mode_clients import MODES, ClientSawClose, ModeClient, ModeSession, mode_session
from proxy_harness import RunningProxy

pytestmark = pytest.mark.parametrize("mode", MODES)


def scripted_session(
    mode: str, tmp_path: Path, confdir: Path, steps: str
) -> contextlib.AbstractAsyncContextManager[ModeSession]:
    """`mode_session` with one rule, id `scripted`, whose script is `steps` (YAML lines)."""
    path = tmp_path / "scripts.yaml"
    path.write_text(f"rules:\n  - id: scripted\n    action:\n      script:\n{steps}")
    return mode_session(mode, tmp_path, confdir, wswatch_faults=[str(path)])


async def until_close(client: ModeClient, limit: int = 10) -> tuple[list[str], ClientSawClose]:
    """Every message the client receives, then how its connection ended (bounded)."""
    received: list[str] = []
    for _ in range(limit):
        try:
            received.append(await client.recv(10))
        except ClientSawClose as closed:
            return received, closed
    raise AssertionError(f"no close after {limit} messages: {received}")


async def closed_event(proxy: RunningProxy) -> dict:
    event = await proxy.wait_for("ws.closed")
    assert proxy.events("fault.not_applied") == []
    return event


async def test_a_client_message_is_answered_in_place_of_the_server(mode, tmp_path, confdir):
    """wait for Configure, swallow it, answer with an error that quotes its id: the client gets
    the answer, and the upstream never saw Configure (its next echo is the next message)."""
    steps = (
        "        - wait: {message: {from: client, json: {type: Configure}}}\n"
        "        - swallow: {}\n"
        "        - send: {to: client, json: {type: Error, description: bad config,"
        " request_id: '{{message.json.request_id}}'}}\n"
    )
    async with scripted_session(mode, tmp_path, confdir, steps) as s:
        async with s.open() as client:
            await client.send(json.dumps({"type": "Configure", "request_id": "r-7"}))
            answer = json.loads(await client.recv())
            await client.send("after")
            echo = await client.recv()
        end = await closed_event(s.proxy)
    assert answer == {"type": "Error", "description": "bad config", "request_id": "r-7"}
    assert echo == "after"
    assert end["injected_messages"] == {"to_client": 1, "to_server": 0}
    assert end["messages"] == {"client": 3, "server": 2}  # hello, Configure, after; 2 echoes
    assert end["dropped"] == {"client": 1, "server": 0}
    assert (end["injected"], end["rule_id"], end["closed_by"]) == (True, "scripted", "client")
    steps_logged = [
        (event["step"], next(iter(event["params"]))) for event in s.proxy.events("fault.injected")
    ]
    assert steps_logged == [(2, "swallow"), (3, "send")]


async def test_an_error_event_then_a_close_reach_the_client_in_order(mode, tmp_path, confdir):
    """OpenAI realtime's server error mid-stream: the error event, then close 1011."""
    steps = (
        "        - wait: {message: {from: client, text: go}}\n"
        "        - preset: openai-realtime-server-error\n"
    )
    async with scripted_session(mode, tmp_path, confdir, steps) as s:
        async with s.open() as client:
            await client.send("go")
            received, closed = await until_close(client)
        end = await closed_event(s.proxy)
    errors = [json.loads(text) for text in received if text != "go"]
    assert [error["error"]["type"] for error in errors] == ["server_error"]
    assert errors[0]["type"] == "error" and errors[0]["event_id"].startswith("event_")
    assert (closed.code, closed.reason) == (1011, "server error")
    assert (end["close_code"], end["closed_by"], end["injected"]) == (1011, "proxy", True)
    assert end["injected_messages"] == {"to_client": 1, "to_server": 0}


async def test_graphql_ws_4401_reaches_the_client_with_its_reason(mode, tmp_path, confdir):
    steps = (
        "        - wait: {message: {from: client, json: {type: connection_init}}}\n"
        "        - preset: graphql-ws-4401\n"
    )
    async with scripted_session(mode, tmp_path, confdir, steps) as s:
        async with s.open() as client:
            await client.send(json.dumps({"type": "connection_init", "payload": {}}))
            _, closed = await until_close(client)
        end = await closed_event(s.proxy)
    assert (closed.code, closed.reason) == (4401, "Unauthorized")
    assert (end["close_code"], end["close_reason"], end["closed_by"]) == (
        4401,
        "Unauthorized",
        "proxy",
    )


async def test_a_message_sent_to_the_server_reaches_it(mode, tmp_path, confdir):
    """send to server: the upstream echoes it, so the client sees the injected text come back."""
    steps = (
        "        - wait: {message: {from: client, text: poke}}\n"
        "        - send: {to: server, text: 'injected for {{message.text}}'}\n"
    )
    async with scripted_session(mode, tmp_path, confdir, steps) as s:
        async with s.open() as client:
            await client.send("poke")
            replies = {await client.recv(), await client.recv()}
        end = await closed_event(s.proxy)
    assert replies == {"poke", "injected for poke"}
    assert end["injected_messages"] == {"to_client": 0, "to_server": 1}
    # The upstream's echo of the injected message is a server message like any other.
    assert end["messages"]["server"] == 3


async def test_the_send_and_preset_commands_speak_into_open_connections(mode, tmp_path, confdir):
    """wswatch.send then wswatch.preset from the command line of the running proxy: the client
    gets the text, then the preset's close; each answers how many connections it reached."""
    async with mode_session(mode, tmp_path, confdir, wswatch_relay="websocket") as s:
        commands = s.proxy.master.commands
        async with s.open("/echo?model=nova-3") as client:
            with pytest.raises(Exception, match="DIRECTION must be client or server"):
                commands.call("wswatch.send", "~websocket", "clients", "x")
            with pytest.raises(Exception, match="invalid FILTER"):
                commands.call("wswatch.send", "~q ~x(", "client", "x")
            assert commands.call("wswatch.send", "~u /other", "client", "nobody") == 0
            reached = commands.call(
                "wswatch.send", "~u /echo", "client", "hello from {{handshake.query.model}}"
            )
            assert reached == 1
            assert await client.recv() == "hello from nova-3"
            assert commands.call("wswatch.preset", "~websocket", "graphql-ws-4403") == 1
            _, closed = await until_close(client)
        end = await closed_event(s.proxy)
    assert (closed.code, closed.reason) == (4403, "Forbidden")
    assert end["injected_messages"] == {"to_client": 1, "to_server": 0}
    assert (end["closed_by"], end["injected"]) == ("proxy", True)
    assert [event["rule_id"] for event in s.proxy.events("fault.injected")] == [
        "wswatch.send",
        "wswatch.preset",
    ]


async def test_a_command_says_it_could_not_reach_observe_only_connections(mode, tmp_path, confdir):
    """On the default observe-only relay there is no message layer to send into: the command
    reaches nothing, says so and why, and the client gets nothing but its echoes."""
    async with mode_session(mode, tmp_path, confdir) as s:
        async with s.open() as client:
            assert s.proxy.master.commands.call("wswatch.send", "~u /echo", "client", "x") == 0
            await client.send("still echoed")
            assert await client.recv() == "still echoed"
        end = await s.proxy.wait_for("ws.closed")
    assert end["relay"] == "observe" and end["injected_messages"] == {
        "to_client": 0,
        "to_server": 0,
    }
    assert any("observe-only relay have no message layer" in line for line in s.proxy.console.lines)
