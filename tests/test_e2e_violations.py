"""End to end: peers that break RFC 6455, behind real mitmproxy with wswatch, on 127.0.0.1.

A raw-socket client and a hand-written upstream send hand-built frames (tests/raw_frames.py).
Each test asserts what the real peers received and what `ws.closed` says: a close the proxy sent
because a peer broke the protocol is `closed_by: "proxy"` with the rule and the side; a close a
peer really sent is reported as that peer's, whatever its code and text.

Acting on a violation is the message layer's: these tests pin `wswatch_relay=websocket`. The
observe-only path (the default) names the violation, the side and a hint and never acts on it:
the observe tests below, and tests/relay/test_e2e_relay.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from proxy_harness import running_proxy
from raw_frames import (
    MASK,
    Frame,
    Opcode,
    client_frame,
    close_payload,
    frame,
    frames_in,
    read_frame,
    read_head,
    upgrade_request,
)
from upstreams import ScriptedUpstream, scripted_upstream
from wswatchlib.watch.hints import RAW_TCP_HINT

#: The relay that acts on protocol violations (the default, `auto`, would observe these).
MESSAGE_LAYER = {"wswatch_relay": "websocket"}


@dataclass(frozen=True)
class Broken:
    """Bytes that break RFC 6455, and the close wswatch must report for them."""

    data: bytes
    violation: str
    close_reason: str  # wsproto's text: the reason the proxy sent both peers
    close_code: int = 1002


SERVER_SENDS: dict[str, Broken] = {
    "close 999": Broken(
        frame(Opcode.CLOSE, close_payload(999)), "invalid_close_code", "CLOSE with invalid code"
    ),
    "close 5000": Broken(
        frame(Opcode.CLOSE, close_payload(5000)), "invalid_close_code", "CLOSE with invalid code"
    ),
    "close 1005": Broken(
        frame(Opcode.CLOSE, close_payload(1005)),
        "local_only_close_code",
        "remote CLOSE with local-only reason",
    ),
    "close 1015": Broken(
        frame(Opcode.CLOSE, close_payload(1015)),
        "local_only_close_code",
        "remote CLOSE with local-only reason",
    ),
    "masked frame": Broken(
        frame(Opcode.TEXT, b"hi", mask=MASK),
        "server_masked_frame",
        "client received unexpected masked frame",
    ),
    "garbage pipelined right after the 101": Broken(
        b"garbage after the handshake", "invalid_opcode", "Invalid opcode 0x7"
    ),
    "reserved opcode": Broken(
        frame(Opcode.RESERVED_DATA, b"x"), "invalid_opcode", "Invalid opcode 0x3"
    ),
    "text not utf-8": Broken(
        frame(Opcode.TEXT, b"\xff\xfe"),
        "invalid_utf8",
        "'utf-8' codec can't decode byte 0xff in position 0: invalid start byte",
        1007,
    ),
    "close reason not utf-8": Broken(
        frame(Opcode.CLOSE, close_payload(1000, b"\xc3")),
        "invalid_utf8_close_reason",
        "Error decoding CLOSE reason: 'utf-8' codec can't decode byte 0xc3 in position 0: "
        "unexpected end of data",
        1007,
    ),
    "ping of 126 bytes": Broken(
        frame(Opcode.PING, b"p" * 126),
        "control_frame_too_long",
        "Control frame with payload len > 125",
    ),
    "fragmented ping": Broken(
        frame(Opcode.PING, b"p", fin=False),
        "fragmented_control_frame",
        "Invalid attempt to fragment control frame",
    ),
    "rsv bits without extension": Broken(
        frame(Opcode.TEXT, b"hi", rsv=0b001), "reserved_bits_set", "Reserved bit set unexpectedly"
    ),
}

CLIENT_SENDS: dict[str, Broken] = {
    "unmasked frame": Broken(
        frame(Opcode.TEXT, b"hi"),
        "client_unmasked_frame",
        "server received unexpected unmasked frame",
    ),
    "reserved control opcode": Broken(
        client_frame(Opcode.RESERVED_CONTROL), "invalid_opcode", "Invalid opcode 0xb"
    ),
    "text not utf-8": Broken(
        client_frame(Opcode.TEXT, b"\xff\xfe"),
        "invalid_utf8",
        "'utf-8' codec can't decode byte 0xff in position 0: invalid start byte",
        1007,
    ),
    "close 1005": Broken(
        client_frame(Opcode.CLOSE, close_payload(1005)),
        "local_only_close_code",
        "remote CLOSE with local-only reason",
    ),
}


@contextlib.asynccontextmanager
async def upgraded_client(
    port: int, target: str = "/", *, version: int = 13, pipelined: bytes = b""
) -> AsyncIterator[tuple[str, asyncio.StreamReader, asyncio.StreamWriter]]:
    """A raw client that sent an upgrade (and `pipelined` bytes right behind it, before any
    answer) and read the answer's head; closed on exit."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(upgrade_request("127.0.0.1", target, version=version) + pipelined)
        status_line, _ = await asyncio.wait_for(read_head(reader), 5)
        yield status_line, reader, writer
    finally:
        writer.close()


