"""Addon: the mitmproxy settings wswatch depends on, and a warning where they are unsafe.

- Connect upstream lazily: with mitmproxy's default eager strategy, a refused or unresolvable
  upstream in reverse mode fails before any request is read, so no flow (and no event) exists.
  Lazily, the failure lands on the request that hit it.
- Warn when the proxy listens on every interface (mitmproxy's default): a debugging proxy that
  sees credentials should be reachable from this machine only. An addon cannot change the listen
  address itself: mitmproxy 12 binds before scripts are loaded. `--listen-host 127.0.0.1` does.
"""

from __future__ import annotations

import logging
from typing import Any

from mitmproxy import ctx

logger = logging.getLogger("wswatch")

#: Addresses that mean "every interface".
ANY_ADDRESS = frozenset({"", "0.0.0.0", "::"})


def exposed_addresses(listen_addrs: list[tuple[Any, ...]]) -> list[str]:
    """The listen addresses that accept connections from other machines."""
    return [f"{host or '*'}:{port}" for host, port, *_ in listen_addrs if host in ANY_ADDRESS]


class ProxyDefaults:
    def load(self, loader: Any) -> None:
        loader.add_option(
            "wswatch_lazy_connect",
            bool,
            True,
            "Set connection_strategy=lazy so a refused or unresolvable upstream is reported on "
            "the request that hit it (eager connects fail before any request exists).",
        )

    def configure(self, updated: set[str]) -> None:
        options = ctx.options
        if (
            updated & {"connection_strategy", "wswatch_lazy_connect"}
            and options.wswatch_lazy_connect
            and options.connection_strategy != "lazy"
        ):
            options.update(connection_strategy="lazy")
            logger.info("wswatch: connection_strategy set to lazy (see wswatch_lazy_connect)")

    def running(self) -> None:
        proxyserver = ctx.master.addons.get("proxyserver")
        exposed = exposed_addresses(proxyserver.listen_addrs()) if proxyserver else []
        if exposed:
            logger.warning(
                f"wswatch: the proxy listens on every interface ({', '.join(exposed)}): other "
                "machines can use it and see credentials. Start it with --listen-host 127.0.0.1."
            )
