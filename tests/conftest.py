from __future__ import annotations

from pathlib import Path

import pytest
from demo_run import DemoRun, run_demo_once

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def confdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """mitmproxy's CA lives here for the whole session (created on first start)."""
    return tmp_path_factory.mktemp("mitmproxy-conf")


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """The README's example session, run once: real service, real mitmdump, five real clients."""
    return run_demo_once(tmp_path_factory.mktemp("demo"))
