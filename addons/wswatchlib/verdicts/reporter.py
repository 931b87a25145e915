"""Addon: grade how each client reconnected, live, when the proxy stops.

It keeps a compact copy of each `ws.handshake` and `ws.closed` the event log writes (only the
fields the analysis reads, at most `MAX_KEPT_EVENTS`, oldest dropped first), and at the end runs
the same pure analysis as `wswatch analyse` (`verdicts/`): one `client.verdict` event per client
(and one for the fleet when a fleet rule found something), `when: "session_end"`. A client whose
connection stays up `stable_connection_s` after a setback has ended an episode: it is graded then
too (`when: "episode_end"`, its events so far). The session summary, placed after this addon,
counts the session-end findings. Thresholds: `wswatch_verdict_thresholds`; idle timeouts: the
vendor profiles the watcher loaded.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from mitmproxy import ctx, exceptions

from .. import events
from ..options.errors import logs_option_errors_until_running
from ..output.event_log import EventLog
from .analysis import Verdicts, analyse
from .episodes import EVENT_FIELDS
from .findings import FLEET
from .thresholds import Thresholds, ThresholdsError, load_thresholds

#: Events kept for grading: about 1 KB each as kept (measured: 21 MB for 20,000), so a longer
#: session is graded on its latest events, and the verdicts say how many were dropped.
MAX_KEPT_EVENTS = 20_000

_GRADED = frozenset({events.HANDSHAKE, events.CLOSED})

#: `when` of a client.verdict: a client's episode just ended (it reconnected and stayed up
#: `stable_connection_s`), or the session did (every client, and the fleet).
EPISODE_END = "episode_end"
SESSION_END = "session_end"


def verdict_events(verdicts: Verdicts, dropped: int) -> list[dict[str, Any]]:
    """The fields of each `client.verdict` event: one per client, then the fleet's if any."""
    attempts = {c.client_id: (c.attempts, c.episodes) for c in verdicts.clients}
    graded_ids = list(attempts)
    if verdicts.of(FLEET):
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
                "findings": [finding.fields() for finding in verdicts.of(client_id)],
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
        #: flow id -> client id of the upgraded connections still open.
        self.open_connections: dict[Any, str] = {}
        #: client id -> episodes already graded at their end.
        self.episodes_graded: dict[str, int] = {}
        #: Clients with a setback (an attempt not accepted, a close) since they were last
        #: graded: only they can have a new episode, so only they are worth a scan of the kept
        #: events when a connection of theirs proves stable (a fleet's are mostly calm).
        self.set_back: set[str] = set()
        #: flow id -> the timer grading its client once the connection has proved stable; one
        #: per open connection (cancelled at its close), so a long session does not pile them up.
        self.timers: dict[Any, asyncio.TimerHandle] = {}
        #: `wswatch_verdicts`: while off, no event is kept and no timer armed.
        self.enabled = True
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
            "YAML file overriding the verdict rules' thresholds (docs/verdicts.md); "
            "empty: the defaults.",
        )

    def configure(self, updated: set[str]) -> None:
        if "wswatch_verdicts" in updated:
            self.enabled = ctx.options.wswatch_verdicts
        if "wswatch_verdict_thresholds" in updated:
            path = ctx.options.wswatch_verdict_thresholds
            try:
                self.thresholds = load_thresholds(path) if path else Thresholds()
            except ThresholdsError as error:
                raise exceptions.OptionsError(
                    f"Cannot load wswatch_verdict_thresholds: {error}"
                ) from error

    def _keep(self, event: Mapping[str, Any]) -> None:
        name = event.get("event")
        if not self.enabled or name not in _GRADED:
            return
        self.seen += 1
        self.kept.append({key: event[key] for key in EVENT_FIELDS if key in event})
        flow_id, client_id = event.get("flow_id"), event.get("client_id")
        accepted = name == events.HANDSHAKE and event.get("outcome") == events.Outcome.ACCEPTED
        if client_id and not accepted:
            self.set_back.add(str(client_id))
        if accepted and client_id:
            self.open_connections[flow_id] = client_id
            self._check_when_stable(str(client_id), flow_id)
        elif name == events.CLOSED:
            self.open_connections.pop(flow_id, None)
            timer = self.timers.pop(flow_id, None)
            if timer is not None:
                timer.cancel()

    def _check_when_stable(self, client_id: str, flow_id: Any) -> None:
        """Once this connection has stayed up `stable_connection_s`, the client's episode (if
        it had one) is over: grade the client then, not only at the end of the session."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no proxy running (the events are being replayed)
            return
        self.timers[flow_id] = loop.call_later(
            self.thresholds.stable_connection_s, self._episode_ended, client_id, flow_id
        )

    def _episode_ended(self, client_id: str, flow_id: Any) -> None:
        self.timers.pop(flow_id, None)
        if self.open_connections.get(flow_id) != client_id or not ctx.options.wswatch_verdicts:
            return
        if client_id not in self.set_back:
            return
        self.set_back.discard(client_id)
        own = [event for event in self.kept if event.get("client_id") == client_id]
        verdicts = analyse(own, self.thresholds, self.idle_timeouts())
        episodes = sum(client.episodes for client in verdicts.clients)
        if episodes <= self.episodes_graded.get(client_id, 0):
            return
        self.episodes_graded[client_id] = episodes
        for fields in verdict_events(verdicts, self.seen - len(self.kept)):
            self._emit(fields, EPISODE_END)

    def _emit(self, fields: dict[str, Any], when: str) -> None:
        level = logging.WARNING if fields["worst"] in ("warning", "error") else logging.INFO
        self.event_log.emit(events.CLIENT_VERDICT, {**fields, "when": when}, level=level)

    def done(self) -> None:
        for timer in self.timers.values():
            timer.cancel()
        self.timers.clear()
        if not ctx.options.wswatch_verdicts:
            return
        verdicts = analyse(self.kept, self.thresholds, self.idle_timeouts())
        for fields in verdict_events(verdicts, self.seen - len(self.kept)):
            self._emit(fields, SESSION_END)
