"""One analysis run: events in, every client's timeline and every rule's findings out."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .episodes import ClientTimeline, build_timelines
from .findings import Finding, Severity
from .rules import CLIENT_RULES, Context, herd
from .thresholds import Thresholds


def _label(severity: Severity | None) -> str | None:
    return None if severity is None else severity.label


@dataclass(frozen=True, slots=True)
class Verdicts:
    """The graded session."""

    clients: tuple[ClientTimeline, ...]
    findings: tuple[Finding, ...]

    def worst(self, client_id: str) -> Severity | None:
        """The most severe finding about a client, None if there is none."""
        found = [f.severity for f in self.findings if f.client_id == client_id]
        return max(found, default=None)

    def fields(self) -> dict[str, Any]:
        """The verdicts as JSON-ready fields (`wswatch analyse --json`)."""
        return {
            "clients": [
                {
                    "client_id": client.client_id,
                    "attempts": len(client.attempts),
                    "episodes": len(client.episodes),
                    "worst": _label(self.worst(client.client_id)),
                }
                for client in self.clients
            ],
            "findings": [finding.fields() for finding in self.findings],
        }


def analyse(
    events: Iterable[Mapping[str, Any]],
    thresholds: Thresholds | None = None,
    idle_timeouts: Mapping[str, float] | None = None,
) -> Verdicts:
    """Grade every client of an event stream (events in time order)."""
    limits = thresholds or Thresholds()
    timelines = build_timelines(events, limits.stable_connection_s)
    context = Context(limits, timelines.log_end, idle_timeouts or {})
    clients = tuple(timelines.clients.values())
    findings = [
        finding for client in clients for rule in CLIENT_RULES for finding in rule(client, context)
    ]
    findings.extend(herd(clients, context))
    return Verdicts(clients, tuple(findings))
