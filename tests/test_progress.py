"""The offline commands' progress line: only on a terminal, only once a run is slow, redrawn
at most so often, wiped at the end. A fake clock decides; no real time passes."""

from __future__ import annotations

import io
import itertools
import json
import types

from wswatchlib import cli
from wswatchlib import progress as progress_module
from wswatchlib.events import utc_timestamp
from wswatchlib.progress import EVENTS_PER_CHECK, Progress, on_terminal


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def progress(enabled: bool = True) -> tuple[Progress, io.StringIO, FakeClock]:
    stream, clock = io.StringIO(), FakeClock()
    return Progress("wswatch analyse", stream, enabled=enabled, clock=clock), stream, clock


def test_nothing_is_drawn_before_the_run_is_slow() -> None:
    line, stream, clock = progress()
    clock.now += 1.9
    line.show("1 event read")
    assert stream.getvalue() == ""


def test_a_slow_run_draws_one_line_redrawn_at_most_every_half_second() -> None:
    line, stream, clock = progress()
    clock.now += 2.0
    line.show("1,024 events read")
    clock.now += 0.4
    line.show("2,048 events read")
    clock.now += 0.1
    line.show("3,072 events read")
    assert stream.getvalue() == (
        "\rwswatch analyse: 1,024 events read\x1b[K\rwswatch analyse: 3,072 events read\x1b[K"
    )
    line.finish()
    assert stream.getvalue().endswith("\r\x1b[K")


def test_events_pass_unchanged_and_are_counted_in_batches() -> None:
    line, stream, clock = progress()
    clock.now += 5
    events = list(range(EVENTS_PER_CHECK * 2 + 3))
    assert list(line.events(events)) == events
    assert stream.getvalue() == f"\rwswatch analyse: {EVENTS_PER_CHECK:,} events read\x1b[K"


def test_clients_graded_show_done_of_total() -> None:
    line, stream, clock = progress()
    clock.now += 5
    line.clients(7, 7)
    assert stream.getvalue() == "\rwswatch analyse: 7 of 7 clients graded\x1b[K"


def test_off_the_terminal_nothing_is_drawn_and_nothing_wiped() -> None:
    line, stream, clock = progress(enabled=False)
    clock.now += 60
    line.clients(10, 10)
    line.finish()
    assert stream.getvalue() == ""


def test_a_pipe_or_ci_gets_no_line(monkeypatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("CI", raising=False)
    assert on_terminal(Terminal()) and not on_terminal(io.StringIO())
    monkeypatch.setenv("CI", "true")
    assert not on_terminal(Terminal())


def test_wswatch_analyse_draws_its_line_on_a_terminal_and_prints_clean_output(
    tmp_path, monkeypatch, capsys
) -> None:
    """Wired into the command: events read and clients graded on stderr (a terminal whose
    clock jumps 5 s per look), the table on stdout untouched."""
    log = tmp_path / "events.jsonl"
    log.write_text(
        "".join(
            json.dumps(
                {
                    "event": "ws.handshake",
                    "ts": utc_timestamp(1_800_000_000 + attempt),
                    "flow_id": f"f-{client}-{attempt}",
                    "client_id": f"c-{client}",
                    "outcome": "rejected",
                    "status": 503,
                }
            )
            + "\n"
            for client in range(3)
            for attempt in range(400)
        )
    )

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    ticks = itertools.count(0.0, 5.0)
    monkeypatch.setattr(
        progress_module, "time", types.SimpleNamespace(monotonic=lambda: next(ticks))
    )
    monkeypatch.setattr(cli.sys, "stderr", terminal)
    monkeypatch.delenv("CI", raising=False)
    assert cli.main(["analyse", str(log)]) == 0
    drawn = terminal.getvalue()
    assert "\rwswatch analyse: 1,024 events read\x1b[K" in drawn
    assert "\rwswatch analyse: 3 of 3 clients graded\x1b[K" in drawn
    assert drawn.endswith("\r\x1b[K")
    assert capsys.readouterr().out.splitlines()[0].split() == [
        "client", "attempts", "worst", "findings",
    ]  # fmt: skip
