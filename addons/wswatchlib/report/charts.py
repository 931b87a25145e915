"""The report's two charts as SVG text, drawn in Python: client swimlanes and retry spacing.

Every text placed in the SVG goes through `page_text` (escaped, control characters shown).
Marks carry `data-row`, the index of their row in the page's JSON, so the page's script shows
the row's fields on hover or click. A lane with more than MAX_MARKS_PER_LANE attempts is drawn
as one stacked column per pixel bucket instead of one mark per attempt, and its connections as
merged spans, so a 50,000-event session stays a small SVG.
"""

from __future__ import annotations

import html
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from ..events import Outcome
from ..text import terminal_safe
from ..verdicts.thresholds import Thresholds
from .fleet_view import MAX_LANES
from .model import OUTCOMES, Connection, Lane, ReportModel, Row

#: Attempts drawn one by one on a lane; past this the lane is bucketed.
MAX_MARKS_PER_LANE = 400
#: Clients drawn in the retry-spacing chart (those with the most attempts).
MAX_RETRY_CLIENTS = 10
#: Points per client in the retry-spacing chart; past this every n-th is drawn.
MAX_RETRY_POINTS = 600
#: Columns of a bucketed lane.
BUCKETS = 200

#: Colour of each attempt outcome, and of connection bars (also used by the legend).
OUTCOME_COLOURS = {
    Outcome.ACCEPTED: "#2e7d32",
    "rejected": "#c62828",
    "failed": "#ef6c00",
    "invalid": "#6a1b9a",
}
CONNECTION_CLEAN = "#78909c"
CONNECTION_ABNORMAL = "#d84315"
INJECTED_STROKE = "#111111"
#: Line colours of the clients in the retry-spacing chart: no red, which marks Retry-After.
CLIENT_COLOURS = (
    "#1565c0",
    "#f9a825",
    "#2e7d32",
    "#6a1b9a",
    "#ef6c00",
    "#00838f",
    "#455a64",
    "#4e342e",
    "#558b2f",
    "#283593",
)

#: The reference backoff envelope (gRPC connection backoff: 1 s initial, x1.6, +-20 % jitter),
#: capped at the verdicts' `cap_max_s` (120 s).
ENVELOPE_INITIAL_S = 1.0
ENVELOPE_MULTIPLIER = 1.6
ENVELOPE_JITTER = 0.2

WIDTH = 1000
LABEL_WIDTH = 190
PLOT_RIGHT = 985
LANE_HEIGHT = 34
AXIS_HEIGHT = 26


def page_text(value: object) -> str:
    """Any value as text safe inside HTML or SVG markup and attributes."""
    return html.escape(terminal_safe(str(value)), quote=True)


def _short(value: str, limit: int = 26) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "\u2026"


def nice_step(span: float, ticks: int = 8) -> float:
    """A round tick step (1, 2 or 5 times a power of ten) giving about `ticks` ticks."""
    if span <= 0:
        return 1.0
    raw = span / ticks
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * power:
            return factor * power
    return 10 * power


def _seconds_label(value: float) -> str:
    if value >= 1 or value == 0:
        return f"{value:g} s"
    return f"{value * 1000:g} ms"


def envelope_s(retry: int, cap_s: float) -> float:
    """The reference backoff before the `retry`-th retry (1-based), without its jitter."""
    growth = (retry - 1) * math.log(ENVELOPE_MULTIPLIER)
    if growth >= math.log(cap_s / ENVELOPE_INITIAL_S):
        return cap_s
    return ENVELOPE_INITIAL_S * math.exp(growth)


def _axis(span: float, scale: float, height: int) -> list[str]:
    step = nice_step(span)
    parts: list[str] = []
    tick = 0.0
    while tick <= span + 1e-9 and len(parts) < 40:
        x = LABEL_WIDTH + tick * scale
        parts.append(
            f'<line x1="{x:.1f}" y1="{AXIS_HEIGHT - 4}" x2="{x:.1f}" y2="{height}" class="grid"/>'
            f'<text x="{x:.1f}" y="{AXIS_HEIGHT - 8}" class="tick">{_seconds_label(round(tick, 6))}'
            "</text>"
        )
        tick += step
    return parts


