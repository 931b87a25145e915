"""The `wswatch` command: `wswatch analyse events.jsonl [more.jsonl]` grades each client;
`wswatch report events.jsonl [more.jsonl] -o report.html` writes the HTML session report;
`wswatch options` lists every wswatch option, from the declarations the addons make;
`wswatch tape show|import|export|diff` work with tapes (tapes/cli.py).

Exit codes: 0 done (no finding at or above --fail-on), 1 a finding at or above --fail-on,
2 usage or input error (one line on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple, NoReturn

from .progress import Progress, on_terminal
from .report.page import build_report
from .tapes.cli import add_tape_commands
from .verdicts.analysis import analyse, write_json
from .verdicts.findings import Severity
from .verdicts.reading import (
    EventFileError,
    Reading,
    check_readable,
    read_event_files,
    stream_event_files,
)
from .verdicts.table import render
from .verdicts.thresholds import Thresholds, ThresholdsError, load_thresholds
from .watch.vendors import DEFAULT_VENDORS_PATH, VendorCatalog, VendorFileError, load_catalog

if TYPE_CHECKING:
    from .mitm_internals import OptionDeclaration

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2

#: Skipped-line messages printed before the rest are only counted.
SKIPPED_SHOWN = 5


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage block)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="wswatch", description="wswatch offline tools.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    analyse_command = commands.add_parser(
        "analyse",
        help="grade how each client reconnects, from JSON-lines event files",
        description="Grade how each client reconnects, from wswatch JSON-lines event files "
        "(merged by time).",
    )
    analyse_command.add_argument("files", nargs="+", metavar="events.jsonl")
    analyse_command.add_argument("--json", action="store_true", help="print JSON, not a table")
    analyse_command.add_argument(
        "--fail-on",
        choices=("warning", "error"),
        help="exit 1 when a finding of this severity or worse exists",
    )
    analyse_command.add_argument(
        "--thresholds", metavar="YAML", help="a YAML mapping overriding rule thresholds"
    )
    analyse_command.add_argument(
        "--vendors",
        metavar="YAML",
        default=DEFAULT_VENDORS_PATH,
        help="vendor profiles, for idle timeouts (default: the shipped config/vendors.yaml)",
    )
    report_command = commands.add_parser(
        "report",
        help="write a self-contained HTML report of a session, from JSON-lines event files",
        description="Write one offline HTML file showing a session: outcomes, one lane per "
        "client, retry spacing, client verdicts and a filterable table of every attempt and "
        "close (events merged by time).",
    )
    report_command.add_argument("files", nargs="+", metavar="events.jsonl")
    report_command.add_argument(
        "-o", "--output", required=True, metavar="report.html", help="the HTML file to write"
    )
    report_command.add_argument(
        "--thresholds", metavar="YAML", help="a YAML mapping overriding rule thresholds"
    )
    report_command.add_argument(
        "--client",
        action="append",
        default=[],
        metavar="ID",
        help="a client_id that gets a lane even when the fleet is too big for one lane per "
        "client (repeat for more)",
    )
    report_command.add_argument(
        "--vendors",
        metavar="YAML",
        default=DEFAULT_VENDORS_PATH,
        help="vendor profiles, for names, close-code meanings and idle timeouts "
        "(default: the shipped config/vendors.yaml)",
    )
    options_command = commands.add_parser(
        "options",
        help="list every wswatch option: type, default, help",
        description="List every wswatch option with its type, default and help, as the addons "
        "declare them to mitmproxy (set one with mitmdump --set NAME=VALUE).",
    )
    options_command.add_argument("--json", action="store_true", help="print JSON, not text")
    add_tape_commands(commands)
    return parser


async def _declared_options() -> list[OptionDeclaration]:
    """The wswatch options, declared by loading the addons into mitmproxy's own test master:
    the same declarations mitmdump reads, so this list cannot drift from them. Imported here,
    not at the top: `wswatch analyse` and `wswatch report` need neither mitmproxy nor the addons,
    and would pay for loading them on every run."""
    from mitmproxy.test import taddons

    from . import mitm_internals
    from .wiring import wswatch_addons

    with taddons.context(*wswatch_addons()) as context:
        declared = mitm_internals.option_declarations(context.options)
    return [option for option in declared if option.name.startswith("wswatch_")]


def _options(arguments: argparse.Namespace) -> int:
    declared = asyncio.run(_declared_options())
    if arguments.json:
        print(json.dumps([option._asdict() for option in declared], indent=2, default=list))
        return EXIT_OK
    for option in declared:
        default = json.dumps(
            list(option.default) if option.type.startswith("sequence") else option.default
        )
        choices = f", one of {', '.join(option.choices)}" if option.choices else ""
        print(f"{option.name}  ({option.type}, default {default}{choices})")
        print(textwrap.fill(option.help, width=96, initial_indent="    ", subsequent_indent="    "))
    return EXIT_OK


def _print_skipped(command: str, skipped: Sequence[str]) -> None:
    for message in skipped[:SKIPPED_SHOWN]:
        print(f"wswatch {command}: {message}", file=sys.stderr)
    if len(skipped) > SKIPPED_SHOWN:
        print(
            f"wswatch {command}: ... {len(skipped) - SKIPPED_SHOWN} more lines skipped "
            f"({len(skipped)} in all)",
            file=sys.stderr,
        )


class _Settings(NamedTuple):
    thresholds: Thresholds
    catalog: VendorCatalog


def _read_settings(command: str, arguments: argparse.Namespace) -> _Settings | None:
    """The thresholds and vendor profiles a command works with, once every event file is known
    to be readable; None (said on stderr, in one line) when one cannot be read."""
    try:
        thresholds = load_thresholds(arguments.thresholds) if arguments.thresholds else Thresholds()
        catalog = load_catalog(arguments.vendors)
        check_readable(arguments.files)
    except (ThresholdsError, VendorFileError, EventFileError) as error:
        print(f"wswatch {command}: error: {error}", file=sys.stderr)
        return None
    return _Settings(thresholds, catalog)


def _read_events(command: str, arguments: argparse.Namespace, progress: Progress) -> Reading | None:
    """Every event of the files, merged by time (skipped lines said on stderr)."""
    try:
        reading = read_event_files(arguments.files, progress.events)
    except EventFileError as error:
        print(f"wswatch {command}: error: {error}", file=sys.stderr)
        return None
    _print_skipped(command, reading.skipped)
    return reading


def _progress(command: str) -> Progress:
    return Progress(f"wswatch {command}", sys.stderr, enabled=on_terminal(sys.stderr))


def _report(arguments: argparse.Namespace) -> int:
    settings = _read_settings("report", arguments)
    progress = _progress("report")
    try:
        reading = _read_events("report", arguments, progress) if settings else None
        if settings is None or reading is None:
            return EXIT_USAGE
        page = build_report(
            reading.events,
            settings.catalog,
            settings.thresholds,
            on_client=progress.clients,
            named=arguments.client,
        )
    finally:
        progress.finish()
    try:
        with open(arguments.output, "w", encoding="utf-8") as output:
            output.write(page)
    except OSError as error:
        print(
            f"wswatch report: error: {arguments.output}: cannot write: {error.strerror or error}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    print(f"wswatch report: wrote {arguments.output}")
    return EXIT_OK


def _analyse(arguments: argparse.Namespace) -> int:
    """Grade the files' events as they are read: memory grows with the clients and their
    attempts, not with the file (no event is kept once its facts are taken)."""
    settings = _read_settings("analyse", arguments)
    if settings is None:
        return EXIT_USAGE
    skipped: list[str] = []
    progress = _progress("analyse")
    try:
        verdicts = analyse(
            progress.events(stream_event_files(arguments.files, skipped)),
            settings.thresholds,
            settings.catalog.idle_timeouts,
            progress.clients,
        )
    except EventFileError as error:
        print(f"wswatch analyse: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        progress.finish()
    _print_skipped("analyse", skipped)
    if arguments.json:
        write_json(verdicts, len(skipped), sys.stdout)
    else:
        print(render(verdicts))
    if arguments.fail_on is not None:
        floor = Severity[arguments.fail_on.upper()]
        if any(finding.severity >= floor for finding in verdicts.findings):
            return EXIT_FINDINGS
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run a `wswatch` command; returns its exit code."""
    arguments = _parser().parse_args(argv)
    if arguments.command == "report":
        return _report(arguments)
    if arguments.command == "options":
        return _options(arguments)
    if arguments.command == "tape":
        return int(arguments.run(arguments))
    return _analyse(arguments)


if __name__ == "__main__":
    sys.exit(main())
