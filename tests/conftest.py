from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def confdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """mitmproxy's CA lives here for the whole session (created on first start)."""
    return tmp_path_factory.mktemp("mitmproxy-conf")
