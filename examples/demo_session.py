"""The README's example session: five clients, one service, the real wswatch proxy between them.

Usage (after `python -m venv .venv && .venv/bin/pip install -e '.[test]'`):

    .venv/bin/python examples/demo_session.py            # about 13 s; writes demo/events.jsonl
    .venv/bin/wswatch analyse demo/events.jsonl

The clients run 10 s (`--duration`); starting and stopping the proxy adds about 3 s.
Everything runs on 127.0.0.1 and stops at the end:
- a streaming service (a `websockets` server) that behaves like a real API: an unknown key gets
  401 with a request id, an error header and a body that echoes the key (careless, but common);
  each key may open one stream per CONNECTION_INTERVAL_S, sooner gets 429 with `Retry-After`;
  it answers every message it receives;
- `mitmdump -s addons/wswatch.py` in reverse mode in front of it, exactly as the README starts
  it, writing the events to `events.jsonl` and its terminal to `proxy.log`, with one injected
  fault (`examples/demo-faults.yaml`: the first three streams closed with 1013 after 2 s);
- five clients (python `websockets`), told apart by an `x-client-id` header
  (`wswatch_client_key=header:x-client-id`), each with a fake API key wswatch must redact:
  `polite` backs off with jitter and honours Retry-After; `hammer` reconnects at once, again and
  again; `impatient` backs off on its own schedule and ignores Retry-After; `revoked-key` retries
  its 401 every 0.5 s; `streamer` joins 2.5 s in and streams until the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import random
import re
import signal
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.http11 import Request, Response

REPO = Path(__file__).resolve().parents[1]
MITMDUMP = Path(sys.executable).with_name("mitmdump")
FAULTS = REPO / "examples" / "demo-faults.yaml"

#: The session needs this long: the first streams are shed 2 s in, the rate limit lifts 3 s in.
MIN_DURATION_S = 6.0
#: The service lets each API key open one stream per this many seconds.
CONNECTION_INTERVAL_S = 3.0
#: When `streamer` joins: after the first three streams, the ones the injected overload sheds.
STREAMER_JOINS_S = 2.5
#: No client makes more attempts than this, whatever its schedule.
MAX_ATTEMPTS = 300
#: At the end, how long a client waits for each answer still due before it closes.
ANSWER_TIMEOUT_S = 1.0
#: Bounds on starting and stopping the proxy.
PROXY_START_TIMEOUT_S = 30.0
PROXY_STOP_TIMEOUT_S = 30.0

#: Fake API keys: wswatch must keep them out of every output (the 401 body even echoes one).
KEYS = {
    "polite": "demo_sk_live_P0l1te5ecret7a9c",
    "hammer": "demo_sk_live_H4mmer5ecret3e1f",
    "impatient": "demo_sk_live_1mpat1ent5ecret8b2d",
    "revoked-key": "demo_sk_revoked_R3v0ked5ecret6c4a",
    "streamer": "demo_sk_live_5tream5ecret0d5e",
}
REVOKED = {KEYS["revoked-key"]}


class DemoService:
    """A streaming API on 127.0.0.1: API keys, a per-key connection rate limit, answers."""

    def __init__(self, valid_keys: set[str], interval_s: float = CONNECTION_INTERVAL_S) -> None:
        self.valid_keys = valid_keys
        self.interval_s = interval_s
        self.last_opened: dict[str, float] = {}

    def admit(self, _connection: ServerConnection, request: Request) -> Response | None:
        """Decide on an upgrade request: None accepts it, a Response rejects it."""
        key = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if key not in self.valid_keys:
            return self._reject(
                401,
                "Unauthorized",
                {
                    "www-authenticate": 'Bearer error="invalid_token", '
                    'error_description="The API key is invalid or revoked"'
                },
                {"code": "invalid_api_key", "message": f"Invalid API key provided: {key}"},
            )
        now = time.monotonic()
        wait = self.last_opened.get(key, -math.inf) + self.interval_s - now
        if wait > 0:
            return self._reject(
                429,
                "Too Many Requests",
                {"retry-after": str(math.ceil(wait)), "x-error": "stream rate limit exceeded"},
                {
                    "code": "rate_limited",
                    "message": f"One new stream per key every {self.interval_s:g} s.",
                },
            )
        self.last_opened[key] = now
        return None

    @staticmethod
    def _reject(
        status: int, reason: str, headers: dict[str, str], error: dict[str, str]
    ) -> Response:
        request_id = f"req_{uuid.uuid4().hex[:20]}"
        body = json.dumps({"error": error, "request_id": request_id}).encode()
        all_headers = Headers(
            {**headers, "x-request-id": request_id, "content-type": "application/json"}
        )
        all_headers["content-length"] = str(len(body))
        return Response(status, reason, all_headers, body)

    async def serve_stream(self, connection: ServerConnection) -> None:
        """Answer every chunk a client streams, until it closes."""
        with contextlib.suppress(ConnectionClosed):
            async for chunk in connection:
                size = len(chunk)
                await connection.send(json.dumps({"type": "result", "bytes_received": size}))


@dataclass
class Client:
    """One client: who it is, how long it waits after a failure, what it saw."""

    name: str
    user_agent: str
    #: (its random source, failures so far, Retry-After asked for or None) -> seconds to wait.
    wait_after: Callable[[random.Random, int, float | None], float]
    #: Seconds between the chunks it streams while connected.
    send_every_s: float = 0.25
    #: Seconds after the session starts when it first connects.
    joins_s: float = 0.0
    #: What it saw, in order: "accepted", "429", "close 1013", ...
    seen: list[str] = field(default_factory=list)
    attempts: int = 0
    #: Jitter seeded by the client's name: the same waits run after run (timing aside).
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(f"wswatch-demo-{self.name}")

    @property
    def key(self) -> str:
        return KEYS[self.name]

    async def run(self, url: str, started: float, ends: float) -> None:
        """Connect, stream, and reconnect after failures by its own rule, until `ends`."""
        loop = asyncio.get_running_loop()
        await asyncio.sleep(max(0.0, started + self.joins_s - loop.time()))
        failures = 0
        while self.attempts < MAX_ATTEMPTS and loop.time() < ends:
            self.attempts += 1
            retry_after: float | None = None
            try:
                connection = await connect(
                    url,
                    additional_headers={
                        "Authorization": f"Bearer {self.key}",
                        "x-client-id": self.name,
                    },
                    user_agent_header=self.user_agent,
                    proxy=None,  # straight to the reverse proxy, whatever HTTPS_PROXY says
                    open_timeout=3,
                )
            except InvalidStatus as error:
                self.seen.append(str(error.response.status_code))
                header = error.response.headers.get("retry-after")
                retry_after = float(header) if header and header.isdigit() else None
            except OSError as error:
                self.seen.append(f"failed ({error.__class__.__name__})")
            else:
                self.seen.append("accepted")
                close_code = await self._stream(connection, ends)
                if close_code is None:
                    return  # it closed at the end of the session
                self.seen.append(f"close {close_code}")
            failures += 1
            wait = self.wait_after(self.rng, failures, retry_after)
            await asyncio.sleep(max(0.0, min(wait, ends - loop.time())))

    async def _stream(self, connection: ClientConnection, ends: float) -> int | None:
        """Send a chunk every `send_every_s` and read the answers; at `ends`, read the answers
        still due (for up to ANSWER_TIMEOUT_S each), then close (1000).

        Returns the code the service (or the proxy) closed with, None when it closed itself.
        """
        loop = asyncio.get_running_loop()
        next_send = loop.time()
        chunk = bytes(640)  # 20 ms of 16 kHz 16-bit silence
        sent = answered = 0
        try:
            while (now := loop.time()) < ends:
                if now >= next_send:
                    await connection.send(chunk)
                    sent += 1
                    next_send += self.send_every_s
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(connection.recv(), min(next_send, ends) - now)
                    answered += 1
            with contextlib.suppress(TimeoutError):
                while answered < sent:
                    await asyncio.wait_for(connection.recv(), ANSWER_TIMEOUT_S)
                    answered += 1
            await connection.close()
            return None
        except ConnectionClosed:
            return connection.close_code


def polite_wait(rng: random.Random, failures: int, retry_after: float | None) -> float:
    """Exponential backoff (0.5 s doubling, cap 8 s) with equal jitter; at least Retry-After."""
    backoff = min(8.0, 0.5 * 2 ** (failures - 1))
    if retry_after is not None:
        return retry_after + rng.uniform(0.05, 0.3)
    return rng.uniform(backoff / 2, backoff)


def hammer_wait(_rng: random.Random, _failures: int, _retry_after: float | None) -> float:
    """Straight back, whatever happened."""
    return 0.0


def impatient_wait(rng: random.Random, failures: int, _retry_after: float | None) -> float:
    """Its own exponential backoff (0.2 s, x1.6, +-20 %), Retry-After ignored."""
    return 0.2 * 1.6 ** (failures - 1) * rng.uniform(0.8, 1.2)


def revoked_wait(_rng: random.Random, _failures: int, _retry_after: float | None) -> float:
    """A fixed half second, forever: the key will not start working."""
    return 0.5


def demo_clients() -> list[Client]:
    """The five clients of the session, each with its own reconnect rule."""
    return [
        Client("polite", "polite-app/2.1 (python websockets)", polite_wait),
        Client("hammer", "hammer-app/0.9 (python websockets)", hammer_wait),
        Client("impatient", "impatient-app/1.3 (python websockets)", impatient_wait),
        Client("revoked-key", "revoked-key-app/1.0 (python websockets)", revoked_wait),
        Client(
            "streamer",
            "streamer-app/3.0 (python websockets)",
            polite_wait,
            send_every_s=0.1,
            joins_s=STREAMER_JOINS_S,
        ),
    ]


@contextlib.asynccontextmanager
async def wswatch_proxy(upstream_port: int, out_dir: Path, events: Path) -> AsyncIterator[int]:
    """`mitmdump -s addons/wswatch.py` in reverse mode in front of the service; yields its port.

    Its terminal goes to `proxy.log`. On exit it is stopped with Ctrl-C (SIGINT), so its
    `done` hooks write the client verdicts and the session summary, and killed if it hangs.
    """
    process = await asyncio.create_subprocess_exec(
        str(MITMDUMP),
        "--listen-host",
        "127.0.0.1",
        "--listen-port",
        "0",
        "--mode",
        f"reverse:http://127.0.0.1:{upstream_port}",
        "-s",
        "addons/wswatch.py",
        "--set",
        f"wswatch_log={events}",
        "--set",
        f"wswatch_faults={FAULTS}",
        "--set",
        "wswatch_client_key=header:x-client-id",
        "--set",
        f"confdir={out_dir / 'mitmproxy'}",
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    listening: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def copy_output() -> None:
        assert process.stdout is not None
        with (out_dir / "proxy.log").open("w", encoding="utf-8") as log:
            while line := (await process.stdout.readline()).decode(errors="replace"):
                log.write(line)
                found = re.search(r"listening at 127\.0\.0\.1:(\d+)", line)
                if found and not listening.done():
                    listening.set_result(int(found.group(1)))
        if not listening.done():
            listening.set_exception(
                RuntimeError(f"mitmdump exited before listening: see {out_dir / 'proxy.log'}")
            )

    copier = asyncio.create_task(copy_output())
    try:
        yield await asyncio.wait_for(asyncio.shield(listening), PROXY_START_TIMEOUT_S)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(process.wait(), PROXY_STOP_TIMEOUT_S)
        except TimeoutError:
            process.kill()
            await process.wait()
        await asyncio.wait_for(copier, PROXY_STOP_TIMEOUT_S)


async def run_session(out_dir: Path, duration_s: float, clients: list[Client]) -> Path:
    """Run the session with these clients; returns the events file."""
    if duration_s < MIN_DURATION_S:
        raise ValueError(
            f"the demo session needs at least {MIN_DURATION_S:g} s, got {duration_s:g}"
        )
    if not MITMDUMP.exists():
        raise FileNotFoundError(
            f"mitmdump is not next to {sys.executable}: run this with the Python of the venv "
            "wswatch is installed in (.venv/bin/python)"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    events = (out_dir / "events.jsonl").resolve()
    events.unlink(missing_ok=True)  # wswatch_log appends: one session per file
    service = DemoService(set(KEYS.values()) - REVOKED)
    async with (
        serve(service.serve_stream, "127.0.0.1", 0, process_request=service.admit) as server,
        wswatch_proxy(server.sockets[0].getsockname()[1], out_dir, events) as proxy_port,
    ):
        loop = asyncio.get_running_loop()
        started = loop.time()
        ends = started + duration_s
        url = f"ws://127.0.0.1:{proxy_port}/v1/stream?model=general&sample_rate=16000"
        await asyncio.wait_for(
            asyncio.gather(*(client.run(url, started, ends) for client in clients)),
            duration_s + 10,
        )
    return events


def run_demo(out_dir: Path, duration_s: float = 10.0) -> Path:
    """Run the example session into `out_dir`; returns the events file (`events.jsonl`)."""
    return asyncio.run(run_session(out_dir, duration_s, demo_clients()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("demo"), help="output folder (demo)")
    parser.add_argument(
        "--duration", type=float, default=10.0, help="seconds the clients run (10, at least 6)"
    )
    arguments = parser.parse_args()
    clients = demo_clients()
    began = time.monotonic()
    events = asyncio.run(run_session(arguments.out, arguments.duration, clients))
    print(f"session done in {time.monotonic() - began:.1f} s")
    print(f"  {'client':<12} {'attempts':>8}  what it saw")
    for client in clients:
        counts = ", ".join(f"{n} x {what}" for what, n in Counter(client.seen).items())
        print(f"  {client.name:<12} {client.attempts:>8}  {counts}")
    print(f"events:    {arguments.out / events.name}")
    print(f"proxy log: {arguments.out / 'proxy.log'}")
    print(f"next:      .venv/bin/wswatch analyse {arguments.out / events.name}")


if __name__ == "__main__":
    main()
