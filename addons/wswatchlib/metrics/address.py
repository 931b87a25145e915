"""The `wswatch_metrics` value: where to serve /metrics, `HOST:PORT` (`[::1]:9464` for IPv6)."""

from __future__ import annotations

from typing import NamedTuple


class ListenAddress(NamedTuple):
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_listen_address(text: str) -> ListenAddress:
    """`127.0.0.1:9464` -> ListenAddress("127.0.0.1", 9464); port 0 picks a free port.

    Raises ValueError saying what is wrong.
    """
    host, colon, port_text = text.strip().rpartition(":")
    if not colon or not host:
        raise ValueError(f"expected HOST:PORT (e.g. 127.0.0.1:9464), got {text!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"write an IPv6 address in brackets ([::1]:9464), got {text!r}")
    if not host or any(char.isspace() or char in "[]/@" for char in host):
        raise ValueError(f"the host must be a name or an IP address, got {host!r}")
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"the port must be a number from 0 to 65535, got {port_text!r}")
    return ListenAddress(host, int(port_text))
