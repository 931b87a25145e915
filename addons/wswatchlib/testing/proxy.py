"""wswatch in front of one upstream, in-process, for a test: the same addons as the entry script.

A real mitmproxy (DumpMaster) in reverse mode on 127.0.0.1, port 0 (so parallel workers never
collide), running `wiring.wswatch_addons()`. Events are kept in memory as written (redacted,
JSON-ready) through `EventLog.add_listener`; a `wswatch_log` file is written only if asked for.
Any ERROR that mitmproxy or wswatch logs while it runs (an "Addon error" above all) is kept in
`errors`, for the pytest plugin to fail the test with.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from mitmproxy import hooks, options
from mitmproxy.tools.dump import DumpMaster

from ..output.event_log import EventLog
from ..verdicts.analysis import Verdicts, analyse
from ..verdicts.thresholds import Thresholds
from ..wiring import wswatch_addons
from . import expectations, journal

Event = dict[str, Any]

#: Loggers whose ERROR records fail a test: mitmproxy's and wswatch's own.
WATCHED_LOGGERS = ("mitmproxy", "wswatch", "wswatchlib")

#: Upstream URL scheme -> the scheme of mitmproxy's reverse mode.
REVERSE_SCHEMES = {"ws": "http", "wss": "https", "http": "http", "https": "https"}


def reverse_mode(upstream: str) -> str:
    """mitmproxy's `reverse:` mode for a ws:// or wss:// (or http[s]://) upstream URL."""
    scheme, separator, rest = upstream.partition("://")
    if not separator or scheme.lower() not in REVERSE_SCHEMES:
        raise ValueError(
            f"wswatch upstream must be a ws://, wss://, http:// or https:// URL, got {upstream!r}"
        )
    return f"reverse:{REVERSE_SCHEMES[scheme.lower()]}://{rest}"


