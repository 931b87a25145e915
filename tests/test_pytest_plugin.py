"""The pytest plugin, run as users run it: test files using its fixtures, in a pytest of their own.

Each test writes a small project (a conftest with a real websockets echo server on 127.0.0.1 as
`wswatch_upstream`, and a test file) and runs pytest on it in-process with the plugin loaded by
module (`-p wswatchlib.pytest_plugin`; `-p no:wswatch` keeps an installed entry point from loading
it a second time), then asserts the outcomes and the failure messages.
"""

from __future__ import annotations

from pathlib import Path

import pytest

# Imported here, before pytester snapshots sys.modules, so every inner run shares one mitmproxy.
import wswatchlib.testing.proxy  # noqa: F401

pytest_plugins = ["pytester"]

#: The user's upstream: a real websockets echo server on 127.0.0.1.
CONFTEST = """
import pytest
from websockets.asyncio.server import serve


@pytest.fixture
async def wswatch_upstream():
    async def echo(websocket):
        async for message in websocket:
            await websocket.send(message)

    async with serve(echo, "127.0.0.1", 0) as server:
        yield f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
"""

#: The user's client: retries a refused handshake after a short wait.
MY_CLIENT = '''
import asyncio

from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus


async def connect_with_retries(url, attempts=5, wait_s=0.05):
    """Sends "hello" and returns the echo, retrying any refused handshake after wait_s."""
    for _ in range(attempts):
        try:
            async with connect(url) as websocket:
                await websocket.send("hello")
                return await websocket.recv()
        except InvalidStatus:
            await asyncio.sleep(wait_s)
    return None
'''

#: The README's example, verbatim (tests/test_pytest_plugin.py checks the README shows it).
README_EXAMPLE = """
from my_client import connect_with_retries

REJECT_TWICE = {"rules": [{"id": "auth", "when": {"first": 2}, "action": {"reject": {"status": 401}}}]}


async def test_client_gets_in_after_two_401s(wswatch_proxy):
    with wswatch_proxy.rules(REJECT_TWICE):
        assert await connect_with_retries(wswatch_proxy.url) == "hello"
    wswatch_proxy.assert_reconnected(within_s=5)
"""

ARGS = (
    "-p",
    "no:wswatch",
    "-p",
    "wswatchlib.pytest_plugin",
    "-o",
    "asyncio_mode=auto",
    "-o",
    "asyncio_default_fixture_loop_scope=function",
)


def run(pytester: pytest.Pytester, test_file: str) -> pytest.RunResult:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(my_client=MY_CLIENT, test_user=test_file)
    return pytester.runpytest_inprocess(*ARGS)


def test_five_line_fault_test_passes_for_a_client_that_reconnects(
    pytester: pytest.Pytester,
) -> None:
    """The README example: 401 twice, the client retries and gets in; assert_reconnected holds."""
    result = run(pytester, README_EXAMPLE)
    result.assert_outcomes(passed=1)


def test_readme_shows_the_example_that_runs() -> None:
    """The README's pytest example is the one run above, line for line."""
    readme = Path(__file__).resolve().parents[1] / "README.md"
    assert README_EXAMPLE.strip() in readme.read_text(encoding="utf-8")


def test_assert_no_retry_on_401_fails_with_the_attempts_as_evidence(
    pytester: pytest.Pytester,
) -> None:
    """A client retrying a 401 fails assert_no_retry_on(401); the message lists its attempts."""
    result = run(
        pytester,
        """
from my_client import connect_with_retries

async def test_retrying_client(wswatch_proxy):
    with wswatch_proxy.rules({"rules": [{"id": "deny", "action": {"reject": {"status": 401}}}]}):
        await connect_with_retries(wswatch_proxy.url, attempts=3)
    wswatch_proxy.assert_no_retry_on(401)
""",
    )
    result.assert_outcomes(failed=1)
    result.stdout.re_match_lines(
        [
            r".*AssertionError: client \S+ retried 2 times after 401 \(first 0\.\d+ s after it\)",
            r".*events:",
            r".*\+  0\.000 s  \S+  handshake rejected 401 \(injected by deny\)",
            r".*\+  0\.\d+ s  \S+  handshake rejected 401 \(injected by deny\)",
            r".*\+  0\.\d+ s  \S+  handshake rejected 401 \(injected by deny\)",
        ]
    )


