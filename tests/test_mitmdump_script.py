"""`mitmdump -s addons/wswatch.py` as a subprocess, exactly as users start it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import websockets
from mitmproxy import version as mitmproxy_version
from test_options import readme_options
from upstreams import scenario_server
from websockets.asyncio.client import connect

REPO = Path(__file__).resolve().parents[1]
MITMDUMP = Path(sys.executable).with_name("mitmdump")
SECRET = "subprocess-SECRET-8c7b6a5d"


async def launch(confdir: Path, *args: str) -> asyncio.subprocess.Process:
    """`mitmdump -p 0 -s addons/wswatch.py ARGS` from the repo root, output on one pipe."""
    return await asyncio.create_subprocess_exec(
        str(MITMDUMP),
        "-p",
        "0",
        "--set",
        f"confdir={confdir}",
        "-s",
        "addons/wswatch.py",
        *args,
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


@contextlib.asynccontextmanager
async def mitmdump(*args: str, confdir: Path) -> AsyncIterator[tuple[int, list[str]]]:
    """Start mitmdump as the README does, on an ephemeral port; yield the port and its output."""
    process = await launch(confdir, "--listen-host", "127.0.0.1", *args)
    lines: list[str] = []

    async def read_until_listening() -> int:
        assert process.stdout is not None
        while line := (await process.stdout.readline()).decode():
            lines.append(line)
            found = re.search(r"listening at (\S+):(\d+)", line)
            if found:
                assert found.group(1) == "127.0.0.1", line
                return int(found.group(2))
        raise AssertionError("mitmdump exited before listening:\n" + "".join(lines))

    try:
        port = await asyncio.wait_for(read_until_listening(), 30)
        yield port, lines
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
        assert process.stdout is not None
        rest, _ = await asyncio.wait_for(process.communicate(), 30)
        lines.extend(rest.decode().splitlines(keepends=True))


@contextlib.asynccontextmanager
async def scenario_mitmdump(
    confdir: Path, *settings: str, args: tuple[str, ...] = ()
) -> AsyncIterator[tuple[int, list[str]]]:
    """The scenario upstream behind `mitmdump --mode reverse:... -s addons/wswatch.py`, with
    each `name=value` of `settings` passed as `--set`, and `args` as they are."""
    async with scenario_server() as up:
        options = [word for setting in settings for word in ("--set", setting)]
        async with mitmdump(
            "--mode", f"reverse:http://127.0.0.1:{up}", *options, *args, confdir=confdir
        ) as running:
            yield running


async def startup_failure(confdir: Path, *args: str) -> str:
    """Run mitmdump with wswatch and `args`; it must exit non-zero. Returns its output."""
    process = await launch(confdir, *args)
    output, _ = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode != 0, output.decode()
    return output.decode()


def only_line_naming(output: str, option: str) -> str:
    """The single line of a failed start-up that names `option`; no traceback anywhere."""
    lines = [line for line in output.splitlines() if option in line]
    assert len(lines) == 1, output
    for noise in ("Traceback", "Addon error", "error in script"):
        assert noise not in output, output
    assert "logged during startup, exiting..." in output, output
    return lines[0]


async def test_users_command_listens_on_loopback_and_reports_a_rejection(tmp_path, confdir):
    """The README's command: loopback only, readable terminal line, JSON line, no secret."""
    log_path = tmp_path / "events.jsonl"
    async with scenario_mitmdump(confdir, f"wswatch_log={log_path}") as (port, output):
        with pytest.raises(websockets.InvalidStatus):
            async with connect(
                f"ws://127.0.0.1:{port}/deepgram401?token={SECRET}",
                additional_headers={"Authorization": f"Token {SECRET}"},
            ):
                pass
    terminal = "".join(output)
    events = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert "[wswatch] ws.handshake REJECTED 401 Unauthorized" in terminal
    assert "hint: The API key is wrong" in terminal
    assert "session.summary" in terminal  # printed at exit
    assert "listens on every interface" not in terminal
    assert [e["event"] for e in events] == ["ws.handshake", "client.verdict", "session.summary"]
    assert events[0]["outcome"] == "rejected" and events[0]["vendor"] == "deepgram"
    assert SECRET not in terminal and SECRET not in log_path.read_text()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "vendors:\n  acme:\n    close_codes:\n      4001: {hint: 'x'}\n",
            "vendor 'acme': close_codes.4001.meaning: missing required field",
        ),
        (
            "vendors:\n  acme:\n    status_hints: {401: 3}\n",
            "vendor 'acme': status_hints.401: must be a string, got 3",
        ),
        (
            "vendors:\n  acme:\n    colour: blue\n",
            "vendor 'acme': unknown field 'colour'",
        ),
    ],
    ids=["missing-meaning", "wrong-type", "unknown-field"],
)
async def test_bad_vendor_file_stops_startup_naming_file_entry_and_field(
    tmp_path, confdir, content, message
):
    """mitmdump exits at start-up with an error that names the file, the vendor and the field."""
    bad = tmp_path / "vendors.yaml"
    bad.write_text(content)
    output = await startup_failure(confdir, "--set", f"wswatch_vendors={bad}")
    line = only_line_naming(output, "wswatch_vendors")
    assert f"Cannot load wswatch_vendors: {bad}: {message}" in line


