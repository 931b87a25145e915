"""The pytest plugin's tapes: record modes none, once, new_episodes and all, run as users run
them (a small project of their own, pytester, the plugin loaded by module), against an echo
upstream that counts every connection it gets: what "nothing reaches the network" means."""

from __future__ import annotations

from pathlib import Path

import pytest

# Imported before pytester snapshots sys.modules, so every inner run shares one mitmproxy.
import wswatchlib.testing.proxy  # noqa: F401
from test_pytest_plugin import ARGS, MY_CLIENT

pytest_plugins = ["pytester"]

#: The user's upstream: an echo server that appends each connection's path to hits.txt.
CONFTEST = """
from pathlib import Path

import pytest
from websockets.asyncio.server import serve

HITS = Path(__file__).parent / "hits.txt"


@pytest.fixture
async def wswatch_upstream():
    async def echo(websocket):
        with HITS.open("a") as hits:
            hits.write(websocket.request.path + "\\n")
        async for message in websocket:
            await websocket.send(message)

    async with serve(echo, "127.0.0.1", 0) as server:
        yield f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
"""

#: The README's example, verbatim (checked below).
README_EXAMPLE = """
import pytest
from my_client import connect_with_retries


@pytest.mark.wswatch_tape("echo-hello")
async def test_client_talks_to_the_recorded_endpoint(wswatch_proxy):
    assert await connect_with_retries(wswatch_proxy.url) == "hello"
"""

TWO_PATHS = """
import pytest
from my_client import connect_with_retries


@pytest.mark.wswatch_tape("two-paths")
async def test_two_paths(wswatch_proxy):
    assert await connect_with_retries(wswatch_proxy.url + "/a") == "hello"
    assert await connect_with_retries(wswatch_proxy.url + "/b") == "hello"
"""

ONE_PATH = TWO_PATHS.replace(
    '    assert await connect_with_retries(wswatch_proxy.url + "/b") == "hello"\n', ""
)


def run(pytester: pytest.Pytester, test_file: str, *flags: str) -> pytest.RunResult:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(my_client=MY_CLIENT, test_user=test_file)
    return pytester.runpytest_inprocess(*ARGS, *flags)


def hits(pytester: pytest.Pytester) -> list[str]:
    """The paths the upstream was connected for, in order."""
    path = pytester.path / "hits.txt"
    return path.read_text().split() if path.exists() else []


def tapes(pytester: pytest.Pytester, name: str) -> list[Path]:
    return sorted((pytester.path / "tapes" / name).glob("*.tape.jsonl"))


def test_none_with_no_tape_fails_naming_it_and_reaches_nobody(pytester: pytest.Pytester) -> None:
    """The default mode (CI's): the test errors at setup naming the missing tape, and the
    upstream gets no connection."""
    result = run(pytester, README_EXAMPLE)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*wswatch tape *tapes/echo-hello has no recording*=once*"])
    assert hits(pytester) == []


def test_once_records_then_replays_with_the_upstream_untouched(pytester: pytest.Pytester) -> None:
    """`once` records the missing tape against the upstream; the next run (mode none) replays
    it and the upstream sees nothing more. The README's example, verbatim."""
    run(pytester, README_EXAMPLE, "--wswatch-record-mode=once").assert_outcomes(passed=1)
    assert hits(pytester) == ["/"] and len(tapes(pytester, "echo-hello")) == 1
    run(pytester, README_EXAMPLE).assert_outcomes(passed=1)
    run(pytester, README_EXAMPLE, "--wswatch-record-mode=once").assert_outcomes(passed=1)
    assert hits(pytester) == ["/"]


def test_new_episodes_adds_the_request_the_tape_lacked(pytester: pytest.Pytester) -> None:
    """A tape of /a only; the test now also asks /b: mode none fails naming it, new_episodes
    replays /a and records /b, and then mode none passes."""
    run(pytester, ONE_PATH, "--wswatch-record-mode=once").assert_outcomes(passed=1)
    assert hits(pytester) == ["/a"]
    lacking = run(pytester, TWO_PATHS)  # the client got 404s; teardown names what was lacking
    lacking.assert_outcomes(failed=1, errors=1)
    lacking.stdout.fnmatch_lines(["*requests the tape*lacks*", "  GET /b", "*"])
    run(pytester, TWO_PATHS, "--wswatch-record-mode=new_episodes").assert_outcomes(passed=1)
    assert hits(pytester) == ["/a", "/b"] and len(tapes(pytester, "two-paths")) == 2
    run(pytester, TWO_PATHS).assert_outcomes(passed=1)
    assert hits(pytester) == ["/a", "/b"]


def test_all_records_afresh(pytester: pytest.Pytester) -> None:
    """`all` replaces the tape with a new recording, reaching the upstream again."""
    run(pytester, README_EXAMPLE, "--wswatch-record-mode=once").assert_outcomes(passed=1)
    first = tapes(pytester, "echo-hello")
    run(pytester, README_EXAMPLE, "--wswatch-record-mode=all").assert_outcomes(passed=1)
    second = tapes(pytester, "echo-hello")
    assert hits(pytester) == ["/", "/"]
    assert len(second) == 1 and second != first


def test_readme_shows_the_tape_example_that_runs() -> None:
    """The README's record-mode example is the one run above, line for line."""
    readme = Path(__file__).resolve().parents[1] / "README.md"
    assert README_EXAMPLE.strip() in readme.read_text(encoding="utf-8")
