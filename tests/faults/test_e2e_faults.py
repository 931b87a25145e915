"""Fault injection end to end: each action as a real client experiences it, and as the JSON log
reports it (fault.injected, injected: true, the rule id)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import websocket as websocket_client
import websockets
from proxy_harness import RunningProxy, running_proxy, scenario_proxy
from upstreams import scenario_server
from websockets.asyncio.client import connect
from wswatchlib.faults import rulebook


def rules_file(tmp_path: Path, text: str, name: str = "faults.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@contextlib.asynccontextmanager
async def fault_session(
    tmp_path: Path, confdir: Path, rules: str | None, **options
) -> AsyncIterator[RunningProxy]:
    """The scenario upstream behind a proxy loaded with `rules` (YAML text; None: no rules)."""
    if rules is not None:
        options["wswatch_faults"] = [rules_file(tmp_path, rules)]
    async with scenario_proxy(tmp_path, confdir, **options) as proxy:
        yield proxy


async def handshake_error(url: str, **kwargs) -> BaseException:
    """What the client raised while opening `url` (the test fails if it opened)."""
    try:
        async with connect(url, open_timeout=5, **kwargs):
            pass
    except Exception as error:
        return error
    raise AssertionError(f"{url} opened")


def only(proxy: RunningProxy, name: str) -> dict:
    found = proxy.events(name)
    assert len(found) == 1, found
    return found[0]


async def test_reject_preset_reaches_the_client_and_is_logged_as_injected(tmp_path, confdir):
    """deepgram-401 preset: the client gets the 401 with dg-error; events say injected + rule."""
    async with fault_session(
        tmp_path, confdir, "rules:\n  - id: bad-key\n    action: {reject: {preset: deepgram-401}}\n"
    ) as proxy:
        error = await handshake_error(f"ws://127.0.0.1:{proxy.port}/v1/listen")
        event = await proxy.wait_for("ws.handshake")
        injected = only(proxy, "fault.injected")
    assert isinstance(error, websockets.InvalidStatus)
    assert error.response.status_code == 401
    assert error.response.headers["dg-error"] == "Invalid credentials."
    assert (event["outcome"], event["injected"], event["rule_id"]) == ("rejected", True, "bad-key")
    assert event["vendor"] == "deepgram" and event["error"] == "Invalid credentials."
    assert (injected["rule_id"], injected["action"], injected["params"]["status"]) == (
        "bad-key",
        "reject",
        401,
    )
    assert injected["flow_id"] == event["flow_id"]


@pytest.mark.parametrize(
    ("action", "path"),
    [
        ("{reject: {status: 503}}", "/v1/listen"),
        ("{close: {code: 4001, after_messages: 1}}", "/echo"),
    ],
    ids=["handshake-fault", "connection-fault"],
)
async def test_fault_injected_event_names_the_redacted_ws_url_and_leaks_no_secret(
    tmp_path, confdir, action, path
):
    """fault.injected says ws:// like every other event, with ?token= and echoed keys redacted."""
    token, key = "qtok-FAULT-3c2b1a0f9e", "dgkey-FAULT-7a6b5c4d3e"
    async with fault_session(
        tmp_path, confdir, f"rules:\n  - id: planted\n    action: {action}\n"
    ) as proxy:
        url = f"ws://127.0.0.1:{proxy.port}{path}?model=nova&token={token}"
        headers = {"Authorization": f"Token {key}"}
        try:
            async with connect(url, additional_headers=headers, open_timeout=5) as ws:
                await ws.send(f"echo {key}")
                await ws.recv()
        except (websockets.InvalidStatus, websockets.ConnectionClosed):
            pass
        injected = await proxy.wait_for("fault.injected")
        handshake = await proxy.wait_for("ws.handshake")
    assert injected["url"] == handshake["url"]
    assert injected["url"].startswith("ws://127.0.0.1:")
    assert injected["url"].endswith(f"{path}?model=nova&token=[redacted]")
    written = proxy.log_path.read_text(encoding="utf-8")
    terminal = "\n".join(proxy.console.lines)
    for secret in (token, key):
        assert secret not in written and secret not in terminal


async def test_retry_loop_sees_two_injected_503s_then_a_real_101(tmp_path, confdir):
    """first: 2 with Retry-After: 1 -> a retrying client sees 503, 503, 101, as the log says."""
    seen: list[int] = []
    async with fault_session(
        tmp_path,
        confdir,
        "rules:\n  - id: first-two-503\n    when: {first: 2}\n"
        "    action: {reject: {status: 503, headers: {Retry-After: '1'}}}\n",
    ) as proxy:
        for _attempt in range(5):
            try:
                async with connect(f"ws://127.0.0.1:{proxy.port}/echo") as ws:
                    seen.append(101)
                    await ws.send("ping")
                    assert await ws.recv() == "ping"
                break
            except websockets.InvalidStatus as rejected:
                seen.append(rejected.response.status_code)
                # A tenth of what it asks: the test is about what wswatch logs, not the wait.
                await asyncio.sleep(float(rejected.response.headers["Retry-After"]) / 10)
        await proxy.wait_for("ws.closed")
    handshakes = proxy.events("ws.handshake")
    assert seen == [503, 503, 101]
    assert [(e["outcome"], e["status"], e["injected"]) for e in handshakes] == [
        ("rejected", 503, True),
        ("rejected", 503, True),
        ("accepted", 101, False),
    ]
    assert [e["retry_after"] for e in handshakes[:2]] == [1.0, 1.0]
    summary = only(proxy, "session.summary")
    assert summary["rule_hits"] == {"first-two-503": 2}


