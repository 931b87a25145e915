"""Addon: who each upgrade attempt comes from, and that client's memory between attempts.

Owns the options that decide a client's identity (`wswatch_client_key`, `wswatch_client_salt`)
and the bounded history a client id keys (client_history.py); client_identity.py decides the id
from plain request facts. The watcher asks `attempt` once per upgrade request; a connection's
end is noted on the same history (`history`), so the next attempt knows its previous close.
"""

from __future__ import annotations

from typing import Any

from mitmproxy import ctx, exceptions, http

from ..options.errors import logs_option_errors_until_running
from ..redaction.redactor import Redactor
from . import client_identity
from .client_history import ClientHistory, SincePrevious


@logs_option_errors_until_running
class Clients:
    def __init__(self) -> None:
        self.client_key = client_identity.ClientKey()
        #: Drawn once per run: client ids cannot be matched across runs, nor credentials guessed.
        self.client_salt = client_identity.salt_of("")
        self.history = ClientHistory()

    def load(self, loader: Any) -> None:
        loader.add_option(
            "wswatch_client_key",
            str,
            "",
            "What identifies a client across its reconnects (client_id): empty for a salted hash "
            "of IP, User-Agent and credential; header:NAME or query:NAME for that value (hashed "
            "if NAME is a secret's name).",
        )
        loader.add_option(
            "wswatch_client_salt",
            str,
            "",
            "The secret that salts hashed client ids: proxies of a fleet that share it give a "
            "client the same client_id, across restarts too (never written to any output); "
            "empty: a random salt per run.",
        )

    def configure(self, updated: set[str]) -> None:
        if "wswatch_client_key" in updated:
            spec = ctx.options.wswatch_client_key
            try:
                self.client_key = client_identity.parse_client_key(spec)
            except ValueError as error:
                raise exceptions.OptionsError(
                    f"Cannot parse wswatch_client_key {spec!r}: {error}"
                ) from error
            self.history = ClientHistory()  # ids change meaning with the key
        if "wswatch_client_salt" in updated:
            self.client_salt = client_identity.salt_of(ctx.options.wswatch_client_salt)
            self.history = ClientHistory()

    def attempt(
        self,
        flow: http.HTTPFlow,
        request_headers: dict[str, str],
        redactor: Redactor,
        credentials: frozenset[str] | None = None,
    ) -> tuple[str, SincePrevious]:
        """The attempt's client id, and how long since that client's previous attempt and close;
        `credentials`: the request's secret values, if known."""
        request, peer = flow.request, flow.client_conn.peername
        client = client_identity.ClientRequest(
            ip=str(peer[0]) if peer else "",
            headers=request_headers,
            query=request.path.partition("?")[2],
        )
        client_id = client_identity.client_id(
            self.client_key, client, redactor, self.client_salt, credentials
        )
        return client_id, self.history.attempt(client_id, request.timestamp_start)
