"""End to end, reverse mode: real websockets/aiohttp/websocket-client clients, real mitmproxy
with wswatch, real local upstreams; assertions on what the client got and on the JSON log."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest
import websocket as websocket_client
import websockets
from proxy_harness import running_proxy, scenario_proxy
from upstreams import (
    DEEPGRAM_REQUEST_ID,
    raw_server,
    refused_port,
    scenario_server,
    self_signed_context,
)
from websockets.asyncio.client import connect
from wswatchlib.watch.hints import (
    CLIENT_HUNG_UP_AT_ONCE_HINT,
    CLIENT_HUNG_UP_AT_ONCE_S,
    FAILURE_HINTS,
)
from wswatchlib.watch.network_errors import FailureKind


async def test_accepted_then_deepgram_net0001_close_is_reported_with_keepalive_hint(
    tmp_path, confdir
):
    """A 101 followed by close 1011 NET-0001: accepted handshake, clean server close, Deepgram hint."""
    async with scenario_proxy(tmp_path, confdir) as proxy:
        # Uncompressed, so `bytes` is the payload size on either relay path.
        async with connect(f"ws://127.0.0.1:{proxy.port}/net0001", compression=None) as ws:
            await ws.send(b"\x00" * 320)
            with pytest.raises(websockets.ConnectionClosedError) as closed:
                await ws.recv()
        assert closed.value.rcvd.code == 1011
        handshake = await proxy.wait_for("ws.handshake")
        end = await proxy.wait_for("ws.closed")
    assert handshake["outcome"] == "accepted" and handshake["status"] == 101
    assert handshake["request_id"] == DEEPGRAM_REQUEST_ID and handshake["vendor"] == "deepgram"
    assert end["close_code"] == 1011 and end["close_reason"].startswith("NET-0001")
    assert end["closed_by"] == "server" and end["clean"] is True
    assert end["messages"] == {"client": 1, "server": 0} and end["bytes"] == {
        "client": 320,
        "server": 0,
    }
    assert "KeepAlive" in end["hint"]


async def test_deepgram_401_is_rejected_with_error_request_id_and_hint(tmp_path, confdir):
    """aiohttp sees a bare 401; the log names dg-error, dg-request-id and the auth-header hint."""
    async with scenario_proxy(tmp_path, confdir) as proxy:
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.WSServerHandshakeError) as rejected:
                await session.ws_connect(f"http://127.0.0.1:{proxy.port}/deepgram401")
        assert rejected.value.status == 401
        event = await proxy.wait_for("ws.handshake")
    assert event["outcome"] == "rejected" and event["status"] == 401
    assert event["vendor"] == "deepgram"
    assert event["error"] == "Invalid credentials."
    assert event["error_headers"] == {"dg-error": "Invalid credentials."}
    assert event["request_id"] == DEEPGRAM_REQUEST_ID
    assert "INVALID_AUTH" in event["body_excerpt"]
    assert "Token <key>" in event["hint"]


def _websocket_client_status(url: str) -> int:
    try:
        websocket_client.create_connection(url, timeout=5).close()
    except websocket_client.WebSocketBadStatusException as error:
        return error.status_code
    raise AssertionError("the handshake was not rejected")


async def test_400_is_rejected_with_body_excerpt(tmp_path, confdir):
    """websocket-client sees 400; the log carries the body text and a parameters hint."""
    async with scenario_proxy(tmp_path, confdir) as proxy:
        status = await asyncio.to_thread(
            _websocket_client_status, f"ws://127.0.0.1:{proxy.port}/bad400"
        )
        event = await proxy.wait_for("ws.handshake")
    assert status == 400
    assert event["outcome"] == "rejected" and event["status"] == 400
    assert event["body_excerpt"] == "sample_rate must be an integer"
    assert "query parameters" in event["hint"]


async def test_429_reports_retry_after_seconds(tmp_path, confdir):
    """A 429 with Retry-After: 7 is reported with retry_after=7 and the back-off hint."""
    async with scenario_proxy(tmp_path, confdir) as proxy:
        with pytest.raises(websockets.InvalidStatus) as rejected:
            async with connect(f"ws://127.0.0.1:{proxy.port}/ratelimit"):
                pass
        event = await proxy.wait_for("ws.handshake")
    assert rejected.value.response.status_code == 429
    assert event["retry_after"] == 7.0 and event["request_id"] == "rl-42"
    assert "Retry-After" in event["hint"]
    [flow] = proxy.flows
    assert flow.marked == ":warning:"  # what mitmweb shows
    assert flow.comment == f"wswatch: rejected 429: {event['hint']}"


async def test_200_html_page_is_flagged_as_not_a_websocket_endpoint(tmp_path, confdir):
    """A 200 text/html answer is rejected with the captive-portal hint."""
    async with scenario_proxy(tmp_path, confdir) as proxy:
        with pytest.raises(websockets.InvalidStatus):
            async with connect(f"ws://127.0.0.1:{proxy.port}/portal"):
                pass
        event = await proxy.wait_for("ws.handshake")
    assert event["outcome"] == "rejected" and event["status"] == 200
    assert "captive portal" in event["hint"] and "Wi-Fi login" in event["body_excerpt"]


async def test_301_redirect_is_rejected_with_redirect_hint(tmp_path, confdir):
    """A 301 to a ws:// Location (aiohttp refuses to follow it) is rejected with the redirect hint."""
    async with scenario_proxy(tmp_path, confdir) as proxy:
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.NonHttpUrlRedirectClientError) as redirected:
                await session.ws_connect(f"http://127.0.0.1:{proxy.port}/moved")
        event = await proxy.wait_for("ws.handshake")
    assert str(redirected.value) == "ws://127.0.0.1:1/elsewhere"
    assert event["status"] == 301 and "redirect" in event["hint"]


