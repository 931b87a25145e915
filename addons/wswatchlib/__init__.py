"""wswatch: WebSocket debugging and fault injection as mitmproxy addons.

One subpackage per concern, each saying in its docstring what it owns: `watch` (judging each
handshake, following each connection), `relay` (the observe-only relay), `faults` (fault
injection), `redaction` (no secret in any output), `output` (terminal and JSON lines, the session
summary), `options`, `verdicts` (grading how clients reconnect), `report` (the HTML session
report), `metrics` (Prometheus), `fleet` (proxy and run identity) and `testing` (the in-process
proxy for tests). In each, pure modules decide over plain data and never import mitmproxy; the
addons act in mitmproxy hooks.

Shared by all: `events` (the event contract), `wiring` (the addons in order, for the entry script
and the pytest plugin), `mitm_internals` (the one module touching mitmproxy's private internals),
`cli` (`wswatch analyse`, `wswatch report`) and `pytest_plugin`.
"""
