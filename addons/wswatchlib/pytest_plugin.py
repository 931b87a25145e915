"""pytest plugin (entry point `pytest11`, name `wswatch`): a wswatch proxy per test.

Fixtures:
- `wswatch_upstream`: the ws:// URL the proxy forwards to; define it in your conftest.py.
- `wswatch_options`: wswatch / mitmproxy options for the proxy (e.g. `wswatch_log`); `{}`.
- `wswatch_proxy`: a started `WsWatchProxy` in front of `wswatch_upstream` on 127.0.0.1, port 0,
  fresh for every test (no rules, no events) and stopped after it.
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

try:
    import pytest_asyncio
except ImportError:  # the fixture then says what is missing, and other suites still run
    pytest_asyncio = None  # type: ignore[assignment]

MISSING_UPSTREAM = (
    "wswatch_proxy needs an upstream: define a `wswatch_upstream` fixture returning the URL of "
    "the server to put the proxy in front of (ws://127.0.0.1:PORT)"
)
MISSING_ASYNCIO = "wswatch_proxy needs pytest-asyncio: pip install 'wswatch[pytest]'"


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
        wswatch_upstream: str, wswatch_options: dict[str, Any], tmp_path: Path
    ) -> AsyncIterator[WsWatchProxy]:
        """wswatch in front of `wswatch_upstream`, for this test only."""
        from .testing.proxy import WsWatchProxy

        proxy = WsWatchProxy(wswatch_upstream, tmp_path, wswatch_options)
        await proxy.start()
        try:
            yield proxy
        finally:
            reported = len(proxy.errors)
            await proxy.stop()
        if len(proxy.errors) > reported:
            pytest.fail(_errors_message(proxy.errors[reported:]), pytrace=False)

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
