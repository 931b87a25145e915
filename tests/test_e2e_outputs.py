"""Every output of a real `mitmdump -s addons/wswatch.py` run, read back as a user would: the
terminal at each flow_detail, the JSON lines, the saved flows. No planted secret in any of them,
while the client still receives exactly what the server sent."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import websockets
from mitmproxy import io
from test_mitmdump_script import scenario_mitmdump
from websockets.asyncio.client import connect

HEADER_KEY = "dgkey-ECHOED-5d4c3b2a19"
QUERY_TOKEN = "qtok-ECHOED-8e7f6a5b4c"
COOKIE_SECRET = "cookie-ECHOED-1f2e3d4c5b"
SUBPROTOCOL_KEY = "spkey-ECHOED-6a7b8c9d0e"
PLANTED = (HEADER_KEY, QUERY_TOKEN, COOKIE_SECRET, SUBPROTOCOL_KEY)


def saved_flow_text(path: Path) -> str:
    """Everything a saved flow file holds, as the text of its flows' full state."""
    with path.open("rb") as file:
        return "\n".join(repr(flow.get_state()) for flow in io.FlowReader(file).stream())


@pytest.mark.parametrize("flow_detail", [0, 1, 2, 3])
@pytest.mark.parametrize("path", ["/echo-all401", "/echo-all-gzip401"], ids=["plain", "gzip"])
async def test_secrets_the_upstream_echoes_reach_no_output_but_reach_the_client(
    tmp_path, confdir, flow_detail, path
):
    """An upstream echoing every credential in its 401's reason, headers and (gzip) body: the
    client gets it all unchanged; the terminal, JSON lines and -w flows show [redacted]."""
    log_path, saved = tmp_path / "events.jsonl", tmp_path / "saved.flows"
    async with scenario_mitmdump(
        confdir,
        f"wswatch_log={log_path}",
        f"flow_detail={flow_detail}",
        args=("-w", str(saved)),
    ) as (port, output):
        with pytest.raises(websockets.InvalidStatus) as rejected:
            async with connect(
                f"ws://127.0.0.1:{port}{path}?model=nova&token={QUERY_TOKEN}",
                additional_headers={
                    "Authorization": f"Token {HEADER_KEY}",
                    "Cookie": f"session={COOKIE_SECRET}",
                },
                subprotocols=["token", SUBPROTOCOL_KEY],
            ):
                pass
    received = rejected.value.response
    assert received.reason_phrase == f"Unauthorized Token {HEADER_KEY}"
    assert received.headers["x-auth"] == f"Token {HEADER_KEY}"
    assert received.headers["set-cookie"] == f"echo=Token {HEADER_KEY}"
    body = gzip.decompress(received.body) if "gzip" in path else received.body
    assert f"cookie=session={COOKIE_SECRET}" in body.decode()
    terminal = "".join(output)
    written = log_path.read_text(encoding="utf-8")
    flows = saved_flow_text(saved)
    (handshake,) = [
        e for e in map(json.loads, written.splitlines()) if e["event"] == "ws.handshake"
    ]
    assert handshake["status"] == 401 and "[redacted]" in handshake["error"]
    assert "[redacted]" in flows
    if flow_detail >= 2:
        assert "x-auth: [redacted]" in terminal.lower()
    for secret in PLANTED:
        assert secret not in terminal, f"{secret} on the terminal at flow_detail {flow_detail}"
        assert secret not in written, f"{secret} in the JSON lines"
        assert secret not in flows, f"{secret} in the saved flows"


async def test_unwritable_log_file_keeps_the_proxy_serving_and_events_on_the_terminal(
    confdir,
):
    """wswatch_log=/dev/full: one warning, every event still printed, the client served."""
    async with scenario_mitmdump(confdir, "wswatch_log=/dev/full", "wswatch_console=false") as (
        port,
        output,
    ):
        for _ in range(2):
            async with connect(f"ws://127.0.0.1:{port}/echo") as ws:
                await ws.send("ping")
                assert await ws.recv() == "ping"
    terminal = "".join(output)
    assert terminal.count("cannot write wswatch_log /dev/full: No space left on device") == 1
    assert terminal.count("[wswatch] ws.handshake ACCEPTED") == 2
    assert terminal.count("[wswatch] ws.closed 1000") == 2
    assert "[wswatch] session.summary  attempts=2" in terminal
    assert "Traceback" not in terminal and "Addon error" not in terminal
