"""Events out: the structlog chain, the terminal line and the JSON-lines file, the summary.

Pure: summary.py (the session's tally). Acting: event_log.py (every event passes it once),
session_summary.py (the summary at exit). Text made safe to write lives in `text.py`, shared.

May import: events, text, fleet, options, redaction.
"""
