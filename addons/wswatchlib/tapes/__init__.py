"""Tapes: record WebSocket sessions at the proxy and replay them as the endpoint.

A tape is one upgrade attempt in JSON lines (`format.py`): the handshake, each message, how it
ended. Pure parts decide: `format` (the lines), `capture` (messages out of raw frames on the
observe relay), `matching` (which tape answers a request), `client_check` (does the client send
what the recording's client sent), `player` (when each recorded server message is due). The
addons act: `recorder` writes tapes (`writer` keeps secrets out of them), `replay` answers
upgrades from tapes through the loopback `server`, so every other wswatch concern sees a replayed
connection as a live one. The `wswatch tape` commands (`cli`): `timeline` (show), `har`
(import a HAR), `har_export`, `drift` (diff two recordings by shape); `schema` builds the JSON
Schema of a tape's lines.

May import: events, rfc6455, text, redaction, watch.
"""
