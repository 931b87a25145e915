"""Secrets planted through the real proxy reach neither report: the one the proxy writes at stop
(`wswatch_report`) nor the one `wswatch report` makes from its JSON-lines file."""

from __future__ import annotations

import websockets
from proxy_harness import scenario_proxy
from websockets.asyncio.client import connect
from wswatchlib.cli import main

HEADER_KEY = "dgkey-REPORT-8e2a4c6f1b"
QUERY_TOKEN = "qtok-REPORT-3d5f7b9a1c"
SUBPROTOCOL_KEY = "spkey-REPORT-0a2c4e6b8d"
COOKIE_SECRET = "cookie-REPORT-6b8d0f2a4c"
PLANTED = (HEADER_KEY, QUERY_TOKEN, SUBPROTOCOL_KEY, COOKIE_SECRET)


async def test_planted_secrets_never_reach_either_report(tmp_path, confdir):
    """Authorization, Cookie, ?token= and a subprotocol key, sent to servers that echo them in
    the reason, headers and body of a 401 and to one that accepts, appear in no report."""
    proxy_report = tmp_path / "proxy-report.html"
    async with scenario_proxy(tmp_path, confdir, wswatch_report=str(proxy_report)) as proxy:
        echoed: dict[str, bytes] = {}
        for path in ("/echo-all401", "/leaky401", "/echo"):
            url = f"ws://127.0.0.1:{proxy.port}{path}?model=nova&token={QUERY_TOKEN}"
            headers = {"Authorization": f"Token {HEADER_KEY}", "Cookie": f"s={COOKIE_SECRET}"}
            try:
                async with connect(
                    url, additional_headers=headers, subprotocols=["token", SUBPROTOCOL_KEY]
                ) as ws:
                    await ws.send("hello")
                    await ws.recv()
            except websockets.InvalidStatus as rejected:
                assert rejected.response.status_code == 401
                echoed[path] = rejected.response.body or b""
        await proxy.wait_for("ws.closed")
    # The upstreams really echoed the secrets back (the client got them, as sent).
    assert set(echoed) == {"/echo-all401", "/leaky401"}
    assert all(HEADER_KEY.encode() in body for body in echoed.values())
    command_report = tmp_path / "command-report.html"
    assert main(["report", str(proxy.log_path), "-o", str(command_report)]) == 0
    for report in (proxy_report, command_report):
        page = report.read_text(encoding="utf-8")
        assert "[redacted]" in page and "/echo-all401" in page
        for secret in PLANTED:
            assert secret not in page, f"{secret} leaked into {report.name}"
