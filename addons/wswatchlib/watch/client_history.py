"""What wswatch remembers of each client between its attempts: bounded, least recently seen
forgotten first.

Enough for the reconnect facts of each `ws.handshake`: when the same client's previous attempt
started, and when its previous upgraded connection ended.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

#: Clients remembered at most; past that, the one seen least recently is forgotten (its next
#: attempt then reads as a first one). About 100 bytes each.
MAX_CLIENTS = 10_000


@dataclass(slots=True)
class ClientMemory:
    """Epoch seconds of a client's latest attempt start and latest connection end."""

    attempt_started: float | None = None
    connection_ended: float | None = None


@dataclass(frozen=True, slots=True)
class SincePrevious:
    """Seconds from a client's previous attempt start / previous connection end to this attempt's
    start; None when there was none. Negative when the previous one overlapped this attempt
    (it started, or ended, after this attempt started)."""

    attempt_s: float | None
    close_s: float | None


#: What a client's first attempt gets: no previous attempt, no previous close.
FIRST_ATTEMPT = SincePrevious(None, None)


def _since(earlier: float | None, now: float) -> float | None:
    return None if earlier is None else round(now - earlier, 3)


class ClientHistory:
    """Per-client memory, an LRU dict of at most `capacity` clients."""

    def __init__(self, capacity: int = MAX_CLIENTS) -> None:
        self.capacity = capacity
        self._clients: OrderedDict[str, ClientMemory] = OrderedDict()

    def __len__(self) -> int:
        return len(self._clients)

    def _memory(self, client_id: str) -> ClientMemory:
        memory = self._clients.get(client_id)
        if memory is None:
            memory = self._clients[client_id] = ClientMemory()
            if len(self._clients) > self.capacity:
                self._clients.popitem(last=False)
        else:
            self._clients.move_to_end(client_id)
        return memory

    def attempt(self, client_id: str, started: float) -> SincePrevious:
        """Record an attempt that started at `started`; how long since the client's previous."""
        memory = self._memory(client_id)
        since = SincePrevious(
            _since(memory.attempt_started, started), _since(memory.connection_ended, started)
        )
        if memory.attempt_started is None or started > memory.attempt_started:
            memory.attempt_started = started
        return since

    def connection_ended(self, client_id: str, ended: float) -> None:
        """Record the end of one of the client's upgraded connections."""
        memory = self._memory(client_id)
        if memory.connection_ended is None or ended > memory.connection_ended:
            memory.connection_ended = ended
