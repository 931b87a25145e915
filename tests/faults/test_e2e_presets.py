"""Every script preset through the real proxy (reverse mode): the client gets the vendor's
message and close, in that order. The scripts and their modes: test_e2e_scripts.py."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path
from typing import Any

import pytest
import websockets
from proxy_harness import scenario_proxy
from test_scripts import SCRIPT_PRESETS
from websockets.asyncio.client import connect

HA_AUTH = json.dumps({"type": "auth", "access_token": "ha-token"})
POLYGON_AUTH = json.dumps({"action": "auth", "params": "poly-key"})

#: preset -> (what the client sends after "go", (key, value) the vendor message holds, close).
EXPECTED: dict[str, tuple[str | None, tuple[str, Any] | None, tuple[int, str] | None]] = {
    "openai-realtime-rate-limit": (None, ("code", "rate_limit_exceeded"), None),
    "openai-realtime-server-error": (None, ("type", "server_error"), (1011, "server error")),
    "slack-disconnect-refresh-requested": (None, ("reason", "refresh_requested"), (1000, "")),
    "slack-disconnect-warning": (None, ("reason", "warning"), (1000, "")),
    "slack-disconnect-link-disabled": (None, ("reason", "link_disabled"), (1000, "")),
    "home-assistant-auth-invalid": (HA_AUTH, ("type", "auth_invalid"), (1000, "")),
    "polygon-auth-failed": (
        POLYGON_AUTH,
        ("status", "auth_failed"),
        (1008, "authentication failed"),
    ),
    "graphql-ws-4401": (None, None, (4401, "Unauthorized")),
    "graphql-ws-4403": (None, None, (4403, "Forbidden")),
    "graphql-ws-4408": (None, None, (4408, "Connection initialisation timeout")),
    "graphql-ws-4429": (None, None, (4429, "Too many initialisation requests")),
    "deepgram-idle-timeout": (None, None, (1011, "NET-0001: did not receive audio data")),
}


def found(document: Any, key: str, value: Any) -> bool:
    """Whether `document` holds `key: value` at any depth."""
    if isinstance(document, dict):
        return document.get(key) == value or any(found(v, key, value) for v in document.values())
    if isinstance(document, list):
        return any(found(item, key, value) for item in document)
    return False


def test_every_script_preset_is_checked_here():
    assert sorted(EXPECTED) == sorted(SCRIPT_PRESETS)


@pytest.mark.parametrize("preset", sorted(EXPECTED))
async def test_each_preset_acts_as_its_vendor_does(preset, tmp_path: Path, confdir: Path):
    extra, holds, close = EXPECTED[preset]
    rules = tmp_path / "presets.yaml"
    rules.write_text(
        "rules:\n  - id: preset\n    action:\n      script:\n"
        "        - wait: {message: {from: client, text: go}}\n"
        f"        - preset: {preset}\n"
    )
    received: list[str] = []
    closed_with: tuple[int, str] | None = None
    async with scenario_proxy(tmp_path, confdir, wswatch_faults=[str(rules)]) as proxy:
        started = time.monotonic()
        async with connect(f"ws://127.0.0.1:{proxy.port}/echo", proxy=None) as ws:
            await ws.send("go")
            if extra is not None:
                await ws.send(extra)
            with contextlib.suppress(websockets.ConnectionClosed, TimeoutError):
                # The echo of "go", the vendor's message, then the close (deepgram's after
                # 10 s); a preset that does not close: what it sent within 1 s, then stop.
                for _ in range(5):
                    received.append(await asyncio.wait_for(ws.recv(), 15 if close else 1))
            if ws.close_code is not None and close is not None:
                closed_with = (ws.close_code, ws.close_reason)
        end = await proxy.wait_for("ws.closed", timeout=20)
    documents = [json.loads(text) for text in received if text.startswith(("{", "["))]
    if holds is not None:
        assert any(found(document, *holds) for document in documents), received
    if extra is not None:
        assert extra not in received, "the auth message reached the upstream (it was echoed)"
    if close is None:
        assert end["closed_by"] == "client"
        return
    assert closed_with is not None and closed_with[0] == close[0]
    assert closed_with[1].startswith(close[1])
    assert (end["close_code"], end["closed_by"], end["injected"]) == (close[0], "proxy", True)
    if preset == "deepgram-idle-timeout":
        assert time.monotonic() - started >= 10
