"""wswatch: WebSocket debugging and fault injection as mitmproxy addons.

The pure modules (handshake, network_errors, vendors, hints, redaction, events, summary) decide;
the addon modules (watcher, event_log, message_window, proxy_defaults) act in mitmproxy hooks.
"""
