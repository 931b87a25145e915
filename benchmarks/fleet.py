"""How `wswatch analyse` and `wswatch report` grow with a fleet's event log, side by side.

    .venv/bin/python benchmarks/fleet.py [--events 10000,100000,1000000] [--skip-report-above N]
        [--keep DIR]

For each size, a synthetic fleet log of the documented event schema is generated in a temporary
directory (never committed): each client makes 1 to 6 attempts, rejected with 503 and a
`Retry-After` until the last one is accepted, waits between them as a client with back-off
would, and the accepted connection closes some seconds later; a tenth of the clients are closed
together by a restart and come back at once (a herd). Then each command runs as its own process
(`analyse --json` to /dev/null, `report -o`), and the script prints its wall time, events per
second and peak resident memory (the child's ru_maxrss), so the growth from size to size is
visible in one run. The machine is shared: compare the rows of one run, not runs.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from wswatchlib.events import utc_timestamp

WSWATCH = Path(sys.executable).with_name("wswatch")
#: Where every generated session starts (a round second).
T0 = 1_800_000_000.0
#: Average events per client in the generated log (attempts, plus the accepted one's close).
EVENTS_PER_CLIENT = 4.5


@dataclass(frozen=True)
class Run:
    """One command on one log: how long it took and how much memory it needed at most."""

    seconds: float
    peak_mb: float
    returncode: int


def fleet_events(events: int, seed: int = 16) -> Iterator[tuple[float, dict[str, object]]]:
    """(time, event) pairs of a fleet of about `events / EVENTS_PER_CLIENT` clients; unsorted."""
    rng = random.Random(seed)
    clients = max(1, round(events / EVENTS_PER_CLIENT))
    restart_at = T0 + 1800
    for number in range(clients):
        client_id = f"c-{number:012x}"
        address = (
            f"10.{number >> 16 & 255}.{number >> 8 & 255}.{number & 255}:{40000 + number % 20000}"
        )
        herd = number % 10 == 0
        start = restart_at + rng.uniform(0, 0.5) if herd else T0 + rng.uniform(0, 3600)
        attempts = rng.randint(1, 6)
        wait = rng.uniform(0.5, 2.0)
        for attempt in range(attempts):
            accepted = attempt == attempts - 1
            duration_ms = rng.uniform(2, 40)
            end = start + duration_ms / 1000
            flow_id = f"{number:08x}-{attempt:04x}-4000-8000-000000000000"
            yield end, _handshake(client_id, address, flow_id, start, end, duration_ms, accepted)
            if accepted:
                closed = end + rng.uniform(5, 600)
                yield closed, _closed(client_id, flow_id, end, closed, rng)
            else:
                start = end + max(5.0, wait) * rng.uniform(1.0, 1.2)
                wait *= 2


def _handshake(
    client_id: str,
    address: str,
    flow_id: str,
    start: float,
    end: float,
    duration_ms: float,
    accepted: bool,
) -> dict[str, object]:
    return {
        "event": "ws.handshake",
        "schema": 1,
        "ts": utc_timestamp(end),
        "flow_id": flow_id,
        "client": address,
        "url": "wss://api.example.com/v1/stream?model=general&token=[redacted]",
        "host": "api.example.com",
        "path": "/v1/stream",
        "outcome": "accepted" if accepted else "rejected",
        "status": 101 if accepted else 503,
        "reason": "Switching Protocols" if accepted else "Service Unavailable",
        "vendor": None,
        "request_id": flow_id[:8],
        "error": None if accepted else "Service Unavailable",
        "error_headers": {},
        "retry_after": None if accepted else 5.0,
        "body_excerpt": None if accepted else "upstream restarting",
        "problems": [],
        "hint": None if accepted else "The server is overloaded or restarting: retry later.",
        "duration_ms": round(duration_ms, 1),
        "failure": None,
        "subprotocol": None,
        "injected": False,
        "rule_id": None,
        "client_id": client_id,
        "started": utc_timestamp(start),
        "proxy_id": "bench:8080",
        "run_id": "r-bench",
    }


def _closed(
    client_id: str, flow_id: str, opened: float, closed: float, rng: random.Random
) -> dict[str, object]:
    return {
        "event": "ws.closed",
        "schema": 1,
        "ts": utc_timestamp(closed),
        "flow_id": flow_id,
        "url": "wss://api.example.com/v1/stream?model=general&token=[redacted]",
        "close_code": 1000,
        "close_reason": "",
        "closed_by": rng.choice(("client", "server")),
        "clean": True,
        "duration_s": round(closed - opened, 3),
        "messages": {"client": rng.randint(1, 500), "server": rng.randint(1, 500)},
        "bytes": {"client": rng.randint(100, 50000), "server": rng.randint(100, 50000)},
        "vendor": None,
        "hint": None,
        "client_id": client_id,
        "relay": "observe",
        "proxy_id": "bench:8080",
        "run_id": "r-bench",
    }


def write_log(path: Path, events: int) -> int:
    """The fleet log of about `events` events at `path`, in time order; returns the count."""
    ordered = sorted(fleet_events(events), key=lambda pair: pair[0])
    with path.open("w", encoding="utf-8") as file:
        for sequence, (_at, event) in enumerate(ordered, start=1):
            event["seq"] = sequence
            file.write(json.dumps(event) + "\n")
    return len(ordered)


def generate(path: Path, events: int) -> int:
    """`write_log` in a child process: the child's peak memory (ru_maxrss) counts the parent's
    pages it was forked from, so the parent must stay small."""
    done = subprocess.run(
        [sys.executable, __file__, "--write-log", str(path), str(events)],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(done.stdout)


def measure(command: list[str]) -> Run:
    """Run a command to its end; its wall time and peak resident memory."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _pid, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    return Run(seconds, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status))