async def test_listening_on_every_interface_is_warned_about(tmp_path, confdir):
    """Without --listen-host, mitmproxy listens everywhere; wswatch says so at start-up."""
    process = await launch(confdir)
    assert process.stdout is not None
    seen: list[str] = []

    async def read_until_warning() -> str:
        while line := (await process.stdout.readline()).decode():
            seen.append(line)
            if "listens on every interface" in line:
                return line
        raise AssertionError("no warning before exit:\n" + "".join(seen))

    try:
        warning = await asyncio.wait_for(read_until_warning(), 30)
    finally:
        process.send_signal(signal.SIGINT)
        await asyncio.wait_for(process.communicate(), 30)
    assert "--listen-host 127.0.0.1" in warning


async def test_bad_fault_rules_stop_startup_naming_file_rule_and_field(tmp_path, confdir):
    """mitmdump exits at start-up when a rules file is invalid, and says where."""
    bad = tmp_path / "faults.yaml"
    bad.write_text("rules:\n  - id: broken\n    when: {probability: 2}\n    action: {reset: {}}\n")
    output = await startup_failure(confdir, "--set", f"wswatch_faults={bad}")
    line = only_line_naming(output, "wswatch_faults")
    assert line.endswith(
        f"Cannot load wswatch_faults: {bad}: rule 'broken': when.probability: must be > 0 and <= 1, got 2"
    )


async def test_a_bad_script_stops_startup_naming_file_rule_step_and_field(tmp_path, confdir):
    """A script step that sends a template of an unknown field: one line, no traceback."""
    bad = tmp_path / "scripts.yaml"
    bad.write_text(
        "rules:\n  - id: answer\n    action:\n      script:\n"
        "        - wait: {messages: 1}\n"
        "        - send: {to: client, text: 'id {{message.jsn.id}}'}\n"
    )
    output = await startup_failure(confdir, "--set", f"wswatch_faults={bad}")
    line = only_line_naming(output, "wswatch_faults")
    assert line.endswith(
        f"Cannot load wswatch_faults: {bad}: rule 'answer': action.script[2].send.text: unknown "
        "template field {{message.jsn.id}} (known: uuid, now_ms, message.text, message.json.NAME,"
        " handshake.header.NAME, handshake.query.NAME)"
    )


