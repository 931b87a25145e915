"""A script's templates never put a handshake secret into a message, and what a script sends
is redacted in every output like any peer's message.

An attacker's test through real `mitmdump -s addons/wswatch.py` at flow_detail 3: the client's
handshake carries a bearer token, a secret query parameter and a cookie; a script answers the
client's auth message with templates that ask for each of them, and with one that repeats the
auth message's own access token. The client gets `[redacted]` for every handshake secret; every
output (JSON file, terminal, `-w` flows, HAR, HTML report, /metrics) is searched for every form of every secret.
"""

from __future__ import annotations

import asyncio
import json
import re
import urllib.parse
from pathlib import Path

from test_e2e_message_secrets import flow_contents, leaks, metrics_text
from test_mitmdump_script import mitmdump
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

AUTH_TOKEN = "sk-live-script-AUTH-7c1d2e3f4a5b"
QUERY_TOKEN = "script-QUERY-9e8d7c6b5a"
COOKIE_VALUE = "script-COOKIE-3f2e1d0c9b"
ACCESS_TOKEN = "script-ACCESS-6a5b4c3d2e1f"
SECRETS = (AUTH_TOKEN, QUERY_TOKEN, COOKIE_VALUE, ACCESS_TOKEN)

SCRIPT = """\
rules:
  - id: asks-for-secrets
    action:
      script:
        - wait: {message: {from: client, json: {type: auth}}}
        - swallow: {}
        - send:
            to: client
            text: "auth={{handshake.header.authorization}} token={{handshake.query.token}} \
cookie={{handshake.header.cookie}} model={{handshake.query.model}}"
        - send: {to: client, json: {type: auth_echo, token: "{{message.json.access_token}}"}}
"""


async def test_templates_never_substitute_a_handshake_secret_and_outputs_hold_none(
    tmp_path: Path, confdir: Path
) -> None:
    rules, log, flows, har, report = (
        tmp_path / "scripts.yaml",
        tmp_path / "events.jsonl",
        tmp_path / "flows.mitm",
        tmp_path / "session.har",
        tmp_path / "report.html",
    )
    rules.write_text(SCRIPT)

    async def echo(connection: ServerConnection) -> None:
        async for message in connection:
            await connection.send(message)

    async with serve(echo, "127.0.0.1", 0) as server:
        upstream = server.sockets[0].getsockname()[1]
        settings = [
            "flow_detail=3",
            f"wswatch_faults={rules}",
            f"wswatch_log={log}",
            f"hardump={har}",
            f"wswatch_report={report}",
            "wswatch_metrics=127.0.0.1:0",
        ]
        args = [word for setting in settings for word in ("--set", setting)]
        async with mitmdump(
            "--mode",
            f"reverse:http://127.0.0.1:{upstream}",
            *args,
            "-w",
            str(flows),
            confdir=confdir,
        ) as (port, output):
            query = urllib.parse.urlencode({"model": "nova-3", "token": QUERY_TOKEN})
            headers = {"Authorization": f"Bearer {AUTH_TOKEN}", "Cookie": f"sid={COOKIE_VALUE}"}
            async with connect(
                f"ws://127.0.0.1:{port}/listen?{query}", additional_headers=headers, proxy=None
            ) as ws:
                await ws.send(json.dumps({"type": "auth", "access_token": ACCESS_TOKEN}))
                shown = await asyncio.wait_for(ws.recv(), 10)
                echoed = json.loads(await asyncio.wait_for(ws.recv(), 10))
            metrics = metrics_text(output)

    assert shown == "auth=[redacted] token=[redacted] cookie=[redacted] model=nova-3"
    # What the user scripted from the message itself reaches the client as asked...
    assert echoed == {"type": "auth_echo", "token": ACCESS_TOKEN}
    # ...and no output holds any form of any secret.
    outputs = {
        "JSON file": log.read_text(encoding="utf-8"),
        "terminal": "".join(output),
        "flows file": flows.read_bytes().decode("utf-8", "replace"),
        "HAR": har.read_text(encoding="utf-8"),
        "report": report.read_text(encoding="utf-8"),
        "/metrics": metrics,
    }
    assert leaks(outputs, SECRETS) == []
    # The terminal's ws.closed line says what wswatch sent, apart from the peers' messages.
    assert "injected_messages={to_client: 2, to_server: 0}" in outputs["terminal"]
    # The report says what wswatch sent on the connection (the rows' JSON, read by its page).
    assert re.search(r'"injected_to_client": ?2\b', outputs["report"])
    contents, _ = flow_contents(flows)
    assert b'{"type":"auth_echo","token":"[redacted]"}' in contents
    assert b"auth=[redacted] token=[redacted] cookie=[redacted] model=nova-3" in contents
    events = [json.loads(line) for line in outputs["JSON file"].splitlines()]
    sends = [
        event["params"]
        for event in events
        if event["event"] == "fault.injected" and "send" in event["params"]
    ]
    assert [send["send"]["to"] for send in sends] == ["client", "client"]
