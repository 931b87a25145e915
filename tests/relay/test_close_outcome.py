"""How a connection relayed as TCP ended, decided from what the reader saw (relay/outcome.py)."""

from __future__ import annotations

import pytest
from wswatchlib.relay.outcome import CloseOutcome, FirstClose, close_outcome


@pytest.mark.parametrize(
    ("proxy_close", "first_close", "closed_first", "ended_reason", "outcome"),
    [
        # The proxy's close wins over anything a peer did afterwards.
        ((4001, "bye"), FirstClose("client", 1000, ""), "client", None, (4001, "bye", "proxy")),
        ((1006, ""), None, "server", None, (1006, "", "proxy")),
        # A peer's Close frame: its code, reason and side, whoever closed TCP first.
        (
            None,
            FirstClose("server", 1011, "NET-0001"),
            "client",
            None,
            (1011, "NET-0001", "server"),
        ),
        (None, FirstClose("client", 1005, None), None, None, (1005, None, "client")),
        # The proxy stopped with the connection open: no code, the reason says why.
        (None, None, "proxy", "proxy shut down", (None, "proxy shut down", "proxy")),
        # No Close frame: aborted (1006), by the side whose TCP connection closed first.
        (None, None, "server", None, (1006, None, "server")),
        (None, None, None, "Connection reset", (1006, "Connection reset", None)),
    ],
    ids=[
        "proxy-close",
        "proxy-drop",
        "server-close-frame",
        "empty-close-frame",
        "proxy-shutdown",
        "server-aborted",
        "unknown-side-aborted",
    ],
)
def test_close_outcome(proxy_close, first_close, closed_first, ended_reason, outcome) -> None:
    assert close_outcome(proxy_close, first_close, closed_first, ended_reason) == CloseOutcome(
        *outcome
    )
