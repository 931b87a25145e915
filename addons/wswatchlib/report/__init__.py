"""The session report: one self-contained HTML file showing a whole session at a glance.

This subpackage owns turning wswatch's JSON events into that file: the report's data (`model`:
rows, per-client lanes, counts, retry gaps), its SVG charts drawn in Python (`charts`), the page
with its escaping, inline CSS and small inline script (`page`), and the addon that writes the
file when the proxy stops (`recorder`, option `wswatch_report`). `model`, `charts` and `page`
are pure: they import the shared event contract, the hints and vendor tables, the verdicts
analysis and `text`, never mitmproxy; only `recorder` is mitmproxy-facing.

May import: events, text, options, output, verdicts, watch.
"""
