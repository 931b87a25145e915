"""Scripted streams seen by the clients users have: Node's `ws` and a page in a real Chromium.

The same script for both, through the real proxy in reverse mode in front of the scenario
echo upstream: a client's `Configure` is swallowed and answered by an injected error event
quoting its request id, in place of the server; then the server "fails": close 1011. Each client
must see the error event, then the close, in that order, and the upstream must never answer
Configure (it never saw it).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from proxy_harness import scenario_proxy
from report.browser import CHROMIUM_FLAGS, chromium_or_skip
from verdicts.calibration_clients import NODE_CLIENT, node_or_skip

CONFIGURE = json.dumps({"type": "Configure", "request_id": "req-42"})

SCRIPT = """\
rules:
  - id: configure-refused
    action:
      script:
        - wait: {message: {from: client, json: {type: Configure}}}
        - swallow: {}
        - send: {to: client, json: {type: Error, description: unsupported feature, \
request_id: "{{message.json.request_id}}"}}
        - wait: {s: 0.1}
        - close: {code: 1011, reason: server error, toward: client}
"""

EXPECTED_ERROR = {"type": "Error", "description": "unsupported feature", "request_id": "req-42"}


def rules(tmp_path: Path) -> list[str]:
    path = tmp_path / "configure.yaml"
    path.write_text(SCRIPT)
    return [str(path)]


async def test_node_ws_sees_the_injected_error_then_the_close(tmp_path, confdir):
    node = node_or_skip()
    async with scenario_proxy(tmp_path, confdir, wswatch_faults=rules(tmp_path)) as proxy:
        process = await asyncio.create_subprocess_exec(
            node,
            str(NODE_CLIENT / "conversation.js"),
            f"ws://127.0.0.1:{proxy.port}/echo",
            "hello",
            CONFIGURE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 20)
        end = await proxy.wait_for("ws.closed")
    lines = [json.loads(line) for line in out.decode().splitlines()]
    assert lines == [
        {"message": "hello"},
        {"message": json.dumps(EXPECTED_ERROR, separators=(",", ":"))},
        {"close": 1011, "reason": "server error"},
    ], err.decode()
    assert (end["close_code"], end["closed_by"]) == (1011, "proxy")
    assert end["injected_messages"] == {"to_client": 1, "to_server": 0}


async def test_a_chromium_page_sees_the_injected_error_then_the_close(tmp_path, confdir):
    executable = chromium_or_skip()
    from playwright.async_api import async_playwright

    async with (
        scenario_proxy(tmp_path, confdir, wswatch_faults=rules(tmp_path)) as proxy,
        async_playwright() as playwright,
    ):
        browser = await playwright.chromium.launch(
            executable_path=executable, headless=True, args=list(CHROMIUM_FLAGS)
        )
        try:
            page = await browser.new_page()
            seen = await page.evaluate(
                """([url, configure]) => new Promise((resolve) => {
                    const socket = new WebSocket(url);
                    const got = [];
                    const timer = setTimeout(() => resolve({got, timeout: true}), 10000);
                    socket.onopen = () => socket.send("hello");
                    socket.onmessage = (event) => {
                        got.push(event.data);
                        if (event.data === "hello") socket.send(configure);
                    };
                    socket.onclose = (event) => {
                        clearTimeout(timer);
                        resolve({got, code: event.code, reason: event.reason});
                    };
                })""",
                [f"ws://127.0.0.1:{proxy.port}/echo", CONFIGURE],
            )
        finally:
            await browser.close()
        end = await proxy.wait_for("ws.closed")
    assert [json.loads(text) if text.startswith("{") else text for text in seen["got"]] == [
        "hello",
        EXPECTED_ERROR,
    ]
    assert (seen.get("code"), seen.get("reason")) == (1011, "server error")
    assert (end["close_code"], end["closed_by"]) == (1011, "proxy")
