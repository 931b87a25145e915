"""The verdicts as text: a fixed-width table per client, then one line per finding."""

from __future__ import annotations

from .analysis import Verdicts
from .findings import FLEET

_HEADER = ("client", "attempts", "worst", "findings")


def render(verdicts: Verdicts) -> str:
    """The table and the findings, as printed by `wswatch analyse`."""
    rows = []
    for client in verdicts.clients:
        worst = verdicts.worst(client.client_id)
        rules = dict.fromkeys(finding.rule for finding in verdicts.of(client.client_id))
        rows.append(
            (
                client.client_id,
                str(client.attempts),
                worst.label if worst is not None else "ok",
                ", ".join(rules) or "-",
            )
        )
    fleet = verdicts.of(FLEET)
    if fleet:
        worst = max(f.severity for f in fleet)
        rows.append((FLEET, "-", worst.label, ", ".join(dict.fromkeys(f.rule for f in fleet))))
    widths = [max(len(row[column]) for row in [_HEADER, *rows]) for column in range(3)]
    lines = [
        "  ".join(
            [
                row[0].ljust(widths[0]),
                row[1].rjust(widths[1]),
                row[2].ljust(widths[2]),
                row[3],
            ]
        ).rstrip()
        for row in [_HEADER, *rows]
    ]
    if verdicts.findings:
        lines.append("")
        severity_width = max(len(f.severity.label) for f in verdicts.findings)
        for finding in verdicts.findings:
            severity = finding.severity.label.ljust(severity_width)
            who = finding.client_id.ljust(widths[0])
            lines.append(f"{severity}  {who}  {finding.rule}: {finding.summary}")
    if not verdicts.clients:
        lines.append("(no ws.handshake or ws.closed events)")
    return "\n".join(lines)
