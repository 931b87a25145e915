"""wswatch: WebSocket debugging and fault injection as mitmproxy addons.

Pure modules decide, over plain data, and never import mitmproxy: the handshake and its outcome
(handshake, network_errors, violations, vendors, hints, reports, client_identity, client_history,
message_gaps), secrets and output text (redaction, safe_text), the event contract (events) and
the session summary (summary), fault rules (fault_rules, fault_schedule, fault_header,
payload_faults), option values (option_values) and the client verdicts (the `verdicts`
subpackage).

Addon modules act in mitmproxy hooks: watcher, flow_redaction / shown_response, mitmproxy_log,
event_log, message_window, proxy_defaults, fault_injector, verdict_report, session_summary,
option_errors; `wiring` lists them in order for the entry script and the pytest plugin
(pytest_plugin, `testing`). mitm_internals is the one module touching mitmproxy's private
internals; cli runs `wswatch analyse`.
"""