def test_rules_of_one_test_do_not_reach_the_next(pytester: pytest.Pytester) -> None:
    """Rules end with their block and each test gets a fresh proxy: the second test connects."""
    result = run(
        pytester,
        """
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
import pytest

DENY = {"rules": [{"id": "deny", "action": {"reject": {"status": 403}}}]}

async def test_denied_inside_the_block(wswatch_proxy):
    with wswatch_proxy.rules(DENY):
        with pytest.raises(InvalidStatus):
            async with connect(wswatch_proxy.url):
                pass
    async with connect(wswatch_proxy.url) as websocket:
        await websocket.send("after")
        assert await websocket.recv() == "after"

async def test_next_test_starts_without_rules_or_events(wswatch_proxy):
    assert wswatch_proxy.events() == []
    async with connect(wswatch_proxy.url) as websocket:
        await websocket.send("x")
        assert await websocket.recv() == "x"
    handshake = await wswatch_proxy.wait_for("ws.handshake")
    assert handshake["outcome"] == "accepted" and not handshake.get("injected")
""",
    )
    result.assert_outcomes(passed=2)


def test_addon_error_during_a_test_fails_it(pytester: pytest.Pytester) -> None:
    """An addon raising in a hook logs "Addon error"; the test that looked green fails."""
    result = run(
        pytester,
        """
from websockets.asyncio.client import connect

class Broken:
    def websocket_start(self, flow):
        raise RuntimeError("boom in websocket_start")

async def test_green_looking(wswatch_proxy):
    wswatch_proxy.master.addons.add(Broken())
    async with connect(wswatch_proxy.url) as websocket:
        await websocket.send("x")
        assert await websocket.recv() == "x"
""",
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*mitmproxy or wswatch logged errors during the test:",
            "*mitmproxy.addonmanager: Addon error: boom in websocket_start",
        ]
    )


def test_missing_upstream_fixture_says_how_to_define_it(pytester: pytest.Pytester) -> None:
    """Without a `wswatch_upstream` fixture the test errors with the way to provide one."""
    pytester.makepyfile(
        test_user="""
async def test_needs_upstream(wswatch_proxy):
    pass
"""
    )
    result = pytester.runpytest_inprocess(*ARGS)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*wswatch_proxy needs an upstream: define a `wswatch_upstream` fixture returning the "
            "URL of the server to put the proxy in front of (ws://127.0.0.1:PORT)"
        ]
    )


def test_retry_after_and_backoff_assertions_fail_with_their_evidence(
    pytester: pytest.Pytester,
) -> None:
    """A client retrying every 50 ms fails assert_retry_after_respected and assert_backoff."""
    result = run(
        pytester,
        """
from my_client import connect_with_retries

BUSY = {"rules": [{"id": "busy", "when": {"first": 2}, "action": {"reject": {"status": 503, "headers": {"Retry-After": "1"}}}}]}
DOWN = {"rules": [{"id": "down", "action": {"reject": {"status": 503}}}]}

async def test_ignores_retry_after(wswatch_proxy):
    with wswatch_proxy.rules(BUSY):
        await connect_with_retries(wswatch_proxy.url)
    wswatch_proxy.assert_retry_after_respected()

async def test_no_backoff(wswatch_proxy):
    with wswatch_proxy.rules(DOWN):
        await connect_with_retries(wswatch_proxy.url, attempts=6)
    wswatch_proxy.assert_backoff("exponential", min_factor=1.5)
""",
    )
    result.assert_outcomes(failed=2)
    result.stdout.re_match_lines(
        [
            r"E +AssertionError: client \S+ retried 2 of 2 times before Retry-After \(waited 0\.0\d+ s of 1 s\)",
            r"E +\+  0\.000 s  \S+  handshake rejected 503 Retry-After 1\.0 \(injected by busy\)",
            r"E +\+  0\.\d+ s  \S+  handshake accepted 101",
            r"E +findings:",
            r"E +retry-after \(error\): retried 2 of 2 times before Retry-After .*",
            # Five waits of about 50 ms: constant, or linear or a flat exponential when the
            # scheduler delays one of them.
            r"E +AssertionError: client \S+ waited \[(0\.\d+, ){4}0\.\d+\] s: (.+, not exponential|factor x\S+ outside \[1\.5, None\])",
        ]
    )


