"""How a connection relayed as TCP ended, from what the frame reader saw: pure.

The WebSocket layer reports its own close; a TCP relay has only the frames the reader followed,
the side whose TCP connection closed first, and whether the proxy closed it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..rfc6455 import CloseCode

#: `closed_by` of a connection the proxy ended: a fault, a command, or the proxy stopping.
PROXY = "proxy"


@dataclass(frozen=True, slots=True)
class FirstClose:
    """The first Close frame the reader saw on a connection, and the side that sent it."""

    side: str
    code: int | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class CloseOutcome:
    """What `ws.closed` says of the close: code, reason, and who closed."""

    code: int | None
    reason: str | None
    closed_by: str | None


def close_outcome(
    proxy_close: tuple[int, str] | None,
    first_close: FirstClose | None,
    closed_first: str | None,
    ended_reason: str | None,
) -> CloseOutcome:
    """The close of a followed connection, first match wins:

    - the proxy closed it (a fault or `wswatch.disconnect_all`): its code and reason;
    - a peer sent a Close frame: that frame's code and reason, and that peer;
    - the proxy stopped (`closed_first` is "proxy"): no code, `ended_reason` says so;
    - otherwise the TCP connection ended without a Close frame: 1006 (as the WebSocket layer
      reports it), closed by the side whose connection closed first, if known.
    """
    if proxy_close is not None:
        code, reason = proxy_close
        return CloseOutcome(code, reason, PROXY)
    if first_close is not None:
        return CloseOutcome(first_close.code, first_close.reason, first_close.side)
    if closed_first == PROXY:
        return CloseOutcome(None, ended_reason, PROXY)
    return CloseOutcome(int(CloseCode.ABNORMAL_CLOSURE), ended_reason, closed_first)
