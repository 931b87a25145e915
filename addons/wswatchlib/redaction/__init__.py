"""No secret in any output: names and values to redact, and where they are applied.

Pure: redactor.py (secret names, values, scrubbing), payloads.py (secrets inside WebSocket
messages: known values, JSON keys, credential shapes). Acting: flows.py (the flow's redacted
copy), shown_response.py (the original sent to the client), messages.py (the scrubbed copy of
each message kept, the original sent), mitmproxy_log.py (mitmproxy's own log).

May import: text, events.
"""
