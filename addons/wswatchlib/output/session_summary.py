"""Addon: the `session.summary` event and terminal table when the proxy stops.

It counts the events the event log wrote, as written (it listens to the log), so the summary
never counts an attempt no event describes, and holds nothing the events do not. Placed after
every addon whose `done` still reports (the watcher's closes at shutdown) and before the event
log, whose `done` closes the file.
"""

from __future__ import annotations

from .. import events
from .event_log import EventLog
from .summary import SessionSummary


class SessionSummaryReport:
    def __init__(self, event_log: EventLog) -> None:
        self.event_log = event_log
        self.summary = SessionSummary()
        event_log.add_listener(self.summary.observe)

    def done(self) -> None:
        self.event_log.emit(
            events.SUMMARY, self.summary.fields(), console_lines=tuple(self.summary.table())
        )