async def test_server_close_4001_is_reported_with_code_reason_and_side(tmp_path, confdir):
    """The client receives 4001 "bye"; ws.closed names code, reason and the server as closer."""
    async with scenario_proxy(tmp_path, confdir) as proxy:
        async with connect(f"ws://127.0.0.1:{proxy.port}/close4001") as ws:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
        end = await proxy.wait_for("ws.closed")
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4001, "bye")
    assert (end["close_code"], end["close_reason"], end["closed_by"], end["clean"]) == (
        4001,
        "bye",
        "server",
        True,
    )
    assert "application-defined" in end["hint"]


async def test_refused_upstream_is_a_failed_handshake_tied_to_the_request(tmp_path, confdir):
    """Reverse mode to a closed port: the client gets 502, the log a failed/refused handshake."""
    port = refused_port()
    async with running_proxy(tmp_path, f"reverse:http://127.0.0.1:{port}", confdir) as proxy:
        with pytest.raises(websockets.InvalidStatus) as rejected:
            async with connect(f"ws://127.0.0.1:{proxy.port}/v1/listen"):
                pass
        event = await proxy.wait_for("ws.handshake")
    assert rejected.value.response.status_code == 502
    assert event["outcome"] == "failed" and event["status"] is None
    assert event["failure"] == "refused" and event["path"] == "/v1/listen"
    assert "Connect call failed" in event["error"]


async def test_silent_upstream_is_reported_when_the_client_gives_up(tmp_path, confdir):
    """An upstream that accepts TCP and never answers: failed, client_gave_up, after a wait."""
    async with (
        raw_server(answer_101=False) as up,
        running_proxy(tmp_path, f"reverse:http://127.0.0.1:{up}", confdir) as proxy,
    ):
        with pytest.raises(TimeoutError):
            async with connect(f"ws://127.0.0.1:{proxy.port}/stuck", open_timeout=1):
                pass
        event = await proxy.wait_for("ws.handshake")
    assert event["outcome"] == "failed" and event["failure"] == "client_gave_up"
    # The client's 1 s timeout also covers its TCP connect; what matters is that it waited.
    assert event["duration_ms"] >= CLIENT_HUNG_UP_AT_ONCE_S * 1000
    assert event["hint"] == FAILURE_HINTS[FailureKind.CLIENT_GAVE_UP]


