"""The port the running mitmproxy listens on, for the default `proxy_id` (mitmproxy-facing).

The first listening address of mitmproxy's proxy servers (they listen before any addon's
`running` hook and so before wswatch's first event). Until then, or without a server (an
addon test), the first mode's configured port: its `@PORT`, else `listen_port`, else the
mode's default (8080 for regular, reverse and upstream, 1080 for socks5); None when the mode
has none (mitmproxy 12's `local`).
"""

from __future__ import annotations

from mitmproxy import ctx
from mitmproxy.proxy.mode_specs import ProxyMode


def proxy_listen_port() -> int | None:
    proxyserver = ctx.master.addons.get("proxyserver")
    if proxyserver is not None:
        addresses = proxyserver.listen_addrs()
        if addresses:
            return int(addresses[0][1])
    modes = ctx.options.mode
    if not modes:
        return None
    return ProxyMode.parse(modes[0]).listen_port(ctx.options.listen_port)