class ErrorCapture(logging.Handler):
    """Keeps every ERROR record of mitmproxy and wswatch, as one line each."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.split(".")[0] in WATCHED_LOGGERS:
            self.lines.append(f"{record.name}: {record.getMessage()}")


class WsWatchProxy:
    """One wswatch proxy in front of `upstream`; `await start()`, then `await stop()`."""

    def __init__(
        self,
        upstream: str,
        rules_dir: Path,
        wswatch_options: Mapping[str, Any] | None = None,
        thresholds: Thresholds | None = None,
    ) -> None:
        self.upstream = upstream
        self.rules_dir = rules_dir
        self.options = dict(wswatch_options or {})
        # The journal reads messages on mitmproxy's message layer, which a test can afford.
        self.options.setdefault("wswatch_relay", "websocket")
        self.journal = journal.MessageJournal()
        self.thresholds = thresholds or Thresholds()
        self._events: list[Event] = []
        self._errors = ErrorCapture()
        self._rule_files = 0
        self._master: DumpMaster | None = None
        self._task: asyncio.Task[None] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """Where clients connect instead of the upstream: ws://127.0.0.1:PORT."""
        return f"ws://127.0.0.1:{self.port}"

    @property
    def master(self) -> DumpMaster:
        """The running mitmproxy, e.g. to add an addon of your own for one test."""
        if self._master is None:
            raise RuntimeError("the wswatch proxy is not running")
        return self._master

    @property
    def errors(self) -> list[str]:
        """ERROR lines mitmproxy or wswatch logged since the start."""
        return list(self._errors.lines)

    async def start(self, timeout: float = 10) -> None:
        opts = options.Options(
            listen_host="127.0.0.1", listen_port=0, mode=[reverse_mode(self.upstream)]
        )
        master = DumpMaster(opts, with_termlog=False, with_dumper=False)
        event_log = EventLog()
        event_log.add_listener(self._keep)
        addons = wswatch_addons(event_log)
        # As mitmproxy's script loader does: options set before the addons declare them, then
        # every addon configured with every option.
        # In the test's own process: its objects are not wswatch's to freeze.
        master.options.update_defer(**{"wswatch_gc_freeze": False, **self.options})
        master.addons.add(*addons, self.journal)
        everything = hooks.ConfigureHook(set(master.options.keys()))
        for addon in addons:
            master.addons.invoke_addon_sync(addon, everything)
        logging.getLogger().addHandler(self._errors)
        self._master = master
        self._task = asyncio.create_task(master.run())
        proxyserver = master.addons.get("proxyserver")
        deadline = time.monotonic() + timeout
        while not proxyserver.listen_addrs():
            if self._task.done() or time.monotonic() > deadline:
                await self.stop()
                raise RuntimeError(
                    f"wswatch proxy did not start listening within {timeout} s: {self.errors}"
                )
            await asyncio.sleep(0.01)
        self.port = proxyserver.listen_addrs()[0][1]

    async def stop(self, timeout: float = 10) -> None:
        """Stop the proxy (its `done` hooks emit the verdicts and the session summary)."""
        if self._master is not None and self._task is not None:
            self._master.shutdown()
            await asyncio.wait_for(self._task, timeout)
        self._master = self._task = None
        logging.getLogger().removeHandler(self._errors)

    def _keep(self, event: Mapping[str, Any]) -> None:
        # As the JSON file has it: what a user's pipeline, and the offline analysis, read.
        self._events.append(json.loads(json.dumps(event, ensure_ascii=False, default=str)))

    @contextlib.contextmanager
    def rules(self, rules: str | Mapping[str, Any]) -> Iterator[None]:
        """Fault rules in force inside the block, none after: YAML text or the same as a dict.

        A rule file wswatch refuses raises `mitmproxy.exceptions.OptionsError` with its reason.
        """
        master = self.master
        self._rule_files += 1
        path = self.rules_dir / f"wswatch-rules-{self._rule_files}.yaml"
        # JSON is YAML: a dict goes through the same parser as a rule file.
        path.write_text(rules if isinstance(rules, str) else json.dumps(rules), encoding="utf-8")
        master.options.update(wswatch_faults=[str(path)])
        try:
            yield
        finally:
            if self._master is not None:  # not stopped inside the block
                master.options.update(wswatch_faults=[])

    def script(
        self, steps: list[Any], match: Mapping[str, Any] | None = None
    ) -> contextlib.AbstractContextManager[None]:
        """A `script` (the steps of "Scripted streams") run on each connection inside the block,
        on those `match` selects (the rule `match` fields) when given."""
        rule: dict[str, Any] = {"id": "script", "action": {"script": steps}}
        if match is not None:
            rule["match"] = dict(match)
        return self.rules({"rules": [rule]})

    @property
    def connections(self) -> list[journal.SeenConnection]:
        """Each WebSocket connection so far with its messages (`journal.SeenConnection`)."""
        return list(self.journal.connections)

    def events(self, name: str | None = None) -> list[Event]:
        """The events so far (all, or those named `name`, e.g. "ws.handshake"), in order."""
        return [event for event in self._events if name is None or event["event"] == name]

    async def wait_for(
        self,
        name: str,
        predicate: Callable[[Event], bool] = lambda _: True,
        timeout: float = 10,
    ) -> Event:
        """The first `name` event matching `predicate`, waiting up to `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events(name):
                if predicate(event):
                    return event
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"no matching {name} event within {timeout} s\nevents:\n"
                    + expectations.evidence(self._events)
                )
            await asyncio.sleep(0.01)

    def verdicts(self) -> Verdicts:
        """The verdict rules over the events so far (as `wswatch analyse` grades a file)."""
        return analyse(self._events, self.thresholds)

    def assert_reconnected(self, within_s: float) -> None:
        __tracebackhide__ = True
        expectations.assert_reconnected(self._events, within_s, self.thresholds)

    def assert_no_retry_on(self, code: int) -> None:
        __tracebackhide__ = True
        expectations.assert_no_retry_on(code, self._events, self.thresholds)

    def assert_retry_after_respected(self) -> None:
        __tracebackhide__ = True
        expectations.assert_retry_after_respected(self._events, self.thresholds)

    def assert_backoff(
        self,
        pattern: str = "exponential",
        min_factor: float | None = None,
        max_factor: float | None = None,
    ) -> None:
        __tracebackhide__ = True
        expectations.assert_backoff(
            self._events,
            pattern=pattern,
            min_factor=min_factor,
            max_factor=max_factor,
            thresholds=self.thresholds,
        )

    def assert_client_sent(self, match: Mapping[str, Any], times: int | None = None) -> None:
        __tracebackhide__ = True
        journal.assert_client_sent(self.journal.connections, match, times)

    def assert_client_silent_after_close(self, code: int) -> None:
        __tracebackhide__ = True
        journal.assert_client_silent_after_close(self.journal.connections, code)

    def assert_reconnected_after_message(self, match: Mapping[str, Any], within_s: float) -> None:
        __tracebackhide__ = True
        journal.assert_reconnected_after_message(self.journal.connections, match, within_s)

    def assert_no_findings(self, severity: str = "warning") -> None:
        __tracebackhide__ = True
        expectations.assert_no_findings(self._events, severity, self.thresholds)
