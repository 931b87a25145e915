"""Addon: grade how each client reconnected, live, when the proxy stops.

It keeps a compact copy of each `ws.handshake` and `ws.closed` the event log writes (only the
fields the analysis reads, at most `MAX_KEPT_EVENTS`, oldest dropped first), and at the end runs
the same pure analysis as `wswatch analyse` (`verdicts/`): one `client.verdict` event per client
(and one for the fleet when a fleet rule found something). The session summary, placed after
this addon, counts those findings. Thresholds: `wswatch_verdict_thresholds`; idle timeouts: the
vendor profiles the watcher loaded.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from mitmproxy import ctx, exceptions

from . import events
from .event_log import EventLog
from .option_errors import logs_option_errors_until_running
from .verdicts.analysis import Verdicts, analyse
from .verdicts.episodes import EVENT_FIELDS
from .verdicts.findings import FLEET
from .verdicts.thresholds import Thresholds, ThresholdsError, load_thresholds

#: Events kept for grading: about 1 KB each as kept (measured: 21 MB for 20,000), so a longer
#: session is graded on its latest events, and the verdicts say how many were dropped.
MAX_KEPT_EVENTS = 20_000

_GRADED = frozenset({events.HANDSHAKE, events.CLOSED})


def verdict_events(verdicts: Verdicts, dropped: int) -> list[dict[str, Any]]:
    """The fields of each `client.verdict` event: one per client, then the fleet's if any."""
    attempts = {c.client_id: (len(c.attempts), len(c.episodes)) for c in verdicts.clients}
    graded_ids = list(attempts)
    if any(finding.client_id == FLEET for finding in verdicts.findings):
        graded_ids.append(FLEET)
    graded = []
    for client_id in graded_ids:
        worst = verdicts.worst(client_id)
        client_attempts, episodes = attempts.get(client_id, (None, None))
        graded.append(
            {
                "client_id": client_id,
                "attempts": client_attempts,
                "episodes": episodes,
                "worst": worst.label if worst is not None else "ok",
                "findings": [f.fields() for f in verdicts.findings if f.client_id == client_id],
                "events_dropped": dropped,
            }
        )
    return graded


@logs_option_errors_until_running
class VerdictReport:
    def __init__(
        self,
        event_log: EventLog,
        idle_timeouts: Callable[[], Mapping[str, float]],
        max_kept: int = MAX_KEPT_EVENTS,
    ) -> None:
        self.event_log = event_log
        self.idle_timeouts = idle_timeouts
        self.thresholds = Thresholds()
        self.kept: deque[dict[str, Any]] = deque(maxlen=max_kept)
        self.seen = 0
        event_log.add_listener(self._keep)

    def load(self, loader: Any) -> None:
        loader.add_option(
            "wswatch_verdicts",
            bool,
            True,
            "When the proxy stops, grade how each client reconnected: client.verdict events, and "
            "the findings in session.summary (the same rules as 'wswatch analyse').",
        )
        loader.add_option(
            "wswatch_verdict_thresholds",
            str,
            "",
            "YAML file overriding the verdict rules' thresholds (README 'Client verdicts'); "
            "empty: the defaults.",
        )

    def configure(self, updated: set[str]) -> None:
        if "wswatch_verdict_thresholds" in updated:
            path = ctx.options.wswatch_verdict_thresholds
            try:
                self.thresholds = load_thresholds(path) if path else Thresholds()
            except ThresholdsError as error:
                raise exceptions.OptionsError(
                    f"Cannot load wswatch_verdict_thresholds: {error}"
                ) from error

    def _keep(self, event: Mapping[str, Any]) -> None:
        if event.get("event") in _GRADED:
            self.seen += 1
            self.kept.append({key: event[key] for key in EVENT_FIELDS if key in event})

    def done(self) -> None:
        if not ctx.options.wswatch_verdicts:
            return
        verdicts = analyse(self.kept, self.thresholds, self.idle_timeouts())
        dropped = self.seen - len(self.kept)
        for fields in verdict_events(verdicts, dropped):
            level = logging.WARNING if fields["worst"] in ("warning", "error") else logging.INFO
            self.event_log.emit(events.CLIENT_VERDICT, fields, level=level)
