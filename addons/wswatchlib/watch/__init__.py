"""Watching upgrades: judge each handshake, follow each connection, report both.

Pure: handshake.py (RFC 6455 checks), network_errors.py, violations.py, hints.py, vendors.py
(profiles), reports.py (events from facts), client_identity.py, client_history.py,
message_gaps.py. Acting (mitmproxy addons): profiles.py (the vendor profiles in force),
clients.py (who each attempt comes from, its client's history), watcher.py (handshakes),
connections.py (connection ends), message_window.py. Pure modules
never import mitmproxy.

May import: events, rfc6455, text, options, output, redaction, relay, mitm_internals.
"""