def live_grading(clients: int) -> tuple[int, float]:
    """The proxy's own grading when it stops (`VerdictReport.done`): the events of `clients`
    clients kept as the addon keeps them (only the fields the analysis reads, the latest
    MAX_KEPT_EVENTS), graded, and one client.verdict's fields built per client. Returns the
    events kept and the seconds the grading took. Run last, importing the addon (and so
    mitmproxy) only here: the commands measured before are forked from this process, and their
    peak memory counts its pages."""
    from wswatchlib.verdicts.analysis import analyse
    from wswatchlib.verdicts.episodes import EVENT_FIELDS
    from wswatchlib.verdicts.reporter import MAX_KEPT_EVENTS, verdict_events

    ordered = sorted(fleet_events(round(clients * EVENTS_PER_CLIENT)), key=lambda pair: pair[0])
    kept: deque[dict[str, object]] = deque(maxlen=MAX_KEPT_EVENTS)
    for _at, event in ordered:
        kept.append({key: event[key] for key in EVENT_FIELDS if key in event})
    started = time.perf_counter()
    verdict_events(analyse(kept), len(ordered) - len(kept))
    return len(kept), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", default="10000,100000,1000000", help="log sizes, in events")
    parser.add_argument(
        "--skip-report-above", type=int, default=None, help="no report for larger logs"
    )
    parser.add_argument("--keep", type=Path, help="keep the generated logs in this directory")
    parser.add_argument(
        "--live-clients", type=int, default=10_000, help="clients of the proxy's own grading"
    )
    parser.add_argument("--write-log", nargs=2, metavar=("PATH", "EVENTS"), help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.write_log:
        path, events = options.write_log
        print(write_log(Path(path), int(events)))
        return
    sizes = [int(size) for size in options.events.split(",")]
    print(f"{'events':>10} {'clients':>9} {'MB':>6}  {'command':<8} {'seconds':>8} "
          f"{'events/s':>10} {'peak MB':>8}")  # fmt: skip
    with tempfile.TemporaryDirectory() as scratch:
        directory = options.keep or Path(scratch)
        directory.mkdir(parents=True, exist_ok=True)
        for size in sizes:
            log = directory / f"fleet-{size}.jsonl"
            written = generate(log, size)
            clients = max(1, round(size / EVENTS_PER_CLIENT))
            megabytes = log.stat().st_size / 1e6
            commands = {"analyse": [str(WSWATCH), "analyse", "--json", str(log)]}
            if options.skip_report_above is None or size <= options.skip_report_above:
                report = directory / f"fleet-{size}.html"
                commands["report"] = [str(WSWATCH), "report", str(log), "-o", str(report)]
            for name, command in commands.items():
                run = measure(command)
                status = "" if run.returncode in (0, 1) else f"  (exit {run.returncode})"
                print(
                    f"{written:>10,} {clients:>9,} {megabytes:>6.0f}  {name:<8} "
                    f"{run.seconds:>8.1f} {written / run.seconds:>10,.0f} {run.peak_mb:>8.0f}"
                    f"{status}",
                    flush=True,
                )

    kept, seconds = live_grading(options.live_clients)
    print(
        f"\nlive grading at proxy stop: {options.live_clients:,} clients, the latest "
        f"{kept:,} events kept: {seconds:.2f} s"
    )


if __name__ == "__main__":
    main()
