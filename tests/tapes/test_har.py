"""HAR import and export: a Chrome DevTools HAR becomes a scrubbed tape that replays, a hostile
HAR is one clear error line, and export is import's inverse."""

from __future__ import annotations

import argparse
import base64
import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import websockets
from mitmproxy.addons.savehar import SaveHar
from mitmproxy.test import tflow
from proxy_harness import running_proxy
from websockets.asyncio.client import connect
from wswatchlib.tapes import har, har_export
from wswatchlib.tapes.format import (
    End,
    TapeEnd,
    TapeMessage,
    read_lines,
    read_summary,
)
from wswatchlib.tapes.schema import tape_schema
from wswatchlib.tapes.writer import secret_lines

CHROME_HAR = Path(__file__).parent / "data" / "chrome-deepgram.har"
SECRETS = ("dg-QUERY-9f2b7d41e6", "dg-HEADER-2a8c4e6b0d", "dg-MESSAGE-3c9e1a7f5b")
NOWHERE = "reverse:http://upstream.invalid:9"


def _run(*argv: str) -> int:
    """The commands as `wswatch tape ...` runs them, through a local parser."""
    parser = argparse.ArgumentParser(prog="wswatch tape")
    commands = parser.add_subparsers(required=True)
    har.add_import_command(commands)
    har_export.add_export_command(commands)
    arguments = parser.parse_args(argv)
    return int(arguments.run(arguments))


def _chrome() -> dict[str, Any]:
    return json.loads(CHROME_HAR.read_text(encoding="utf-8"))


