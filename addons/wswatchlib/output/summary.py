"""The session summary: attempts per host and outcome, and the most frequent failure reasons."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..events import CLIENT_VERDICT, CLOSED, HANDSHAKE, Outcome

#: Findings listed in the summary event and table; the client.verdict events hold them all.
MAX_FINDINGS_SHOWN = 50


def failure_reason(handshake: Mapping[str, Any]) -> str | None:
    """What a failed attempt's `ws.handshake` says went wrong, in one short line."""
    outcome = handshake.get("outcome")
    if outcome == Outcome.REJECTED:
        status, text = handshake.get("status"), handshake.get("error") or handshake.get("reason")
        return f"{status} {text or ''}".strip()
    if outcome == Outcome.FAILED:
        return f"{handshake.get('failure')}: {handshake.get('reason')}"
    if handshake.get("problems"):
        return ", ".join(handshake["problems"])
    return None


@dataclass
class SessionSummary:
    """Counts of the events written: fed each one as the event log wrote it (`observe`), so it
    counts exactly what the outputs hold, already redacted."""

    outcomes: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    failure_reasons: Counter[str] = field(default_factory=Counter)
    closes: Counter[str] = field(default_factory=Counter)
    injected: int = 0
    rule_hits: Counter[str] = field(default_factory=Counter)
    #: Clients by the worst severity of their verdict ("ok" without findings).
    verdicts: Counter[str] = field(default_factory=Counter)
    findings: list[dict[str, Any]] = field(default_factory=list)
    #: Connections on which a peer broke RFC 6455, by "side rule" (either relay).
    violations: Counter[str] = field(default_factory=Counter)

    def observe(self, event: Mapping[str, Any]) -> None:
        """Count one written event; events other than ws.handshake and ws.closed are ignored."""
        name = event.get("event")
        if name == HANDSHAKE:
            outcome = str(event.get("outcome"))
            self.outcomes[str(event.get("host"))][outcome] += 1
            reason = failure_reason(event)
            if outcome != Outcome.ACCEPTED and reason:
                self.failure_reasons[reason] += 1
        elif name == CLIENT_VERDICT:
            if event.get("when") == "episode_end":  # the session-end verdict holds it too
                return
            self.verdicts[str(event.get("worst"))] += 1
            self.findings.extend(
                {key: finding.get(key) for key in ("severity", "client_id", "rule", "summary")}
                for finding in event.get("findings") or ()
            )
            return
        elif name == CLOSED:
            code = event.get("close_code")
            shown = "none" if code is None else code
            self.closes[f"{shown}{'' if event.get('clean') else ' (abnormal)'}"] += 1
            if event.get("violation"):
                self.violations[f"{event.get('violated_by')} {event['violation']}"] += 1
        else:
            return
        if event.get("injected"):
            self.injected += 1
        if event.get("rule_id"):
            self.rule_hits[str(event["rule_id"])] += 1

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
            "verdicts": dict(self.verdicts),
            "findings": self.findings[:MAX_FINDINGS_SHOWN],
            "protocol_violations": dict(self.violations),
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
        if self.violations:
            lines.append("RFC 6455 violations (connections):")
            lines.extend(
                f"  {count:>4}  {rule}" for rule, count in self.violations.most_common(top)
            )
        if self.findings:
            lines.append("client verdicts:")
            severity_width = max(len(str(f["severity"])) for f in self.findings)
            client_width = max(len(str(f["client_id"])) for f in self.findings)
            lines.extend(
                f"  {finding['severity']!s:<{severity_width}}  "
                f"{finding['client_id']!s:<{client_width}}  {finding['rule']}: {finding['summary']}"
                for finding in self.findings[:MAX_FINDINGS_SHOWN]
            )
            if len(self.findings) > MAX_FINDINGS_SHOWN:
                lines.append(f"  ... {len(self.findings) - MAX_FINDINGS_SHOWN} more findings")
        return lines
