"""`wswatch tape ...`: the tape commands, each registered by the module that does its job:
`show` (timeline.py), `import` (har.py), `export` (har_export.py), `diff` (drift.py)."""

from __future__ import annotations

import argparse

from .drift import add_diff_command
from .har import add_import_command
from .har_export import add_export_command
from .timeline import add_show_command


def add_tape_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register `tape` and its subcommands under the `wswatch` command's subparsers."""
    tape = commands.add_parser(
        "tape",
        help="show, import, export and compare tapes (recorded WebSocket sessions)",
        description="Work with tapes, the sessions wswatch_record writes and wswatch_replay "
        "plays (docs/tapes.md).",
    )
    subcommands = tape.add_subparsers(dest="tape_command", required=True, parser_class=type(tape))
    add_show_command(subcommands)
    add_import_command(subcommands)
    add_export_command(subcommands)
    add_diff_command(subcommands)
