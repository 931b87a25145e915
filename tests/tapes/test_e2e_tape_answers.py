"""Tapes end to end, beyond one stream: refusals replayed byte for byte, attempts in recording
order, faults and verdicts on replayed connections, requests no tape matches, client messages
that differ from the recording's."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import websockets
from proxy_harness import RunningProxy, running_proxy
from streaming import CHUNK, CHUNKS, REQUEST_ID, stream_session, streaming_endpoint
from websockets.asyncio.client import connect

REPO = Path(__file__).resolve().parents[2]
NOWHERE = "reverse:http://upstream.invalid:9"
UPGRADE = (
    "GET {path} HTTP/1.1\r\nHost: api.example.test\r\nUpgrade: websocket\r\n"
    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\nAuthorization: Token sk-live-{secret}\r\n\r\n"
)


async def raw_answer(port: int, path: str, secret: str) -> bytes:
    """The exact bytes a client gets for an upgrade request answered without a 101: the head
    and the body its Content-Length announces."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(UPGRADE.format(path=path, secret=secret).encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        length = 0
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return head + await asyncio.wait_for(reader.readexactly(length), 5)
    finally:
        writer.close()


async def recorded(tmp_path: Path, confdir: Path, work: Any, **options: Any) -> Path:
    """Run `work(proxy_port)` through a recording reverse proxy in front of the streaming
    endpoint; the endpoint is stopped on return. Returns the tapes' directory."""
    tapes = tmp_path / "tapes"
    (tmp_path / "rec").mkdir(exist_ok=True)
    async with (
        streaming_endpoint() as endpoint,
        running_proxy(
            tmp_path / "rec",
            f"reverse:http://127.0.0.1:{endpoint.port}",
            confdir,
            wswatch_record=str(tapes),
            **options,
        ) as proxy,
    ):
        await work(proxy)
    return tapes


@contextlib.asynccontextmanager
async def replaying(tmp_path: Path, confdir: Path, tapes: Path, **options: Any):
    (tmp_path / "rep").mkdir(exist_ok=True)
    async with running_proxy(
        tmp_path / "rep", NOWHERE, confdir, wswatch_replay=str(tapes), **options
    ) as proxy:
        yield proxy


async def test_a_recorded_401_with_dg_error_replays_byte_for_byte(tmp_path, confdir):
    """A refusal is answered from the tape exactly as the endpoint sent it (status line,
    headers in order, body), and reported as the live one was, marked replayed."""
    live: dict[str, Any] = {}

    async def work(proxy: RunningProxy) -> None:
        live["bytes"] = await raw_answer(proxy.port, "/v1/listen?fail=401", "A1b2C3d4E5")
        await proxy.wait_for("tape.recorded")
        live["event"] = proxy.events("ws.handshake")[0]

    tapes = await recorded(tmp_path, confdir, work)
    assert b"sk-live-A1b2C3d4E5" not in next(tapes.glob("*.tape.jsonl")).read_bytes()
    async with replaying(tmp_path, confdir, tapes) as proxy:
        replayed = await raw_answer(proxy.port, "/v1/listen?fail=401", "Zz9Yy8Xx7W")
        event = await proxy.wait_for("ws.handshake")
    assert replayed == live["bytes"]
    assert b"dg-error: Invalid credentials." in replayed and REQUEST_ID.encode() in replayed
    for name in ("outcome", "status", "vendor", "request_id", "error", "hint", "path"):
        assert event[name] == live["event"][name], name
    assert (event["replayed"], event["tape"]) == (True, next(tapes.glob("*")).name)


async def retrying_client(url: str, attempts: int = 3) -> list[Any]:
    """What each attempt got: the status of a refusal, or the stream's messages and close."""
    seen: list[Any] = []
    for _ in range(attempts):
        try:
            async with connect(url, open_timeout=5) as ws:
                await ws.send(json.dumps({"type": "Auth", "access_token": "t0ken-abcdef"}))
                first = await asyncio.wait_for(ws.recv(), 5)
                await ws.send(json.dumps({"type": "CloseStream"}))
                rest = [message async for message in ws]
                seen.append([first, *rest, ws.close_code])
                return seen
        except websockets.InvalidStatus as refused:
            seen.append(refused.response.status_code)
    return seen


