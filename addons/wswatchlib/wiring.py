"""wswatch's concerns in order, as one addon: the entry script and the pytest plugin both use it.

Order matters: the fault rules are configured before the fault addons that read them; the faults
act before the watcher reports (so events know a fault was injected); replay takes a request
after the handshake faults (a fault's answer wins over the tape) and gives it its real address
back before the watcher reports; the recorder follows the watcher (it writes what was reported)
and reads relayed bytes before message redaction hides them from the flow; messages are scrubbed for
showing after every wswatch addon that acts on them or counts them; the verdicts come after
every addon whose `done` still reports (the watcher's last closes), the session summary after
them (it counts their findings), the metrics exporter and the session report after every addon
that emits (the exporter's `done` stops the /metrics server; the report shows every event
written), the event log after them (its `done` closes the file after the final events), the
start-up objects are frozen once every other concern is running, and the option check comes
last: its `load` needs every wswatch option declared.
"""

from __future__ import annotations

from typing import Any

from .dispatch import Dispatcher
from .faults.connection_faults import ConnectionFaults
from .faults.handshake_faults import HandshakeFaults
from .faults.moments import Moments
from .faults.rulebook import FaultRules
from .faults.stream_commands import StreamCommands
from .metrics.exporter import MetricsExporter
from .options.errors import OptionCheck
from .options.proxy_defaults import ProxyDefaults
from .output.event_log import EventLog
from .output.session_summary import SessionSummaryReport
from .redaction.messages import MessageRedaction
from .relay.relays import UpgradeRelays
from .report.recorder import SessionReportWriter
from .startup_objects import StartupObjects
from .tapes.recorder import TapeRecorder
from .tapes.replay import TapeReplay
from .verdicts.reporter import VerdictReport
from .watch.clients import Clients
from .watch.connections import ConnectionWatch
from .watch.message_window import MessageWindow
from .watch.profiles import VendorProfiles
from .watch.watcher import WsWatch


def wswatch_addons(event_log: EventLog | None = None) -> list[Any]:
    """Every wswatch concern, wired together, as the one addon mitmproxy sees (`dispatch.py`:
    why one); pass `event_log` to listen to its events."""
    log = event_log if event_log is not None else EventLog()
    relays = UpgradeRelays()
    profiles = VendorProfiles()
    message_redaction = MessageRedaction(lambda: profiles.message_secrets)
    connection_watch = ConnectionWatch(log, message_redaction.learned)
    clients = Clients()
    watcher = WsWatch(log, relays, profiles, connection_watch, message_redaction, clients)
    fault_rules = FaultRules(log, watcher.request_view)
    connection_faults = ConnectionFaults(fault_rules)
    watcher.fault_may_act = connection_faults.may_act_on_connection
    connection_faults.observed_flows = relays.observed_flows
    connection_faults.close_observed = relays.close_observed
    verdicts = VerdictReport(log, profiles.idle_timeouts)
    recorder = TapeRecorder(
        log, watcher.request_view, lambda: profiles.redactor, lambda: profiles.message_secrets
    )
    relays.add_reader(recorder.relayed_read)
    replay = TapeReplay(
        log,
        watcher.request_view,
        lambda: profiles.redactor,
        lambda: profiles.message_secrets,
        recorder,
    )
    concerns = [
        ProxyDefaults(),
        profiles,
        fault_rules,
        HandshakeFaults(fault_rules, connection_faults),
        replay,
        connection_faults,
        Moments(fault_rules, connection_faults),
        StreamCommands(fault_rules, connection_faults),
        clients,
        watcher,
        connection_watch,
        relays,
        recorder,
        MessageWindow(),
        message_redaction,
        verdicts,
        SessionSummaryReport(log),
        MetricsExporter(log),
        SessionReportWriter(log, lambda: profiles.catalog, lambda: verdicts.thresholds),
        log,
        StartupObjects(),
        OptionCheck(),
    ]
    return [Dispatcher(concerns)]
