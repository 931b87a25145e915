"""The README's example session (examples/demo_session.py), run once per test session.

tests/conftest.py offers it as the `demo` fixture: the demo's own tests and the report's browser
test read the same real session.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from wswatchlib import cli

REPO = Path(__file__).resolve().parents[1]
DURATION_S = 6.0


def load_demo() -> ModuleType:
    """examples/demo_session.py as a module (examples/ is not a package)."""
    spec = importlib.util.spec_from_file_location(
        "demo_session", REPO / "examples" / "demo_session.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    return module


demo_session = load_demo()


@dataclass(frozen=True)
class DemoRun:
    out_dir: Path
    events_path: Path
    events: list[dict[str, Any]]
    elapsed_s: float
    #: `wswatch analyse --json` on the events file.
    analysis: dict[str, Any]

    def of(self, name: str, client_id: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == name and e.get("client_id") == client_id]

    def findings(self, client_id: str, severity: str | None = None) -> set[str]:
        return {
            finding["rule"]
            for finding in self.analysis["findings"]
            if finding["client_id"] == client_id
            and (severity is None or finding["severity"] == severity)
        }


def run_demo_once(out_dir: Path) -> DemoRun:
    """The example session, run for DURATION_S, with `wswatch analyse --json` on its events."""
    began = time.monotonic()
    events_path = demo_session.run_demo(out_dir, duration_s=DURATION_S)
    elapsed_s = time.monotonic() - began
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert cli.main(["analyse", str(events_path), "--json"]) == 0
    events = [json.loads(line) for line in events_path.read_text(encoding="utf-8").splitlines()]
    return DemoRun(out_dir, events_path, events, elapsed_s, json.loads(printed.getvalue()))