@pytest.mark.parametrize(
    ("setting", "option", "message"),
    [
        (
            "wswatch_max_messages=abc",
            "wswatch_max_messages",
            "wswatch: invalid value for wswatch_max_messages: 'abc' is not an integer",
        ),
        (
            "wswatch_body_excerpt=1.5",
            "wswatch_body_excerpt",
            "wswatch: invalid value for wswatch_body_excerpt: '1.5' is not an integer",
        ),
        (
            "wswatch_console=maybe",
            "wswatch_console",
            "wswatch: invalid value for wswatch_console: 'maybe' is not true or false",
        ),
        (
            "wswatch_lgo=x",
            "wswatch_lgo",
            "wswatch: unknown option wswatch_lgo (did you mean wswatch_log?)",
        ),
        (
            "wswatch_body_excerpt=-1",
            "wswatch_body_excerpt",
            "wswatch_body_excerpt must be 0 or more, got -1",
        ),
        (
            "wswatch_client_key=cookie:sid",
            "wswatch_client_key",
            "Cannot parse wswatch_client_key 'cookie:sid': expected \"\" (IP, User-Agent and "
            "credential), header:NAME or query:NAME",
        ),
    ],
    ids=["int-word", "int-decimal", "bool-word", "misspelt-name", "negative", "client-key"],
)
async def test_wrong_setting_stops_startup_with_one_line_naming_option_and_value(
    confdir, setting, option, message
):
    """mitmdump exits at start-up with one line for the setting, instead of running without
    wswatch (unconvertible value), ignoring it (unknown name) or printing a traceback."""
    output = await startup_failure(confdir, "--set", setting)
    assert only_line_naming(output, option).endswith(message)


async def test_wrong_value_in_mitmproxy_config_file_stops_startup_with_one_line(tmp_path):
    """A config.yaml value of the wrong type is reported like a --set value, not as an
    "Addon error" traceback with wswatch left unloaded."""
    (tmp_path / "config.yaml").write_text("wswatch_redact_headers: x-api-key\n")
    output = await startup_failure(tmp_path)
    line = only_line_naming(output, "wswatch_redact_headers")
    assert line.endswith(
        "wswatch: invalid value for wswatch_redact_headers: 'x-api-key' is not a list of strings"
    )


async def test_valid_settings_still_load_wswatch_and_apply(tmp_path, confdir):
    """Checking settings does not get in the way of good ones: events flow, values apply."""
    log_path = tmp_path / "events.jsonl"
    async with scenario_mitmdump(
        confdir,
        f"wswatch_log={log_path}",
        "wswatch_console=false",
        "wswatch_max_messages=5",
        "wswatch_redact_headers=x-one",
        "wswatch_redact_headers=x-two",
    ) as (port, output):
        with pytest.raises(websockets.InvalidStatus):
            async with connect(f"ws://127.0.0.1:{port}/deepgram401"):
                pass
    terminal = "".join(output)
    events = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert [e["event"] for e in events] == ["ws.handshake", "client.verdict", "session.summary"]
    assert "[wswatch]" not in terminal  # wswatch_console=false applied


async def test_options_flag_lists_wswatch_options_where_the_readme_says(confdir):
    """As the README says: mitmproxy 12 loads scripts for --options; 11.0 prints it first."""
    process = await launch(confdir, "--options")
    output, _ = await asyncio.wait_for(process.communicate(), 30)
    listed = re.findall(r"^(wswatch_\w+):", output.decode(), re.M)
    if int(mitmproxy_version.VERSION.split(".")[0]) >= 12:
        assert sorted(listed) == sorted(readme_options()), output.decode()
    else:
        assert listed == [], output.decode()


@pytest.mark.parametrize("flow_detail", [0, 1, 2, 3])
async def test_url_userinfo_mitmproxy_refuses_is_in_no_output_at_any_flow_detail(
    tmp_path, confdir, flow_detail
):
    """An attacker's absolute-form request line and CONNECT with `user:pass@`, refused by
    mitmproxy with a 400 before any flow exists: its own log line still names the request,
    without the password, on the terminal and in every file wswatch writes."""
    password = "userinfo-PASS-5e4d3c2b"
    log_path, saved = tmp_path / "events.jsonl", tmp_path / "flows.mitm"
    request_lines = [
        f"GET http://user:{password}@127.0.0.1:9/v1/listen HTTP/1.1",
        f"CONNECT user:{password}@127.0.0.1:9 HTTP/1.1",
        f"GET ws://{password}@127.0.0.1:9/socket?token={password} HTTP/1.1",
    ]
    async with mitmdump(
        "--set",
        f"flow_detail={flow_detail}",
        "--set",
        f"wswatch_log={log_path}",
        "-w",
        str(saved),
        confdir=confdir,
    ) as (port, output):
        for line in request_lines:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(f"{line}\r\nHost: 127.0.0.1:9\r\n\r\n".encode())
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(65536), 10)
            assert answer.startswith(b"HTTP/1.1 400"), answer
            writer.close()
    terminal = "".join(output)
    assert terminal.count("Bad HTTP request line") == len(request_lines), terminal
    assert "user:[redacted]@127.0.0.1:9" not in terminal  # the userinfo goes whole
    assert "GET http://[redacted]@127.0.0.1:9/v1/listen" in terminal
    assert "CONNECT [redacted]@127.0.0.1:9" in terminal
    written = [terminal, log_path.read_text() if log_path.exists() else ""]
    written.append(saved.read_bytes().decode("latin-1") if saved.exists() else "")
    assert all(password not in text for text in written)