async def _seeded_run(tmp_path: Path, confdir: Path, up: int, run: int) -> list[int]:
    faults = rules_file(
        tmp_path,
        "rules:\n  - id: coin\n    when: {probability: 0.5, seed: 1234}\n    action: {reject: {status: 503}}\n",
        name=f"seeded-{run}.yaml",
    )
    statuses = []
    workdir = tmp_path / f"run{run}"
    workdir.mkdir()
    async with running_proxy(
        workdir, f"reverse:http://127.0.0.1:{up}", confdir, wswatch_faults=[faults]
    ) as proxy:
        for _ in range(16):
            try:
                async with connect(f"ws://127.0.0.1:{proxy.port}/echo"):
                    statuses.append(101)
            except websockets.InvalidStatus as rejected:
                statuses.append(rejected.response.status_code)
    return statuses


async def test_seeded_probability_gives_the_same_decisions_in_two_runs(tmp_path, confdir):
    """Two proxies with the same seed reject exactly the same attempts."""
    async with scenario_server() as up:
        first = await _seeded_run(tmp_path, confdir, up, 1)
        second = await _seeded_run(tmp_path, confdir, up, 2)
    assert first == second
    assert set(first) == {101, 503}


async def test_delay_holds_the_handshake_for_the_configured_time(tmp_path, confdir):
    """delay 800 ms: the client's handshake takes at least 0.8 s, an undelayed one far less."""
    async with fault_session(
        tmp_path,
        confdir,
        "rules:\n  - id: slow\n    match: {path: /slow}\n    action: {delay: {ms: 800}}\n",
    ) as proxy:
        timings = {}
        for path in ("/slow", "/echo"):
            started = time.monotonic()
            async with connect(f"ws://127.0.0.1:{proxy.port}{path}"):
                timings[path] = time.monotonic() - started
        slow = await proxy.wait_for("ws.handshake", lambda e: e["path"] == "/slow")
    assert 0.8 <= timings["/slow"] < 5
    assert timings["/echo"] < 0.8
    assert slow["outcome"] == "accepted" and slow["injected"] is True


@contextlib.asynccontextmanager
async def counting_upstream() -> AsyncIterator[tuple[int, list[bytes]]]:
    """A local upstream that records what each connection sent first, and answers nothing."""
    received: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await reader.read(65536))
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], received
    finally:
        server.close()
        await server.wait_closed()


async def test_hang_whose_client_gives_up_is_client_gave_up_not_killed(tmp_path, confdir):
    """hang: the client's open_timeout fires; the log says client_gave_up (as for a silent
    upstream), injected, with the rule; the request never reaches the upstream."""
    faults = rules_file(tmp_path, "rules:\n  - id: black-hole\n    action: {hang: {}}\n")
    async with (
        counting_upstream() as (up, upstream_received),
        running_proxy(
            tmp_path, f"reverse:http://127.0.0.1:{up}", confdir, wswatch_faults=[faults]
        ) as proxy,
    ):
        with pytest.raises(TimeoutError):
            async with connect(f"ws://127.0.0.1:{proxy.port}/echo", open_timeout=1):
                pass
        event = await proxy.wait_for("ws.handshake")
    assert (event["outcome"], event["failure"], event["error"]) == (
        "failed",
        "client_gave_up",
        "Client disconnected.",
    )
    assert (event["injected"], event["rule_id"]) == (True, "black-hole")
    assert event["duration_ms"] >= 900
    assert upstream_received == []


async def test_hang_with_a_limit_closes_the_connection_after_it(tmp_path, confdir):
    """hang max_s=0.4: the proxy closes the connection after that time, with no answer."""
    async with fault_session(
        tmp_path, confdir, "rules:\n  - id: hang-1s\n    action: {hang: {max_s: 0.4}}\n"
    ) as proxy:
        started = time.monotonic()
        error = await handshake_error(f"ws://127.0.0.1:{proxy.port}/echo")
        waited = time.monotonic() - started
        event = await proxy.wait_for("ws.handshake")
    assert isinstance(error, websockets.InvalidMessage)  # the connection closed with no HTTP answer
    assert isinstance(error.__cause__, EOFError)
    assert 0.4 <= waited < 4.5
    assert (event["outcome"], event["failure"], event["reason"]) == (
        "failed",
        "injected_hang_expired",
        "the proxy held the request for max_s, then closed the connection",
    )
    assert (event["injected"], event["rule_id"]) == (True, "hang-1s")


def _websocket_client_error(url: str) -> BaseException:
    try:
        websocket_client.create_connection(url, timeout=5).close()
    except Exception as error:
        return error
    raise AssertionError(f"{url} opened")


