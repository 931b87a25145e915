"""End to end through real mitmproxy: client ids across reconnects, the time since a client's
previous attempt and close, and when each side of a connection last spoke and fell silent."""

from __future__ import annotations

import datetime
import re
import time

from proxy_harness import RunningProxy, scenario_proxy
from websockets.asyncio.client import connect

API_KEY = "dgkey-IDENTITY-e2e-3c4d5e6f"
OTHER_KEY = "dgkey-OTHER-e2e-7a8b9c0d"
HASHED = re.compile(r"^c-[0-9a-f]{12}$")
#: Rounding to milliseconds moves each reported time by at most half of this.
MS = 0.001


def _epoch(timestamp: str) -> float:
    """An event's ISO 8601 `...Z` time as epoch seconds."""
    return datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


async def _echo_once(url: str, **connect_args) -> None:
    """Connect, send one message, receive its echo, close."""
    async with connect(url, **connect_args) as ws:
        await ws.send("ping me")
        await ws.recv()


async def _closed_after(proxy: RunningProxy, seen: list[dict]) -> dict:
    """The next ws.closed not in `seen` (appended to it)."""
    known = {event["flow_id"] for event in seen}
    event = await proxy.wait_for("ws.closed", lambda e: e["flow_id"] not in known)
    seen.append(event)
    return event


async def test_reconnect_with_the_same_credential_is_one_client_timed_from_its_last_close(
    tmp_path, confdir
):
    """Same IP, agent and key: one client_id, and the reconnect's since_previous_* lie between
    the gap the test enforced and the wall-clock time it measured; another key is another
    client; neither key is written anywhere."""
    closed: list[dict] = []
    async with scenario_proxy(tmp_path, confdir) as proxy:
        url = f"ws://127.0.0.1:{proxy.port}/echo?model=nova"
        mine = {"additional_headers": {"Authorization": f"Token {API_KEY}"}}
        before_first = time.time()
        await _echo_once(url, **mine)
        first_closed = await _closed_after(proxy, closed)
        first_close_seen = time.time()
        # The enforced gap: another client's whole connection, until its ws.closed is written.
        await _echo_once(url, additional_headers={"Authorization": f"Token {OTHER_KEY}"})
        await _closed_after(proxy, closed)
        before_reconnect = time.time()
        await _echo_once(url, **mine)
        after_reconnect = time.time()
        third_closed = await _closed_after(proxy, closed)
    first, other, reconnect = proxy.events("ws.handshake")
    assert HASHED.match(first["client_id"]) and HASHED.match(other["client_id"])
    assert reconnect["client_id"] == first["client_id"] != other["client_id"]
    assert [e["client_id"] for e in closed] == [e["client_id"] for e in (first, other, reconnect)]
    for newcomer in (first, other):
        assert (newcomer["since_previous_attempt_s"], newcomer["since_previous_close_s"]) == (
            None,
            None,
        )
    since_attempt = reconnect["since_previous_attempt_s"]
    since_close = reconnect["since_previous_close_s"]
    assert before_reconnect - first_close_seen - MS <= since_close <= since_attempt
    assert since_attempt - since_close >= first_closed["duration_s"] - 2 * MS
    assert since_attempt <= after_reconnect - before_first + MS
    assert before_reconnect - MS <= _epoch(reconnect["started"]) <= after_reconnect
    assert _epoch(third_closed["ts"]) >= _epoch(reconnect["started"])
    written = proxy.log_path.read_text(encoding="utf-8")
    assert API_KEY not in written and OTHER_KEY not in written


async def test_client_key_header_gives_that_value_and_its_absence_the_default(tmp_path, confdir):
    """`header:x-client-id`: the header's value is the id whatever the credential; a request
    without the header gets the hashed default."""
    async with scenario_proxy(tmp_path, confdir, wswatch_client_key="header:X-Client-Id") as proxy:
        url = f"ws://127.0.0.1:{proxy.port}/echo"
        for key in (API_KEY, OTHER_KEY):
            headers = {"X-Client-Id": "load-test-7", "Authorization": f"Token {key}"}
            await _echo_once(url, additional_headers=headers)
        await _echo_once(url, additional_headers={"Authorization": f"Token {API_KEY}"})
        await proxy.wait_for("ws.closed", lambda e: HASHED.match(e["client_id"]) is not None)
    ids = [event["client_id"] for event in proxy.events("ws.handshake")]
    assert ids[:2] == ["load-test-7", "load-test-7"] and HASHED.match(ids[2]), ids
    assert proxy.events("ws.handshake")[1]["since_previous_attempt_s"] is not None


async def test_secret_named_client_key_is_hashed_not_written(tmp_path, confdir):
    """`query:token` names a secret: the id is the salted hash of its value (the same from two
    User-Agents), and the token appears in no event."""
    async with scenario_proxy(tmp_path, confdir, wswatch_client_key="query:token") as proxy:
        url = f"ws://127.0.0.1:{proxy.port}/echo?token={API_KEY}"
        await _echo_once(url, user_agent_header="agent-one")
        await _echo_once(url, user_agent_header="agent-two")
        await proxy.wait_for("ws.closed", lambda _: len(proxy.events("ws.closed")) == 2)
    one, two = proxy.events("ws.handshake")
    assert HASHED.match(one["client_id"]) and one["client_id"] == two["client_id"]
    assert API_KEY not in proxy.log_path.read_text(encoding="utf-8")


async def test_client_silence_while_waiting_is_its_longest_gap(tmp_path, confdir):
    """A client that sends, then waits (for the echo and for another connection's whole life)
    before sending again has a longest client gap of at least that measured wait."""
    async with scenario_proxy(tmp_path, confdir) as proxy:
        url = f"ws://127.0.0.1:{proxy.port}/echo"
        async with connect(url) as ws:
            await ws.send("one")
            await ws.recv()
            echo_received = time.time()
            await _echo_once(url)
            await proxy.wait_for("ws.closed")
            before_two = time.time()
            await ws.send("two")
            await ws.recv()
        closed = await proxy.wait_for("ws.closed", lambda e: e["messages"]["client"] == 2)
    waited = before_two - echo_received
    longest, last = closed["longest_gap_s"], closed["last_message_s"]
    assert waited - MS <= longest["client"] <= closed["duration_s"] + MS
    assert waited - MS <= longest["server"]
    assert last["client"] <= last["server"] <= closed["duration_s"] + MS
    assert last["client"] >= waited - MS


async def test_server_that_never_sends_is_silent_for_the_whole_connection(tmp_path, confdir):
    """/count never answers: the server's last_message_s is null and its longest gap is the
    connection's duration."""
    async with scenario_proxy(tmp_path, confdir) as proxy:
        async with connect(f"ws://127.0.0.1:{proxy.port}/count") as ws:
            await ws.send("a")
            await ws.send("b")
        closed = await proxy.wait_for("ws.closed")
    assert closed["messages"] == {"client": 2, "server": 0}
    assert closed["last_message_s"]["server"] is None
    assert abs(closed["longest_gap_s"]["server"] - closed["duration_s"]) <= MS
    assert closed["last_message_s"]["client"] is not None
