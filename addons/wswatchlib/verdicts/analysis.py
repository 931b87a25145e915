"""One analysis run: events in, every client's timeline and every rule's findings out."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

from .episodes import gather, timeline_of
from .findings import Finding, Severity
from .rules import CLIENT_RULES, Context, HerdTrigger, herd, herd_triggers
from .thresholds import Thresholds


def _label(severity: Severity | None) -> str | None:
    return None if severity is None else severity.label


@dataclass(frozen=True, slots=True)
class ClientCount:
    """What the verdicts keep of a graded client besides its findings."""

    client_id: str
    attempts: int
    episodes: int


@dataclass(frozen=True, slots=True)
class Verdicts:
    """The graded session."""

    clients: tuple[ClientCount, ...]
    findings: tuple[Finding, ...]
    #: The findings of each client (the fleet's under FLEET), grouped once: asked per client,
    #: a scan of every finding would make a fleet's grading quadratic.
    _by_client: Mapping[str, tuple[Finding, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        grouped: dict[str, list[Finding]] = {}
        for finding in self.findings:
            grouped.setdefault(finding.client_id, []).append(finding)
        object.__setattr__(
            self, "_by_client", {client: tuple(found) for client, found in grouped.items()}
        )

    def of(self, client_id: str) -> tuple[Finding, ...]:
        """The findings about one client (or FLEET), in the order they were found."""
        return self._by_client.get(client_id, ())

    def worst(self, client_id: str) -> Severity | None:
        """The most severe finding about a client, None if there is none."""
        return max((finding.severity for finding in self.of(client_id)), default=None)

    def client_fields(self) -> Iterator[dict[str, Any]]:
        """Each client's line of `wswatch analyse --json`."""
        for client in self.clients:
            yield {
                "client_id": client.client_id,
                "attempts": client.attempts,
                "episodes": client.episodes,
                "worst": _label(self.worst(client.client_id)),
            }

    def fields(self) -> dict[str, Any]:
        """The verdicts as JSON-ready fields (what `wswatch analyse --json` writes)."""
        return {
            "clients": list(self.client_fields()),
            "findings": [finding.fields() for finding in self.findings],
        }


def write_json(verdicts: Verdicts, skipped_lines: int, output: TextIO) -> None:
    """`wswatch analyse --json`: the same document as `json.dumps(fields, indent=2)`, written
    client by client, so a fleet's output never sits in memory whole."""
    clients = (json.dumps(client, indent=2) for client in verdicts.client_fields())
    findings = (json.dumps(finding.fields(), indent=2) for finding in verdicts.findings)
    output.write("{\n")
    for name, items, comma in (("clients", clients, ","), ("findings", findings, ",")):
        output.write(f'  "{name}": [')
        first = True
        for item in items:
            output.write(("\n" if first else ",\n") + textwrap.indent(item, "    "))
            first = False
        output.write(f"{'' if first else chr(10) + '  '}]{comma}\n")
    output.write(f'  "skipped_lines": {json.dumps(skipped_lines)}\n}}\n')


def analyse(
    events: Iterable[Mapping[str, Any]],
    thresholds: Thresholds | None = None,
    idle_timeouts: Mapping[str, float] | None = None,
    on_client: Callable[[int, int], None] | None = None,
) -> Verdicts:
    """Grade every client of an event stream (in any order: each client's own are put in time
    order). Clients are graded one by one, each timeline let go once graded, so memory holds
    the clients' attempts and the findings, not every timeline at once. `on_client` hears how
    many clients are graded of how many (a progress line)."""
    limits = thresholds or Thresholds()
    gathered = gather(events)
    context = Context(limits, gathered.log_end, idle_timeouts or {})
    counts: list[ClientCount] = []
    findings: list[Finding] = []
    triggers: list[HerdTrigger] = []
    total = len(gathered.clients)
    for done, client_id in enumerate(sorted(gathered.clients), start=1):
        record = gathered.clients.pop(client_id)
        timeline = timeline_of(client_id, record, gathered.log_end, limits.stable_connection_s)
        counts.append(ClientCount(client_id, len(timeline.attempts), len(timeline.episodes)))
        for rule in CLIENT_RULES:
            findings.extend(rule(timeline, context))
        triggers.extend(herd_triggers(timeline))
        if on_client is not None:
            on_client(done, total)
    findings.extend(herd(triggers, context))
    return Verdicts(tuple(counts), tuple(findings))