async def frames_until_close(reader: asyncio.StreamReader, limit: int = 5) -> list[Frame]:
    """Frames a peer received, up to and including a close frame (at most `limit`, 5 s each)."""
    received: list[Frame] = []
    with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
        for _ in range(limit):
            received.append(await asyncio.wait_for(read_frame(reader), 5))
            if received[-1].opcode == Opcode.CLOSE:
                break
    return received


async def upstream_close(upstream: ScriptedUpstream, timeout: float = 5) -> Frame:
    """The close frame the upstream received, waiting for it up to `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if upstream.received:
            closes = [f for f in frames_in(bytes(upstream.received[0])) if f.opcode == Opcode.CLOSE]
            if closes:
                return closes[0]
        await asyncio.sleep(0.02)
    raise AssertionError(f"the upstream got no close frame: {upstream.received}")


def assert_proxy_closed_for(event: dict, broken: Broken, side: str) -> None:
    assert (event["closed_by"], event["violation"], event["violated_by"]) == (
        "proxy",
        broken.violation,
        side,
    )
    assert (event["close_code"], event["close_reason"], event["clean"]) == (
        broken.close_code,
        broken.close_reason,
        True,
    )
    assert event["hint"].startswith(f"The {side} ")


@pytest.mark.parametrize("name", SERVER_SENDS)
async def test_server_breaking_rfc6455_is_reported_as_a_proxy_close_not_a_server_close(
    tmp_path, confdir, name
):
    """The proxy closes both peers with wsproto's code; ws.closed names the server's broken rule."""
    broken = SERVER_SENDS[name]
    async with (
        scripted_upstream(with_101=broken.data) as upstream,
        running_proxy(
            tmp_path, f"reverse:http://127.0.0.1:{upstream.port}", confdir, **MESSAGE_LAYER
        ) as proxy,
    ):
        async with upgraded_client(proxy.port) as (status_line, reader, _):
            client_got = await frames_until_close(reader)
        server_got = await upstream_close(upstream)
        event = await proxy.wait_for("ws.closed")
    assert status_line == "HTTP/1.1 101 Switching Protocols"
    assert [(f.opcode, f.close_code) for f in client_got] == [(Opcode.CLOSE, broken.close_code)]
    assert server_got.close_code == broken.close_code
    assert_proxy_closed_for(event, broken, "server")


#: What the observe-only reader cannot see: it never decodes text (docs/relay.md).
NOT_DECODED = {"text not utf-8"}


def assert_observed_violation(proxy, event: dict, name: str, broken: Broken, side: str) -> None:
    """On the observe-only path (the default): the rule the side broke is listed, named as the
    event's violation with that side and a hint, and shown on the terminal line; the proxy
    closed nobody for it. A rule the reader cannot see (NOT_DECODED) is named nowhere."""
    seen = event["protocol_violations"]
    other = "client" if side == "server" else "server"
    assert seen[other] == []
    if name in NOT_DECODED:
        assert (seen[side], event["violation"], event["violated_by"]) == ([], None, None)
        return
    assert broken.violation in seen[side]
    assert (event["violation"], event["violated_by"]) == (seen[side][0], side)
    assert event["hint"].startswith(f"The {side} ")
    assert event["closed_by"] != "proxy"
    [line] = [line for line in proxy.console.lines if line.startswith("[wswatch] ws.closed")]
    assert f"violation={seen[side][0]}" in line and f"violated_by={side}" in line
    assert f"hint: The {side} " in line


@pytest.mark.parametrize("name", SERVER_SENDS)
async def test_observe_relay_names_the_rule_a_server_broke_and_acts_on_nothing(
    tmp_path, confdir, name
):
    """Default relay (observe-only): the client gets the broken bytes as sent; ws.closed names
    the server's broken rule, the side and a hint, and its terminal line shows them."""
    broken = SERVER_SENDS[name]
    async with (
        scripted_upstream(with_101=broken.data) as upstream,
        running_proxy(tmp_path, f"reverse:http://127.0.0.1:{upstream.port}", confdir) as proxy,
    ):
        async with upgraded_client(proxy.port) as (status_line, reader, _):
            client_got = await asyncio.wait_for(reader.readexactly(len(broken.data)), 5)
        event = await proxy.wait_for("ws.closed")
    assert status_line == "HTTP/1.1 101 Switching Protocols"
    assert client_got == broken.data
    # A close frame, however broken, is the server's close; otherwise the client hung up.
    closer = "server" if broken.data[0] & 0x0F == Opcode.CLOSE else "client"
    assert (event["relay"], event["closed_by"]) == ("observe", closer)
    assert_observed_violation(proxy, event, name, broken, "server")


