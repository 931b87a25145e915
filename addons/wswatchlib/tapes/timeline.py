"""`wswatch tape show FILE`: a tape as a person reads it, one line per message.

A tape is JSON lines made for replay; a user triaging a bug report (an imported HAR, a tape a
test recorded) wants to see at a glance what was said, by whom, and when. The header line gives
the request, the answer, the vendor and the subprotocol; each message its time since the 101,
its sender and a cut of its text (binary as its size, a digest as its size and hash prefix); the
last line how it ended, and what replay does about it. Text is made terminal-safe: a message's
control characters cannot drive the terminal.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

from ..text import terminal_safe
from .format import End, TapeEnd, TapeError, TapeMessage, read_lines, read_summary

#: Characters of a text message shown; the rest is cut, marked with an ellipsis.
TEXT_SHOWN = 100


def _at(t_ms: float | None) -> str:
    """`   +123.4 ms`, right-aligned so the columns line up; blank when not known."""
    return f"{'+' + format(t_ms, '.1f'):>10} ms" if t_ms is not None else " " * 13


def message_text(message: TapeMessage) -> str:
    """`text  {...}`, `binary 1024 bytes` or `binary 1024 bytes sha256:abcd1234…`."""
    if message.text is not None:
        shown = terminal_safe(message.text)
        return f"text  {shown[:TEXT_SHOWN]}{'…' if len(shown) > TEXT_SHOWN else ''}"
    if message.data is not None:
        return f"binary {len(message.data)} bytes"
    return f"binary {message.length} bytes sha256:{(message.sha256 or '')[:8]}…"


def end_text(end: TapeEnd | None) -> str:
    """How the tape ends, and so what its replay does."""
    if end is None:
        return "no end line (the recording was cut): replay drops the connection"
    if end.end is End.HANDSHAKE:
        return "handshake refused: replay answers as recorded"
    if end.end is End.ERROR:
        return f"error: {terminal_safe(end.error or 'the connection failed')}"
    if end.code is None:
        return "closed without a Close frame (code unknown): replay drops the connection"
    reason = f' "{terminal_safe(end.reason)}"' if end.reason else ""
    by = f" by {end.closed_by}" if end.closed_by else ""
    return f"closed {end.code}{reason}{by}{' (clean)' if end.clean else ''}"


def timeline(path: Path) -> Iterator[str]:
    """The lines `tape show` prints, read lazily (a tape of any length); raises TapeError."""
    header = read_summary(path).header
    request, response = header.request, header.response
    default = 443 if request.scheme == "wss" else 80
    port = "" if request.port == default else f":{request.port}"
    answer = f"{response.status} {response.reason}".strip() if response else "no answer"
    facts = [f"vendor {header.vendor}" if header.vendor else "vendor unknown"]
    facts.append(f"subprotocol {header.subprotocol}" if header.subprotocol else "no subprotocol")
    url = f"{request.scheme}://{request.host}{port}{request.path}"
    yield terminal_safe(f"{request.method} {url} -> {answer}, {', '.join(facts)}")
    end = None
    for line in read_lines(path):
        if isinstance(line, TapeEnd):
            end = line
            continue
        sender = "client" if line.from_client else "server"
        yield f"{_at(line.t_ms)}  {sender:<6}  {message_text(line)}"
    yield f"{_at(end.t_ms if end else None)}  {'end':<6}  {end_text(end)}"


def add_show_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    command = commands.add_parser(
        "show",
        help="print tapes' timelines",
        description="Print each tape as a timeline: the handshake, one line per message (ms "
        "since the 101, sender, text cut to 100 characters or binary size), and how it ended; "
        "tapes one after another, a blank line between.",
    )
    command.add_argument("files", metavar="FILE", nargs="+")
    command.set_defaults(run=run_show)


def run_show(arguments: argparse.Namespace) -> int:
    try:
        for number, file in enumerate(arguments.files):
            if number:
                print()
            for line in timeline(Path(file)):
                print(line)
    except (TapeError, OSError) as error:
        sys.stdout.flush()
        print(f"wswatch tape show: error: {error}", file=sys.stderr)
        return 2
    return 0