def _attempt_mark(row: Row, x: float, y: float) -> str:
    colour = OUTCOME_COLOURS.get(row.outcome, "#555555")
    data = f'class="mk" data-row="{row.index}" tabindex="0"'
    if row.injected:
        return (
            f'<path {data} d="M{x:.1f} {y - 7:.1f}l7 7l-7 7l-7 -7z" fill="{colour}" '
            f'stroke="{INJECTED_STROKE}" stroke-width="1.5" stroke-dasharray="2 1.5"/>'
        )
    return f'<circle {data} cx="{x:.1f}" cy="{y:.1f}" r="5.5" fill="{colour}" stroke="#fff"/>'


def _connection_bar(
    connection: Connection, rows: Sequence[Row], scale: float, y: float, labelled: bool
) -> str:
    close = rows[connection.close_row] if connection.close_row is not None else None
    x1 = LABEL_WIDTH + connection.opened * scale
    width = max(2.0, (connection.closed - connection.opened) * scale)
    abnormal = close is not None and close.is_failure
    fill = CONNECTION_ABNORMAL if abnormal else CONNECTION_CLEAN
    data = f'class="mk bar" data-row="{close.index}" tabindex="0"' if close else 'class="bar"'
    stroke = (
        f' stroke="{INJECTED_STROKE}" stroke-dasharray="3 2"' if close and close.injected else ""
    )
    parts = [
        f'<rect {data} x="{x1:.1f}" y="{y - 4:.1f}" width="{width:.1f}" height="8" rx="2" '
        f'fill="{fill}" fill-opacity="0.55"{stroke}/>'
    ]
    if close is not None:
        x2 = x1 + width
        parts.append(
            f'<rect class="mk" data-row="{close.index}" x="{x2 - 2:.1f}" y="{y - 9:.1f}" '
            f'width="4" height="18" fill="{fill}"{stroke}/>'
        )
        if labelled:
            code = "none" if close.close_code is None else str(close.close_code)
            who = f" {close.closed_by}" if close.closed_by else ""
            parts.append(
                f'<text x="{x2 + 4:.1f}" y="{y + 4:.1f}" class="code">'
                f"{page_text(code + who)}</text>"
            )
    else:
        parts.append(
            f'<text x="{x1 + width + 4:.1f}" y="{y + 4:.1f}" class="code">still open</text>'
        )
    return "".join(parts)


def _merged(connections: Sequence[Connection], scale: float) -> list[tuple[float, float]]:
    """Connection spans merged where they touch within a pixel."""
    spans: list[tuple[float, float]] = []
    for connection in sorted(connections, key=lambda c: c.opened):
        start, end = connection.opened * scale, connection.closed * scale
        if spans and start <= spans[-1][1] + 1:
            spans[-1] = (spans[-1][0], max(spans[-1][1], end))
        else:
            spans.append((start, end))
    return spans


def _bucketed_lane(lane: Lane, rows: Sequence[Row], scale: float, span: float, y: float) -> str:
    columns: dict[int, Counter[str]] = {}
    bucket_s = max(span, 1e-9) / BUCKETS
    for index in lane.attempts:
        row = rows[index]
        column = min(int(row.at / bucket_s), BUCKETS - 1)
        columns.setdefault(column, Counter())[row.outcome] += 1
    tallest = max((sum(c.values()) for c in columns.values()), default=1)
    parts = [
        f'<rect class="bar" x="{LABEL_WIDTH + start:.1f}" y="{y - 4:.1f}" '
        f'width="{max(2.0, end - start):.1f}" height="8" fill="{CONNECTION_CLEAN}" '
        'fill-opacity="0.45"/>'
        for start, end in _merged(lane.connections, scale)
    ]
    for column, counts in sorted(columns.items()):
        x = LABEL_WIDTH + column * bucket_s * scale
        width = max(1.5, bucket_s * scale - 0.5)
        bottom = y + 13
        described = ", ".join(f"{counts[o]} {o}" for o in OUTCOMES if counts[o])
        title = page_text(
            f"{sum(counts.values())} attempts between {column * bucket_s:.2f} s and "
            f"{(column + 1) * bucket_s:.2f} s: {described}"
        )
        parts.append(f'<g class="bucket"><title>{title}</title>')
        for outcome in OUTCOMES:
            if not counts[outcome]:
                continue
            height = max(1.0, 26 * counts[outcome] / tallest)
            bottom -= height
            parts.append(
                f'<rect x="{x:.1f}" y="{bottom:.1f}" width="{width:.1f}" height="{height:.1f}" '
                f'fill="{OUTCOME_COLOURS[outcome]}"/>'
            )
        parts.append("</g>")
    return "".join(parts)


