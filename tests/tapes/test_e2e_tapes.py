"""Tapes end to end: record a real client's session at the proxy against a real streaming
endpoint, stop the endpoint, replay, and check what a new client receives, in every mode."""

from __future__ import annotations

import itertools
import json
import ssl
from pathlib import Path

import jsonschema
import pytest
from proxy_harness import running_proxy
from streaming import (
    CHUNKS,
    REQUEST_ID,
    stream_session,
    stream_session_absolute,
    streaming_endpoint,
)
from upstreams import forward_proxy, self_signed_context
from wswatchlib.tapes.schema import tape_schema

MODES = ["reverse", "regular-connect", "regular-connect-tls", "upstream"]
TOKEN = "tok-QUERY-5f1e9a7c3b"
BEARER = "bearer-HEADER-8c2d4e6f0a"
ACCESS = "access-MESSAGE-1b3d5f7a9c"
#: A host that never resolves (RFC 6761), so a replay that contacts it fails loudly.
NOWHERE = "reverse:http://upstream.invalid:9"


def _proxy_mode(mode: str, port: int, forwarder: int) -> str:
    if mode == "upstream":
        return f"upstream:http://127.0.0.1:{forwarder}"
    return f"reverse:http://127.0.0.1:{port}" if mode == "reverse" else "regular"


def _client(mode: str, proxy_port: int, endpoint_port: int, confdir: Path, tls: bool):
    """(url, websockets options) for a client reaching the endpoint through the proxy."""
    query = f"/v1/listen?model=nova-3&token={TOKEN}"
    options: dict = {"additional_headers": {"Authorization": f"Bearer {BEARER}"}}
    if mode == "reverse":
        return f"ws://127.0.0.1:{proxy_port}{query}", options | {"proxy": None}
    options["proxy"] = f"http://127.0.0.1:{proxy_port}"
    if tls:
        options["ssl"] = ssl.create_default_context(cafile=str(confdir / "mitmproxy-ca-cert.pem"))
    scheme = "wss" if tls else "ws"
    return f"{scheme}://127.0.0.1:{endpoint_port}{query}", options


@pytest.mark.parametrize(
    ("mode", "tcp_flows"),
    [(mode, False) for mode in MODES] + [("reverse", True)],
    ids=[*MODES, "reverse-tcp-flow"],
)
async def test_a_recorded_stream_replays_with_the_endpoint_stopped(
    mode: str, tcp_flows: bool, tmp_path: Path, confdir: Path
) -> None:
    """The replayed client gets the recorded messages in order, and the same close; the
    endpoint is down (reverse: its host does not even resolve), and in upstream mode the
    upstream proxy sees nothing of the replay. Recorded on the observe relay, with a TCP flow
    (another addon sees TCP flows) or without."""
    tapes = tmp_path / "tapes"
    tls = mode == "regular-connect-tls"
    server_tls = self_signed_context(tmp_path) if tls else None
    extra = {"ssl_insecure": True} if tls else {}
    (tmp_path / "rec").mkdir()
    async with streaming_endpoint(server_tls) as endpoint, forward_proxy() as forwarder:
        async with running_proxy(
            tmp_path / "rec",
            _proxy_mode(mode, endpoint.port, forwarder.port),
            confdir,
            wswatch_record=str(tapes),
            tcp_flows=tcp_flows,
            **extra,
        ) as proxy:
            url, options = _client(mode, proxy.port, endpoint.port, confdir, tls)
            live = await stream_session(url, ACCESS, **options)
            await proxy.wait_for("tape.recorded")
            assert proxy.events("ws.closed")[0]["relay"] == "observe"
        port = endpoint.port
    assert live.close_code == 1000 and len(live.messages) == 2 + CHUNKS // 2
    written = sorted(tapes.glob("*.tape.jsonl"))
    assert len(written) == 1
    text = written[0].read_text()
    for secret in (TOKEN, BEARER, ACCESS):
        assert secret not in text
    for line in text.splitlines():
        jsonschema.validate(json.loads(line), tape_schema())
    (tmp_path / "rep").mkdir()
    async with (
        forward_proxy() as forwarder,
        running_proxy(
            tmp_path / "rep",
            NOWHERE if mode == "reverse" else _proxy_mode(mode, port, forwarder.port),
            confdir,
            wswatch_replay=str(tapes),
            **extra,
        ) as proxy,
    ):
        url, options = _client(mode, proxy.port, port, confdir, tls)
        replayed = await stream_session(url, "another-token-entirely", **options)
        closed = await proxy.wait_for("ws.closed")
        handshake = proxy.events("ws.handshake")[0]
        assert forwarder.requests == []
    assert replayed.messages == live.messages
    assert (replayed.close_code, replayed.close_reason) == (1000, "done")
    assert handshake["replayed"] is True and handshake["tape"] == written[0].name
    assert handshake["url"].startswith("wss://127.0.0.1:" if tls else "ws://")
    assert "upstream.invalid" in handshake["url"] or mode != "reverse"
    assert closed["replayed"] is True and closed["close_code"] == 1000
    assert closed["closed_by"] == "server"
    assert json.loads(replayed.messages[-1])["request_id"] == REQUEST_ID


