"""No secret in any output: names and values to redact, and where they are applied.

Pure: redactor.py (secret names, values, scrubbing). Acting: flows.py (the flow's redacted copy),
shown_response.py (the original sent to the client), mitmproxy_log.py (mitmproxy's own log).

May import: text.
"""
