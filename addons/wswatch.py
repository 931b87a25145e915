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

from wswatchlib.event_log import EventLog
from wswatchlib.fault_injector import FaultInjector
from wswatchlib.message_window import MessageWindow
from wswatchlib.option_errors import OptionCheck
from wswatchlib.proxy_defaults import ProxyDefaults
from wswatchlib.session_summary import SessionSummaryReport
from wswatchlib.verdict_report import VerdictReport
from wswatchlib.watcher import WsWatch

event_log = EventLog()
watcher = WsWatch(event_log)

# Order matters: the fault injector acts before the watcher reports (so events know a fault was
# injected), the verdicts after every addon whose `done` still reports (the watcher's last
# closes), the session summary after them (it counts their findings), the event log
# after them (its `done` closes the file after the final events),
# and the option check comes last: its `load` needs every wswatch option declared.
addons = [
    ProxyDefaults(),
    FaultInjector(event_log, watcher.request_view),
    watcher,
    MessageWindow(),
    VerdictReport(event_log, lambda: watcher.catalog.idle_timeouts if watcher.catalog else {}),
    SessionSummaryReport(event_log),
    event_log,
    OptionCheck(),
]
