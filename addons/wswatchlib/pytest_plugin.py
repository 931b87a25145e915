"""pytest plugin (entry point `pytest11`, name `wswatch`): a wswatch proxy per test.

Fixtures:
- `wswatch_upstream`: the ws:// URL the proxy forwards to; define it in your conftest.py.
- `wswatch_options`: wswatch / mitmproxy options for the proxy (e.g. `wswatch_log`); `{}`.
- `wswatch_proxy`: a started `WsWatchProxy` in front of `wswatch_upstream` on 127.0.0.1, port 0,
  fresh for every test (no rules, no events) and stopped after it.

Tapes: `@pytest.mark.wswatch_tape("NAME")` records or replays the test's WebSocket traffic as
`tapes/NAME/` beside the test file (NAME defaults to the test's name), as
`--wswatch-record-mode` says (`testing/tape_modes.py`): `none` (default: replay only, a missing
tape or a request it lacks fails the test, nothing reaches the network), `once`,
`new_episodes`, `all`.
An ERROR that mitmproxy or wswatch logs during the test ("Addon error: ...") fails the test.
mitmproxy is imported only when a test uses the proxy, so the plugin costs other suites nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .testing.proxy import WsWatchProxy
    from .testing.tape_modes import TapePlan

try:
    import pytest_asyncio
except ImportError:  # the fixture then says what is missing, and other suites still run
    pytest_asyncio = None  # type: ignore[assignment]

MISSING_UPSTREAM = (
    "wswatch_proxy needs an upstream: define a `wswatch_upstream` fixture returning the URL of "
    "the server to put the proxy in front of (ws://127.0.0.1:PORT)"
)
MISSING_ASYNCIO = "wswatch_proxy needs pytest-asyncio: pip install 'wswatch[pytest]'"

RECORD_MODE_FLAG = "--wswatch-record-mode"
TAPE_MARKER = "wswatch_tape"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("wswatch")
    group.addoption(
        RECORD_MODE_FLAG,
        choices=("none", "once", "new_episodes", "all"),
        default="none",
        help="what tests marked wswatch_tape do with their tapes: none (replay only; a missing "
        "tape fails), once (record what is missing), new_episodes (replay, record what the "
        "tape lacks), all (record afresh)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{TAPE_MARKER}(name=None): record or replay this test's WebSocket traffic as the tape "
        "tapes/NAME/ beside the test file (see --wswatch-record-mode)",
    )


def _tape_plan(request: pytest.FixtureRequest) -> TapePlan | None:
    """The record mode's plan for a test marked `wswatch_tape`, None for any other test."""
    from .testing.tape_modes import RecordMode, plan_tape

    marker = request.node.get_closest_marker(TAPE_MARKER)
    if marker is None:
        return None
    name = marker.args[0] if marker.args else marker.kwargs.get("name", request.node.name)
    directory = Path(request.node.path).parent / "tapes" / str(name)
    mode = RecordMode(request.config.getoption(RECORD_MODE_FLAG))
    return plan_tape(mode, directory, RECORD_MODE_FLAG)


@pytest.fixture
def wswatch_upstream() -> str:
    """Override me: the URL (ws://, wss://) of the server under the proxy."""
    pytest.fail(MISSING_UPSTREAM, pytrace=False)


@pytest.fixture
def wswatch_options() -> dict[str, Any]:
    """Override me: options for the proxy, e.g. {"wswatch_log": "events.jsonl"}."""
    return {}


def _errors_message(errors: list[str]) -> str:
    return "mitmproxy or wswatch logged errors during the test:\n" + "\n".join(
        f"  {line}" for line in errors
    )


if pytest_asyncio is not None:

    @pytest_asyncio.fixture
    async def wswatch_proxy(
        wswatch_upstream: str,
        wswatch_options: dict[str, Any],
        tmp_path: Path,
        request: pytest.FixtureRequest,
    ) -> AsyncIterator[WsWatchProxy]:
        """wswatch in front of `wswatch_upstream`, for this test only (and its tape, if the
        test is marked `wswatch_tape`)."""
        from .testing.proxy import WsWatchProxy
        from .testing.tape_modes import recorded

        options = dict(wswatch_options)
        plan = _tape_plan(request)
        if plan is not None:
            if plan.failure:
                pytest.fail(plan.failure, pytrace=False)
            if plan.clear:
                for tape in recorded(Path(plan.options["wswatch_record"])):
                    tape.unlink()
            options.update(plan.options)
        proxy = WsWatchProxy(wswatch_upstream, tmp_path, options)
        await proxy.start()
        try:
            yield proxy
        finally:
            reported = len(proxy.errors)
            await proxy.stop()
        if len(proxy.errors) > reported:
            pytest.fail(_errors_message(proxy.errors[reported:]), pytrace=False)
        if plan is not None and plan.strict_replay and (misses := proxy.events("tape.miss")):
            lines = "\n".join(
                f"  {request}" for request in dict.fromkeys(m["request"] for m in misses)
            )
            pytest.fail(
                f"requests the tape {options['wswatch_replay']} lacks (answered 404, nothing "
                f"reached the network; record them with {RECORD_MODE_FLAG}=new_episodes):\n"
                + lines,
                pytrace=False,
            )

else:

    @pytest.fixture
    def wswatch_proxy() -> None:
        """Unusable without pytest-asyncio: says so."""
        pytest.fail(MISSING_ASYNCIO, pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """Fail a test that passed while mitmproxy or wswatch logged an error."""
    result = yield
    proxy = getattr(item, "funcargs", {}).get("wswatch_proxy")
    if proxy is not None and proxy.errors:
        pytest.fail(_errors_message(proxy.errors), pytrace=False)
    return result