async def test_client_that_hangs_up_at_once_is_blamed_not_the_upstream(tmp_path, confdir):
    """A client that sends its upgrade and closes at once: client_gave_up, with the hint that
    points at the client rather than at a silent upstream."""
    async with (
        raw_server(answer_101=False) as up,
        running_proxy(tmp_path, f"reverse:http://127.0.0.1:{up}", confdir) as proxy,
    ):
        _, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(
            b"GET /gone HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        event = await proxy.wait_for("ws.handshake")
    assert (event["outcome"], event["failure"]) == ("failed", "client_gave_up")
    assert event["duration_ms"] < 1000
    assert event["hint"] == CLIENT_HUNG_UP_AT_ONCE_HINT


async def test_untrusted_upstream_certificate_is_a_tls_failure(tmp_path, confdir):
    """wss upstream with a self-signed certificate: failed, tls, reason names the certificate."""
    context = self_signed_context(tmp_path)
    async with (
        scenario_server(context) as up,
        running_proxy(tmp_path, f"reverse:https://127.0.0.1:{up}", confdir) as proxy,
    ):
        with pytest.raises(websockets.InvalidStatus) as rejected:
            async with connect(f"ws://127.0.0.1:{proxy.port}/echo"):
                pass
        event = await proxy.wait_for("ws.handshake")
    assert rejected.value.response.status_code == 502
    assert event["outcome"] == "failed" and event["failure"] == "tls"
    assert event["reason"].startswith("untrusted upstream certificate")
    assert event["url"].startswith("wss://127.0.0.1:")


async def test_bad_sec_websocket_accept_is_invalid_even_though_mitmproxy_passes_it(
    tmp_path, confdir
):
    """A 101 with a wrong Accept: the client aborts, the log says invalid/response_bad_accept."""
    async with (
        raw_server(answer_101=True, bad_accept=True) as up,
        running_proxy(tmp_path, f"reverse:http://127.0.0.1:{up}", confdir) as proxy,
    ):
        with pytest.raises(websockets.InvalidHandshake):
            async with connect(f"ws://127.0.0.1:{proxy.port}/"):
                pass
        event = await proxy.wait_for("ws.handshake")
        end = await proxy.wait_for("ws.closed")
    assert event["outcome"] == "invalid" and event["problems"] == ["response_bad_accept"]
    assert "Sec-WebSocket-Accept" in event["hint"]
    assert end["clean"] is False and end["closed_by"] == "client"


async def test_upstream_abort_midstream_is_abnormal_for_the_log_and_the_client(tmp_path, confdir):
    """The upstream resets mid-stream: the client sees 1006 (not mitmproxy's clean 1000)."""
    async with scenario_proxy(tmp_path, confdir) as proxy:
        async with connect(f"ws://127.0.0.1:{proxy.port}/abort") as ws:
            await ws.send("hello")
            assert await ws.recv() == "last words"
            with pytest.raises(websockets.ConnectionClosedError) as closed:
                await ws.recv()
        end = await proxy.wait_for("ws.closed")
    assert (
        closed.value.rcvd is None
    )  # no close frame reached the client: an abnormal closure (1006)
    assert end["close_code"] == 1006 and end["clean"] is False and end["closed_by"] == "server"
    assert end["messages"] == {"client": 1, "server": 1}
    assert "without a close frame" in end["hint"]


async def test_upstream_closing_before_answering_is_upstream_closed(tmp_path, confdir):
    """An upstream that reads the request and hangs up: failed, upstream_closed; client gets 502."""
    async with (
        raw_server(answer_101=False, close_at_once=True) as up,
        running_proxy(tmp_path, f"reverse:http://127.0.0.1:{up}", confdir) as proxy,
    ):
        with pytest.raises(websockets.InvalidStatus) as rejected:
            async with connect(f"ws://127.0.0.1:{proxy.port}/v1/listen"):
                pass
        event = await proxy.wait_for("ws.handshake")
    assert rejected.value.response.status_code == 502
    assert (event["outcome"], event["failure"]) == ("failed", "upstream_closed")
    assert "closed the connection without answering" in event["hint"]


BAD_KEY_REQUEST = (
    b"GET /stream HTTP/1.1\r\nHost: upstream\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: c2hvcnQ=\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def _raw_upgrade(port: int) -> bytes:
    """A hand-written client whose Sec-WebSocket-Key is 5 bytes, not 16: returns the status line."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(BAD_KEY_REQUEST)
        return sock.recv(4096).split(b"\r\n", 1)[0]


async def test_bad_client_key_is_invalid_even_when_the_server_accepts_it(tmp_path, confdir):
    """A lax upstream answers 101 to a bad key: wswatch still flags request_bad_key."""
    async with (
        raw_server(answer_101=True) as up,
        running_proxy(tmp_path, f"reverse:http://127.0.0.1:{up}", confdir) as proxy,
    ):
        status_line = await asyncio.to_thread(_raw_upgrade, proxy.port)
        event = await proxy.wait_for("ws.handshake")
    assert status_line == b"HTTP/1.1 101 Switching Protocols"
    assert (event["outcome"], event["problems"]) == ("invalid", ["request_bad_key"])
    assert "Sec-WebSocket-Key" in event["hint"]


async def test_bad_client_key_rejected_by_a_strict_server_is_rejected_with_the_problem(
    tmp_path, confdir
):
    """websockets' server answers 400 to a bad key: rejected, and the problem says why."""
    async with scenario_proxy(tmp_path, confdir) as proxy:
        status_line = await asyncio.to_thread(_raw_upgrade, proxy.port)
        event = await proxy.wait_for("ws.handshake")
    assert status_line == b"HTTP/1.1 400 Bad Request"
    assert (event["outcome"], event["status"], event["problems"]) == (
        "rejected",
        400,
        ["request_bad_key"],
    )
