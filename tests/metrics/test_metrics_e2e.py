"""/metrics end to end: real clients through the real proxy to a real upstream, scraped over
HTTP and parsed with prometheus_client's own text parser, against the JSON events."""

from __future__ import annotations

import socket
import urllib.error
from collections import Counter
from pathlib import Path

import pytest
import websockets
from metrics_scrape import metrics_address, scrape, total
from mitmproxy import exceptions
from proxy_harness import scenario_proxy
from test_mitmdump_script import only_line_naming, startup_failure
from websockets.asyncio.client import connect

SECRET = "metrics-SECRET-5f4e3d2c"
CLIENT_KEY = "load-test-client-7"
RULES = """rules:
  - id: deny-503
    match: {path: "/denied*"}
    action: {reject: {status: 503}}
  - id: hold
    match: {path: "/hold*"}
    action: {stall: {direction: server_to_client, after_messages: 1}}
"""
#: Every label value this session may show: the fixed vocabularies and the names it configured.
ALLOWED_LABEL_VALUES = {
    *("accepted", "rejected", "failed", "invalid", "none", "other", "true", "false"),
    *("1xx", "2xx", "3xx", "4xx", "5xx", "client", "server", "proxy"),
    *("client_to_server", "server_to_client", "info", "warning", "error"),
    *("127.0.0.1", "deepgram", "deny-503", "hold", "reject", "stall", "1000", "4001"),
}


def status_class(status: int | None) -> str:
    return "none" if status is None else f"{status // 100}xx"


async def test_metrics_count_what_the_events_say_and_show_no_secret(tmp_path: Path, confdir):
    """Handshakes, closes, messages, bytes, faults and the gauges match the JSON events; no
    planted secret, client id, flow id or path reaches a label."""
    rules = tmp_path / "faults.yaml"
    rules.write_text(RULES)
    secret_headers = {
        "Authorization": f"Bearer {SECRET}",
        "X-Api-Key": SECRET,
        "Cookie": f"session={SECRET}",
        "User-Agent": f"agent-{SECRET}",
        "X-Client-Id": CLIENT_KEY,
        "dg-request-id": SECRET,
    }
    async with scenario_proxy(
        tmp_path,
        confdir,
        wswatch_metrics="127.0.0.1:0",
        wswatch_faults=[str(rules)],
        wswatch_client_key="header:X-Client-Id",
        wswatch_redact_headers=["x-api-key"],
    ) as proxy:
        address = metrics_address(proxy)
        base = f"ws://127.0.0.1:{proxy.port}"
        async with connect(
            f"{base}/echo/{SECRET}?token={SECRET}&api_key={SECRET}",
            additional_headers=secret_headers,
            subprotocols=[websockets.Subprotocol(f"token.{SECRET}")],
        ) as ws:
            for text in ("one", "two", "three"):
                await ws.send(text)
                assert await ws.recv() == text
        with pytest.raises(websockets.InvalidStatus):
            async with connect(
                f"{base}/deepgram401?token={SECRET}", additional_headers=secret_headers
            ):
                pass
        with pytest.raises(websockets.InvalidStatus):
            async with connect(f"{base}/denied?key={SECRET}", additional_headers=secret_headers):
                pass
        with pytest.raises(websockets.InvalidStatus):  # the upstream echoes every credential
            async with connect(f"{base}/echo-all401", additional_headers=secret_headers):
                pass
        async with connect(f"{base}/close4001", additional_headers=secret_headers) as ws:
            with pytest.raises(websockets.ConnectionClosed):
                await ws.recv()

        async with connect(f"{base}/hold", additional_headers=secret_headers) as held:
            await held.send("held back")
            await proxy.wait_for("fault.injected", lambda e: e["rule_id"] == "hold")
            live = await scrape(address)
            assert live.value("wswatch_connections_active") == 1
            assert live.value("wswatch_faults_active", rule_id="hold", action="stall") == 1
        await proxy.wait_for("ws.closed", lambda e: e["url"].endswith("/hold"))
        await proxy.wait_for("ws.closed", lambda e: e["close_code"] == 4001)
        await proxy.wait_for("ws.closed", lambda e: "/echo/" in e["url"])
        final = await scrape(address)
        handshakes, closes = proxy.events("ws.handshake"), proxy.events("ws.closed")

    assert len(handshakes) == 6 and len(closes) == 3
    assert final.by("wswatch_handshakes_total", "outcome", "status_class", "injected") == Counter(
        (e["outcome"], status_class(e["status"]), str(e["injected"]).lower()) for e in handshakes
    )
    assert final.by("wswatch_handshakes_total", "outcome", "status_class", "injected") == {
        ("accepted", "1xx", "false"): 3,
        ("rejected", "4xx", "false"): 2,
        ("rejected", "5xx", "true"): 1,
    }
    assert final.by("wswatch_handshakes_total", "vendor") == Counter(
        (e["vendor"] or "none",) for e in handshakes
    )
    assert final.value("wswatch_handshakes_total", server_address="127.0.0.1") == 6
    assert final.value("wswatch_handshake_duration_seconds_count") == 6
    assert final.by(
        "wswatch_connection_closes_total", "close_code", "closed_by", "clean"
    ) == Counter((str(e["close_code"]), e["closed_by"], str(e["clean"]).lower()) for e in closes)
    assert final.value("wswatch_connection_duration_seconds_count") == 3
    assert final.value("wswatch_connection_duration_seconds_sum") == pytest.approx(
        sum(e["duration_s"] for e in closes), abs=0.01
    )
    for side, direction in (("client", "client_to_server"), ("server", "server_to_client")):
        assert final.value("wswatch_messages_total", direction=direction) == total(
            (e["messages"] for e in closes), side
        )
        assert final.value("wswatch_message_payload_bytes_total", direction=direction) == total(
            (e["bytes"] for e in closes), side
        )
    assert final.value("wswatch_messages_total", direction="client_to_server") == 4
    assert final.by("wswatch_faults_injected_total", "rule_id", "action") == {
        ("deny-503", "reject"): 1,
        ("hold", "stall"): 1,
    }
    assert final.value("wswatch_faults_active") == 0
    assert final.value("wswatch_connections_active") == 0

    assert SECRET not in final.text and CLIENT_KEY not in final.text
    assert final.label_values() <= ALLOWED_LABEL_VALUES
    for event in handshakes:
        assert event["flow_id"] not in final.text and event["client_id"] not in final.text


