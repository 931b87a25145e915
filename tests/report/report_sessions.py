"""The real session the report's browser tests show: the one function that makes its events.

Real mitmproxy with wswatch in reverse mode before the scenario upstream (tests/upstreams.py),
real `websockets` clients on 127.0.0.1, each naming itself in `x-client-id` (the client key),
and the report written by the proxy itself (`wswatch_report`) when it stops. Swap the body of
`record_session` for another real session (the README's example) and the tests still hold:
they read what they check from the events, not from this file.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from proxy_harness import RunningProxy, scenario_proxy
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

#: One fault rule: the first two attempts of each client on /v1/* get an injected 503.
FAULTS = """\
rules:
  - id: flaky-503
    match: {path: "/v1/*"}
    when: {first: 2, per: client}
    action: {reject: {preset: unavailable-503}}
"""

#: Each client's name and what it does (the lanes a reader sees).
CLIENTS = ("steady-app", "hot-loop-app", "rate-limited-app", "flaky-app", "deepgram-app")


@dataclass(frozen=True)
class RecordedSession:
    events: Path
    report: Path


async def _attempt(proxy: RunningProxy, client: str, path: str, talk: bool = True) -> None:
    """One upgrade attempt by `client`: on success send a message, read the answer, close."""
    url = f"ws://127.0.0.1:{proxy.port}{path}"
    try:
        async with connect(url, additional_headers={"x-client-id": client}, open_timeout=5) as ws:
            if talk:
                await ws.send(f"hello from {client}")
                await asyncio.wait_for(ws.recv(), 5)
    except (InvalidStatus, ConnectionClosed):
        pass


async def record_session(tmp_path: Path, confdir: Path) -> RecordedSession:
    """Run the session through a real proxy; return its JSON-lines file and the HTML report the
    proxy wrote at stop. The proxy has stopped when this returns."""
    faults = tmp_path / "faults.yaml"
    faults.write_text(FAULTS)
    report = tmp_path / "proxy-report.html"
    async with scenario_proxy(
        tmp_path,
        confdir,
        wswatch_client_key="header:x-client-id",
        wswatch_faults=[str(faults)],
        wswatch_report=str(report),
    ) as proxy:
        for _ in range(2):  # connects, talks, closes normally
            await _attempt(proxy, "steady-app", "/chat")
            await asyncio.sleep(0.3)
        for _ in range(8):  # a 400 retried at once, over and over
            await _attempt(proxy, "hot-loop-app", "/bad400")
            await asyncio.sleep(0.02)
        for _ in range(3):  # 429 with Retry-After: 7, retried after 0.3 s anyway
            await _attempt(proxy, "rate-limited-app", "/ratelimit")
            await asyncio.sleep(0.3)
        for _ in range(3):  # two injected 503s, then in
            await _attempt(proxy, "flaky-app", "/v1/flaky")
            await asyncio.sleep(0.25)
        await _attempt(proxy, "deepgram-app", "/net0001")  # Deepgram closes with 1011
        await _attempt(proxy, "steady-app", "/abort", talk=True)  # the server drops it (1006)
        expected = 2 + 8 + 3 + 3 + 1 + 1
        await proxy.wait_for(
            "ws.handshake", lambda _: len(proxy.events("ws.handshake")) == expected
        )
        await proxy.wait_for("ws.closed", lambda _: len(proxy.events("ws.closed")) == 5)
    return RecordedSession(proxy.log_path, report)