ADD_LOG_COUNTER = '''
import json

class CountAddLog:
    """Counts the log entries mitmproxy hands every addon, and writes them at exit."""

    def __init__(self):
        self.messages = []

    def add_log(self, entry):
        self.messages.append(entry.msg)

    def done(self):
        with open("{out}", "w") as out:
            json.dump(self.messages, out)

addons = [CountAddLog()]
'''


async def test_event_lines_reach_the_terminal_straight_with_mitmproxys_look(tmp_path, confdir):
    """Under mitmdump, wswatch's lines are printed as mitmproxy prints its own (timestamp, in
    order with its lines), but are not handed to every addon as log entries (`add_log`): that
    dispatch per line was a large share of a handshake's cost."""
    counted = tmp_path / "add_log.json"
    counter = tmp_path / "count_add_log.py"
    counter.write_text(ADD_LOG_COUNTER.replace("{out}", str(counted)))
    async with scenario_mitmdump(confdir, args=("-s", str(counter))) as (port, output):
        async with connect(f"ws://127.0.0.1:{port}/echo") as ws:
            await ws.send("hi")
            assert await ws.recv() == "hi"
        with pytest.raises(websockets.InvalidStatus):
            async with connect(f"ws://127.0.0.1:{port}/deepgram401"):
                pass
    terminal = "".join(output)
    shown = [line for line in terminal.splitlines() if "[wswatch] ws.handshake" in line]
    assert len(shown) == 2 and "ACCEPTED 101" in shown[0] and "REJECTED 401" in shown[1]
    for line in shown:
        assert re.match(r"^\[\d\d:\d\d:\d\d\.\d{3}\] \[wswatch\] ws\.handshake", line), line
    entries = json.loads(counted.read_text())
    assert entries, "the counter saw no log entry at all"
    assert not [message for message in entries if "[wswatch] ws." in message]


@pytest.mark.parametrize("flow_detail", [0, 1])
async def test_the_observe_relay_keeps_a_tcp_flow_only_when_the_dumper_prints_it(
    confdir, flow_detail
):
    """At flow_detail 0 nothing but wswatch would see the TCP flow of an observe-only
    connection: mitmproxy relays it without one (no TCP read kept). At 1 the dumper prints a
    line per TCP read: the flow is kept, and the lines are there. Either way: observe relay,
    the same close."""
    async with scenario_mitmdump(confdir, f"flow_detail={flow_detail}") as (port, output):
        async with connect(f"ws://127.0.0.1:{port}/echo") as ws:
            await ws.send("hi")
            assert await ws.recv() == "hi"
        for _ in range(200):  # bounded: up to 10 s for the close line
            if any("[wswatch] ws.closed" in line for line in output):
                break
            await asyncio.sleep(0.05)
    terminal = "".join(output)
    [closed] = [line for line in terminal.splitlines() if "[wswatch] ws.closed 1000" in line]
    assert "relay=observe" in closed and "closed_by=client" in closed
    tcp_lines = [line for line in terminal.splitlines() if " -> tcp -> " in line]
    if flow_detail == 0:
        assert "retained_messages=0" in closed and tcp_lines == []
    else:
        assert "retained_messages=0" not in closed and tcp_lines
