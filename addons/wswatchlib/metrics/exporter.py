"""Addon: serve wswatch's metrics at http://HOST:PORT/metrics (`wswatch_metrics`, off if empty).

It owns a private `prometheus_client.CollectorRegistry` (never the global one, so nothing else
in the process, and no second proxy in it, mixes in), listens to the event log (each event as
written: redacted), applies `mapping.EventMetrics`'s updates, and serves the registry with
prometheus_client's own HTTP server on a thread of its own. While the option is empty the
listener returns at once. Changing the option moves the server (mitmproxy rolls a refused value
back, which starts the previous one again); `done` stops it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from mitmproxy import ctx, exceptions
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from ..options.errors import logs_option_errors_until_running
from ..output.event_log import LOGGER_NAME, EventLog
from .address import ListenAddress, parse_listen_address
from .catalog import CATALOG, Kind, MetricSpec
from .mapping import EventMetrics, Operation

logger = logging.getLogger(LOGGER_NAME)

OPTION = "wswatch_metrics"

#: Seconds `done` waits for the server's thread after shutting it down.
STOP_TIMEOUT_S = 5


def _registered(spec: MetricSpec, registry: CollectorRegistry) -> Any:
    if spec.kind is Kind.COUNTER:
        return Counter(spec.name, spec.help, spec.labels, registry=registry)
    if spec.kind is Kind.GAUGE:
        return Gauge(spec.name, spec.help, spec.labels, registry=registry)
    return Histogram(spec.name, spec.help, spec.labels, registry=registry, buckets=spec.buckets)


@logs_option_errors_until_running
class MetricsExporter:
    def __init__(self, event_log: EventLog) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.metrics = {spec.name: _registered(spec, self.registry) for spec in CATALOG}
        self.mapping = EventMetrics()
        self.server: Any = None
        self.thread: threading.Thread | None = None
        #: Where /metrics is served (the port chosen when the option said 0); None when off.
        self.address: ListenAddress | None = None
        self.configured: ListenAddress | None = None
        event_log.add_listener(self._count)

    def load(self, loader: Any) -> None:
        loader.add_option(
            OPTION,
            str,
            "",
            "Serve Prometheus metrics at http://HOST:PORT/metrics (e.g. 127.0.0.1:9464; "
            "port 0: any free port); empty: off.",
        )

    def configure(self, updated: set[str]) -> None:
        if OPTION not in updated:
            return
        value = ctx.options.wswatch_metrics
        try:
            wanted = parse_listen_address(value) if value else None
        except ValueError as error:
            raise exceptions.OptionsError(f"Cannot parse {OPTION} option: {error}") from error
        if wanted == self.configured:
            return
        if wanted is None:
            self._stop()
            return
        if self.address is not None and self.address.port == wanted.port:
            self._stop()  # the new address needs this port
        self._start(wanted)

    def _start(self, wanted: ListenAddress) -> None:
        """Serve on `wanted`, then stop the previous server: a refused address leaves the
        previous one serving (and mitmproxy's rollback then finds it in place)."""
        try:
            server, thread = start_http_server(wanted.port, wanted.host, registry=self.registry)
        except OSError as error:
            raise exceptions.OptionsError(
                f"Cannot serve {OPTION} on {wanted}: {error.strerror or error}"
            ) from error
        self._stop()
        self.server, self.thread, self.configured = server, thread, wanted
        self.address = ListenAddress(wanted.host, server.server_port)
        logger.info(f"wswatch: Prometheus metrics at http://{self.address}/metrics")

    def _stop(self) -> None:
        server, thread = self.server, self.thread
        self.server = self.thread = self.address = self.configured = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(STOP_TIMEOUT_S)

    def _count(self, event: Mapping[str, Any]) -> None:
        if self.server is None:
            return
        for update in self.mapping.updates(event):
            metric = self.metrics[update.metric.name]
            if update.labels:
                metric = metric.labels(*update.labels)
            if update.operation is Operation.OBSERVE:
                metric.observe(update.value)
            else:
                metric.inc(update.value)

    def done(self) -> None:
        self._stop()
