"""Every connection action in every proxy mode: what the real client received, and that the log
claims no effect the client did not see.

A close fault once did nothing in regular mode (mitmproxy keeps a tunnelled connection's layers
where wswatch did not look) while `ws.closed` still said `closed_by: proxy, injected: true`.
Each test here runs in every mode of `mode_clients.MODES` and checks the client first, then the
events, and that no `fault.not_applied` was needed.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from mode_clients import MODES, ClientSawClose, ModeClient, mode_session
from proxy_harness import RunningProxy

pytestmark = pytest.mark.parametrize("mode", MODES)

#: Session second of the `at_s` moment: after every mode's client has connected (checked).
MOMENT_S = 1.5


def rules(tmp_path: Path, action: str, when: str = "") -> list[str]:
    path = tmp_path / "faults.yaml"
    when_line = f"    when: {when}\n" if when else ""
    path.write_text(f"rules:\n  - id: under-test\n{when_line}    action: {action}\n")
    return [str(path)]


async def saw_close(client: ModeClient, timeout: float = 10) -> ClientSawClose:
    """How the connection ended under `client`, read within `timeout` seconds."""
    with pytest.raises(ClientSawClose) as closed:
        for _ in range(10):  # a few messages may still be in flight; bounded
            await client.recv(timeout)
    return closed.value


async def closed_event(proxy: RunningProxy) -> dict:
    """The one ws.closed after the test's connection, and no fault that failed to act."""
    event = await proxy.wait_for("ws.closed")
    assert proxy.events("fault.not_applied") == []
    return event


@pytest.mark.parametrize(
    ("action", "seen", "ended"),
    [
        (
            "{close: {code: 4001, reason: bye, after_messages: 3}}",
            (4001, "bye"),
            (4001, "bye", True),
        ),
        # Toward the server: the upstream answers the Close it got, and the client gets that.
        (
            "{close: {code: 4002, reason: server-bound, after_messages: 3, toward: server}}",
            (4002, "server-bound"),
            (4002, "server-bound", True),
        ),
        # No close frame reaches the client: it reports 1006.
        ("{drop: {after_messages: 3}}", (None, ""), (1006, None, False)),
    ],
    ids=["close-toward-client", "close-toward-server", "drop"],
)
async def test_close_and_drop_reach_the_client_as_the_rule_says(
    mode, tmp_path, confdir, action, seen, ended
):
    """A close (or drop) after the client's 2nd message (the 3rd in all, both ways counted):
    the client sees exactly that close; ws.closed says the proxy closed, injected by the rule."""
    async with mode_session(mode, tmp_path, confdir, wswatch_faults=rules(tmp_path, action)) as s:
        async with s.open() as client:
            await client.send("second")
            closed = await saw_close(client)
        end = await closed_event(s.proxy)
    assert (closed.code, closed.reason) == seen
    assert (end["close_code"], end["close_reason"], end["clean"]) == ended
    assert (end["closed_by"], end["injected"], end["rule_id"]) == ("proxy", True, "under-test")


async def test_stall_holds_the_servers_messages_for_its_time(mode, tmp_path, confdir):
    """stall server_to_client 0.6 s from the client's 2nd message: the next echo waits at least that."""
    action = "{stall: {direction: server_to_client, after_messages: 3, for_s: 0.6}}"
    async with mode_session(mode, tmp_path, confdir, wswatch_faults=rules(tmp_path, action)) as s:
        async with s.open() as client:
            started = time.monotonic()
            await client.send("held")
            reply = await client.recv()
            waited = time.monotonic() - started
        end = await closed_event(s.proxy)
    assert reply == "held" and waited >= 0.5
    assert end["dropped"] == {"client": 0, "server": 0}


@pytest.mark.parametrize(
    ("messages", "sent", "expected"),
    [
        ("{do: drop, pattern: '^drop'}", ["drop me", "keep me"], ["keep me"]),
        (
            "{do: drop, match: {json: {type: KeepAlive}}}",
            ['{"type": "KeepAlive"}', '{"type": "Audio"}'],
            ['{"type": "Audio"}'],
        ),
        ("{do: duplicate, direction: server_to_client, pattern: twice}", ["twice"], ["twice"] * 2),
        ("{do: delay, delay_ms: 300, pattern: '^late'}", ["late", "early"], ["early", "late"]),
        (
            "{do: truncate, truncate_to: 3, direction: server_to_client, pattern: '^cut'}",
            ["cutting"],
            ["cut"],
        ),
    ],
    ids=["drop", "drop-json-match", "duplicate", "delay", "truncate"],
)
async def test_message_faults_change_what_the_client_receives(
    mode, tmp_path, confdir, messages, sent, expected
):
    """messages drop / duplicate / delay / truncate, each matched by pattern."""
    action = f"{{messages: {messages}}}"
    async with mode_session(mode, tmp_path, confdir, wswatch_faults=rules(tmp_path, action)) as s:
        async with s.open() as client:
            for text in sent:
                await client.send(text)
            received = [await client.recv() for _ in expected]
        end = await closed_event(s.proxy)
    assert received == expected
    assert end["injected"] is True


