"""wswatch: see why WebSocket handshakes and connections fail, and make them fail on purpose.

Every HTTP Upgrade is reported as a `ws.handshake` event (accepted, rejected, failed or invalid,
with the vendor's error text, request id, Retry-After, RFC 6455 problems and a hint), and every
upgraded connection as a `ws.closed` event (code, reason, who closed, clean or abnormal, counts).

Usage:
    mitmdump -s addons/wswatch.py
    mitmdump -s addons/wswatch.py --set wswatch_log=events.jsonl
    mitmdump --mode reverse:https://api.example.com -s addons/wswatch.py
    mitmdump -s addons/wswatch.py --set wswatch_faults=config/faults/flaky-auth.yaml
"""

from wswatchlib.dispatch import hooks_answered_none
from wswatchlib.wiring import wswatch_addons

# The addons and their order: wswatchlib/wiring.py (the pytest plugin wires the same list).
addons = wswatch_addons()
# mitmproxy asks this module for every hook it triggers: answered from its dict (see there).
hooks_answered_none(globals())
