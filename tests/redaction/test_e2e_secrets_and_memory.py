"""Secrets planted in every place a handshake carries them never reach any output; a long
connection keeps only a bounded window of messages in memory."""

from __future__ import annotations

import logging

import pytest
import websockets
from mitmproxy import tcp
from proxy_harness import scenario_proxy
from websockets.asyncio.client import connect

HEADER_KEY = "dgkey-HEADER-7f3a9c1e5b"
QUERY_TOKEN = "qtok-QUERY-2b8d4f6a0c"
SUBPROTOCOL_KEY = "spkey-PROTO-9e1c3a5b7d"
OPENAI_KEY = "sk-OPENAI-4c6e8a0b2d"
CUSTOM_SECRET = "custom-TENANT-1a2b3c4d"
COOKIE_SECRET = "cookie-SESSION-5e6f7a8b"
PLANTED = (HEADER_KEY, QUERY_TOKEN, SUBPROTOCOL_KEY, OPENAI_KEY, CUSTOM_SECRET, COOKIE_SECRET)


def _flow_text(flow) -> str:
    """What mitmweb shows and a saved flow keeps of the request and wswatch's comment, or of
    an observe-only connection's TCP flow (responses reach the client as the server sent them;
    see the Set-Cookie test)."""
    if isinstance(flow, tcp.TCPFlow):
        return "\n".join(
            [flow.comment, *(m.content.decode("utf-8", "replace") for m in flow.messages)]
        )
    return "\n".join([flow.request.url, str(flow.request.headers), flow.comment])


@pytest.mark.parametrize(
    ("path", "subprotocols"),
    [
        ("/leaky401", ["token", SUBPROTOCOL_KEY]),
        ("/echo", [f"openai-insecure-api-key.{OPENAI_KEY}", "realtime"]),
    ],
    ids=["rejected-and-echoed", "accepted"],
)
async def test_planted_secrets_never_appear_in_log_terminal_or_flow(
    tmp_path, confdir, caplog, path, subprotocols
):
    """Authorization, Cookie, a custom header, ?token= and subprotocol keys are all redacted."""
    caplog.set_level(logging.DEBUG)
    async with scenario_proxy(
        tmp_path, confdir, wswatch_redact_headers=["X-Tenant-Secret"]
    ) as proxy:
        url = f"ws://127.0.0.1:{proxy.port}{path}?model=nova&token={QUERY_TOKEN}"
        headers = {
            "Authorization": f"Token {HEADER_KEY}",
            "X-Tenant-Secret": CUSTOM_SECRET,
            "Cookie": f"session={COOKIE_SECRET}",
        }
        try:
            async with connect(url, additional_headers=headers, subprotocols=subprotocols) as ws:
                await ws.send("hello")
                await ws.recv()
        except websockets.InvalidStatus as rejected:
            assert rejected.response.status_code == 401
        await proxy.wait_for("ws.handshake")
        flows_text = "\n".join(_flow_text(flow) for flow in proxy.flows)
    written = proxy.log_path.read_text(encoding="utf-8")
    terminal = "\n".join(proxy.console.lines)
    # Everything the proxy process logged (the test clients' and servers' own logs excluded).
    proxy_records = "\n".join(
        record.getMessage() for record in caplog.records if not record.name.startswith("websockets")
    )
    assert "[redacted]" in written and "[redacted]" in terminal
    for secret in PLANTED:
        assert secret not in written, f"{secret} leaked into the JSON log"
        assert secret not in terminal, f"{secret} leaked onto the terminal"
        assert secret not in proxy_records, f"{secret} leaked into a log record"
        assert secret not in flows_text, f"{secret} left in the flow"


async def test_leaky_rejection_is_still_explained_after_scrubbing(tmp_path, confdir):
    """Scrubbing by value keeps the rest of an echoed error readable."""
    async with scenario_proxy(tmp_path, confdir) as proxy:
        with pytest.raises(websockets.InvalidStatus):
            async with connect(
                f"ws://127.0.0.1:{proxy.port}/leaky401?token={QUERY_TOKEN}",
                additional_headers={"Authorization": f"Bearer {HEADER_KEY}"},
            ):
                pass
        event = await proxy.wait_for("ws.handshake")
    assert event["error"] == "denied /leaky401?token=[redacted] auth=[redacted] protocols=None"
    assert event["url"].endswith("/leaky401?token=[redacted]")


@pytest.mark.parametrize(
    ("relay", "tcp_flows"),
    [("websocket", False), ("observe", True), ("observe", False)],
    ids=["websocket", "observe-tcp-flow", "observe-no-flow"],
)
async def test_50000_messages_leave_a_bounded_message_window(tmp_path, confdir, relay, tcp_flows):
    """mitmproxy would keep all 50,000 messages (or TCP chunks); wswatch keeps the last 100 and
    still counts all. An observe-only connection nothing else sees as a TCP flow has none: no
    chunk is kept at all."""
    total = 50_000
    async with scenario_proxy(tmp_path, confdir, wswatch_relay=relay, tcp_flows=tcp_flows) as proxy:
        async with connect(
            f"ws://127.0.0.1:{proxy.port}/count", max_queue=None, compression=None
        ) as ws:
            for index in range(total):
                await ws.send(b"%08d" % index)
        end = await proxy.wait_for("ws.closed", timeout=120)
        flows = [f for f in proxy.flows if isinstance(f, tcp.TCPFlow) or f.websocket]
        retained = sum(
            len(flow.messages if isinstance(flow, tcp.TCPFlow) else flow.websocket.messages)
            for flow in flows
        )
    assert end["messages"] == {"client": total, "server": 0}
    assert end["bytes"]["client"] == total * 8
    assert end["relay"] == relay
    assert end["retained_messages"] == retained <= 100
    assert len(flows) == (0 if relay == "observe" and not tcp_flows else 1)


async def test_response_headers_reach_the_client_unredacted(tmp_path, confdir):
    """Redaction never alters what the client receives: its Set-Cookie arrives intact."""
    async with scenario_proxy(tmp_path, confdir) as proxy:
        with pytest.raises(websockets.InvalidStatus) as rejected:
            async with connect(f"ws://127.0.0.1:{proxy.port}/login"):
                pass
        event = await proxy.wait_for("ws.handshake")
    assert (
        rejected.value.response.headers["set-cookie"] == "session=cookie-FROM-SERVER-77aa; HttpOnly"
    )
    assert event["status"] == 401 and "cookie-FROM-SERVER" not in proxy.log_path.read_text()
