"""Client verdicts: how each client reconnects, graded offline from wswatch's JSON events.

This subpackage owns the analysis: reading event files (`reading`), per-client timelines and
episodes (`episodes`), the growth fit (`growth`), the named rules (`rules`) and their
thresholds (`thresholds`), the findings they produce (`findings`), the whole run (`analysis`)
and its text table (`table`), all pure; `reporter`, the addon that grades clients as the proxy
runs.

May import: events, options, output.
"""
