"""Which way a fault acts: the message flow it disturbs, the peer a close goes to (pure).

Shared by the rule specs (spec.py) and the script steps (steps.py), which spec.py builds on.
"""

from __future__ import annotations

import enum


class Direction(enum.StrEnum):
    """Which message flow of a WebSocket an action disturbs."""

    #: Messages sent by the client toward the server.
    CLIENT_TO_SERVER = "client_to_server"
    #: Messages sent by the server toward the client.
    SERVER_TO_CLIENT = "server_to_client"
    #: Messages in both directions.
    BOTH = "both"


class Toward(enum.StrEnum):
    """Which peer(s) a ``close`` action sends its close frame to."""

    #: Only the client gets the close frame.
    CLIENT = "client"
    #: Only the server gets the close frame.
    SERVER = "server"
    #: Both peers get the close frame.
    BOTH = "both"