async def test_reset_sends_a_tcp_reset_before_any_answer(tmp_path, confdir):
    """reset: websocket-client fails with ConnectionResetError (a RST, not a clean FIN)."""
    async with fault_session(
        tmp_path, confdir, "rules:\n  - id: rst\n    action: {reset: {}}\n"
    ) as proxy:
        error = await asyncio.to_thread(
            _websocket_client_error, f"ws://127.0.0.1:{proxy.port}/echo"
        )
        event = await proxy.wait_for("ws.handshake")
    assert isinstance(error, ConnectionResetError)
    assert (event["outcome"], event["failure"], event["reason"]) == (
        "failed",
        "injected_reset",
        "the proxy sent the client a TCP RST instead of an answer",
    )
    assert (event["injected"], event["rule_id"]) == (True, "rst")


async def test_close_before_answer_is_a_clean_eof(tmp_path, confdir):
    """close_before_answer: the client sees the connection end with no answer and no reset."""
    async with fault_session(
        tmp_path, confdir, "rules:\n  - id: eof\n    action: {close_before_answer: {}}\n"
    ) as proxy:
        error = await handshake_error(f"ws://127.0.0.1:{proxy.port}/echo")
        other_client = await asyncio.to_thread(
            _websocket_client_error, f"ws://127.0.0.1:{proxy.port}/echo"
        )
        event = await proxy.wait_for("ws.handshake")
    assert isinstance(error, websockets.InvalidMessage)
    assert isinstance(error.__cause__, EOFError)
    assert isinstance(other_client, websocket_client.WebSocketConnectionClosedException)
    assert (event["outcome"], event["failure"], event["reason"]) == (
        "failed",
        "injected_close",
        "the proxy closed the client's connection without an answer",
    )
    assert event["rule_id"] == "eof"


@pytest.mark.parametrize(
    ("defect", "problem"),
    [
        ("wrong_accept", "response_bad_accept"),
        ("missing_connection", "response_missing_connection_upgrade"),
        ("unrequested_subprotocol", "response_unoffered_subprotocol"),
    ],
)
async def test_bad_101_is_refused_by_the_client_and_flagged_invalid(
    tmp_path, confdir, defect, problem
):
    """bad_101: the real upstream's 101 is spoiled; the client aborts; the log names the problem."""
    extra = ", subprotocol: chat" if defect == "unrequested_subprotocol" else ""
    async with fault_session(
        tmp_path,
        confdir,
        f"rules:\n  - id: spoil\n    action: {{bad_101: {{defect: {defect}{extra}}}}}\n",
    ) as proxy:
        error = await handshake_error(f"ws://127.0.0.1:{proxy.port}/echo")
        event = await proxy.wait_for("ws.handshake")
    assert isinstance(error, websockets.InvalidHandshake)
    assert (event["outcome"], event["problems"], event["injected"]) == ("invalid", [problem], True)


async def test_html_answers_200_with_a_captive_portal_page(tmp_path, confdir):
    """html: the client gets 200 text/html; the log gives the captive-portal hint."""
    async with fault_session(
        tmp_path, confdir, "rules:\n  - id: portal\n    action: {html: {}}\n"
    ) as proxy:
        error = await handshake_error(f"ws://127.0.0.1:{proxy.port}/echo")
        event = await proxy.wait_for("ws.handshake")
    assert isinstance(error, websockets.InvalidStatus) and error.response.status_code == 200
    assert error.response.headers["content-type"].startswith("text/html")
    assert "captive portal" in event["hint"] and event["injected"] is True


async def test_redirect_answers_with_status_and_location(tmp_path, confdir):
    """redirect 307: the client is sent elsewhere (websockets follows, to a refused port)."""
    async with fault_session(
        tmp_path,
        confdir,
        "rules:\n  - id: moved\n    match: {path: /old}\n"
        "    action: {redirect: {status: 307, location: 'ws://127.0.0.1:9/new'}}\n",
    ) as proxy:
        error = await handshake_error(f"ws://127.0.0.1:{proxy.port}/old")
        event = await proxy.wait_for("ws.handshake")
    assert isinstance(error, OSError)  # followed the Location to port 9, where nothing listens
    assert (event["status"], event["injected"]) == (307, True)


async def test_close_after_two_messages_sends_the_chosen_code_and_reason(tmp_path, confdir):
    """close 4001 "bye" after 2 messages: the client gets exactly that; closed_by is proxy."""
    async with fault_session(
        tmp_path,
        confdir,
        "rules:\n  - id: kick\n    action: {close: {code: 4001, reason: bye, after_messages: 2, toward: client}}\n",
    ) as proxy:
        received = []
        async with connect(f"ws://127.0.0.1:{proxy.port}/echo") as ws:
            await ws.send("one")
            received.append(await ws.recv())
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.send("two")
                received.append(await ws.recv())
                await ws.recv()
        end = await proxy.wait_for("ws.closed")
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4001, "bye")
    assert (end["close_code"], end["close_reason"], end["closed_by"]) == (4001, "bye", "proxy")
    assert (end["injected"], end["rule_id"]) == (True, "kick")