def analysed(log: Path) -> set[tuple[str, str]]:
    done = subprocess.run(
        [sys.executable, "-m", "wswatchlib.cli", "analyse", "--json", str(log)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO / "addons")},
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr
    return {(f["rule"], f["severity"]) for f in json.loads(done.stdout)["findings"]}


async def test_a_recorded_429_then_101_replays_in_order_and_grades_alike(tmp_path, confdir):
    """The first attempt gets the recorded 429, the retry the recorded stream; `wswatch
    analyse` finds the same things in the replayed session's events as in the live one's."""
    live: dict[str, Any] = {}

    async def work(proxy: RunningProxy) -> None:
        live["seen"] = await retrying_client(f"ws://127.0.0.1:{proxy.port}/v1/flaky")
        await proxy.wait_for("tape.recorded", lambda e: e["outcome"] == "accepted")
        live["log"] = proxy.log_path

    tapes = await recorded(tmp_path, confdir, work)
    assert len(list(tapes.glob("*.tape.jsonl"))) == 2
    async with replaying(tmp_path, confdir, tapes) as proxy:
        seen = await retrying_client(f"ws://127.0.0.1:{proxy.port}/v1/flaky")
        await proxy.wait_for("ws.closed")
        replay_log = proxy.log_path
        handshakes = proxy.events("ws.handshake")
    assert seen == live["seen"]
    assert seen[0] == 429 and seen[1][-1] == 1000
    assert [h["status"] for h in handshakes] == [429, 101]
    assert handshakes[0]["retry_after"] == 1
    assert analysed(replay_log) == analysed(live["log"])


async def stream_through(proxy: RunningProxy):
    return await stream_session(f"ws://127.0.0.1:{proxy.port}/v1/listen?model=nova-3", "secret-tok")


async def one_stream(proxy: RunningProxy) -> None:
    """The recording most tests replay: one streaming session, its tape written."""
    await stream_through(proxy)
    await proxy.wait_for("tape.recorded")


@pytest.mark.parametrize("relay", ["observe", "websocket"])
async def test_a_fault_rule_acts_on_a_replayed_stream(tmp_path, confdir, relay):
    """A close after N messages cuts the replayed stream as it would the live one; the events
    say both that it was replayed and that a fault was injected. Recorded on either relay."""

    tapes = await recorded(tmp_path, confdir, one_stream, wswatch_relay=relay)
    header = json.loads(next(tapes.glob("*.tape.jsonl")).read_text().splitlines()[0])
    assert header["relay"] == relay
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n  - id: cut\n    action: {close: {code: 4001, reason: bye, after_messages: 4}}\n"
    )
    async with replaying(tmp_path, confdir, tapes, wswatch_faults=[str(rules)]) as proxy:
        session = await stream_through(proxy)
        closed = await proxy.wait_for("ws.closed")
    assert (session.close_code, session.close_reason) == (4001, "bye")
    assert closed["replayed"] is True and closed["injected"] is True
    assert closed["rule_id"] == "cut" and closed["closed_by"] == "proxy"


async def test_a_request_no_tape_matches_fails_loudly_and_reaches_nobody(tmp_path, confdir):
    """`fail`: an HTTP 404 whose body names the request and the tapes searched, a tape.miss
    event, and no connection to the endpoint (it is running here and counts attempts)."""

    tapes = await recorded(tmp_path, confdir, one_stream)
    async with streaming_endpoint() as endpoint:
        (tmp_path / "rep").mkdir()
        async with running_proxy(
            tmp_path / "rep",
            f"reverse:http://127.0.0.1:{endpoint.port}",
            confdir,
            wswatch_replay=str(tapes),
        ) as proxy:
            answer = await raw_answer(proxy.port, "/v1/speak?voice=aura", "Q1w2E3r4T5")
            miss = await proxy.wait_for("tape.miss")
        assert endpoint.attempts == {}
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 404 No Tape")
    assert b"no tape matches GET /v1/speak?voice=aura" in body
    assert b"GET /v1/listen?model=nova-3: 2026" in body or b"GET /v1/listen?model=nova-3: " in body
    assert b"Q1w2E3r4T5" not in answer
    assert miss["request"] == "GET /v1/speak?voice=aura" and miss["tapes"] == 1


