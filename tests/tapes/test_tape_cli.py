"""`wswatch tape ...` as users run it: the real command, in a process of its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from wswatchlib.tapes.format import (
    End,
    RecordedRequest,
    RecordedResponse,
    TapeEnd,
    TapeHeader,
    TapeMessage,
    end_line,
    header_line,
    message_line,
)

REPO = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"


def wswatch(*arguments: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wswatchlib.cli", *map(str, arguments)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO / "addons")},
        check=False,
    )


def tape(path: Path, results: list[dict]) -> Path:
    header = TapeHeader(
        "2026-12-06T00:00:00.000Z",
        "0.1.0",
        RecordedRequest("GET", "wss", "api.example.test", 443, "/v1/listen", "HTTP/1.1", []),
        RecordedResponse(101, "Switching Protocols", "HTTP/1.1", []),
    )
    lines = [header_line(header)]
    lines += [
        message_line(TapeMessage(10.0 * n, False, text=json.dumps(result)))
        for n, result in enumerate(results)
    ]
    lines.append(end_line(TapeEnd(End.CLOSED, 100.0, 1000, "done", "server", True)))
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_diff_exits_1_on_a_changed_type_and_0_on_changed_values(tmp_path) -> None:
    """A vendor's number that became a string is drift; new values are not."""
    old = tape(tmp_path / "old.tape.jsonl", [{"type": "Results", "confidence": 0.9}])
    new_values = tape(tmp_path / "values.tape.jsonl", [{"type": "Results", "confidence": 0.4}] * 3)
    new_type = tape(tmp_path / "type.tape.jsonl", [{"type": "Results", "confidence": "0.9"}])
    same = wswatch("tape", "diff", old, new_values)
    assert same.returncode == 0 and same.stdout.startswith("same shape"), same.stderr
    drift = wswatch("tape", "diff", old, new_type)
    assert drift.returncode == 1
    assert 'server "Results": key confidence changed type: number -> string' in drift.stdout


def test_import_show_and_a_bad_file(tmp_path) -> None:
    """A Chrome HAR imports into tapes that `show` prints; a missing file is one line, exit 2."""
    imported = wswatch("tape", "import", DATA / "chrome-deepgram.har", "-o", tmp_path)
    assert imported.returncode == 0, imported.stderr
    written = sorted(tmp_path.glob("*.tape.jsonl"))
    assert written
    shown = wswatch("tape", "show", written[0])
    assert shown.returncode == 0 and shown.stdout.startswith("GET wss://")
    missing = wswatch("tape", "show", tmp_path / "nope.tape.jsonl")
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1
    assert "Traceback" not in missing.stderr
