"""`wswatch analyse` run as a process on files the test writes: output and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from verdict_streams import T0, Stream, reconnect_loop

ADDONS = Path(__file__).resolve().parents[2] / "addons"


def run(*arguments: str | Path) -> subprocess.CompletedProcess[str]:
    """`python -m wswatchlib.cli` with this worktree's addons first on the path."""
    environment = {**os.environ, "PYTHONPATH": str(ADDONS)}
    return subprocess.run(
        [sys.executable, "-m", "wswatchlib.cli", *map(str, arguments)],
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
        check=False,
    )


def write(path: Path, stream: Stream, extra_lines: tuple[str, ...] = ()) -> Path:
    path.write_text(
        "".join(json.dumps(event) + "\n" for event in stream.events) + "".join(extra_lines)
    )
    return path


@pytest.fixture
def hot_loop_file(tmp_path: Path) -> Path:
    stream = Stream()
    last = reconnect_loop(stream, "c-3fa2b9d01c4e", [0.05] * 8)
    stream.end(last + 5)
    return write(tmp_path / "events.jsonl", stream)


@pytest.fixture
def spread_file(tmp_path: Path) -> Path:
    stream = Stream()
    reconnect_loop(stream, "c-0a1b2c3d4e5f", [2.5])
    stream.end(T0 + 100)
    return write(tmp_path / "calm.jsonl", stream, ('{"event": "ws.handshake", "ts": \n',))


def test_table_and_exit_0_without_fail_on(hot_loop_file: Path) -> None:
    """The table lists the client, its worst severity and rules; exit 0 without --fail-on."""
    result = run("analyse", hot_loop_file)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["client", "attempts", "worst", "findings"]
    assert lines[1].split() == ["c-3fa2b9d01c4e", "9", "error", "hot-loop,", "growth,", "jitter"]
    assert (
        "error    c-3fa2b9d01c4e  hot-loop: 7 attempts in a row under 0.1 s apart (median 0.051 s) after close 1006"
        in lines
    )


@pytest.mark.parametrize(("fail_on", "code"), [("error", 1), ("warning", 1)])
def test_fail_on_exits_1_when_a_finding_reaches_it(
    hot_loop_file: Path, fail_on: str, code: int
) -> None:
    """--fail-on error / warning exits 1 when an error finding exists."""
    assert run("analyse", hot_loop_file, "--fail-on", fail_on).returncode == code


def test_fail_on_exits_0_below_it_and_reports_skipped_lines(spread_file: Path) -> None:
    """A calm client passes --fail-on warning; a torn line is reported on stderr with its place."""
    result = run("analyse", spread_file, "--fail-on", "warning")
    assert result.returncode == 0
    assert result.stderr == f"wswatch analyse: {spread_file}:5: skipped: not valid JSON\n"
    assert result.stdout.splitlines()[1].split() == ["c-0a1b2c3d4e5f", "2", "ok", "-"]


def test_json_output(hot_loop_file: Path, spread_file: Path) -> None:
    """--json prints clients and findings of every file merged, with evidence and hints."""
    result = run("analyse", hot_loop_file, spread_file, "--json")
    document = json.loads(result.stdout)
    assert [c["client_id"] for c in document["clients"]] == ["c-0a1b2c3d4e5f", "c-3fa2b9d01c4e"]
    assert document["skipped_lines"] == 1
    hot = document["findings"][0]
    assert (hot["rule"], hot["severity"], hot["client_id"]) == (
        "hot-loop",
        "error",
        "c-3fa2b9d01c4e",
    )
    assert hot["evidence"]["retries"][0] == {
        "at": hot["evidence"]["retries"][0]["at"],
        "delay_s": 0.05,
        "after": "failed (connection_refused)",
        "injected": False,
    }
    assert hot["hint"].startswith("Wait before reconnecting")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ("analyse",),
            "wswatch analyse: error: the following arguments are required: events.jsonl (see --help)\n",
        ),
        (
            ("analyse", "x.jsonl", "--fail-on", "info"),
            "wswatch analyse: error: argument --fail-on: invalid choice: 'info' (choose from 'warning', 'error') (see --help)\n",
        ),
        (
            ("graph",),
            "wswatch: error: argument command: invalid choice: 'graph' (choose from 'analyse', 'report', 'options', 'tape') (see --help)\n",
        ),
    ],
)
def test_usage_error_exits_2_with_one_line(arguments: tuple[str, ...], message: str) -> None:
    """A usage error is one line on stderr and exit code 2."""
    result = run(*arguments)
    assert (result.returncode, result.stderr, result.stdout) == (2, message, "")


def test_missing_file_exits_2_with_one_line(tmp_path: Path) -> None:
    """An unreadable event file is one line naming it, exit 2, no traceback."""
    missing = tmp_path / "nope.jsonl"
    result = run("analyse", missing)
    assert (result.returncode, result.stderr) == (
        2,
        f"wswatch analyse: error: {missing}: cannot read: No such file or directory\n",
    )


def test_bad_thresholds_file_exits_2_naming_the_field(tmp_path: Path, hot_loop_file: Path) -> None:
    """A wrong threshold is one line naming the file and the field, exit 2."""
    thresholds = tmp_path / "t.yaml"
    thresholds.write_text("herd_fraction: 2\n")
    result = run("analyse", hot_loop_file, "--thresholds", thresholds)
    assert (result.returncode, result.stderr) == (
        2,
        f"wswatch analyse: error: {thresholds}: herd_fraction: must be > 0 and <= 1, got 2\n",
    )


def test_thresholds_file_changes_the_verdict(tmp_path: Path, hot_loop_file: Path) -> None:
    """Raising hot_loop_min_retries above the run clears the hot-loop finding."""
    thresholds = tmp_path / "t.yaml"
    thresholds.write_text("hot_loop_min_retries: 50\n")
    result = run("analyse", hot_loop_file, "--thresholds", thresholds)
    assert "hot-loop" not in result.stdout
    assert result.returncode == 0