def swimlanes(model: ReportModel) -> str:
    """One lane per client on the session's time axis (the first MAX_LANES clients)."""
    lanes = model.lanes[:MAX_LANES]
    span = max(model.span_s, 0.001)
    scale = (PLOT_RIGHT - LABEL_WIDTH - 60) / span
    height = AXIS_HEIGHT + LANE_HEIGHT * len(lanes) + 6
    parts = [
        f'<svg id="lanes" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'width="100%" role="img" aria-label="One lane per client over the session">',
        *(
            f'<rect x="0" y="{AXIS_HEIGHT + number * LANE_HEIGHT}" width="{WIDTH}" '
            f'height="{LANE_HEIGHT}" class="{"odd" if number % 2 else "even"}"/>'
            for number in range(len(lanes))
        ),
        *_axis(span, scale, height),
    ]
    for number, lane in enumerate(lanes):
        top = AXIS_HEIGHT + number * LANE_HEIGHT
        middle = top + LANE_HEIGHT / 2
        counts = ", ".join(f"{lane.outcomes[o]} {o}" for o in OUTCOMES if lane.outcomes[o])
        parts.append(
            f'<g class="lane" data-client="{page_text(lane.client)}">'
            f'<text x="6" y="{middle - 2:.1f}" class="client">{page_text(_short(lane.client))}'
            f"<title>{page_text(lane.client)}</title></text>"
            f'<text x="6" y="{middle + 11:.1f}" class="counts">{page_text(counts or "no attempts")}'
            "</text>"
        )
        if len(lane.attempts) > MAX_MARKS_PER_LANE:
            parts.append(_bucketed_lane(lane, model.rows, scale, span, middle))
        else:
            labelled = len(lane.connections) <= 12
            parts.extend(
                _connection_bar(c, model.rows, scale, middle, labelled) for c in lane.connections
            )
            parts.extend(
                _attempt_mark(model.rows[i], LABEL_WIDTH + model.rows[i].at * scale, middle)
                for i in lane.attempts
            )
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def _log_y(seconds: float, low: float, high: float, top: float, bottom: float) -> float:
    clamped = min(max(seconds, low), high)
    share = (math.log10(clamped) - math.log10(low)) / (math.log10(high) - math.log10(low))
    return bottom - share * (bottom - top)


@dataclass(frozen=True, slots=True)
class _RetryAxes:
    """The retry chart's plot area: attempt numbers across, waits down on a log scale."""

    most: int
    low: float
    high: float
    left: float = 70
    right: float = 790
    top: float = 16
    bottom: float = 300
    height: float = 340

    def x_of(self, number: float) -> float:
        return self.left + (number - 1) / max(self.most - 1, 1) * (self.right - self.left)

    def y_of(self, seconds: float) -> float:
        return _log_y(seconds, self.low, self.high, self.top, self.bottom)


def retry_chart(model: ReportModel, thresholds: Thresholds | None = None) -> str:
    """Gap before each attempt against the attempt's number, per client, on a log scale, with
    the Retry-After each rejection asked for and the reference backoff envelope."""
    cap = (thresholds or Thresholds()).cap_max_s
    busiest = sorted(model.lanes, key=lambda lane: -len(lane.attempts))[:MAX_RETRY_CLIENTS]
    series = [
        (lane, [model.rows[i] for i in lane.attempts if model.rows[i].gap_s is not None])
        for lane in busiest
    ]
    series = [(lane, points) for lane, points in series if points]
    gaps = [row.gap_s for _, points in series for row in points if row.gap_s]
    asked = [row.retry_after for _, points in series for row in points if row.retry_after]
    axes = _RetryAxes(
        most=max((row.number or 1 for _, points in series for row in points), default=2),
        low=0.001,
        high=10 ** math.ceil(math.log10(max([cap * 1.3, *gaps, *asked]))),
    )
    parts = [
        f'<svg id="retries" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} '
        f'{axes.height}" width="100%" role="img" aria-label="Wait before each attempt, per '
        'client">',
        *_retry_grid(axes),
        *_backoff_envelope(axes, cap),
        *_retry_series(axes, series),
        *_retry_after_marks(axes, model, series),
        "</svg>",
    ]
    return "".join(parts)