async def test_close_after_seconds_fires_on_an_idle_connection(tmp_path, confdir):
    """close 1011 after 0.5 s: an idle client receives 1011 and its reason."""
    async with fault_session(
        tmp_path,
        confdir,
        "rules:\n  - id: idle-kick\n    action: {close: {code: 1011, reason: 'NET-0001 injected', after_s: 0.5}}\n",
    ) as proxy:
        async with connect(f"ws://127.0.0.1:{proxy.port}/echo") as ws:
            with pytest.raises(websockets.ConnectionClosedError) as closed:
                await asyncio.wait_for(ws.recv(), 5)
        end = await proxy.wait_for("ws.closed")
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1011, "NET-0001 injected")
    assert end["close_code"] == 1011 and end["closed_by"] == "proxy"


async def test_drop_cuts_the_connection_without_a_close_frame(tmp_path, confdir):
    """drop after 1 message: the client sees an abnormal closure (1006), the log too."""
    async with fault_session(
        tmp_path, confdir, "rules:\n  - id: yank\n    action: {drop: {after_messages: 1}}\n"
    ) as proxy:
        async with connect(f"ws://127.0.0.1:{proxy.port}/echo") as ws:
            await ws.send("hello")
            with pytest.raises(websockets.ConnectionClosedError) as closed:
                await asyncio.wait_for(ws.recv(), 5)
                await asyncio.wait_for(ws.recv(), 5)
        end = await proxy.wait_for("ws.closed")
    assert closed.value.rcvd is None  # no close frame: 1006 on the client side
    assert (end["close_code"], end["clean"], end["closed_by"]) == (1006, False, "proxy")


async def test_stall_holds_server_messages_then_delivers_them(tmp_path, confdir):
    """stall server_to_client for 0.4 s: the echo arrives only after the stall ends, and is not
    counted as dropped."""
    async with fault_session(
        tmp_path,
        confdir,
        "rules:\n  - id: freeze\n    action: {stall: {direction: server_to_client, for_s: 0.4}}\n",
    ) as proxy:
        async with connect(f"ws://127.0.0.1:{proxy.port}/echo") as ws:
            started = time.monotonic()
            await ws.send("are you there?")
            reply = await asyncio.wait_for(ws.recv(), 5)
            waited = time.monotonic() - started
        end = await proxy.wait_for("ws.closed")
    assert reply == "are you there?"
    assert 0.35 <= waited < 4
    assert (end["messages"], end["dropped"]) == (
        {"client": 1, "server": 1},
        {"client": 0, "server": 0},
    )


#: 10001 bytes: every 4000-byte cut falls inside a two-byte character.
LONG_TEXT = "a" + "é" * 5000


async def _echo_exchange(port: int, sent: list[str], expect: int, path: str = "/echo") -> list[str]:
    """Send `sent` to the echo upstream, collect `expect` replies (bounded by a timeout)."""
    async with connect(f"ws://127.0.0.1:{port}{path}") as ws:
        for text in sent:
            await ws.send(text)
        return [await asyncio.wait_for(ws.recv(), 5) for _ in range(expect)]


@pytest.mark.parametrize(
    ("action", "sent", "expected"),
    [
        ("{do: drop, pattern: '^drop'}", ["drop me", "keep me"], ["keep me"]),
        ("{do: drop, pattern: '^é'}", ["éa", "ae"], ["ae"]),
        ("{do: duplicate, direction: server_to_client}", ["twice"], ["twice", "twice"]),
        ("{do: truncate, truncate_to: 3, direction: server_to_client}", ["hello"], ["hel"]),
        ("{do: delay, delay_ms: 300, pattern: '^late'}", ["late", "early"], ["early", "late"]),
        # Injected again by wswatch: mitmproxy would cut these inside a character every 4000 bytes.
        ("{do: duplicate, direction: server_to_client}", [LONG_TEXT], [LONG_TEXT, LONG_TEXT]),
        ("{do: delay, delay_ms: 50}", [LONG_TEXT], [LONG_TEXT]),
        ("{stall: {direction: server_to_client, for_s: 0.3}}", [LONG_TEXT], [LONG_TEXT]),
    ],
    ids=[
        "drop",
        "drop-non-ascii-pattern",
        "duplicate",
        "truncate",
        "delay",
        "duplicate-long-text",
        "delay-long-text",
        "stall-long-text",
    ],
)
async def test_message_faults_change_what_the_client_receives(
    tmp_path, confdir, action, sent, expected
):
    """messages: drop, duplicate, truncate and delay, matched by direction and pattern; a long
    non-ASCII text sent again by wswatch arrives intact."""
    rule = action if action.startswith("{stall") else f"{{messages: {action}}}"
    async with fault_session(
        tmp_path, confdir, f"rules:\n  - id: mangle\n    action: {rule}\n"
    ) as proxy:
        received = await _echo_exchange(proxy.port, sent, len(expected))
        end = await proxy.wait_for("ws.closed")
    assert received == expected
    assert end["injected"] is True and end["rule_id"] == "mangle"


