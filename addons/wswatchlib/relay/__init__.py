"""Connections mitmproxy relays as TCP: which relay follows an accepted upgrade (choice.py), the
RFC 6455 frame reader (frame_reader.py) and how a relayed connection ended (outcome.py), all
pure; relays.py, the addon that follows each relay to its end and closes one as the proxy. Never
the watcher: it hands connections over with `UpgradeRelays.follow` and hears back through
callbacks.

May import: events, rfc6455, mitm_internals.
"""
