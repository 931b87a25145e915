"""Fleet identity of events: which proxy wrote an event (`proxy_id`), in which run (`run_id`),
and in what order (`seq`), so a pipeline collecting many proxies' files can tell them apart and
detect lost or reordered events.

`identity` decides (pure: standard library and structlog's types only); `listen_port` asks the
running mitmproxy which port it listens on (the only module here that imports mitmproxy). The
event log (`output/event_log.py`) runs `identity.FleetStamp` on every event.

May import: nothing else of wswatchlib.
"""