@pytest.mark.parametrize("compression", [None, "deflate"])
@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("ééééé", 5, "éé"),
        # Longer than mitmproxy's 4000-byte fragments, cut inside a character.
        ("a" + "é" * 5000, 9000, "a" + "é" * 4499),
        ("x😀y", 4, "x"),
    ],
    ids=["short", "long", "emoji"],
)
async def test_truncated_text_arrives_as_the_exact_valid_prefix_without_replacement_characters(
    tmp_path, confdir, compression, text, limit, expected
):
    """truncate_to N on text: the client gets the longest whole-character prefix of at most N
    bytes, as a text message, with and without permessage-deflate."""
    async with fault_session(
        tmp_path,
        confdir,
        "rules:\n  - id: cut\n    action: {messages: "
        f"{{do: truncate, truncate_to: {limit}, direction: server_to_client, type: text}}}}\n",
    ) as proxy:
        async with connect(
            f"ws://127.0.0.1:{proxy.port}/echo", compression=compression, max_size=None
        ) as ws:
            await ws.send(text)
            received = await asyncio.wait_for(ws.recv(), 5)
            await ws.send(b"binary passes")
            assert await asyncio.wait_for(ws.recv(), 5) == b"binary passes"
            negotiated = [extension.name for extension in ws.protocol.extensions]
    assert received == expected
    assert negotiated == ([] if compression is None else ["permessage-deflate"])


def _flipped_positions(sent: bytes, received: bytes) -> list[int]:
    assert len(received) == len(sent)
    flipped = [i for i, (a, b) in enumerate(zip(sent, received, strict=True)) if a != b]
    assert all(received[i] == sent[i] ^ 0xFF for i in flipped)
    return flipped


@pytest.mark.parametrize("compression", [None, "deflate"])
async def test_corrupted_text_makes_a_real_client_close_with_1007(tmp_path, confdir, compression):
    """corrupt on text toward the client: it gets invalid UTF-8 in a text frame and, as RFC 6455
    section 8.1 requires, fails the connection with 1007; ws.closed says so."""
    async with fault_session(
        tmp_path,
        confdir,
        "rules:\n  - id: rot\n    action: {messages: {do: corrupt, direction: server_to_client}}\n",
    ) as proxy:
        async with connect(f"ws://127.0.0.1:{proxy.port}/echo", compression=compression) as ws:
            await ws.send("a" * 640)
            with pytest.raises(websockets.ConnectionClosedError) as closed:
                await asyncio.wait_for(ws.recv(), 5)
        end = await proxy.wait_for("ws.closed")
    assert closed.value.sent.code == 1007
    assert "invalid start byte" in closed.value.sent.reason
    assert (end["close_code"], end["closed_by"], end["rule_id"]) == (1007, "client", "rot")


def _raw_text_exchange(url: str, sent: str) -> tuple[int, bytes]:
    """Send `sent`, return the opcode and the exact payload bytes of the reply (no UTF-8 check)."""
    client = websocket_client.create_connection(url, timeout=5, skip_utf8_validation=True)
    try:
        client.send(sent)
        opcode, payload = client.recv_data()
    finally:
        client.close()
    return opcode, payload


async def test_corrupted_text_arrives_as_the_flipped_bytes_exactly(tmp_path, confdir):
    """corrupt on text: a client that skips UTF-8 checks reads a text frame whose bytes are the
    sent ones with one in 64 flipped (0xFF), not replacement characters."""
    sent = "a" * 640
    async with fault_session(
        tmp_path,
        confdir,
        "rules:\n  - id: rot\n    action: {messages: {do: corrupt, direction: server_to_client}}\n",
    ) as proxy:
        opcode, received = await asyncio.to_thread(
            _raw_text_exchange, f"ws://127.0.0.1:{proxy.port}/echo", sent
        )
    assert opcode == websocket_client.ABNF.OPCODE_TEXT
    assert len(_flipped_positions(sent.encode(), received)) == 10
    assert b"\xef\xbf\xbd" not in received  # no U+FFFD
    with pytest.raises(UnicodeDecodeError):
        received.decode("utf-8")


async def test_corrupted_text_toward_the_server_makes_it_close_with_1007(tmp_path, confdir):
    """corrupt on text toward the upstream (masked frames): the real server fails the
    connection with 1007, which reaches the client."""
    async with fault_session(
        tmp_path,
        confdir,
        "rules:\n  - id: rot\n    action: {messages: {do: corrupt, direction: client_to_server}}\n",
    ) as proxy:
        async with connect(f"ws://127.0.0.1:{proxy.port}/echo") as ws:
            await ws.send("é" * 100)
            with pytest.raises(websockets.ConnectionClosedError) as closed:
                await asyncio.wait_for(ws.recv(), 5)
        end = await proxy.wait_for("ws.closed")
    assert closed.value.rcvd.code == 1007
    assert (end["close_code"], end["closed_by"]) == (1007, "server")


async def test_corrupt_flips_bytes_of_binary_messages(tmp_path, confdir):
    """messages corrupt: the binary echo differs from what was sent, with the same length."""
    payload = bytes(range(256))
    async with fault_session(
        tmp_path,
        confdir,
        "rules:\n  - id: bitrot\n    action: {messages: {do: corrupt, type: binary, direction: server_to_client}}\n",
    ) as proxy:
        async with connect(f"ws://127.0.0.1:{proxy.port}/echo") as ws:
            await ws.send(payload)
            echoed = await asyncio.wait_for(ws.recv(), 5)
            await ws.send("text passes")
            assert await asyncio.wait_for(ws.recv(), 5) == "text passes"
    assert len(echoed) == len(payload) and echoed != payload


