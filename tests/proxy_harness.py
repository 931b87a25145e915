"""A real mitmproxy (DumpMaster) running wswatch's addons in-process on 127.0.0.1.

The real entry script `addons/wswatch.py` is loaded through mitmproxy's script loader, as users
load it; events are read back from the real JSON-lines file, as a user's pipeline would read them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mitmproxy import options
from mitmproxy.tools.dump import DumpMaster
from upstreams import scenario_server
from wswatchlib.output.event_log import LOGGER_NAME

SCRIPT = Path(__file__).resolve().parents[1] / "addons" / "wswatch.py"

Event = dict[str, Any]


class ConsoleCapture(logging.Handler):
    """Collects what wswatch prints on the terminal."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@dataclass
class RunningProxy:
    master: DumpMaster
    port: int
    log_path: Path
    console: ConsoleCapture
    flows: list[Any] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def events(self, name: str | None = None) -> list[Event]:
        if not self.log_path.exists():
            return []
        lines = self.log_path.read_text(encoding="utf-8").splitlines()
        found = [json.loads(line) for line in lines if line.strip()]
        return [event for event in found if name is None or event["event"] == name]

    async def wait_for(
        self, name: str, predicate: Callable[[Event], bool] = lambda _: True, timeout: float = 10
    ) -> Event:
        """The first `name` event matching `predicate`, waiting for it up to `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events(name):
                if predicate(event):
                    return event
            await asyncio.sleep(0.02)
        raise AssertionError(f"no {name} event within {timeout}s; events: {self.events()}")


class FlowRecorder:
    """Keeps the HTTP flows so tests can look at what the proxy retained and how flows were
    marked."""

    def __init__(self, flows: list[Any]) -> None:
        self.flows = flows

    def _keep(self, flow: Any) -> None:
        if all(kept is not flow for kept in self.flows):
            self.flows.append(flow)

    response = error = _keep


class TcpFlowRecorder(FlowRecorder):
    """Keeps the TCP flows too. An addon that sees TCP flows, as mitmdump's dumper does while it
    prints (`flow_detail` 1 and up), so observe-only connections keep their TCP flow; without
    one they are relayed without (`mitm_internals.relay_without_flow`)."""

    tcp_start = FlowRecorder._keep


@contextlib.asynccontextmanager
async def running_proxy(
    tmp_path: Path,
    mode: str,
    confdir: Path,
    *,
    addons: Sequence[Any] = (),
    tcp_flows: bool = False,
    **wswatch_options: Any,
) -> AsyncIterator[RunningProxy]:
    """Start mitmproxy with wswatch on 127.0.0.1 (ephemeral port); stop it on exit. `addons`
    come after wswatch in mitmproxy's chain, as a user's own script or addon would.
    `tcp_flows`: an addon sees (and the proxy keeps) TCP flows (`TcpFlowRecorder`)."""
    opts = options.Options(
        listen_host="127.0.0.1", listen_port=0, mode=[mode], confdir=str(confdir)
    )
    master = DumpMaster(opts, with_termlog=False, with_dumper=False)
    flows: list[Any] = []
    recorder = TcpFlowRecorder(flows) if tcp_flows else FlowRecorder(flows)
    master.addons.add(recorder, *addons)
    log_path = tmp_path / "events.jsonl"
    # In pytest's own process, as wswatch's pytest plugin runs it: no gc.freeze.
    defaults = {"wswatch_log": str(log_path), "wswatch_gc_freeze": False}
    master.options.update_defer(scripts=[str(SCRIPT)], **{**defaults, **wswatch_options})
    console = ConsoleCapture()
    logging.getLogger(LOGGER_NAME).addHandler(console)
    task = asyncio.create_task(master.run())
    try:
        proxyserver = master.addons.get("proxyserver")
        deadline = time.monotonic() + 10
        while not proxyserver.listen_addrs() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert proxyserver.listen_addrs(), "proxy did not start listening within 10 s"
        port = proxyserver.listen_addrs()[0][1]
        yield RunningProxy(master, port, log_path, console, flows)
    finally:
        master.shutdown()
        await asyncio.wait_for(task, 10)
        logging.getLogger(LOGGER_NAME).removeHandler(console)


@contextlib.asynccontextmanager
async def scenario_proxy(
    tmp_path: Path, confdir: Path, *, addons: Sequence[Any] = (), **wswatch_options: Any
) -> AsyncIterator[RunningProxy]:
    """The per-path scenario upstream (see upstreams.py) behind wswatch in reverse mode."""
    async with (
        scenario_server() as up,
        running_proxy(
            tmp_path, f"reverse:http://127.0.0.1:{up}", confdir, addons=addons, **wswatch_options
        ) as proxy,
    ):
        yield proxy
