"""Throughput, handshakes, memory and start-up of wswatch, measured side by side in one run.

    .venv/bin/python benchmarks/bench.py [--repeat 3] [--memory-repeat 1] [--quick]
        [--only NAME[,NAME...]] [--setups LABEL[,LABEL...]] [--stream-messages N]
        [--replay-messages N]
        [--compare-script OTHER_TREE/addons/wswatch.py]

Set-ups, all against the same local upstream on 127.0.0.1 (mitmdump in reverse mode, flow_detail=0):
  direct            the client talks to the upstream itself
  mitmdump          no script
  wswatch           -s addons/wswatch.py with its default options (wswatch_relay=auto: here,
                    with no fault rule, the observe-only relay)
  wswatch websocket the same with --set wswatch_relay=websocket (mitmproxy's message layer,
                    where wswatch scrubs secrets from the messages mitmproxy keeps)
  wswatch websocket unredacted
                    the same with --set wswatch_redact_flows=false too: nothing is scrubbed
  wswatch observe   the same with --set wswatch_relay=observe ("n/a" where that option is unknown)
  websocket=false   mitmdump relaying the upgraded connection as raw TCP: the ceiling
  wswatch record    wswatch's defaults and --set wswatch_record=DIR (a fresh directory per
                    proxy): every connection also written to a tape, on the observe-only relay
  wswatch record websocket
                    the same on mitmproxy's message layer (--set wswatch_relay=websocket)
  wswatch replay    only in the replay measurement: wswatch in reverse mode to an upstream that
                    does not exist (upstream.invalid:9), answering from a tape written for the
                    run (--set wswatch_replay=TAPE, wswatch_replay_speed=max,
                    wswatch_replay_gate=none); "wswatch replay paced" the same at the
                    recorded pace (one message every 0.05 ms: 20,000 a second)

Measurements (one fresh proxy per set-up and repetition; repetitions interleave the set-ups so
that a change in the machine's load touches all of them alike):
  round trips/s     1 KB binary messages echoed one at a time on one connection
  stream msgs/s     small messages sent one way as fast as possible, until the upstream counted all
  stream 1 KB msgs/s
                    the same with 1 KB binary messages (client to upstream)
  json stream msgs/s
                    the same with small JSON text messages, on two connections: one with no
                    secret key (82 B: scanned, nothing replaced), one with `access_token` in
                    every message (61 B: each kept copy scrubbed, the worst case)
  50 conns msgs/s   1 KB round trips on 50 concurrent connections, aggregate
  handshakes/s      open and close (accepted) or a 401 from the upstream (rejected), 1 and 50
                    concurrent clients
  memory            the proxy's VmRSS and VmHWM (/proc/PID/status), each in a fresh proxy: after
                    the short connections; and on one connection, after 1,000 small messages,
                    then the peak (VmHWM) once 300,000 more have streamed as fast as possible, and
                    that peak / the resident size after 1,000 (the growth a fast sender causes)
  start-up          from the process start to mitmproxy's "listening at" line
  replay            100,000 1 KB binary messages from the server side to the client as fast as
                    the proxy passes them, then a close: the rate, and (each proxy fresh) its
                    VmRSS after 1,000 messages, its peak (VmHWM) at the end and peak / that VmRSS.
                    "wswatch replay" plays them from a tape on disk; every other set-up relays
                    them from the upstream (its /source), so the ratio to bare mitmdump compares
                    replay with relaying the same messages live
A record set-up's tapes are counted after its proxy stops: under the table, the message lines
in each stream's tape beside what the client and the upstream sent (a rate counts only if the
tape holds every message).
--only picks measurements by name (MEASUREMENTS below), e.g. `--only stream` or
`--only stream,stream-memory`; a proxy is started only for the set-ups and parts that need it.
--setups picks set-ups by label, e.g. `--setups "wswatch observe,websocket=false"`. The replay
measurement repeats (interleaved) as often as the rates, after the memory measurements.
The client and the upstream are plain asyncio speaking RFC 6455 directly, cheap enough that the
proxy is what is measured. Each figure is the median of the repetitions, [lowest - highest], and
its ratio to bare mitmdump; under each json stream figure, with both "wswatch websocket" set-ups
measured, "scrubbing cost" is the ratio of their medians (redacted / unredacted). The machine is
shared: compare ratios within one run, not figures across runs. --quick runs every measurement
with tiny counts (a CI smoke test; checks nothing).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import functools
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tapes import TapeLines, count_lines, write_server_stream
from wswatchlib.watch.handshake import accept_for_key

REPO = Path(__file__).resolve().parents[1]
MITMDUMP = Path(sys.executable).with_name("mitmdump")
HOST = "127.0.0.1"
TIMEOUT = 600.0  # seconds any single wait may take (a slow proxy drains its backlog for long)
# RFC 6455 section 5.2
OPCODE_TEXT, OPCODE_BINARY, OPCODE_CLOSE, OPCODE_PING, OPCODE_PONG = 0x1, 0x2, 0x8, 0x9, 0xA
CLOSE_NORMAL = (1000).to_bytes(2, "big")  # RFC 6455 section 7.4.1
ZERO_MASK = b"\0\0\0\0"  # a valid masking key that leaves the payload as is: no client-side cost


@dataclass(frozen=True)
class SetUp:
    """One way of reaching the upstream; `proxy_args` is None for a direct connection. In
    `proxy_args`, RECORD_DIR and REPLAY_TAPE stand for the files the run makes."""

    label: str
    proxy_args: tuple[str, ...] | None
    #: The reverse proxy's upstream, when not the local one.
    upstream: str | None = None
    #: The measurements it takes part in (None: all).
    measures: frozenset[str] | None = None

    def takes_part(self, measurements: frozenset[str] | set[str]) -> bool:
        return self.measures is None or bool(self.measures & measurements)

    @property
    def records(self) -> bool:
        return any(RECORD_DIR in arg for arg in self.proxy_args or ())

    @property
    def replays(self) -> bool:
        return any(REPLAY_TAPE in arg for arg in self.proxy_args or ())


#: Stand-ins in `SetUp.proxy_args`: a fresh directory for each proxy's tapes; the replay tape.
RECORD_DIR, REPLAY_TAPE = "<record dir>", "<replay tape>"
WSWATCH = ("-s", str(REPO / "addons" / "wswatch.py"))
RECORD = ("--set", f"wswatch_record={RECORD_DIR}")
#: An upstream that cannot be reached: replay must never contact it.
NOWHERE = "http://upstream.invalid:9"
SETUPS = (
    SetUp("direct", None),
    SetUp("mitmdump", ()),
    SetUp("wswatch", WSWATCH),
    # The handshake targets' configuration: the defaults with the JSON log on (to /dev/null: the
    # line is built and written, the disk left out).
    SetUp("wswatch json log", (*WSWATCH, "--set", f"wswatch_log={os.devnull}")),
    SetUp("wswatch websocket", (*WSWATCH, "--set", "wswatch_relay=websocket")),
    SetUp(
        "wswatch websocket unredacted",
        (*WSWATCH, "--set", "wswatch_relay=websocket", "--set", "wswatch_redact_flows=false"),
    ),
    SetUp("wswatch observe", (*WSWATCH, "--set", "wswatch_relay=observe")),
    SetUp("websocket=false", ("--set", "websocket=false")),
    SetUp("wswatch record", (*WSWATCH, *RECORD)),
    SetUp("wswatch record websocket", (*WSWATCH, *RECORD, "--set", "wswatch_relay=websocket")),
    SetUp(
        "wswatch replay",
        (
            *WSWATCH,
            "--set",
            f"wswatch_replay={REPLAY_TAPE}",
            "--set",
            "wswatch_replay_speed=max",
            "--set",
            "wswatch_replay_gate=none",
        ),
        upstream=NOWHERE,
        measures=frozenset({"replay"}),
    ),
    SetUp(
        "wswatch replay paced",
        (
            *WSWATCH,
            "--set",
            f"wswatch_replay={REPLAY_TAPE}",
            "--set",
            "wswatch_replay_gate=none",
        ),
        upstream=NOWHERE,
        measures=frozenset({"replay"}),
    ),
)
#: `--compare-script PATH`: another tree's entry script with its defaults, measured in the same
#: run as this tree's, so a change is judged side by side (the machine's speed moves between runs).
COMPARED = "wswatch compared"
BASELINE = "mitmdump"
#: mitmproxy relaying the upgraded bytes as raw TCP: what the observe-only relay is compared with.
CEILING = "websocket=false"
#: The message layer with and without scrubbing: the json stream figures' "scrubbing cost".
REDACTED, UNREDACTED = "wswatch websocket", "wswatch websocket unredacted"
#: Wide enough for every set-up's label, so that the table's columns line up.
SETUP_WIDTH = max(len(setup.label) for setup in SETUPS)


@dataclass(frozen=True)
class Counts:
    """How much traffic each measurement sends."""

    round_trips: int
    stream_messages: int
    concurrent_connections: int
    concurrent_round_trips: int  # per connection
    handshakes_single: int
    handshakes_concurrent: int
    handshake_concurrency: int
    memory_messages: int
    memory_connections: int
    replay_messages: int  # server to client, in all (memory read after the first 1,000)


FULL = Counts(2000, 20_000, 50, 50, 300, 1000, 50, 300_000, 3000, 100_000)
QUICK = Counts(50, 500, 50, 2, 20, 100, 50, 2000, 100, 2000)
#: Messages streamed before the resident size the stream's peak is compared with.
MEMORY_WARM_UP_MESSAGES = 1000
#: What --only can pick: the rates, then the two memory measurements (each on a fresh proxy).
RATES = (
    "round-trips",
    "stream",
    "stream-1kb",
    "json-stream",
    "concurrent",
    "handshakes",
    "start-up",
)
MEMORY = ("conns-memory", "stream-memory")
MEASUREMENTS = (*RATES, *MEMORY, "replay")
SMALL_MESSAGE = b"0123456789abcdef0123456789abcdef"  # 32 bytes
KB_MESSAGE = bytes(1024)
ROUND_TRIP_MESSAGE = KB_MESSAGE
#: The json stream's text messages, by figure: JSON with no secret key, which the scrubber parses
#: and keeps as it is, and JSON whose every message has a secret key's value to replace.
JSON_STREAMS = {
    "json stream msgs/s (no secret)": (
        b'{"type":"transcript","seq":1,"text":"the quick brown fox jumps over the lazy dog"}'
    ),
    "json stream msgs/s (secret key)": (
        b'{"type":"auth","access_token":"tok-0123456789abcdef","seq":1}'
    ),
}


class OptionUnavailable(Exception):
    """mitmdump stopped at start-up because a --set option is unknown to it."""


def frame(opcode: int, payload: bytes, mask: bytes | None = None) -> bytes:
    """One final frame (RFC 6455 section 5.2); masked with `mask` when given (client to server)."""
    length = len(payload)
    mask_bit = 0x80 if mask is not None else 0
    if length < 126:
        header = bytes((0x80 | opcode, mask_bit | length))
    elif length < 1 << 16:
        header = bytes((0x80 | opcode, mask_bit | 126)) + length.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, mask_bit | 127)) + length.to_bytes(8, "big")
    if mask is None:
        return header + payload
    return header + mask + unmask(payload, mask)


def unmask(payload: bytes, mask: bytes) -> bytes:
    """XOR with the repeated masking key (RFC 6455 section 5.3); its own inverse."""
    if not payload or mask == ZERO_MASK:
        return payload
    key = (mask * (len(payload) // 4 + 1))[: len(payload)]
    value = int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")
    return value.to_bytes(len(payload), "big")


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """The next frame's opcode and unmasked payload."""
    first, second = await reader.readexactly(2)
    length = second & 0x7F
    if length == 126:
        length = int.from_bytes(await reader.readexactly(2), "big")
    elif length == 127:
        length = int.from_bytes(await reader.readexactly(8), "big")
    mask = await reader.readexactly(4) if second & 0x80 else None
    payload = await reader.readexactly(length)
    return first & 0x0F, unmask(payload, mask) if mask else payload


