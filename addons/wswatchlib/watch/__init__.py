"""Watching upgrades: judge each handshake, follow each connection, report both.

Pure: handshake.py (RFC 6455 checks), network_errors.py, violations.py, hints.py, vendors.py
(profiles), reports.py (events from facts), client_identity.py, client_history.py,
message_gaps.py. Acting (mitmproxy addons): watcher.py, message_window.py. May import the shared
contract (events.py), output.safe_text, redaction, relay and mitm_internals; pure modules never
import mitmproxy.
"""
