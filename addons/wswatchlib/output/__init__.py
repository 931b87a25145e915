"""Events out: the structlog chain, the terminal line and the JSON-lines file, the summary.

Pure: safe_text.py (encodable and terminal-safe text), summary.py (the session's tally).
Acting: event_log.py (every event passes it once), session_summary.py (the summary at exit).
"""
