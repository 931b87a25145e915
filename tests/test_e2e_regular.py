"""End to end, regular proxy mode: clients configured with the proxy, ws:// and wss:// through
CONNECT tunnels and absolute-form requests, wss trusting mitmproxy's CA."""

from __future__ import annotations

import asyncio
import ssl

import aiohttp
import pytest
import websocket as websocket_client
import websockets
from proxy_harness import running_proxy
from upstreams import refused_port, scenario_server, self_signed_context
from websockets.asyncio.client import connect


async def test_websockets_client_through_regular_proxy_is_followed_to_its_close(tmp_path, confdir):
    """websockets with proxy=: accepted handshake, then the server's 4001 close, both reported."""
    async with scenario_server() as up, running_proxy(tmp_path, "regular", confdir) as proxy:
        async with connect(f"ws://127.0.0.1:{up}/close4001", proxy=proxy.url) as ws:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
        handshake = await proxy.wait_for("ws.handshake")
        end = await proxy.wait_for("ws.closed")
    assert closed.value.rcvd.code == 4001
    assert (
        handshake["outcome"] == "accepted" and handshake["url"] == f"ws://127.0.0.1:{up}/close4001"
    )
    assert end["close_code"] == 4001 and end["closed_by"] == "server"


async def test_aiohttp_through_regular_proxy_sees_and_logs_the_429(tmp_path, confdir):
    """aiohttp with proxy=: the 429 reaches the client and the log with Retry-After."""
    async with scenario_server() as up, running_proxy(tmp_path, "regular", confdir) as proxy:
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.WSServerHandshakeError) as rejected:
                await session.ws_connect(f"http://127.0.0.1:{up}/ratelimit", proxy=proxy.url)
        event = await proxy.wait_for("ws.handshake")
    assert rejected.value.status == 429
    assert event["outcome"] == "rejected" and event["retry_after"] == 7.0


async def test_wss_through_regular_proxy_with_mitmproxy_ca_reports_the_upstream_401(
    tmp_path, confdir
):
    """wss:// via CONNECT, client trusting mitmproxy's CA, upstream trusted via ssl_insecure."""
    upstream_tls = self_signed_context(tmp_path)
    async with (
        scenario_server(upstream_tls) as up,
        running_proxy(tmp_path, "regular", confdir, ssl_insecure=True) as proxy,
    ):
        client_tls = ssl.create_default_context(cafile=str(confdir / "mitmproxy-ca-cert.pem"))
        with pytest.raises(websockets.InvalidStatus) as rejected:
            async with connect(
                f"wss://127.0.0.1:{up}/deepgram401", proxy=proxy.url, ssl=client_tls
            ):
                pass
        event = await proxy.wait_for("ws.handshake")
    assert rejected.value.response.status_code == 401
    assert event["url"] == f"wss://127.0.0.1:{up}/deepgram401"
    assert event["vendor"] == "deepgram" and event["error"] == "Invalid credentials."


def _connect_via_proxy(url: str, proxy_port: int) -> str:
    try:
        websocket_client.create_connection(
            url,
            http_proxy_host="127.0.0.1",
            http_proxy_port=proxy_port,
            proxy_type="http",
            timeout=5,
        ).close()
    except Exception as error:
        return f"{type(error).__name__}: {error}"
    return "connected"


async def test_refused_upstream_through_regular_proxy_is_a_failed_handshake(tmp_path, confdir):
    """websocket-client via CONNECT to a closed port: the log says failed/refused for that URL."""
    port = refused_port()
    async with running_proxy(tmp_path, "regular", confdir) as proxy:
        seen = await asyncio.to_thread(
            _connect_via_proxy, f"ws://127.0.0.1:{port}/v1/listen", proxy.port
        )
        event = await proxy.wait_for("ws.handshake")
    assert seen != "connected"
    assert event["outcome"] == "failed" and event["failure"] == "refused"
    assert event["url"] == f"ws://127.0.0.1:{port}/v1/listen"