@pytest.mark.parametrize("name", CLIENT_SENDS)
async def test_observe_relay_names_the_rule_a_client_broke_and_acts_on_nothing(
    tmp_path, confdir, name
):
    """Default relay (observe-only): the upstream gets the client's broken bytes as sent;
    ws.closed names the client's broken rule, the side and a hint."""
    broken = CLIENT_SENDS[name]
    async with (
        scripted_upstream() as upstream,
        running_proxy(tmp_path, f"reverse:http://127.0.0.1:{upstream.port}", confdir) as proxy,
    ):
        async with upgraded_client(proxy.port) as (_, _reader, writer):
            writer.write(broken.data)
            await writer.drain()
            await _wait_for_bytes(upstream, len(broken.data))
        event = await proxy.wait_for("ws.closed")
    assert bytes(upstream.received[0]).startswith(broken.data)
    assert event["relay"] == "observe"
    assert_observed_violation(proxy, event, name, broken, "client")


async def _wait_for_bytes(upstream: ScriptedUpstream, count: int, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not upstream.received or len(upstream.received[0]) < count:
        assert time.monotonic() < deadline, f"the upstream got {upstream.received}"
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("name", CLIENT_SENDS)
async def test_client_breaking_rfc6455_is_reported_as_a_proxy_close_not_a_client_close(
    tmp_path, confdir, name
):
    """The client's broken frame, sent after the 101: ws.closed names the client's broken rule."""
    broken = CLIENT_SENDS[name]
    async with (
        scripted_upstream() as upstream,
        running_proxy(
            tmp_path, f"reverse:http://127.0.0.1:{upstream.port}", confdir, **MESSAGE_LAYER
        ) as proxy,
    ):
        async with upgraded_client(proxy.port) as (_, reader, writer):
            writer.write(broken.data)
            client_got = await frames_until_close(reader)
        server_got = await upstream_close(upstream)
        event = await proxy.wait_for("ws.closed")
    assert [(f.opcode, f.close_code) for f in client_got] == [(Opcode.CLOSE, broken.close_code)]
    assert server_got.close_code == broken.close_code
    assert_proxy_closed_for(event, broken, "client")


async def test_client_garbage_pipelined_with_the_request_is_a_client_violation(tmp_path, confdir):
    """Bytes a client sends behind its upgrade request, before the 101, are parsed as its frames."""
    broken = Broken(b"garbage before the answer", "invalid_opcode", "Invalid opcode 0x7")
    async with (
        scripted_upstream() as upstream,
        running_proxy(
            tmp_path, f"reverse:http://127.0.0.1:{upstream.port}", confdir, **MESSAGE_LAYER
        ) as proxy,
    ):
        async with upgraded_client(proxy.port, pipelined=broken.data) as (status_line, reader, _):
            client_got = await frames_until_close(reader)
        event = await proxy.wait_for("ws.closed")
    assert status_line == "HTTP/1.1 101 Switching Protocols"
    assert [(f.opcode, f.close_code) for f in client_got] == [(Opcode.CLOSE, 1002)]
    assert_proxy_closed_for(event, broken, "client")


async def test_server_violation_in_regular_proxy_mode_is_told_by_side(tmp_path, confdir):
    """Through a regular (forward) proxy too, the masked server frame is the server's violation."""
    broken = SERVER_SENDS["masked frame"]
    async with (
        scripted_upstream(with_101=broken.data) as upstream,
        running_proxy(tmp_path, "regular", confdir, **MESSAGE_LAYER) as proxy,
    ):
        target = f"http://127.0.0.1:{upstream.port}/"
        async with upgraded_client(proxy.port, target) as (_, reader, _):
            client_got = await frames_until_close(reader)
        event = await proxy.wait_for("ws.closed")
    assert [(f.opcode, f.close_code) for f in client_got] == [(Opcode.CLOSE, 1002)]
    assert_proxy_closed_for(event, broken, "server")


# --- closes the peers really sent -----------------------------------------------------------


async def test_server_close_4001_is_reported_as_sent_by_the_server(tmp_path, confdir):
    """A real Close(4001, "bye") from the server stays the server's close, with no violation."""
    async with (
        scripted_upstream(with_101=frame(Opcode.CLOSE, close_payload(4001, b"bye"))) as upstream,
        running_proxy(
            tmp_path, f"reverse:http://127.0.0.1:{upstream.port}", confdir, **MESSAGE_LAYER
        ) as proxy,
    ):
        async with upgraded_client(proxy.port) as (_, reader, _):
            client_got = await frames_until_close(reader)
        event = await proxy.wait_for("ws.closed")
    assert [(f.close_code, f.close_reason) for f in client_got] == [(4001, b"bye")]
    assert (event["closed_by"], event["close_code"], event["close_reason"]) == (
        "server",
        4001,
        "bye",
    )
    assert (event["violation"], event["violated_by"]) == (None, None)


async def test_client_close_1000_is_reported_as_sent_by_the_client(tmp_path, confdir):
    """A real Close 1000 from the client stays the client's close, with no violation."""
    async with (
        scripted_upstream() as upstream,
        running_proxy(
            tmp_path, f"reverse:http://127.0.0.1:{upstream.port}", confdir, **MESSAGE_LAYER
        ) as proxy,
    ):
        async with upgraded_client(proxy.port) as (_, reader, writer):
            writer.write(client_frame(Opcode.CLOSE, close_payload(1000)))
            client_got = await frames_until_close(reader)
        server_got = await upstream_close(upstream)
        event = await proxy.wait_for("ws.closed")
    assert [f.close_code for f in client_got] == [1000]
    assert server_got.close_code == 1000
    assert (event["closed_by"], event["close_code"], event["violation"]) == ("client", 1000, None)
    assert event["hint"] is None


async def test_server_close_1002_with_wsproto_text_is_still_the_servers_close(tmp_path, confdir):
    """A server's own Close(1002) with wsproto's words is the server's: told by parser, not text."""
    spoof = frame(Opcode.CLOSE, close_payload(1002, b"CLOSE with invalid code"))
    async with (
        scripted_upstream(with_101=spoof) as upstream,
        running_proxy(
            tmp_path, f"reverse:http://127.0.0.1:{upstream.port}", confdir, **MESSAGE_LAYER
        ) as proxy,
    ):
        async with upgraded_client(proxy.port) as (_, reader, _):
            await frames_until_close(reader)
        event = await proxy.wait_for("ws.closed")
    assert (event["closed_by"], event["close_code"], event["close_reason"]) == (
        "server",
        1002,
        "CLOSE with invalid code",
    )
    assert (event["violation"], event["violated_by"]) == (None, None)


# --- upgrades relayed as raw TCP ------------------------------------------------------------


@pytest.mark.parametrize("version", [8, 7])
async def test_raw_tcp_upgrade_in_a_known_frame_format_reports_the_close_its_peers_exchanged(
    tmp_path, confdir, version
):
    """A version-8 (or 7) upgrade that mitmproxy relays as bytes: the frame reader follows it,
    so ws.closed has the Close the client sent and the server answered, its side, and counts."""
    server_close = frame(Opcode.CLOSE, close_payload(1000, b"bye"))
    async with scripted_upstream(on_first_data=frame(Opcode.TEXT, b"hi!") + server_close) as up:
        async with running_proxy(tmp_path, f"reverse:http://127.0.0.1:{up.port}", confdir) as proxy:
            async with upgraded_client(proxy.port, version=version) as (status, reader, writer):
                # One write: the client's Close passes before the server, answering, sends its own.
                writer.write(
                    client_frame(Opcode.TEXT, b"hello")
                    + client_frame(Opcode.CLOSE, close_payload(1000, b"done"))
                )
                client_got = await frames_until_close(reader)
            event = await proxy.wait_for("ws.closed")
    assert status == "HTTP/1.1 101 Switching Protocols"
    assert [(f.opcode, f.close_code) for f in client_got] == [
        (Opcode.TEXT, None),
        (Opcode.CLOSE, 1000),
    ]
    assert (event["relay"], event["raw_tcp"], event["frames_unread"]) == ("tcp", True, None)
    assert (event["close_code"], event["close_reason"], event["closed_by"], event["clean"]) == (
        1000,
        "done",
        "client",
        True,
    )
    assert event["messages"] == {"client": 1, "server": 1}
    assert event["tcp_bytes"] == {
        "client": len(client_frame(Opcode.TEXT, b"hello"))
        + len(client_frame(Opcode.CLOSE, close_payload(1000, b"done"))),
        "server": len(frame(Opcode.TEXT, b"hi!")) + len(server_close),
    }
    assert event["hint"] is None and event["protocol_violations"] == {"client": [], "server": []}


async def test_raw_tcp_upgrade_in_an_unknown_frame_format_gets_exactly_one_closed_event(
    tmp_path, confdir
):
    """A version-0 upgrade that mitmproxy relays as bytes: frames not read (and why), one
    ws.closed with TCP counts."""
    async with scripted_upstream(on_first_data=b"pong!") as upstream:
        async with running_proxy(
            tmp_path, f"reverse:http://127.0.0.1:{upstream.port}", confdir, **MESSAGE_LAYER
        ) as proxy:
            async with upgraded_client(proxy.port, version=0) as (status_line, reader, writer):
                writer.write(b"0123456789")
                client_got = await asyncio.wait_for(reader.readexactly(5), 5)
            event = await proxy.wait_for("ws.closed")
        handshake = proxy.events("ws.handshake")
        closes = proxy.events("ws.closed")  # after shutdown: no second one for the same upgrade
    assert status_line == "HTTP/1.1 101 Switching Protocols"
    assert (client_got, bytes(upstream.received[0])) == (b"pong!", b"0123456789")
    assert [(h["status"], h["problems"]) for h in handshake] == [(101, ["request_bad_version"])]
    assert len(closes) == 1 and event["flow_id"] == handshake[0]["flow_id"]
    assert (event["raw_tcp"], event["tcp_bytes"]) == (True, {"client": 10, "server": 5})
    assert (event["messages"], event["bytes"], event["close_code"], event["closed_by"]) == (
        None,
        None,
        None,
        None,
    )
    assert (event["clean"], event["hint"]) == (False, RAW_TCP_HINT)
    assert event["frames_unread"] == (
        "Sec-WebSocket-Version 0 is not a frame format wswatch reads (7, 8, 13)"
    )
    assert (event["client_id"], event["last_message_s"], event["longest_gap_s"]) == (
        handshake[0]["client_id"],
        None,
        None,
    )


async def test_websocket_option_off_relays_version_13_as_raw_tcp_with_its_closed_event(
    tmp_path, confdir
):
    """With --set websocket=false a normal upgrade is relayed as raw TCP and still reported."""
    async with (
        scripted_upstream(on_first_data=b"ok") as upstream,
        running_proxy(
            tmp_path, f"reverse:http://127.0.0.1:{upstream.port}", confdir, websocket=False
        ) as proxy,
    ):
        async with upgraded_client(proxy.port) as (_, reader, writer):
            writer.write(client_frame(Opcode.TEXT, b"hi"))
            await asyncio.wait_for(reader.readexactly(2), 5)
        event = await proxy.wait_for("ws.closed")
    assert (event["raw_tcp"], event["tcp_bytes"]) == (True, {"client": 8, "server": 2})


async def test_raw_tcp_relay_keeps_only_max_messages_in_memory(tmp_path, confdir):
    """TCPFlow.messages of a relayed upgrade is bounded by wswatch_max_messages; bytes all count."""
    async with (
        scripted_upstream(echo=True) as upstream,
        running_proxy(
            tmp_path,
            f"reverse:http://127.0.0.1:{upstream.port}",
            confdir,
            **MESSAGE_LAYER,
            wswatch_max_messages=2,
        ) as proxy,
    ):
        async with upgraded_client(proxy.port, version=8) as (_, reader, writer):
            for index in range(5):
                writer.write(f"chunk-{index}".encode())
                assert await asyncio.wait_for(reader.readexactly(7), 5) == f"chunk-{index}".encode()
        event = await proxy.wait_for("ws.closed")
    assert event["tcp_bytes"] == {"client": 35, "server": 35}
    assert event["retained_messages"] == 2


async def test_plain_tcp_flows_are_not_trimmed(tmp_path, confdir):
    """A TCP flow that is not an upgraded WebSocket keeps all its messages (mitmproxy's own)."""

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            for _ in range(10):
                data = await reader.read(100)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with running_proxy(
            tmp_path,
            f"reverse:tcp://127.0.0.1:{port}",
            confdir,
            tcp_flows=True,
            wswatch_max_messages=1,
        ) as proxy:
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            for index in range(3):
                writer.write(f"tcp-{index}".encode())
                assert await asyncio.wait_for(reader.readexactly(5), 5) == f"tcp-{index}".encode()
            [tcp_flow] = proxy.flows
            kept = len(tcp_flow.messages)
            writer.close()
    finally:
        server.close()
        await server.wait_closed()
    assert kept == 6
    assert proxy.events("ws.closed") == []