@pytest.mark.parametrize(
    ("action", "sent", "expected", "dropped"),
    [
        ("{do: drop, pattern: '^drop'}", ["drop me", "keep me"], ["keep me"], 1),
        # Held back and delivered later: delayed, not dropped.
        ("{do: delay, delay_ms: 200, pattern: '^late'}", ["late", "early"], ["early", "late"], 0),
    ],
    ids=["drop", "delay"],
)
async def test_closed_event_counts_dropped_messages_but_not_delayed_ones(
    tmp_path, confdir, action, sent, expected, dropped
):
    """ws.closed: `dropped` counts the client's messages a fault swallowed; a delayed one that
    was delivered is not dropped; `messages` counts every message received."""
    async with fault_session(
        tmp_path, confdir, f"rules:\n  - id: lossy\n    action: {{messages: {action}}}\n"
    ) as proxy:
        received = await _echo_exchange(proxy.port, sent, len(expected))
        end = await proxy.wait_for("ws.closed")
    assert received == expected
    assert end["messages"] == {"client": len(sent), "server": len(expected)}
    assert end["dropped"] == {"client": dropped, "server": 0}


async def test_closed_event_counts_a_delayed_message_as_dropped_when_the_connection_ends_first(
    tmp_path, confdir
):
    """delay 5 s, then the client closes at once: the held message was never delivered."""
    async with fault_session(
        tmp_path,
        confdir,
        "rules:\n  - id: slow\n    action: {messages: {do: delay, delay_ms: 5000}}\n",
    ) as proxy:
        async with connect(f"ws://127.0.0.1:{proxy.port}/echo") as ws:
            await ws.send("never arrives")
        end = await proxy.wait_for("ws.closed")
    assert end["messages"] == {"client": 1, "server": 0}
    assert end["dropped"] == {"client": 1, "server": 0}


async def _wait_until(condition, timeout: float = 5) -> None:
    """Poll `condition` every 20 ms, failing after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_closed_event_counts_messages_a_stall_without_end_swallowed(tmp_path, confdir):
    """stall server_to_client with no for_s: the server's echoes reach the proxy and are counted
    as dropped per direction; the client's messages passed."""
    async with fault_session(
        tmp_path,
        confdir,
        "rules:\n  - id: freeze\n    action: {stall: {direction: server_to_client}}\n",
    ) as proxy:
        async with connect(f"ws://127.0.0.1:{proxy.port}/echo") as ws:
            await ws.send("one")
            await ws.send("two")
            [flow] = [f for f in proxy.flows if f.websocket is not None]
            await _wait_until(lambda: sum(not m.from_client for m in flow.websocket.messages) == 2)
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(ws.recv(), 0.2)
        end = await proxy.wait_for("ws.closed")
    assert end["messages"] == {"client": 2, "server": 2}
    assert end["dropped"] == {"client": 0, "server": 2}


async def test_suppressed_pongs_make_the_client_heartbeat_time_out(tmp_path, confdir):
    """pongs suppress: the client's keepalive ping gets no pong and it closes with 1011."""
    async with fault_session(
        tmp_path, confdir, "rules:\n  - id: no-pong\n    action: {pongs: {do: suppress}}\n"
    ) as proxy:
        async with connect(
            f"ws://127.0.0.1:{proxy.port}/echo", ping_interval=0.2, ping_timeout=0.5
        ) as ws:
            with pytest.raises(websockets.ConnectionClosedError) as closed:
                await asyncio.wait_for(ws.recv(), 10)
        end = await proxy.wait_for("ws.closed")
    assert closed.value.sent.code == 1011 and "keepalive ping timeout" in closed.value.sent.reason
    assert end["injected"] is True and end["closed_by"] == "client"


async def test_pongs_pass_without_a_pong_fault(tmp_path, confdir):
    """Control for the pong tests: with no fault, five pings in a row each get their pong."""
    async with fault_session(tmp_path, confdir, None) as proxy:
        async with connect(f"ws://127.0.0.1:{proxy.port}/echo", ping_interval=None) as ws:
            latencies = [await asyncio.wait_for(await ws.ping(), 2) for _ in range(5)]
    assert len(latencies) == 5 and max(latencies) < 0.4


async def test_delayed_pongs_arrive_late(tmp_path, confdir):
    """pongs delay 400 ms: the client measures a ping round trip of at least 0.4 s."""
    async with (
        fault_session(
            tmp_path,
            confdir,
            "rules:\n  - id: slow-pong\n    action: {pongs: {do: delay, delay_ms: 400}}\n",
        ) as proxy,
        connect(f"ws://127.0.0.1:{proxy.port}/echo", ping_interval=None) as ws,
    ):
        latency = await asyncio.wait_for(await ws.ping(), 5)
        await ws.send("after the pong")
        assert await asyncio.wait_for(ws.recv(), 5) == "after the pong"
    assert 0.4 <= latency < 3


async def test_throttle_limits_bytes_per_second(tmp_path, confdir):
    """throttle 6000 B/s toward the client: three 1000-byte echoes take at least ~0.3 s."""
    async with fault_session(
        tmp_path,
        confdir,
        "rules:\n  - id: slow-link\n    action: {throttle: {bytes_per_s: 6000, direction: server_to_client}}\n",
    ) as proxy:
        started = time.monotonic()
        received = await _echo_exchange(proxy.port, ["x" * 1000] * 3, 3)
        took = time.monotonic() - started
    assert received == ["x" * 1000] * 3
    assert 0.3 <= took < 5