def _write(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def _tapes(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.tape.jsonl"))


def _body(path: Path) -> tuple[list[TapeMessage], TapeEnd | None]:
    lines = list(read_lines(path))
    ends = [line for line in lines if isinstance(line, TapeEnd)]
    return [line for line in lines if isinstance(line, TapeMessage)], (ends or [None])[0]


def test_a_chrome_har_imports_as_one_tape_per_websocket_entry(tmp_path, capsys) -> None:
    """The script entry is skipped; the websocket entry's messages keep their order, sides,
    kinds and times (ms since startedDateTime); the end says no close was recorded."""
    assert _run("import", str(CHROME_HAR), "-o", str(tmp_path / "tapes")) == 0
    (tape,) = _tapes(tmp_path / "tapes")
    assert tape.name == "20260302T101531.000Z-0001-api.deepgram.com-v1-listen-101.tape.jsonl"
    assert str(tape) in capsys.readouterr().out
    header = read_summary(tape).header
    assert (header.request.scheme, header.request.host, header.request.port) == (
        "wss",
        "api.deepgram.com",
        443,
    )
    assert header.request.path == (
        "/v1/listen?model=nova-3&encoding=linear16&sample_rate=16000&token=[redacted]"
    )
    assert ("Authorization", "[redacted]") in header.request.headers
    assert header.response is not None and header.response.status == 101
    assert ("dg-request-id", "5b2f0c1e-har-4d3a-8e7f-0a1b2c3d4e5f") in header.response.headers
    assert (header.vendor, header.outcome, header.extensions) == (
        "deepgram",
        "accepted",
        "permessage-deflate",
    )
    messages, end = _body(tape)
    assert [(m.t_ms, m.from_client) for m in messages] == [
        (52.0, True),
        (61.0, False),
        (90.0, True),
        (120.0, True),
        (134.5, False),
        (150.0, True),
        (172.0, False),
    ]
    assert messages[2].data == bytes(range(48)) and messages[3].data == bytes(range(48, 96))
    assert json.loads(messages[4].text or "")["type"] == "Results"
    assert end == TapeEnd(End.CLOSED)  # code null: a HAR has no close
    for line in tape.read_text().splitlines():
        jsonschema.validate(json.loads(line), tape_schema())


def test_the_imported_tape_holds_no_secret(tmp_path) -> None:
    """The query token, the Authorization credential, an access_token in a message and the
    token a careless server quoted back are all scrubbed, in every form the writer checks."""
    assert _run("import", str(CHROME_HAR), "-o", str(tmp_path)) == 0
    (tape,) = _tapes(tmp_path)
    text = tape.read_text()
    for secret in (*SECRETS, "sess-COOKIE-7e5d3c1b9a"):
        assert secret not in text
    assert secret_lines(tape, frozenset(SECRETS)) == []
    messages, _ = _body(tape)
    assert json.loads(messages[0].text or "")["access_token"] == "[redacted]"
    assert json.loads(messages[1].text or "")["url"].endswith("token=[redacted]")


def test_options_keep_client_binary_as_digests_and_set_the_close(tmp_path) -> None:
    assert (
        _run("import", str(CHROME_HAR), "-o", str(tmp_path), "--client-binary", "digest")
        + _run("import", str(CHROME_HAR), "-o", str(tmp_path / "closed"), "--close", "1000")
        == 0
    )
    messages, _ = _body(_tapes(tmp_path)[0])
    assert (messages[2].length, messages[2].data, len(messages[2].sha256 or "")) == (48, None, 64)
    _, end = _body(_tapes(tmp_path / "closed")[0])
    assert end == TapeEnd(End.CLOSED, 172.0, 1000, "", "server", clean=True)


def test_several_websocket_entries_give_one_tape_each_in_start_order(tmp_path) -> None:
    document = _chrome()
    later = copy.deepcopy(document["log"]["entries"][1])
    later["request"]["url"] = "wss://api.deepgram.com/v1/speak?model=aura"
    earlier = copy.deepcopy(later)
    earlier["startedDateTime"] = "2026-03-02T10:15:30.900Z"
    earlier["request"]["url"] = "wss://api.deepgram.com/v1/agent"
    document["log"]["entries"] += [earlier]
    document["log"]["entries"].insert(1, later)
    assert _run("import", str(_write(tmp_path / "many.har", document)), "-o", str(tmp_path)) == 0
    assert [tape.name.split("-", 1)[1] for tape in _tapes(tmp_path)] == [
        "0001-api.deepgram.com-v1-agent-101.tape.jsonl",
        "0002-api.deepgram.com-v1-speak-101.tape.jsonl",
        "0003-api.deepgram.com-v1-listen-101.tape.jsonl",
    ]


def test_a_mitmproxy_hardump_imports(tmp_path) -> None:
    """mitmproxy's savehar writes the URL as http(s):// and binary data as base64."""
    document = SaveHar().make_har([tflow.twebsocketflow()])
    path = _write(tmp_path / "dump.har", document)
    assert _run("import", str(path), "-o", str(tmp_path)) == 0
    (tape,) = _tapes(tmp_path)
    assert read_summary(tape).header.request.scheme == "ws"
    messages, _ = _body(tape)
    assert [(m.t_ms, m.from_client, m.text, m.data) for m in messages] == [
        (3000.0, True, None, b"hello binary"),
        (4000.0, True, "hello text", None),
        (5000.0, False, "it's me", None),
    ]


def _hostile(document: dict[str, Any], where: str, value: Any) -> dict[str, Any]:
    entry = document["log"]["entries"][1]
    target = entry
    *path, last = where.split(".")
    for key in path:
        target = target[int(key)] if key.isdigit() else target[key]
    target[int(last) if last.isdigit() else last] = value
    return document


HOSTILE = {
    "not JSON": (b'{"log": {"entries": [', "not JSON"),
    "not UTF-8": (b'{"log": {"entries": [], "creator": "\xff\xfe"}}', "not UTF-8"),
    "no entries": (b'{"log": {"version": "1.2"}}', "no log.entries"),
    "no websocket": (b'{"log": {"entries": [{"request": {}}]}}', "no WebSocket entry"),
    "bad opcode": (
        ("_webSocketMessages.2.opcode", 8),
        "entry 1, field _webSocketMessages[2].opcode: expected 1 (text) or 2 (binary), got 8",
    ),
    "not base64": (
        ("_webSocketMessages.3.data", "not*base64!"),
        "entry 1, field _webSocketMessages[3].data: opcode 2 (binary) but not valid base64",
    ),
    "time is text": (
        ("_webSocketMessages.0.time", "soon"),
        "entry 1, field _webSocketMessages[0].time: expected a number, got a string",
    ),
    "no url": (("request.url", None), "entry 1, field request.url: expected a string, got null"),
    "not a ws url": (("request.url", "ftp://x/y"), "entry 1, field request.url: expected a ws"),
    "bad header": (("request.headers.2", "Authorization: x"), "request.headers[2]: expected"),
}


@pytest.mark.parametrize("case", HOSTILE)
def test_a_hostile_har_is_one_error_line(case: str, tmp_path, capsys) -> None:
    raw, expected = HOSTILE[case]
    path = tmp_path / "bad.har"
    if isinstance(raw, bytes):
        path.write_bytes(raw)
    else:
        _write(path, _hostile(_chrome(), *raw))
    assert _run("import", str(path), "-o", str(tmp_path / "out")) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"wswatch tape import: error: {path}: ") and expected in err
    assert err.count("\n") == 1 and "Traceback" not in err
    for secret in SECRETS:
        assert secret not in err
    assert _tapes(tmp_path / "out") == []


def test_a_tape_still_holding_a_secret_is_refused(tmp_path, capsys, monkeypatch) -> None:
    """A scrubbing gap (simulated: text messages left as they are) costs the tape, exit 1."""
    monkeypatch.setattr(har.PayloadScrubber, "text", lambda _self, text: text)
    assert _run("import", str(CHROME_HAR), "-o", str(tmp_path)) == 1
    err = capsys.readouterr().err
    assert "entry 1:" in err and "not written: a known secret is still on line(s) 3 after" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("client_binary", ["whole", "digest"])
def test_export_then_import_gives_the_same_messages_and_end(client_binary, tmp_path) -> None:
    for close in ([], ["--close", "4000"]):
        first, second = tmp_path / f"first{close}", tmp_path / f"second{close}"
        argv = ["-o", str(first), "--client-binary", client_binary, *close]
        assert _run("import", str(CHROME_HAR), *argv) == 0
        (tape,) = _tapes(first)
        exported = tmp_path / "out.har"
        assert _run("export", str(tape), "--har", "-o", str(exported)) == 0
        assert _run("import", str(exported), "-o", str(second)) == 0
        (again,) = _tapes(second)
        (messages, end), (messages_again, end_again) = _body(tape), _body(again)
        assert end_again == end
        assert [(m.t_ms, m.from_client, m.text, m.data, m.length, m.sha256) for m in messages] == [
            (pytest.approx(m.t_ms, abs=0.002), m.from_client, m.text, m.data, m.length, m.sha256)
            for m in messages_again
        ]
        assert read_summary(again).header.request == read_summary(tape).header.request


def test_export_writes_chrome_shape_and_marks_digests(tmp_path, capsys) -> None:
    assert _run("import", str(CHROME_HAR), "-o", str(tmp_path), "--client-binary", "digest") == 0
    capsys.readouterr()
    assert _run("export", str(_tapes(tmp_path)[0]), "--har") == 0
    (entry,) = json.loads(capsys.readouterr().out)["log"]["entries"]
    assert entry["_resourceType"] == "websocket" and entry["response"]["status"] == 101
    assert entry["request"]["url"].startswith("wss://api.deepgram.com/v1/listen?model=nova-3")
    sent = entry["_webSocketMessages"][2]
    assert (sent["type"], sent["opcode"], sent["data"]) == ("send", 2, "")
    assert sent["_wswatchDigest"]["len"] == 48
    assert entry["_webSocketMessages"][0]["time"] == pytest.approx(1772446531.052)
    received = entry["_webSocketMessages"][6]
    assert base64.b64encode(b"x") and received["opcode"] == 1 and received["type"] == "receive"


def test_export_of_a_file_that_is_no_tape_is_one_error_line(tmp_path, capsys) -> None:
    path = tmp_path / "x.tape.jsonl"
    path.write_text('{"hello": 1}\n')
    assert _run("export", str(path), "--har") == 2
    err = capsys.readouterr().err
    assert err.startswith(f"wswatch tape export: error: {path} line 1: ") and err.count("\n") == 1


async def test_an_imported_chrome_har_replays_through_the_proxy(tmp_path, confdir) -> None:
    """Done when: a Chrome HAR imports and replays. A websockets client sends the recorded
    client messages with a new token, and receives the recorded server messages in order,
    then the drop the HAR-without-a-close replays as; nothing reaches the network."""
    tapes = tmp_path / "tapes"
    assert _run("import", str(CHROME_HAR), "-o", str(tapes)) == 0
    recorded, _ = _body(_tapes(tapes)[0])
    received: list[str | bytes] = []
    async with running_proxy(tmp_path, NOWHERE, confdir, wswatch_replay=str(tapes)) as proxy:
        url = (
            f"ws://127.0.0.1:{proxy.port}/v1/listen?model=nova-3&encoding=linear16"
            "&sample_rate=16000&token=another-token-entirely"
        )
        headers = {"Authorization": "Token another-header-token"}
        async with connect(url, additional_headers=headers, proxy=None, open_timeout=5) as ws:
            for message in recorded:
                if message.from_client:
                    await ws.send(message.text if message.text is not None else message.data or b"")
            try:
                while True:
                    received.append(await ws.recv())
            except websockets.ConnectionClosed as closed:
                assert closed.rcvd is None  # no Close frame: the recording had none
        handshake = await proxy.wait_for("ws.handshake")
        closed_event = await proxy.wait_for("ws.closed")
    assert received == [m.text for m in recorded if not m.from_client]
    assert json.loads(str(received[-1]))["type"] == "Metadata"
    assert handshake["replayed"] is True and handshake["tape"] == _tapes(tapes)[0].name
    assert closed_event["replayed"] is True