async def ping_then_echo(client: ModeClient) -> asyncio.Future[None]:
    """Ping, then send a message and read its echo; the ping's pong waiter is returned. The
    server answered the ping first, so without a pong fault its pong is read by then."""
    waiter = await client.ping()
    await client.send("after the ping")
    assert await client.recv() == "after the ping"
    return waiter


@pytest.mark.parametrize(
    ("action", "answered"),
    [("{pongs: {do: suppress}}", False), (None, True)],
    ids=["suppressed", "control"],
)
async def test_a_suppressed_pong_never_reaches_the_client(
    mode, tmp_path, confdir, action, answered
):
    """pongs suppress: a ping sent before a message has no pong when that message's echo
    arrives; without a rule (the control) the pong comes first."""
    faults = {"wswatch_faults": rules(tmp_path, action)} if action else {}
    async with mode_session(mode, tmp_path, confdir, **faults) as s:
        async with s.open() as client:
            waiter = await ping_then_echo(client)
            seen = waiter.done()
        await closed_event(s.proxy)
    assert seen is answered


async def test_delayed_pong_arrives_after_later_messages(mode, tmp_path, confdir):
    """pongs delay 400 ms: the echo of a message sent after the ping overtakes its pong, which
    still arrives, at least 0.4 s after the ping."""
    action = "{pongs: {do: delay, delay_ms: 400}}"
    async with mode_session(mode, tmp_path, confdir, wswatch_faults=rules(tmp_path, action)) as s:
        async with s.open() as client:
            started = time.monotonic()
            waiter = await ping_then_echo(client)
            overtaken = not waiter.done()
            await client.pong(waiter)
            waited = time.monotonic() - started
        await closed_event(s.proxy)
    assert overtaken and waited >= 0.35


async def test_throttle_spaces_the_servers_messages(mode, tmp_path, confdir):
    """throttle 6000 B/s toward the client: three 1000-byte echoes take at least 0.3 s."""
    action = "{throttle: {bytes_per_s: 6000, direction: server_to_client}}"
    async with mode_session(mode, tmp_path, confdir, wswatch_faults=rules(tmp_path, action)) as s:
        async with s.open() as client:
            started = time.monotonic()
            for _ in range(3):
                await client.send("x" * 1000)
            received = [await client.recv() for _ in range(3)]
            took = time.monotonic() - started
        await closed_event(s.proxy)
    assert received == ["x" * 1000] * 3 and took >= 0.3


async def test_at_s_moment_closes_the_open_connection(mode, tmp_path, confdir):
    """close 1012 at a session second: the client, connected before it, receives 1012."""
    action = "{close: {code: 1012, reason: restart}}"
    async with mode_session(
        mode, tmp_path, confdir, wswatch_faults=rules(tmp_path, action, f"{{at_s: {MOMENT_S}}}")
    ) as s:
        async with s.open() as client:
            elapsed = s.proxy.master.addons.get("wswatch").part("faultrules").schedule.elapsed()
            assert elapsed < MOMENT_S, f"connected at {elapsed:.2f} s, after the moment"
            seen = await saw_close(client)
        end = await closed_event(s.proxy)
    assert (seen.code, seen.reason) == (1012, "restart")
    assert (end["close_code"], end["closed_by"], end["rule_id"]) == (1012, "proxy", "under-test")


@pytest.mark.parametrize(
    ("relay", "tcp_flows"),
    [("observe", False), ("observe", True), ("websocket", False)],
    ids=["observe", "observe-tcp-flow", "websocket"],
)
@pytest.mark.parametrize(("code", "expected"), [(4003, 4003), (1006, None)], ids=["4003", "1006"])
async def test_disconnect_all_closes_the_open_connection(
    mode, relay, tcp_flows, code, expected, tmp_path, confdir
):
    """wswatch.disconnect_all 4003 (or 1006: no frame) on either relay path, the observe relay
    with or without a TCP flow: the client sees it."""
    async with mode_session(mode, tmp_path, confdir, wswatch_relay=relay, tcp_flows=tcp_flows) as s:
        async with s.open() as client:
            reason = "" if code == 1006 else "going away"
            closed = s.proxy.master.commands.call("wswatch.disconnect_all", code, reason)
            seen = await saw_close(client)
        end = await closed_event(s.proxy)
    assert closed == 1
    assert seen.code == expected
    assert (end["close_code"], end["closed_by"], end["relay"]) == (code, "proxy", relay)
