"""`wswatch report`: writes the page, and answers bad input with one line and exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from report_events import handshake
from wswatchlib.cli import main


def _events_file(tmp_path: Path) -> Path:
    path = tmp_path / "events.jsonl"
    lines = [json.dumps(handshake("a", 0.0, "rejected", status=503)), "{torn"]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_report_writes_the_page_and_reports_skipped_lines(tmp_path: Path, capsys) -> None:
    """Good lines make the page; a torn line is named on stderr, as `wswatch analyse` does."""
    output = tmp_path / "report.html"
    assert main(["report", str(_events_file(tmp_path)), "-o", str(output)]) == 0
    captured = capsys.readouterr()
    assert captured.out == f"wswatch report: wrote {output}\n"
    assert (
        captured.err == f"wswatch report: {tmp_path / 'events.jsonl'}:2: skipped: not valid JSON\n"
    )
    assert output.read_text(encoding="utf-8").startswith("<!doctype html>")


def test_missing_events_file_exits_2_with_one_line(tmp_path: Path, capsys) -> None:
    """An events file that cannot be read: one line naming it, exit 2, no page."""
    missing = tmp_path / "nope.jsonl"
    output = tmp_path / "report.html"
    assert main(["report", str(missing), "-o", str(output)]) == 2
    assert capsys.readouterr().err == (
        f"wswatch report: error: {missing}: cannot read: No such file or directory\n"
    )
    assert not output.exists()


def test_unwritable_output_exits_2_with_one_line(tmp_path: Path, capsys) -> None:
    """An output path in a missing folder: one line naming it, exit 2."""
    output = tmp_path / "no-such-dir" / "report.html"
    assert main(["report", str(_events_file(tmp_path)), "-o", str(output)]) == 2
    assert capsys.readouterr().err.endswith(
        f"wswatch report: error: {output}: cannot write: No such file or directory\n"
    )


def test_output_is_required(capsys) -> None:
    """Without -o the command says so in one line and exits 2."""
    with pytest.raises(SystemExit) as exit_:
        main(["report", "events.jsonl"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == (
        "wswatch report: error: the following arguments are required: -o/--output (see --help)\n"
    )