async def test_client_requested_fault_is_applied_and_its_header_stripped(tmp_path, confdir):
    """x-wswatch-fault (option on): reject=503 is applied; a pass-through fault's header never
    reaches the upstream."""
    async with fault_session(tmp_path, confdir, None, wswatch_fault_header=True) as proxy:
        error = await handshake_error(
            f"ws://127.0.0.1:{proxy.port}/echo",
            additional_headers={"x-wswatch-fault": "reject=503"},
        )
        async with connect(
            f"ws://127.0.0.1:{proxy.port}/headers",
            additional_headers={"x-wswatch-fault": "delay=10"},
        ) as ws:
            upstream_saw = json.loads(await asyncio.wait_for(ws.recv(), 5))
        rejected = await proxy.wait_for("ws.handshake", lambda e: e["status"] == 503)
    assert isinstance(error, websockets.InvalidStatus) and error.response.status_code == 503
    assert (rejected["injected"], rejected["rule_id"]) == (True, "client-requested")
    assert "x-wswatch-fault" not in upstream_saw and "upgrade" in upstream_saw


async def test_client_fault_header_is_ignored_and_passed_on_when_the_option_is_off(
    tmp_path, confdir
):
    """By default the header is just a header: no fault, and the upstream receives it."""
    async with fault_session(tmp_path, confdir, None) as proxy:
        async with connect(
            f"ws://127.0.0.1:{proxy.port}/headers",
            additional_headers={"x-wswatch-fault": "reject=503"},
        ) as ws:
            upstream_saw = json.loads(await asyncio.wait_for(ws.recv(), 5))
        event = await proxy.wait_for("ws.handshake")
    assert "x-wswatch-fault" in upstream_saw
    assert event["outcome"] == "accepted" and event["injected"] is False


async def test_bad_client_fault_header_gets_a_400_that_says_why(tmp_path, confdir):
    """An unparseable fault header is answered 400 with the validation message."""
    async with fault_session(tmp_path, confdir, None, wswatch_fault_header=True) as proxy:
        error = await handshake_error(
            f"ws://127.0.0.1:{proxy.port}/echo",
            additional_headers={"x-wswatch-fault": "reject=101"},
        )
    assert isinstance(error, websockets.InvalidStatus) and error.response.status_code == 400
    assert error.response.body.decode() == (
        "wswatch: x-wswatch-fault header: reject.status: must be between 100 and 599 (not 101), got 101\n"
    )


@pytest.fixture
def fast_reload(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rule files polled every 50 ms instead of every second (the in-process proxy's module)."""
    monkeypatch.setattr(rulebook, "RELOAD_POLL_S", 0.05)


def _rewrite(path: str, text: str, bump_ns: int) -> None:
    """Write new rules and move the mtime forward explicitly (coarse clocks must not hide it)."""
    Path(path).write_text(text)
    stat = Path(path).stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + bump_ns))


async def _status(port: int) -> int:
    error = await handshake_error(f"ws://127.0.0.1:{port}/echo")
    assert isinstance(error, websockets.InvalidStatus)
    return error.response.status_code


async def test_rules_reload_on_change_and_a_bad_change_keeps_the_last_good_rules(
    tmp_path, confdir, fast_reload
):
    """Valid edit: applied. Invalid edit: reported (file, rule, field) and the old rules stay."""
    faults = str(tmp_path / "faults.yaml")  # where fault_session writes the rules
    async with fault_session(
        tmp_path, confdir, "rules:\n  - id: gate\n    action: {reject: {status: 503}}\n"
    ) as proxy:
        assert await _status(proxy.port) == 503
        _rewrite(faults, "rules:\n  - id: gate\n    action: {reject: {status: 418}}\n", 10**9)
        await proxy.wait_for(
            "fault.rules_loaded", lambda e: len(proxy.events("fault.rules_loaded")) >= 2
        )
        assert await _status(proxy.port) == 418
        _rewrite(
            faults, "rules:\n  - id: gate\n    action: {reject: {status: 'soon'}}\n", 2 * 10**9
        )
        rejected = await proxy.wait_for("fault.rules_rejected")
        assert await _status(proxy.port) == 418
    assert (
        rejected["error"]
        == f"{faults}: rule 'gate': action.reject.status: must be an integer, got 'soon'"
    )
    assert rejected["kept"] == ["gate"]


async def test_a_bad_script_on_reload_keeps_the_last_good_rules(tmp_path, confdir, fast_reload):
    """A script edited into one that sends no body is refused, naming its step; the rules
    before it stay in force."""
    faults = str(tmp_path / "faults.yaml")
    async with fault_session(
        tmp_path, confdir, "rules:\n  - id: gate\n    action: {reject: {status: 503}}\n"
    ) as proxy:
        _rewrite(
            faults,
            "rules:\n  - id: gate\n    action:\n      script:\n        - send: {to: client}\n",
            10**9,
        )
        rejected = await proxy.wait_for("fault.rules_rejected")
        assert await _status(proxy.port) == 503
    assert rejected["error"] == (
        f"{faults}: rule 'gate': action.script[1].send: needs exactly one of text, json, binary_b64"
    )
    assert rejected["kept"] == ["gate"]


