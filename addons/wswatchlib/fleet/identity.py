"""Who wrote an event, in which run, in what order: the decisions, without mitmproxy.

- `proxy_id`: the `wswatch_proxy_id` option, else `HOST:PORT` (`default_proxy_id`).
- `run_id`: a UUIDv7 (RFC 9562 section 5.7) made once per start, so ids sort by start time.
- `seq`: 1, 2, 3, ... in the order events are numbered, one counter per run (`FleetStamp`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from structlog.typing import EventDict, WrappedLogger

PROXY_ID = "proxy_id"
RUN_ID = "run_id"
SEQ = "seq"

#: The keys the stamp adds to every event, in the order they are written.
FLEET_KEYS = (PROXY_ID, RUN_ID, SEQ)

#: UUID version 7: Unix time in milliseconds, then random bits (RFC 9562 section 5.7).
_UUID_VERSION = 7
#: The RFC 9562 variant, bits 10 (RFC 9562 section 4.1).
_UUID_VARIANT = 0b10


def default_proxy_id(host_name: str, port: int | None) -> str:
    """`HOST:PORT`, e.g. `buildbox-3:8080`; the host name alone when no port is known."""
    return host_name if port is None else f"{host_name}:{port}"


def new_run_id(epoch_ms: int, random_bits: int) -> str:
    """A UUIDv7 string from a Unix time in milliseconds and 74 random bits (more are cut)."""
    random_a = (random_bits >> 62) & 0xFFF
    random_b = random_bits & ((1 << 62) - 1)
    value = (
        (epoch_ms & ((1 << 48) - 1)) << 80
        | _UUID_VERSION << 76
        | random_a << 64
        | _UUID_VARIANT << 62
        | random_b
    )
    return str(uuid.UUID(int=value))


class FleetStamp:
    """structlog processor: adds `proxy_id`, `run_id` and the next `seq` to an event.

    The proxy id is asked of `proxy_id` at the first event and kept for the run (the port is
    known only once the proxy listens); setting `override` (the option) replaces it from the
    next event on.
    """

    def __init__(self, run_id: str, proxy_id: Callable[[], str]) -> None:
        self.run_id = run_id
        self._default_proxy_id = proxy_id
        self._decided: str | None = None
        #: The wswatch_proxy_id option; empty: the default.
        self.override = ""
        #: The seq of the last event stamped; 0 before the first.
        self.last_seq = 0

    @property
    def proxy_id(self) -> str:
        if self.override:
            return self.override
        if self._decided is None:
            self._decided = self._default_proxy_id()
        return self._decided

    def __call__(self, _logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
        proxy_id = self.proxy_id  # before counting: a failure here numbers nothing
        self.last_seq += 1
        event_dict[PROXY_ID] = proxy_id
        event_dict[RUN_ID] = self.run_id
        event_dict[SEQ] = self.last_seq
        return event_dict