def whole_frames(buffer: bytearray) -> Iterator[tuple[int, int]]:
    """The first byte and end offset of each whole frame at the start of `buffer`, in order."""
    offset, size = 0, len(buffer)
    while size - offset >= 2:
        first, second = buffer[offset], buffer[offset + 1]
        length = second & 0x7F
        extended = {126: 2, 127: 8}.get(length, 0)
        header = 2 + extended + (4 if second & 0x80 else 0)
        if size - offset < header:
            return
        if extended:
            length = int.from_bytes(buffer[offset + 2 : offset + 2 + extended], "big")
        end = offset + header + length
        if end > size:
            return
        yield first, end
        offset = end


# The upstream: /echo echoes, /sink?n=N[,M...] counts messages and says so on reaching each of
# N, M..., /source?n=N sends N 1 KB binary messages and closes, /reject answers 401.


async def upstream_connection(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, served: list[str] | None = None
) -> None:
    """One connection to the upstream; the paths of its streams go to `served` (what each
    record set-up's tapes are checked against)."""
    try:
        request = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        path = request.split(" ", 2)[1]
        if served is not None and path.startswith(("/sink", "/source")):
            served.append(path)
        key = re.search(r"(?im)^sec-websocket-key:\s*(\S+)", request)
        if path.startswith("/reject") or key is None:
            writer.write(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            return
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + f"Sec-WebSocket-Accept: {accept_for_key(key.group(1))}\r\n\r\n".encode()
        )
        if path.startswith("/sink"):
            checkpoints = [int(n) for n in path.partition("n=")[2].split(",")]
            await count_messages(reader, writer, checkpoints)
        elif path.startswith("/source"):
            await send_messages(reader, writer, int(path.partition("n=")[2]))
        else:
            await echo_messages(reader, writer)
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def echo_messages(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        opcode, payload = await read_frame(reader)
        if opcode == OPCODE_PONG:
            continue
        reply = OPCODE_PONG if opcode == OPCODE_PING else opcode
        writer.write(frame(reply, payload))
        await writer.drain()
        if opcode == OPCODE_CLOSE:
            return


async def count_messages(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, checkpoints: list[int]
) -> None:
    """Count final data frames in the buffer (no await per frame); say so at each checkpoint."""
    buffer = bytearray()
    counted = 0
    while True:
        chunk = await reader.read(1 << 18)
        if not chunk:
            return
        buffer += chunk
        offset = 0
        for first, end in whole_frames(buffer):
            opcode = first & 0x0F
            if opcode == OPCODE_CLOSE:
                writer.write(frame(OPCODE_CLOSE, CLOSE_NORMAL))
                await writer.drain()
                return
            if first & 0x80 and opcode < OPCODE_CLOSE:
                counted += 1
                if counted in checkpoints:
                    writer.write(frame(OPCODE_BINARY, str(counted).encode()))
            offset = end
        del buffer[:offset]


async def send_messages(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, count: int
) -> None:
    """Send `count` 1 KB binary messages in large writes, then a Close; wait for the client's."""
    batch = 1000
    message = frame(OPCODE_BINARY, KB_MESSAGE)
    sent = 0
    while sent < count:
        now = min(batch, count - sent)
        writer.write(message * now)
        await writer.drain()
        sent += now
    writer.write(frame(OPCODE_CLOSE, CLOSE_NORMAL))
    await writer.drain()
    while (await read_frame(reader))[0] != OPCODE_CLOSE:
        pass


# The client side.


@contextlib.asynccontextmanager
async def websocket(
    port: int, path: str
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """An open WebSocket connection; closed with a close handshake on the way out."""
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        status = await handshake(reader, writer, port, path)
        if status != 101:
            raise RuntimeError(f"{path}: expected 101, got {status}")
        yield reader, writer
        writer.write(frame(OPCODE_CLOSE, CLOSE_NORMAL, ZERO_MASK))
        await writer.drain()
        await asyncio.wait_for(reader.read(), TIMEOUT)
    finally:
        writer.close()


async def handshake(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int, path: str
) -> int:
    """Send an upgrade request; the status code of the answer."""
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    return int(answer.split(b" ", 2)[1])


async def round_trips(port: int, count: int) -> None:
    message = frame(OPCODE_BINARY, ROUND_TRIP_MESSAGE, ZERO_MASK)
    async with websocket(port, "/echo") as (reader, writer):
        for _ in range(count):
            writer.write(message)
            await asyncio.wait_for(read_frame(reader), TIMEOUT)


async def stream(
    port: int,
    count: int,
    *,
    warm_up: int = 0,
    warmed_up: Callable[[], None] | None = None,
    opcode: int = OPCODE_BINARY,
    payload: bytes = SMALL_MESSAGE,
    name: str = "",
) -> None:
    """Send `count` small messages one way in large writes; return once the upstream has them.
    With `warm_up`, first send that many more, and call `warmed_up` once the upstream has them.
    `opcode` and `payload` make every message (a text payload must be valid UTF-8); `name`
    tells the stream's path (and tape) from the others': /sink/NAME."""
    batch = 1000
    message = frame(opcode, payload, ZERO_MASK)
    checkpoints = [warm_up, warm_up + count] if warm_up else [count]
    path = f"/sink{'/' + name if name else ''}?n=" + ",".join(map(str, checkpoints))
    async with websocket(port, path) as (reader, writer):
        sent = 0
        for checkpoint in checkpoints:
            while sent < checkpoint:
                now = min(batch, checkpoint - sent)
                writer.write(message * now)
                await asyncio.wait_for(writer.drain(), TIMEOUT)
                sent += now
            _, payload = await asyncio.wait_for(read_frame(reader), TIMEOUT)
            if payload != str(checkpoint).encode():
                raise RuntimeError(f"the upstream counted {payload!r}, expected {checkpoint}")
            if checkpoint == warm_up and warmed_up is not None:
                warmed_up()


async def receive_stream(
    port: int, count: int, *, warm_up: int = 0, warmed_up: Callable[[], None] | None = None
) -> None:
    """Ask for `count` 1 KB messages from the server side (/source) and read them as they come
    until its Close (answered); with `warm_up`, call `warmed_up` once that many have come."""
    path = f"/source?n={count}"
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        status = await handshake(reader, writer, port, path)
        if status != 101:
            raise RuntimeError(f"{path}: expected 101, got {status}")
        buffer = bytearray()
        received = 0
        closed = False
        while not closed:
            chunk = await asyncio.wait_for(reader.read(1 << 18), TIMEOUT)
            if not chunk:
                raise RuntimeError(f"{path}: the connection ended after {received} messages")
            buffer += chunk
            offset = 0
            for first, end in whole_frames(buffer):
                offset = end
                opcode = first & 0x0F
                if opcode == OPCODE_CLOSE:
                    closed = True
                    break
                if first & 0x80 and opcode < OPCODE_CLOSE:
                    received += 1
                    if received == warm_up and warmed_up is not None:
                        warmed_up()
            del buffer[:offset]
        # The Close is answered; a proxy that already closed may reset the connection.
        with contextlib.suppress(ConnectionError):
            writer.write(frame(OPCODE_CLOSE, CLOSE_NORMAL, ZERO_MASK))
            await writer.drain()
            await asyncio.wait_for(reader.read(), TIMEOUT)
        if received != count:
            raise RuntimeError(f"{path}: received {received} messages, expected {count}")
    finally:
        writer.close()


async def in_parallel(total: int, concurrency: int, one: Callable[[], Awaitable[None]]) -> None:
    """Run `one` `total` times with at most `concurrency` at once."""
    remaining = iter(range(total))

    async def worker() -> None:
        for _ in remaining:
            await one()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def open_and_close(port: int) -> None:
    async with websocket(port, "/echo"):
        pass


async def rejected(port: int) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        status = await handshake(reader, writer, port, "/reject")
        if status != 401:
            raise RuntimeError(f"/reject: expected 401, got {status}")
    finally:
        writer.close()


def per_second(count: int, started: float) -> float:
    return count / (time.perf_counter() - started)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far (/proc/PID/stat, clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def rates(
    port: int, counts: Counts, only: frozenset[str], pid: int | None = None
) -> dict[str, float]:
    """The rate measurements in `only` on one proxy, in a fixed order. With the proxy's `pid`,
    handshakes are also counted per second of the proxy's own CPU time: steadier than the rate
    on a shared machine, since other processes' load does not count."""
    results: dict[str, float] = {}
    if "round-trips" in only:
        started = time.perf_counter()
        await round_trips(port, counts.round_trips)
        results["round trips/s (1 KB echo)"] = per_second(counts.round_trips, started)
    if "stream" in only:
        started = time.perf_counter()
        await stream(port, counts.stream_messages)
        results["stream msgs/s (32 B, one way)"] = per_second(counts.stream_messages, started)
    if "stream-1kb" in only:
        started = time.perf_counter()
        await stream(port, counts.stream_messages, payload=KB_MESSAGE, name="1kb")
        results["stream msgs/s (1 KB, one way)"] = per_second(counts.stream_messages, started)
    if "json-stream" in only:
        for figure, payload in JSON_STREAMS.items():
            started = time.perf_counter()
            await stream(
                port, counts.stream_messages, opcode=OPCODE_TEXT, payload=payload, name="json"
            )
            results[figure] = per_second(counts.stream_messages, started)
    connections, each = counts.concurrent_connections, counts.concurrent_round_trips
    if "concurrent" in only:
        started = time.perf_counter()
        await asyncio.gather(*(round_trips(port, each) for _ in range(connections)))
        results[f"{connections} conns msgs/s (1 KB echo)"] = per_second(connections * each, started)
    if "handshakes" not in only:
        return results
    for kind, one in (("accepted", open_and_close), ("rejected", rejected)):
        for total, concurrency in (
            (counts.handshakes_single, 1),
            (counts.handshakes_concurrent, counts.handshake_concurrency),
        ):
            cpu_before = cpu_seconds(pid) if pid is not None else 0.0
            started = time.perf_counter()
            await in_parallel(total, concurrency, functools.partial(one, port))
            results[f"handshakes/s {kind}, {concurrency} client(s)"] = per_second(total, started)
            if pid is not None:
                cpu = max(cpu_seconds(pid) - cpu_before, 1e-9)
                results[f"handshakes per proxy CPU-s {kind}, {concurrency} client(s)"] = total / cpu
    return results


def memory_mb(pid: int) -> tuple[float, float]:
    """VmRSS and VmHWM (peak resident set) of a process, in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    found = [re.search(rf"{field}:\s+(\d+) kB", status) for field in ("VmRSS", "VmHWM")]
    rss, hwm = (int(match.group(1)) / 1024 if match else float("nan") for match in found)
    return rss, hwm


async def connections_memory(port: int, pid: int, counts: Counts) -> dict[str, float]:
    """Many short connections on a fresh proxy."""
    connections = counts.memory_connections
    await in_parallel(
        connections, counts.handshake_concurrency, functools.partial(open_and_close, port)
    )
    rss, hwm = memory_mb(pid)
    return {
        f"VmRSS MB after {connections:,} conns": rss,
        f"VmHWM MB after {connections:,} conns": hwm,
    }


async def stream_memory(port: int, pid: int, counts: Counts) -> dict[str, float]:
    """One fast stream on a fresh proxy: the resident size once the first messages passed, the
    peak over the rest, and how much the stream grew the proxy."""
    messages, warm_up = counts.memory_messages, MEMORY_WARM_UP_MESSAGES
    warm: list[float] = []
    await stream(port, messages, warm_up=warm_up, warmed_up=lambda: warm.append(memory_mb(pid)[0]))
    rss, hwm = memory_mb(pid)
    return {
        f"VmRSS MB after {warm_up:,} msgs": warm[0],
        f"VmRSS MB after +{messages:,} msgs": rss,
        f"VmHWM MB after +{messages:,} msgs": hwm,
        f"peak / after {warm_up:,} msgs (x)": hwm / warm[0],
    }


async def replay(port: int, counts: Counts, pid: int | None = None) -> dict[str, float]:
    """1 KB messages from the server side as fast as they pass (from a tape for "wswatch
    replay", else from the upstream); with the proxy's `pid`, its resident size once the first
    1,000 came, the peak at the end, and how much the stream grew the proxy."""
    messages, warm_up = counts.replay_messages, MEMORY_WARM_UP_MESSAGES
    warm: list[float] = []

    def warmed_up() -> None:
        if pid is not None:
            warm.append(memory_mb(pid)[0])

    started = time.perf_counter()
    await receive_stream(port, messages, warm_up=warm_up, warmed_up=warmed_up)
    results = {f"to client msgs/s (1 KB, {messages:,})": per_second(messages, started)}
    if pid is not None:
        hwm = memory_mb(pid)[1]
        results[f"to client VmRSS MB after {warm_up:,} msgs"] = warm[0]
        results[f"to client VmHWM MB after {messages:,} msgs"] = hwm
        results[f"to client peak / after {warm_up:,} (x)"] = hwm / warm[0]
    return results


@dataclass
class Workspace:
    """The run's files: the replay tape, each record set-up proxy's tape directory, and what
    those tapes were found to hold."""

    root: Path
    #: The paths the upstream streamed (/sink, /source), appended as it serves them.
    served: list[str] = field(default_factory=list)
    #: (set-up label, what one of its tapes holds), in the order the proxies ran.
    tapes: list[tuple[str, TapeLines]] = field(default_factory=list)
    #: (set-up label, stream path): streams the upstream served with no tape for them.
    missing: list[tuple[str, str]] = field(default_factory=list)
    proxies: int = 0

    @property
    def replay_tape(self) -> Path:
        return self.root / "replay" / "server-stream.tape.jsonl"

    def make_replay_tape(self, counts: Counts) -> None:
        self.replay_tape.parent.mkdir(exist_ok=True)
        host, _, port = NOWHERE.removeprefix("http://").partition(":")
        path = f"/source?n={counts.replay_messages}"
        write_server_stream(
            self.replay_tape, host, int(port), path, counts.replay_messages, KB_MESSAGE
        )

    def check_tapes(self, label: str, directory: Path, served: list[str]) -> None:
        """Count what `directory`'s tapes hold; note each stream served without a tape."""
        found = count_lines(directory) if directory.is_dir() else []
        self.tapes.extend((label, lines) for lines in found)
        unmatched = Counter(served) - Counter(lines.request_path for lines in found)
        self.missing.extend((label, path) for path in unmatched.elements())


def expected_lines(path: str) -> tuple[int, int] | None:
    """The client and server messages a stream's tape should hold, from its request path:
    /sink?n=N[,M] (the client's messages, the upstream's count at each checkpoint) or
    /source?n=N (the upstream's messages); None for any other path."""
    numbers = [int(n) for n in path.partition("n=")[2].split(",") if n.isdigit()]
    if path.startswith("/sink") and numbers:
        return numbers[-1], len(numbers)
    if path.startswith("/source") and numbers:
        return 0, numbers[0]
    return None


@contextlib.asynccontextmanager
async def mitmdump(
    upstream: int, setup: SetUp, work: Workspace
) -> AsyncIterator[tuple[int, int, float]]:
    """A mitmdump for `setup`; yields (port, pid, seconds to "listening"), then stops it. A
    record set-up writes into a fresh directory, whose tapes are counted and removed after."""
    assert setup.proxy_args is not None
    work.proxies += 1
    record_dir = work.root / f"record-{work.proxies}"
    args = [
        str(MITMDUMP),
        "--listen-host",
        HOST,
        "-p",
        "0",
        "--mode",
        f"reverse:{setup.upstream or f'http://{HOST}:{upstream}'}",
        "--set",
        "flow_detail=0",
        *(
            arg.replace(RECORD_DIR, str(record_dir)).replace(REPLAY_TAPE, str(work.replay_tape))
            for arg in setup.proxy_args
        ),
    ]
    work.served.clear()
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        *args, cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    assert process.stdout is not None
    output = process.stdout
    drain: asyncio.Task[None] | None = None
    try:
        port = None
        seen: list[str] = []
        for _ in range(200):
            line = (await asyncio.wait_for(output.readline(), TIMEOUT)).decode(errors="replace")
            if not line:
                break
            seen.append(line.rstrip())
            if "unknown option" in line:
                raise OptionUnavailable(line.strip())
            found = re.search(r"listening at \S+:(\d+)", line)
            if found:
                port = int(found.group(1))
                break
        if port is None:
            raise RuntimeError(f"{setup.label}: mitmdump did not start:\n" + "\n".join(seen))
        startup = time.perf_counter() - started

        async def discard_output() -> None:
            while await output.read(1 << 16):
                pass

        drain = asyncio.create_task(discard_output())
        yield port, process.pid, startup
    finally:
        if process.returncode is None:
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            process.kill()
            await process.wait()
        if drain is not None:
            drain.cancel()
        if setup.records:
            work.check_tapes(setup.label, record_dir, list(work.served))
            shutil.rmtree(record_dir, ignore_errors=True)


def counts_for(options: argparse.Namespace) -> Counts:
    counts = QUICK if options.quick else FULL
    if options.stream_messages:
        counts = dataclasses.replace(counts, stream_messages=options.stream_messages)
    if options.replay_messages:
        counts = dataclasses.replace(counts, replay_messages=options.replay_messages)
    return counts


async def run(options: argparse.Namespace, work: Workspace) -> dict[str, dict[str, list[float]]]:
    """Interleaved repetitions; results[measurement][set-up label] = one figure per repetition."""
    counts = counts_for(options)
    only: frozenset[str] = options.only
    setups = [setup for setup in setups_of(options) if setup.label in options.setups]
    rated = only & set(RATES) - {"start-up"}
    results: dict[str, dict[str, list[float]]] = {}
    unavailable: set[str] = set()

    def record(label: str, figures: dict[str, float]) -> None:
        for measurement, figure in figures.items():
            results.setdefault(measurement, {}).setdefault(label, []).append(figure)

    upstream_served = functools.partial(upstream_connection, served=work.served)
    server = await asyncio.start_server(upstream_served, HOST, 0, backlog=1024)
    async with server:
        upstream = server.sockets[0].getsockname()[1]
        for repetition in range(options.repeat if only & set(RATES) else 0):
            for setup in setups:
                if setup.label in unavailable or (setup.proxy_args is None and not rated):
                    continue
                if not setup.takes_part(only & set(RATES)):
                    continue
                print(f"rates {repetition + 1}/{options.repeat}: {setup.label}", file=sys.stderr)
                if setup.proxy_args is None:
                    record(setup.label, await rates(upstream, counts, only))
                    continue
                try:
                    async with mitmdump(upstream, setup, work) as (port, pid, startup):
                        if "start-up" in only:
                            record(setup.label, {"start-up s (to listening)": startup})
                        record(setup.label, await rates(port, counts, only, pid))
                except OptionUnavailable as error:
                    print(f"  {setup.label}: {error}", file=sys.stderr)
                    unavailable.add(setup.label)
        for repetition in range(options.memory_repeat):
            for name, measure in (
                ("conns-memory", connections_memory),
                ("stream-memory", stream_memory),
            ):
                if name not in only:
                    continue
                for setup in setups:
                    if (
                        setup.proxy_args is None
                        or setup.label in unavailable
                        or not setup.takes_part({name})
                    ):
                        continue
                    print(
                        f"{name} {repetition + 1}/{options.memory_repeat}: {setup.label}",
                        file=sys.stderr,
                    )
                    try:
                        async with mitmdump(upstream, setup, work) as (port, pid, _):
                            record(setup.label, await measure(port, pid, counts))
                    except OptionUnavailable as error:
                        print(f"  {setup.label}: {error}", file=sys.stderr)
                        unavailable.add(setup.label)
        if "replay" in only and any(setup.replays for setup in setups):
            work.make_replay_tape(counts)
        for repetition in range(options.repeat if "replay" in only else 0):
            for setup in setups:
                if setup.label in unavailable or not setup.takes_part({"replay"}):
                    continue
                print(f"replay {repetition + 1}/{options.repeat}: {setup.label}", file=sys.stderr)
                if setup.proxy_args is None:
                    record(setup.label, await replay(upstream, counts))
                    continue
                try:
                    async with mitmdump(upstream, setup, work) as (port, pid, _):
                        record(setup.label, await replay(port, counts, pid))
                except OptionUnavailable as error:
                    print(f"  {setup.label}: {error}", file=sys.stderr)
                    unavailable.add(setup.label)
    return results


def shown(value: float) -> str:
    """Whole numbers with thousands separators from 100 up, three significant digits below."""
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def print_table(results: dict[str, dict[str, list[float]]], options: argparse.Namespace) -> None:
    counts = counts_for(options)
    print(
        f"\n{'quick smoke run (figures meaningless)' if options.quick else 'full run'}: "
        f"{options.repeat} repetition(s) of the rates, {options.memory_repeat} of memory; "
        f"{counts.round_trips} round trips, {counts.stream_messages:,} streamed, "
        f"{counts.concurrent_connections} x {counts.concurrent_round_trips} concurrent, "
        f"{counts.handshakes_single} and {counts.handshakes_concurrent} handshakes, "
        f"{counts.replay_messages:,} to the client (replay); "
        f"measured: {', '.join(name for name in MEASUREMENTS if name in options.only)}\n"
        f"median [lowest - highest]; x = median / median of bare {BASELINE}, "
        f"/ceiling = median / median of {CEILING} "
        "(rates: higher is faster; MB and s: lower is better)\n"
    )
    print(
        f"{'measurement':<36} {'set-up':<{SETUP_WIDTH}} {'median':>9} {'range':>19} {'x':>7} "
        f"{'/ceiling':>8}"
    )
    for measurement, by_label in results.items():
        baseline, ceiling = by_label.get(BASELINE), by_label.get(CEILING)
        base = statistics.median(baseline) if baseline else None
        top = statistics.median(ceiling) if ceiling else None
        for setup in setups_of(options):
            figures = by_label.get(setup.label)
            if figures is None:
                if (
                    setup.proxy_args is not None
                    and setup.label in options.setups
                    and setup.measures is None
                ):
                    print(
                        f"{measurement:<36} {setup.label:<{SETUP_WIDTH}} "
                        f"{'n/a (option not available)':>29}"
                    )
                continue
            median = statistics.median(figures)
            spread = f"[{shown(min(figures))} - {shown(max(figures))}]"
            ratio = f"{median / base:.2f}x" if base else ""
            of_ceiling = f"{median / top:.2f}" if top else ""
            print(
                f"{measurement:<36} {setup.label:<{SETUP_WIDTH}} {shown(median):>9} {spread:>19} "
                f"{ratio:>7} {of_ceiling:>8}"
            )
        if measurement in JSON_STREAMS:
            print_scrubbing_cost(by_label)
        print()


def print_tapes(work: Workspace) -> None:
    """What the record set-ups' tapes hold: for each stream, its message lines beside what the
    client and the upstream sent; the other tapes (echo, handshakes) counted."""
    if not work.tapes and not work.missing:
        return
    print(
        "tapes written by the record set-ups, counted after each proxy stopped (message lines "
        "per tape: client + server; expected: what the client and the upstream sent)"
    )
    streams: Counter[tuple[str, str, int, int, str | None, bool, str]] = Counter()
    others: Counter[str] = Counter()
    for label, lines in work.tapes:
        expected = expected_lines(lines.request_path)
        if expected is None:
            others[label] += 1
            continue
        verdict = (
            "as expected"
            if (lines.client, lines.server) == expected and lines.end and not lines.partial
            else f"EXPECTED {expected[0]:,} + {expected[1]:,}"
        )
        key = (label, lines.request_path, lines.client, lines.server, lines.end, lines.partial)
        streams[(*key, verdict)] += 1
    for (label, path, client, server, end, partial, verdict), tapes in streams.items():
        state = "unfinished (.partial)" if partial else f"end: {end or 'none'}"
        print(
            f"  {label:<{SETUP_WIDTH}} {path:<22} {tapes} tape(s): {client:,} + {server:,} "
            f"message lines, {state}; {verdict}"
        )
    for label, count in others.items():
        print(f"  {label:<{SETUP_WIDTH}} and {count:,} other tape(s) (echo, handshakes)")
    for label, path in work.missing:
        print(f"  {label:<{SETUP_WIDTH}} {path:<22} NO TAPE")
    print()


def print_scrubbing_cost(by_label: dict[str, list[float]]) -> None:
    """What scrubbing costs the message layer, as one ratio: wswatch on it with and without
    scrubbing, in the same interleaved repetitions, so the machine's load touches both alike."""
    redacted, unredacted = by_label.get(REDACTED), by_label.get(UNREDACTED)
    if redacted and unredacted:
        ratio = statistics.median(redacted) / statistics.median(unredacted)
        print(f"{'':<36} scrubbing cost: redacted / unredacted = {ratio:.2f}x")


def measurement_names(text: str) -> frozenset[str]:
    """`--only`'s value: comma-separated names from MEASUREMENTS."""
    names = frozenset(name.strip() for name in text.split(",") if name.strip())
    unknown = sorted(names - set(MEASUREMENTS))
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown measurement {', '.join(unknown) or repr(text)}; "
            f"choose from {', '.join(MEASUREMENTS)}"
        )
    return names


def setups_of(options: argparse.Namespace) -> tuple[SetUp, ...]:
    """SETUPS, and the compared script's set-up when `--compare-script` names one."""
    if not options.compare_script:
        return SETUPS
    return (*SETUPS, SetUp(COMPARED, ("-s", str(Path(options.compare_script).resolve()))))


def setup_labels(text: str) -> frozenset[str]:
    """`--setups`' value: comma-separated labels from SETUPS."""
    labels = frozenset(label.strip() for label in text.split(",") if label.strip())
    unknown = sorted(labels - {setup.label for setup in SETUPS} - {COMPARED})
    if unknown or not labels:
        raise argparse.ArgumentTypeError(
            f"unknown set-up {', '.join(unknown) or repr(text)}; "
            f"choose from {', '.join(setup.label for setup in SETUPS)}"
        )
    return labels


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of the rates")
    parser.add_argument("--memory-repeat", type=int, default=1, help="repetitions of memory")
    parser.add_argument(
        "--quick", action="store_true", help="tiny counts, one repetition: CI smoke"
    )
    parser.add_argument(
        "--only",
        type=measurement_names,
        default=frozenset(MEASUREMENTS),
        metavar="NAME[,NAME...]",
        help=f"measure only these, of: {', '.join(MEASUREMENTS)}",
    )
    parser.add_argument(
        "--setups",
        type=setup_labels,
        default=frozenset(setup.label for setup in SETUPS),
        metavar="LABEL[,LABEL...]",
        help=f"run only these set-ups, of: {', '.join(setup.label for setup in SETUPS)}",
    )
    parser.add_argument(
        "--stream-messages",
        type=int,
        default=0,
        metavar="N",
        help=f"messages in the stream rate (default {FULL.stream_messages:,}; quick: "
        f"{QUICK.stream_messages:,})",
    )
    parser.add_argument(
        "--replay-messages",
        type=int,
        default=0,
        metavar="N",
        help=f"messages to the client in the replay measurement, over {MEMORY_WARM_UP_MESSAGES:,} "
        f"(default {FULL.replay_messages:,}; quick: {QUICK.replay_messages:,})",
    )
    parser.add_argument(
        "--compare-script",
        metavar="PATH",
        help=f"also measure another tree's addons/wswatch.py, as the set-up {COMPARED!r} (e.g. "
        "a `git worktree` of the commit before a change)",
    )
    options = parser.parse_args()
    if options.replay_messages and options.replay_messages <= MEMORY_WARM_UP_MESSAGES:
        parser.error(f"--replay-messages must be over {MEMORY_WARM_UP_MESSAGES:,}")
    if options.compare_script:
        options.setups |= {COMPARED}
    if options.quick:
        options.repeat = options.memory_repeat = 1
    work = Workspace(Path(tempfile.mkdtemp(prefix="wswatch-bench-")))
    try:
        print_table(asyncio.run(run(options, work)), options)
        print_tapes(work)
    finally:
        shutil.rmtree(work.root, ignore_errors=True)


if __name__ == "__main__":
    main()