#: A Slack Socket Mode-style client: on a `disconnect` envelope it opens a new connection at
#: once (as Slack's SDKs do), or, with `reconnect=False`, it just stops.
SLACK_CLIENT = '''
import asyncio
import json

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed


async def run_socket_mode(url, reconnect=True, connections=2):
    """Opens a connection, says hello, and follows disconnect envelopes (bounded)."""
    opened = 0
    while opened < connections:
        opened += 1
        async with connect(url) as websocket:
            await websocket.send(json.dumps({"type": "hello", "n": opened}))
            try:
                for _ in range(10):
                    message = json.loads(await asyncio.wait_for(websocket.recv(), 5))
                    if message.get("type") == "disconnect":
                        break
            except ConnectionClosed:
                pass
        if not reconnect:
            return opened
    return opened
'''


#: The README's scripted example, verbatim (tests/test_pytest_plugin.py checks the README shows it).
README_SCRIPT_EXAMPLE = """
from slack_client import run_socket_mode

REFRESH = [{"wait": {"messages": 1, "from": "client"}}, {"preset": "slack-disconnect-refresh-requested"}]


async def test_client_reconnects_on_slack_disconnect(wswatch_proxy):
    with wswatch_proxy.script(REFRESH):
        await run_socket_mode(wswatch_proxy.url)
    wswatch_proxy.assert_reconnected_after_message({"json": {"type": "disconnect"}}, within_s=2)
"""


def test_the_readmes_scripted_example_runs_and_is_shown_verbatim(pytester: pytest.Pytester) -> None:
    readme = Path(__file__).resolve().parents[1] / "README.md"
    assert README_SCRIPT_EXAMPLE.strip() in readme.read_text(encoding="utf-8")
    pytester.makepyfile(slack_client=SLACK_CLIENT)
    run(pytester, README_SCRIPT_EXAMPLE).assert_outcomes(passed=1)


def test_scripts_and_the_message_journal_assertions(pytester: pytest.Pytester) -> None:
    """A Slack-style disconnect to a reconnecting client passes assert_reconnected_after_message;
    assert_client_sent counts JSON-subset matches; a client that stops after a disconnect, or
    keeps sending after a 4401, fails with every connection's messages as evidence."""
    pytester.makepyfile(slack_client=SLACK_CLIENT)
    result = run(
        pytester,
        """
from slack_client import run_socket_mode

REFRESH = [{"wait": {"messages": 1, "from": "client"}}, {"preset": "slack-disconnect-refresh-requested"}]
UNAUTHORIZED = [{"wait": {"message": {"json": {"type": "hello"}}}}, {"preset": "graphql-ws-4401"}]


async def test_reconnects_on_disconnect(wswatch_proxy):
    with wswatch_proxy.script(REFRESH):
        assert await run_socket_mode(wswatch_proxy.url) == 2
    wswatch_proxy.assert_reconnected_after_message({"json": {"type": "disconnect"}}, within_s=2)
    wswatch_proxy.assert_client_sent({"json": {"type": "hello"}}, times=2)


async def test_stops_on_disconnect(wswatch_proxy):
    with wswatch_proxy.script(REFRESH):
        await run_socket_mode(wswatch_proxy.url, reconnect=False)
    wswatch_proxy.assert_reconnected_after_message({"json": {"type": "disconnect"}}, within_s=2)


async def test_keeps_sending_after_4401(wswatch_proxy):
    with wswatch_proxy.script(UNAUTHORIZED):
        await run_socket_mode(wswatch_proxy.url, connections=2)
    wswatch_proxy.assert_client_silent_after_close(4401)
""",
    )
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.re_match_lines(
        [
            r"E +AssertionError: the client did not reconnect after \{'json': \{'type': 'disconnect'\}\}",
            r"E +messages:",
            r"E +\+  0\.000 s  #1 opened / from 127\.0\.0\.1:\d+",
            r'E +\+  0\.\d+ s  #1 client -> server  \{"type": "hello", "n": 1\}',
            r'E +\+  0\.\d+ s  #1 server -> client  \{"type":"disconnect","reason":"refresh_requested".* \[injected by wswatch\]',
            r'E +\+  0\.\d+ s  #1 server -> client  \{"type": "hello", "n": 1\}',
            r"E +\+  0\.\d+ s  #1 closed 1000 \(by client\)",
            r"E +AssertionError: the client sent 1 message\(s\) after the close 4401 \(first 0\.\d+ s after it\)",
            r"E +\+  0\.\d+ s  #1 closed 4401 \(by proxy\)",
            r'E +\+  0\.\d+ s  #2 client -> server  \{"type": "hello", "n": 2\}',
        ]
    )
