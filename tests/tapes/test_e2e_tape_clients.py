"""Tapes end to end with the clients users have: Node's `ws` and a page in a real Chromium.

Each client streams to the Deepgram-like endpoint (`streaming.py`) through the proxy in reverse
mode while wswatch records; the endpoint is stopped; the same client streams again through a
proxy whose upstream host never resolves, answered from the tape. It must receive the same
messages in the same order and the same close; the events must say the connection was replayed
and from which tape; the tape must hold none of the credentials the client sent.

Gaps are not compared here: these clients run in processes of their own, and on a loaded
machine their timers and Chromium's delivery jitter by tens of milliseconds, live and replayed
alike (measured while writing this test: Chromium alone, no proxy, 90th percentile 11-17 ms,
worst 150 ms). The replay's timing is checked once, by the in-process client of
test_e2e_tapes.py (`test_replayed_gaps_are_the_recordings_or_scaled`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from proxy_harness import running_proxy
from report.browser import CHROMIUM_FLAGS, chromium_or_skip
from streaming import CHUNKS, REQUEST_ID, Session, streaming_endpoint
from verdicts.calibration_clients import NODE_CLIENT, node_or_skip

TOKEN = "tok-QUERY-5f1e9a7c3b"
BEARER = "bearer-HEADER-8c2d4e6f0a"
ACCESS = "access-MESSAGE-1b3d5f7a9c"
QUERY = f"/v1/listen?model=nova-3&token={TOKEN}"
#: A host that never resolves (RFC 6761), so a replay that contacts it fails loudly.
NOWHERE = "reverse:http://upstream.invalid:9"
#: Longest one client session may take (the clients give up on their own after 15 s).
SESSION_TIMEOUT_S = 20.0

#: A client session: (url, access token) -> what the client received.
Stream = Callable[[str, str], Awaitable[Session]]


@dataclass
class Outcome:
    live: Session
    replayed: Session
    tape: Path
    handshake: dict[str, Any]
    closed: dict[str, Any]
    seen_tokens: list[str]


async def _record_then_replay(tmp_path: Path, confdir: Path, stream: Stream) -> Outcome:
    """Record one session of `stream` against the endpoint, stop it, replay the tape to a new
    session of the same client."""
    tapes = tmp_path / "tapes"
    (tmp_path / "rec").mkdir()
    async with streaming_endpoint() as endpoint:
        async with running_proxy(
            tmp_path / "rec",
            f"reverse:http://127.0.0.1:{endpoint.port}",
            confdir,
            wswatch_record=str(tapes),
        ) as proxy:
            live = await stream(f"ws://127.0.0.1:{proxy.port}{QUERY}", ACCESS)
            await proxy.wait_for("tape.recorded")
    written = sorted(tapes.glob("*.tape.jsonl"))
    assert len(written) == 1, written
    (tmp_path / "rep").mkdir()
    async with running_proxy(
        tmp_path / "rep", NOWHERE, confdir, wswatch_replay=str(tapes)
    ) as proxy:
        replayed = await stream(f"ws://127.0.0.1:{proxy.port}{QUERY}", "another-token-entirely")
        closed = await proxy.wait_for("ws.closed")
        handshake = await proxy.wait_for("ws.handshake")
    return Outcome(live, replayed, written[0], handshake, closed, endpoint.seen_tokens)


def _check(outcome: Outcome, secrets: tuple[str, ...]) -> None:
    live, replayed = outcome.live, outcome.replayed
    assert outcome.seen_tokens == [ACCESS]  # the live session reached the real endpoint
    assert (live.close_code, live.close_reason) == (1000, "done")
    assert len(live.messages) == 2 + CHUNKS // 2, live.messages
    assert json.loads(live.messages[-1])["request_id"] == REQUEST_ID
    text = outcome.tape.read_text()
    for secret in secrets:
        assert secret not in text, secret
    assert replayed.messages == live.messages
    assert (replayed.close_code, replayed.close_reason) == (1000, "done")
    handshake, closed = outcome.handshake, outcome.closed
    assert handshake["replayed"] is True and handshake["tape"] == outcome.tape.name
    assert handshake["url"].startswith("ws://upstream.invalid"), handshake["url"]
    assert closed["replayed"] is True and closed["tape"] == outcome.tape.name
    assert (closed["close_code"], closed["closed_by"]) == (1000, "server")


async def test_a_node_ws_stream_replays_with_the_endpoint_stopped(tmp_path, confdir):
    node = node_or_skip()

    async def stream(url: str, token: str) -> Session:
        process = await asyncio.create_subprocess_exec(
            node,
            str(NODE_CLIENT / "tape_stream.js"),
            url,
            token,
            f"Authorization: Bearer {BEARER}",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), SESSION_TIMEOUT_S)
        lines = [json.loads(line) for line in out.decode().splitlines()]
        session = Session()
        for line in lines:
            if "message" in line:
                session.received.append((line["at"] / 1000, line["message"]))
            elif "close" in line:
                session.close_code, session.close_reason = line["close"], line["reason"]
            else:
                raise AssertionError(f"node client: {line}; stderr: {err.decode()}")
        assert process.returncode == 0, (lines, err.decode())
        return session

    _check(await _record_then_replay(tmp_path, confdir, stream), (TOKEN, BEARER, ACCESS))


#: The stream of `streaming.stream_session` in a page: Auth, CHUNKS binary chunks of 1 KB each
#: 30 ms after the previous send, CloseStream; each message received with its arrival
#: (performance.now(), ms since the open), and the close. Gives up after 15 s.
PAGE_STREAM = """([url, token, chunks]) => new Promise((resolve) => {
    const socket = new WebSocket(url);
    socket.binaryType = "arraybuffer";
    const got = [];
    const chunk = new Uint8Array(1024);
    for (let i = 0; i < chunk.length; i++) chunk[i] = i % 256;
    let opened = 0;
    let pending = null;
    const timer = setTimeout(() => resolve({got, timeout: true}), 15000);
    const sendChunk = (sent) => {
        pending = null;
        if (socket.readyState !== WebSocket.OPEN) return;
        socket.send(chunk);
        if (sent + 1 < chunks) pending = setTimeout(sendChunk, 30, sent + 1);
        else socket.send(JSON.stringify({type: "CloseStream"}));
    };
    socket.onopen = () => {
        opened = performance.now();
        socket.send(JSON.stringify({type: "Auth", access_token: token}));
        pending = setTimeout(sendChunk, 30, 0);
    };
    socket.onmessage = (event) => {
        const at = performance.now() - opened;
        const data = event.data;
        got.push({at, message: typeof data === "string" ? data : `<binary ${data.byteLength}>`});
    };
    socket.onclose = (event) => {
        clearTimeout(timer);
        if (pending !== null) clearTimeout(pending);
        resolve({got, code: event.code, reason: event.reason});
    };
})"""


async def test_a_chromium_stream_replays_with_the_endpoint_stopped(tmp_path, confdir):
    executable = chromium_or_skip()
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable, headless=True, args=list(CHROMIUM_FLAGS)
        )
        try:

            async def stream(url: str, token: str) -> Session:
                page = await browser.new_page()
                try:
                    seen = await asyncio.wait_for(
                        page.evaluate(PAGE_STREAM, [url, token, CHUNKS]), SESSION_TIMEOUT_S
                    )
                finally:
                    await page.close()
                assert not seen.get("timeout"), seen
                session = Session([(each["at"] / 1000, each["message"]) for each in seen["got"]])
                session.close_code, session.close_reason = seen["code"], seen["reason"]
                return session

            outcome = await _record_then_replay(tmp_path, confdir, stream)
        finally:
            await browser.close()
    # A page cannot set an Authorization header: its secrets are the query's and the message's.
    _check(outcome, (TOKEN, ACCESS))