async def test_on_miss_record_captures_then_replays(tmp_path, confdir):
    """`record`: a request no tape matches goes to the endpoint and is recorded; the same
    request later replays from that tape with the endpoint gone."""
    tapes = tmp_path / "tapes"
    (tmp_path / "rep").mkdir()
    async with streaming_endpoint() as endpoint:
        async with running_proxy(
            tmp_path / "rep",
            f"reverse:http://127.0.0.1:{endpoint.port}",
            confdir,
            wswatch_replay=str(tapes),
            wswatch_replay_on_miss="record",
        ) as proxy:
            live = await stream_through(proxy)
            await proxy.wait_for("tape.recorded")
            replayed = await stream_through(proxy)
            await proxy.wait_for("ws.closed", lambda e: e["replayed"])
    assert endpoint.attempts == {"/v1/listen": 1}  # the second session never reached it
    assert replayed.messages == live.messages and replayed.close_code == 1000
    assert len(live.messages) == 2 + CHUNKS // 2


@pytest.mark.parametrize(("on_mismatch", "code"), [("continue", 1000), ("close", 1008)])
async def test_a_client_message_unlike_the_recording_is_reported(
    tmp_path, confdir, on_mismatch, code
):
    """json matching with an ignored path: the access token may differ, the message type may
    not; the difference is a tape.mismatch event naming the field, then play goes on or the
    connection closes with 1008."""

    tapes = await recorded(tmp_path, confdir, one_stream)
    async with replaying(
        tmp_path,
        confdir,
        tapes,
        wswatch_replay_match="json",
        wswatch_replay_ignore=["access_token"],
        wswatch_replay_on_mismatch=on_mismatch,
    ) as proxy:
        async with connect(f"ws://127.0.0.1:{proxy.port}/v1/listen?model=nova-3") as ws:
            await ws.send(json.dumps({"type": "Login", "access_token": "whatever-else"}))
            received = []
            with contextlib.suppress(websockets.ConnectionClosed):
                received.append(await asyncio.wait_for(ws.recv(), 5))
                if on_mismatch == "close":
                    await asyncio.wait_for(ws.wait_closed(), 5)
            # continue: the client closes (1000) once it has the answer
        seen_code, reason = ws.close_code, ws.close_reason
        mismatch = await proxy.wait_for("tape.mismatch")
    assert mismatch["message"] == 1
    assert mismatch["diff"] == 'type: recorded "Auth", sent "Login"'
    assert seen_code == code
    if on_mismatch == "close":
        assert reason.startswith("wswatch tape mismatch: type")
    else:  # play went on: the recorded answer to the first message came
        assert json.loads(received[0]) == {"type": "Ready"}


async def test_no_secret_reaches_a_tape_and_the_replay_works_without_them(tmp_path, confdir):
    """The query token (echoed back by the server inside a message), the Authorization header
    and the access token in the first message are in no tape; a client with other credentials
    gets the same stream from it."""
    secrets = ("Q-tok-0a1b2c3d4e", "H-bearer-5f6a7b8c9d", "M-access-e0f1a2b3c4")
    url = "/v1/listen?model=nova-3&echo=1&token=" + secrets[0]

    async def work(proxy: RunningProxy) -> None:
        work.live = await stream_session(  # type: ignore[attr-defined]
            f"ws://127.0.0.1:{proxy.port}{url}",
            secrets[2],
            additional_headers={"Authorization": f"Bearer {secrets[1]}"},
        )
        await proxy.wait_for("tape.recorded")

    tapes = await recorded(tmp_path, confdir, work)
    text = "".join(path.read_text() for path in tapes.glob("*.tape.jsonl"))
    assert [secret for secret in secrets if secret in text] == []
    assert "token=[redacted]" in text
    async with replaying(tmp_path, confdir, tapes) as proxy:
        replayed = await stream_session(
            f"ws://127.0.0.1:{proxy.port}/v1/listen?model=nova-3&echo=1&token=other-one",
            "other-access",
        )
    # The server's quote of the URL comes back as recorded: scrubbed.
    live = work.live.messages  # type: ignore[attr-defined]
    assert replayed.messages == [message.replace(secrets[0], "[redacted]") for message in live]
    assert secrets[0] in live[0] and replayed.close_code == 1000