async def test_an_absolute_form_client_replays_a_tunnelled_recording(tmp_path, confdir) -> None:
    """Regular mode without a tunnel: aiohttp sends `GET http://host/path`; it matches the
    tape a CONNECT-tunnelled client recorded (method, path, query) and gets the same stream,
    with the endpoint stopped."""
    tapes = tmp_path / "tapes"
    (tmp_path / "rec").mkdir()
    async with streaming_endpoint() as endpoint:
        async with running_proxy(
            tmp_path / "rec", "regular", confdir, wswatch_record=str(tapes)
        ) as proxy:
            url, options = _client("regular-connect", proxy.port, endpoint.port, confdir, False)
            live = await stream_session(url, ACCESS, **options)
            await proxy.wait_for("tape.recorded")
    (tmp_path / "rep").mkdir()
    async with running_proxy(
        tmp_path / "rep", "regular", confdir, wswatch_replay=str(tapes)
    ) as proxy:
        replayed = await stream_session_absolute(url, ACCESS, proxy.url)
        closed = await proxy.wait_for("ws.closed")
    assert replayed.messages == live.messages
    assert replayed.close_code == 1000 and closed["replayed"] is True


def server_gaps(tape: Path) -> list[float]:
    """Seconds between the recorded server messages of a tape."""
    times = [
        line["t"] / 1000
        for line in map(json.loads, tape.read_text().splitlines()[1:])
        if line.get("from") == "server"
    ]
    return [later - earlier for earlier, later in itertools.pairwise(times)]


@pytest.mark.parametrize("speed", ["1", "2"])
async def test_replayed_gaps_are_the_recordings_or_scaled(tmp_path, confdir, speed) -> None:
    """On the server's own clock (gate none), the client sees the recorded gaps between
    server messages within 10 ms, divided by the speed factor."""
    tapes = tmp_path / "tapes"
    (tmp_path / "rec").mkdir()
    async with streaming_endpoint() as endpoint:
        async with running_proxy(
            tmp_path / "rec",
            f"reverse:http://127.0.0.1:{endpoint.port}",
            confdir,
            wswatch_record=str(tapes),
        ) as proxy:
            url, options = _client("reverse", proxy.port, endpoint.port, confdir, False)
            await stream_session(url, ACCESS, **options)
            await proxy.wait_for("tape.recorded")
    (tmp_path / "rep").mkdir()
    async with running_proxy(
        tmp_path / "rep",
        NOWHERE,
        confdir,
        wswatch_replay=str(tapes),
        wswatch_replay_gate="none",
        wswatch_replay_speed=speed,
    ) as proxy:
        url, options = _client("reverse", proxy.port, 9, confdir, False)
        replayed = await stream_session(url, ACCESS, **options)
    expected = [gap / float(speed) for gap in server_gaps(next(tapes.glob("*.tape.jsonl")))]
    assert len(replayed.gaps()) == len(expected) == 5
    for wanted, seen in zip(expected, replayed.gaps(), strict=True):
        assert abs(wanted - seen) < 0.010, (expected, replayed.gaps())
