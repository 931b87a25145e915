"""What a rule found about one client (or the fleet): severity, summary, evidence and hint."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: The client id of findings about every client at once (the herd rule).
FLEET = "(fleet)"

#: Evidence lists keep at most this many entries, so a client retrying forever stays readable.
EVIDENCE_LIMIT = 20


class Severity(enum.IntEnum):
    """How bad a finding is; ordered, so `--fail-on warning` also fails on errors."""

    #: A fact about the client worth knowing (its backoff pattern, the fleet's spread).
    INFO = 0
    #: A departure from RFC 6455 7.2.3 advice or from the gRPC backoff envelope.
    WARNING = 1
    #: Behaviour that hammers or misleads the endpoint (hot loop, herd, ignored Retry-After).
    ERROR = 2

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule's verdict on one client."""

    rule: str
    severity: Severity
    client_id: str
    summary: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    hint: str | None = None

    def fields(self) -> dict[str, Any]:
        """The finding as JSON-ready fields."""
        return {
            "rule": self.rule,
            "severity": self.severity.label,
            "client_id": self.client_id,
            "summary": self.summary,
            "evidence": dict(self.evidence),
            "hint": self.hint,
        }


def bounded(items: list[Any]) -> list[Any]:
    """At most EVIDENCE_LIMIT items, the last one saying how many were left out."""
    if len(items) <= EVIDENCE_LIMIT:
        return items
    return [*items[:EVIDENCE_LIMIT], f"... {len(items) - EVIDENCE_LIMIT} more"]