async def test_a_handshake_fault_answers_before_the_tape_is_taken(tmp_path, confdir):
    """A 429 on the second attempt (a handshake fault) over a replayed endpoint: the first and
    third attempts get the recorded stream, the second the fault's 429."""

    tapes = await recorded(tmp_path, confdir, one_stream)
    rules = tmp_path / "second.yaml"
    rules.write_text(
        "rules:\n  - id: second-429\n    when: {after: 1, first: 2}\n"
        "    action: {reject: {status: 429, headers: {retry-after: '2'}}}\n"
    )
    async with replaying(tmp_path, confdir, tapes, wswatch_faults=[str(rules)]) as proxy:
        first = await stream_through(proxy)
        with pytest.raises(websockets.InvalidStatus) as refused:
            await stream_through(proxy)
        third = await stream_through(proxy)
        handshakes = proxy.events("ws.handshake")
    assert refused.value.response.status_code == 429
    assert first.messages == third.messages and third.close_code == 1000
    assert [(h["status"], h["replayed"], h["injected"]) for h in handshakes] == [
        (101, True, False),
        (429, False, True),
        (101, True, False),
    ]


async def test_on_miss_passthrough_reaches_the_endpoint_and_says_so(tmp_path, confdir):
    """`passthrough`: a request no tape matches goes to the real endpoint; its events say it was
    not replayed, and the tape.miss event says what happened."""

    tapes = await recorded(tmp_path, confdir, one_stream)
    async with streaming_endpoint() as endpoint:
        (tmp_path / "rep").mkdir()
        async with running_proxy(
            tmp_path / "rep",
            f"reverse:http://127.0.0.1:{endpoint.port}",
            confdir,
            wswatch_replay=str(tapes),
            wswatch_replay_on_miss="passthrough",
        ) as proxy:
            live = await stream_session(f"ws://127.0.0.1:{proxy.port}/v1/other", "tok-123456")
            miss = await proxy.wait_for("tape.miss")
            closed = await proxy.wait_for("ws.closed")
    assert endpoint.attempts == {"/v1/other": 1}
    assert live.close_code == 1000 and miss["then"] == "passthrough"
    assert closed["replayed"] is False and closed["tape"] is None


@pytest.mark.parametrize(("gate", "first_result_after"), [("bytes", 2048), ("messages", 1024)])
async def test_gating_by_bytes_follows_the_audio_not_the_chunks(
    tmp_path, confdir, gate, first_result_after
):
    """Recorded with 1 KB chunks, replayed to a client sending 512 B chunks: gated by bytes,
    the first result waits for 2 KB of audio as recorded; gated by messages, for two chunks."""

    tapes = await recorded(tmp_path, confdir, one_stream)
    async with replaying(tmp_path, confdir, tapes, wswatch_replay_gate=gate) as proxy:
        session = await stream_session(
            f"ws://127.0.0.1:{proxy.port}/v1/listen?model=nova-3",
            "tok",
            chunk=CHUNK[:512],
            chunks=CHUNKS * 2,
        )
    first_result = next(number for number, text in enumerate(session.messages) if "Results" in text)
    assert session.sent_before[first_result] == first_result_after
    assert session.close_code == 1000


async def test_a_mismatch_shows_no_credential_and_a_new_token_is_no_mismatch(tmp_path, confdir):
    """Exact matching compares the client's text as a tape keeps it, scrubbed: an Auth with a
    new access token matches the recording; a Login carrying a token is a mismatch whose diff,
    event and terminal line show `[redacted]`, never the token."""
    leaky = "LEAK-tok-9f8e7d6c5b4a"
    tapes = await recorded(tmp_path, confdir, one_stream)
    async with replaying(tmp_path, confdir, tapes, wswatch_replay_match="exact") as proxy:
        url = f"ws://127.0.0.1:{proxy.port}/v1/listen?model=nova-3"
        async with connect(url) as ws:
            await ws.send(json.dumps({"type": "Auth", "access_token": "a-brand-new-token-42"}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 5)) == {"type": "Ready"}
        await proxy.wait_for("ws.closed")
        async with connect(url) as ws:  # the same tape again
            await ws.send(json.dumps({"type": "Login", "access_token": leaky}))
            mismatch = await proxy.wait_for("tape.mismatch")
    assert len(proxy.events("tape.mismatch")) == 1  # the Auth with a new token matched
    assert mismatch["message"] == 1
    assert "[redacted]" in mismatch["diff"]
    assert leaky not in proxy.log_path.read_text()
    assert not [line for line in proxy.console.lines if leaky in line]
