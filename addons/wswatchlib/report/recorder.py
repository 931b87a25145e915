"""Addon: write the HTML session report (`wswatch_report`) when the proxy stops.

It listens to the event log and keeps a compact copy of each `ws.handshake` and `ws.closed` as
written (redacted), only the fields the report shows, at most MAX_KEPT_EVENTS (oldest dropped
first; the report says how many). At `done` it builds the same page as `wswatch report` on the
JSON file. Placed after the addons whose `done` still reports (the watcher's last closes) and
before the event log.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from mitmproxy import ctx

from .. import events
from ..output.event_log import LOGGER_NAME, EventLog
from ..verdicts.episodes import EVENT_FIELDS
from ..verdicts.thresholds import Thresholds
from ..watch.vendors import VendorCatalog
from .page import build_report

#: Events kept for the report: at most 1.6 KB each as kept (tracemalloc, real session events
#: re-parsed so no string is shared), so at most about 32 MB. A longer session's report shows
#: its latest events and says how many it left out; `wswatch report` on the file has them all.
MAX_KEPT_EVENTS = 20_000

#: The fields the report reads (docs/events.md): its own, and every field the
#: client verdicts on the page read (`analyse` runs on what is kept here).
KEPT_FIELDS = tuple(
    dict.fromkeys(
        (
            "event",
            "ts",
            "flow_id",
            "client_id",
            "started",
            "host",
            "path",
            "url",
            "outcome",
            "status",
            "reason",
            "failure",
            "vendor",
            "request_id",
            "error",
            "retry_after",
            "body_excerpt",
            "hint",
            "duration_ms",
            "since_previous_attempt_s",
            "injected",
            "rule_id",
            "close_code",
            "close_reason",
            "closed_by",
            "clean",
            "duration_s",
            "close_meaning",
            "violation",
            "violated_by",
            "injected_messages",
            *EVENT_FIELDS,
        )
    )
)

_KEPT = frozenset({events.HANDSHAKE, events.CLOSED})

logger = logging.getLogger(LOGGER_NAME)


class SessionReportWriter:
    def __init__(
        self,
        event_log: EventLog,
        catalog: Callable[[], VendorCatalog | None],
        thresholds: Callable[[], Thresholds],
        max_kept: int = MAX_KEPT_EVENTS,
    ) -> None:
        self.catalog = catalog
        self.thresholds = thresholds
        self.kept: deque[dict[str, Any]] = deque(maxlen=max_kept)
        self.seen = 0
        #: Events are kept only while a report is asked for: nothing is held by default.
        self.recording = False
        event_log.add_listener(self._keep)

    def load(self, loader: Any) -> None:
        loader.add_option(
            "wswatch_report",
            str,
            "",
            "When the proxy stops, write the HTML session report here (the same page as "
            "'wswatch report'); empty: no report.",
        )

    def configure(self, updated: set[str]) -> None:
        if "wswatch_report" in updated:
            self.recording = bool(ctx.options.wswatch_report)

    def _keep(self, event: Mapping[str, Any]) -> None:
        if not self.recording or event.get("event") not in _KEPT:
            return
        self.seen += 1
        self.kept.append({key: event[key] for key in KEPT_FIELDS if key in event})

    def done(self) -> None:
        path = ctx.options.wswatch_report
        if not path:
            return
        page = build_report(
            self.kept, self.catalog(), self.thresholds(), events_dropped=self.seen - len(self.kept)
        )
        try:
            with open(path, "w", encoding="utf-8") as output:
                output.write(page)
        except OSError as error:
            logger.warning(
                f"wswatch: cannot write wswatch_report {path}: {error.strerror or error}"
            )
            return
        logger.info(f"wswatch: session report written to {path}")