def _retry_grid(axes: _RetryAxes) -> list[str]:
    """Decades of seconds down the side, attempt numbers along the bottom, and the labels."""
    parts = []
    decade = axes.low
    while decade <= axes.high * 1.001:
        y = axes.y_of(decade)
        parts.append(
            f'<line x1="{axes.left}" y1="{y:.1f}" x2="{axes.right}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{axes.left - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">'
            f"{_seconds_label(round(decade, 6))}</text>"
        )
        decade *= 10
    step = max(1, int(nice_step(axes.most - 1 or 1)))
    for number in range(1, axes.most + 1, step):
        parts.append(
            f'<text x="{axes.x_of(number):.1f}" y="{axes.bottom + 16}" class="tick" '
            f'text-anchor="middle">{number}</text>'
        )
    middle = (axes.top + axes.bottom) / 2
    parts.append(
        f'<text x="{(axes.left + axes.right) / 2}" y="{axes.height - 4}" class="axis" '
        'text-anchor="middle">attempt number of the client (1 = its first attempt)</text>'
        f'<text x="14" y="{middle}" class="axis" text-anchor="middle" '
        f'transform="rotate(-90 14 {middle})">wait before the attempt (log)</text>'
    )
    return parts


def _backoff_envelope(axes: _RetryAxes, cap: float) -> list[str]:
    """The reference backoff (gRPC's) as a band, jitter wide."""
    upper, lower = [], []
    for number in range(2, axes.most + 1):
        reference = envelope_s(number - 1, cap)
        if reference >= cap and number not in (axes.most, 2) and envelope_s(number - 2, cap) >= cap:
            continue  # flat at the cap: its two ends draw it
        x = axes.x_of(number)
        upper.append(f"{x:.1f},{axes.y_of(reference * (1 + ENVELOPE_JITTER)):.1f}")
        lower.append(f"{x:.1f},{axes.y_of(reference * (1 - ENVELOPE_JITTER)):.1f}")
    if not upper:
        return []
    return [
        f'<polygon class="envelope" points="{" ".join(upper + lower[::-1])}">'
        "<title>reference backoff: gRPC, 1 s then x1.6 per retry, +-20 % jitter, "
        f"cap {cap:g} s</title></polygon>"
    ]


def _retry_series(axes: _RetryAxes, series: Sequence[tuple[Lane, list[Row]]]) -> list[str]:
    """One line of marks per client (thinned past MAX_RETRY_POINTS), with its legend entry."""
    parts = []
    legend_y = axes.top + 4
    for colour_index, (lane, points) in enumerate(series):
        colour = CLIENT_COLOURS[colour_index % len(CLIENT_COLOURS)]
        stride = max(1, math.ceil(len(points) / MAX_RETRY_POINTS))
        shown = points[::stride]
        path = " ".join(
            f"{axes.x_of(r.number or 1):.1f},{axes.y_of(r.gap_s or axes.low):.1f}" for r in shown
        )
        parts.append(
            f'<g class="series" data-client="{page_text(lane.client)}">'
            f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.5"/>'
        )
        for row in shown:
            parts.append(
                f'<circle class="mk" data-row="{row.index}" '
                f'cx="{axes.x_of(row.number or 1):.1f}" '
                f'cy="{axes.y_of(row.gap_s or axes.low):.1f}" r="3.5" fill="{colour}"/>'
            )
        parts.append("</g>")
        parts.append(
            f'<rect x="{axes.right + 14}" y="{legend_y - 8}" width="12" height="4" '
            f'fill="{colour}"/><text x="{axes.right + 30}" y="{legend_y - 3}" class="counts">'
            f"{page_text(_short(lane.client, 22))}</text>"
        )
        legend_y += 16
    return parts


def _retry_after_marks(
    axes: _RetryAxes, model: ReportModel, series: Sequence[tuple[Lane, list[Row]]]
) -> list[str]:
    """A dash at the wait each rejection's Retry-After asked for, on the attempt after it."""
    parts = []
    for lane, _ in series:
        for row in (model.rows[i] for i in lane.attempts):
            if row.retry_after is None or (row.number or 1) + 1 > axes.most:
                continue
            x, y = axes.x_of((row.number or 1) + 1), axes.y_of(row.retry_after)
            parts.append(
                f'<line class="retry-after" x1="{x - 9:.1f}" y1="{y:.1f}" x2="{x + 9:.1f}" '
                f'y2="{y:.1f}"><title>{page_text(row.client)} was told Retry-After '
                f"{row.retry_after:g} s before attempt {(row.number or 1) + 1}</title></line>"
            )
    return parts