async def test_faults_never_touch_flows_their_rule_does_not_match(tmp_path, confdir):
    """A rule for /v1/listen with header x-test-case: bad-key leaves every other request alone."""
    async with fault_session(
        tmp_path,
        confdir,
        "rules:\n  - id: targeted\n    match: {path: /v1/listen, headers: {x-test-case: bad-*}}\n"
        "    action: {reject: {status: 401}}\n",
    ) as proxy:
        hit = await handshake_error(
            f"ws://127.0.0.1:{proxy.port}/v1/listen", additional_headers={"x-test-case": "bad-key"}
        )
        for path, headers in (
            ("/v1/listen", {"x-test-case": "good"}),
            ("/echo", {"x-test-case": "bad-key"}),
        ):
            async with connect(
                f"ws://127.0.0.1:{proxy.port}{path}", additional_headers=headers
            ) as ws:
                await ws.send("ok")
                assert await asyncio.wait_for(ws.recv(), 5) == "ok"
        await proxy.wait_for("ws.closed", lambda e: len(proxy.events("ws.closed")) == 2)
    assert isinstance(hit, websockets.InvalidStatus) and hit.response.status_code == 401
    injected = [(e["event"], e.get("path")) for e in proxy.events() if e.get("injected") is True]
    assert injected == [("ws.handshake", "/v1/listen")]
    assert len(proxy.events("fault.injected")) == 1


async def test_runtime_commands_list_disable_enable_and_reset_a_rule(tmp_path, confdir):
    """wswatch.faults lists counters; disable stops a rule, enable restores it, reset zeroes it."""
    async with fault_session(
        tmp_path, confdir, "rules:\n  - id: gate\n    action: {reject: {status: 503}}\n"
    ) as proxy:
        commands = proxy.master.commands
        assert await _status(proxy.port) == 503
        commands.call("wswatch.fault.disable", "gate")
        async with connect(f"ws://127.0.0.1:{proxy.port}/echo"):
            pass
        listing = commands.call("wswatch.faults")
        commands.call("wswatch.fault.enable", "gate")
        assert await _status(proxy.port) == 503
        commands.call("wswatch.fault.reset", "gate")
        after_reset = commands.call("wswatch.faults")
        with pytest.raises(Exception, match="No fault rule 'nope'"):
            commands.call("wswatch.fault.disable", "nope")
    row = listing.splitlines()[1].split()
    assert row[:5] == ["gate", "no", "1", "1", "0"]
    assert after_reset.splitlines()[1].split()[:5] == ["gate", "yes", "0", "0", "0"]


async def test_connection_fault_for_a_rejected_upgrade_leaves_no_state_behind(tmp_path, confdir):
    """A client asks for a close fault but the upstream answers 400: nothing stays armed."""
    async with fault_session(tmp_path, confdir, None, wswatch_fault_header=True) as proxy:
        error = await handshake_error(
            f"ws://127.0.0.1:{proxy.port}/bad400",
            additional_headers={"x-wswatch-fault": "close=4001;after_messages=1"},
        )
        await proxy.wait_for("ws.handshake")
        connection_faults = proxy.master.addons.get("wswatch").part("connectionfaults")
        handshake_faults = proxy.master.addons.get("wswatch").part("handshakefaults")
        assert isinstance(error, websockets.InvalidStatus) and error.response.status_code == 400
        assert connection_faults.parked == {} and connection_faults.live == {}
        assert handshake_faults.pending_101 == {}


@contextlib.asynccontextmanager
async def echo_server_noting_closes() -> AsyncIterator[tuple[int, list[int | None]]]:
    """An echo upstream that notes, per connection, the close code it saw (1006: no frame)."""
    seen: list[int | None] = []

    async def echo(connection) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for message in connection:
                await connection.send(message)
        seen.append(connection.close_code)

    async with websockets.serve(echo, "127.0.0.1", 0) as server:
        yield server.sockets[0].getsockname()[1], seen


async def test_drop_gives_both_peers_1006_even_with_faithful_close_off(tmp_path, confdir):
    """wswatch_faithful_close=false only concerns drops by a peer: a drop fault still reaches
    both peers as a dropped connection (1006), never as mitmproxy's clean close 1000."""
    faults = rules_file(tmp_path, "rules:\n  - id: yank\n    action: {drop: {after_messages: 1}}\n")
    async with (
        echo_server_noting_closes() as (up, server_saw),
        running_proxy(
            tmp_path,
            f"reverse:http://127.0.0.1:{up}",
            confdir,
            wswatch_faults=[faults],
            wswatch_faithful_close=False,
        ) as proxy,
    ):
        async with connect(f"ws://127.0.0.1:{proxy.port}/echo") as ws:
            await ws.send("hello")
            with pytest.raises(websockets.ConnectionClosedError) as closed:
                await asyncio.wait_for(ws.recv(), 5)
                await asyncio.wait_for(ws.recv(), 5)
        end = await proxy.wait_for("ws.closed")
        await _wait_until(lambda: len(server_saw) == 1)
    assert closed.value.rcvd is None  # the client got no close frame
    assert server_saw == [1006]
    assert (end["close_code"], end["closed_by"]) == (1006, "proxy")
