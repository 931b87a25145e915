"""Addon: the mitmproxy settings wswatch needs, applied unless the user chose otherwise.

- Listen on 127.0.0.1 when no listen host was given: mitmproxy's default is every interface,
  which would open a debugging proxy to the whole network.
- Connect upstream lazily: with mitmproxy's default eager strategy, a refused or unresolvable
  upstream in reverse mode fails before any request is read, so no flow (and no event) exists.
  Lazily, the failure lands on the request that hit it.
"""

from __future__ import annotations

import logging
from typing import Any

from mitmproxy import ctx

LOOPBACK = "127.0.0.1"

logger = logging.getLogger("wswatch")


class ProxyDefaults:
    def load(self, loader: Any) -> None:
        loader.add_option(
            "wswatch_listen_loopback", bool, True,
            "Listen on 127.0.0.1 when listen_host is empty (mitmproxy's default is every "
            "interface). Give --listen-host 0.0.0.0 to listen everywhere.",
        )
        loader.add_option(
            "wswatch_lazy_connect", bool, True,
            "Set connection_strategy=lazy so a refused or unresolvable upstream is reported on "
            "the request that hit it (eager connects fail before any request exists).",
        )

    def configure(self, updated: set[str]) -> None:
        options = ctx.options
        if updated & {"listen_host", "wswatch_listen_loopback"}:
            if options.wswatch_listen_loopback and options.listen_host == "":
                options.update(listen_host=LOOPBACK)
        if updated & {"connection_strategy", "wswatch_lazy_connect"}:
            if options.wswatch_lazy_connect and options.connection_strategy != "lazy":
                options.update(connection_strategy="lazy")
                logger.info("wswatch: connection_strategy set to lazy (see wswatch_lazy_connect)")
