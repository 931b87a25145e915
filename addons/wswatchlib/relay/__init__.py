"""Connections mitmproxy relays as TCP: which relay follows an accepted upgrade (choice.py), the
RFC 6455 frame reader (frame_reader.py) and how a relayed connection ended (outcome.py), all
pure; relays.py, the addon that follows each relay to its end and closes one as the proxy. May
import rfc6455.py, events.py and mitm_internals; never the watcher (it hands connections over
with `UpgradeRelays.follow` and hears back through callbacks).
"""