async def test_changing_the_address_moves_the_server_and_a_taken_one_is_refused(tmp_path, confdir):
    """Once running: a new address serves and the old stops; an address in use is refused with
    one message and the current server keeps serving."""
    async with scenario_proxy(tmp_path, confdir, wswatch_metrics="127.0.0.1:0") as proxy:
        first = metrics_address(proxy)
        assert "wswatch_handshakes_total" in (await scrape(first)).text
        proxy.master.options.update(wswatch_metrics="127.0.0.1:0")  # the same setting: kept
        proxy.master.options.update(wswatch_metrics="localhost:0")
        second = metrics_address(proxy)
        assert second != first and second.startswith("localhost:")
        with pytest.raises(urllib.error.URLError):
            await scrape(first)
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            with pytest.raises(exceptions.OptionsError) as refused:
                proxy.master.options.update(wswatch_metrics=f"127.0.0.1:{port}")
        assert str(refused.value) == (
            f"Cannot serve wswatch_metrics on 127.0.0.1:{port}: Address already in use"
        )
        assert proxy.master.options.wswatch_metrics == "localhost:0"
        assert "wswatch_handshakes_total" in (await scrape(second)).text
        proxy.master.options.update(wswatch_metrics="")
        with pytest.raises(urllib.error.URLError):
            await scrape(second)


async def test_bad_metrics_address_stops_startup_with_one_line(confdir):
    """A value that is not HOST:PORT: one line naming the option, no traceback, exit 1."""
    output = await startup_failure(confdir, "--set", "wswatch_metrics=9464")
    assert (
        only_line_naming(output, "wswatch_metrics")
        .strip()
        .endswith(
            "Cannot parse wswatch_metrics option: expected HOST:PORT (e.g. 127.0.0.1:9464), "
            "got '9464'"
        )
    )


async def test_metrics_port_in_use_stops_startup_with_one_line(confdir):
    """An address another program holds: one line naming the option and the address."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        output = await startup_failure(confdir, "--set", f"wswatch_metrics=127.0.0.1:{port}")
    assert (
        only_line_naming(output, "wswatch_metrics")
        .strip()
        .endswith(f"Cannot serve wswatch_metrics on 127.0.0.1:{port}: Address already in use")
    )
