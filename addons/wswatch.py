"""wswatch: see why WebSocket handshakes and connections fail, and make them fail on purpose.

Every HTTP Upgrade is reported as a `ws.handshake` event (accepted, rejected, failed or invalid,
with the vendor's error text, request id, Retry-After, RFC 6455 problems and a hint), and every
upgraded connection as a `ws.closed` event (code, reason, who closed, clean or abnormal, counts).

Usage:
    mitmdump -s addons/wswatch.py
    mitmdump -s addons/wswatch.py --set wswatch_log=events.jsonl
    mitmdump --mode reverse:https://api.example.com -s addons/wswatch.py
"""

from wswatchlib.event_log import EventLog
from wswatchlib.message_window import MessageWindow
from wswatchlib.proxy_defaults import ProxyDefaults
from wswatchlib.watcher import WsWatch

event_log = EventLog()

# The event log comes last: its `done` closes the file after the others wrote their final events.
addons = [
    ProxyDefaults(),
    WsWatch(event_log),
    MessageWindow(),
    event_log,
]
