"""The session summary: attempts per host and outcome, and the most frequent failure reasons."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from .handshake import Outcome


@dataclass
class SessionSummary:
    """Counts updated once per handshake and per closed connection."""

    outcomes: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    failure_reasons: Counter[str] = field(default_factory=Counter)
    closes: Counter[str] = field(default_factory=Counter)
    injected: int = 0
    rule_hits: Counter[str] = field(default_factory=Counter)

    def record_handshake(
        self, host: str, outcome: str, reason: str | None, injected: bool, rule_id: str | None
    ) -> None:
        self.outcomes[host][outcome] += 1
        if outcome != Outcome.ACCEPTED and reason:
            self.failure_reasons[reason] += 1
        self.record_injection(injected, rule_id)

    def record_close(
        self, code: int | None, clean: bool, injected: bool, rule_id: str | None
    ) -> None:
        self.closes[f"{code if code is not None else 'none'}{'' if clean else ' (abnormal)'}"] += 1
        self.record_injection(injected, rule_id)

    def record_injection(self, injected: bool, rule_id: str | None) -> None:
        if injected:
            self.injected += 1
        if rule_id:
            self.rule_hits[rule_id] += 1

    def fields(self, top: int = 5) -> dict[str, Any]:
        """The `session.summary` event's fields."""
        return {
            "attempts": sum(sum(counts.values()) for counts in self.outcomes.values()),
            "hosts": {host: dict(counts) for host, counts in sorted(self.outcomes.items())},
            "top_failure_reasons": [
                {"reason": reason, "count": count}
                for reason, count in self.failure_reasons.most_common(top)
            ],
            "closes": dict(self.closes),
            "injected": self.injected,
            "rule_hits": dict(self.rule_hits),
        }

    def table(self, top: int = 5) -> list[str]:
        """A short fixed-width table for the terminal."""
        columns = [outcome.value for outcome in Outcome]
        width = max([len("host"), *(len(host) for host in self.outcomes)])
        lines = [f"{'host':<{width}}  " + "  ".join(f"{c:>8}" for c in columns)]
        for host, counts in sorted(self.outcomes.items()):
            lines.append(
                f"{host:<{width}}  " + "  ".join(f"{counts.get(c, 0):>8}" for c in columns)
            )
        if self.failure_reasons:
            lines.append("top failure reasons:")
            lines.extend(
                f"  {count:>4}  {reason}" for reason, count in self.failure_reasons.most_common(top)
            )
        return lines
