"""python `websockets`' own reconnect loop (>= 14), as its documentation writes it: connect,
exchange one echo, stop; a closed connection reconnects through the loop.

Usage: python websockets_loop.py WS_URL
Its waits are the library's: random 0-5 s first, then 3.1 s x 1.618, cap 90 s, unless the
library's own WEBSOCKETS_BACKOFF_* environment variables say otherwise (the calibration suite
scales them). It retries network errors and 500/502/503/504; any other answer ends it.
"""

from __future__ import annotations

import asyncio
import sys

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed


async def echo_once(url: str) -> None:
    async for websocket in connect(url):
        try:
            await websocket.send("hello")
            await websocket.recv()
            return
        except ConnectionClosed:
            continue


if __name__ == "__main__":
    asyncio.run(echo_once(sys.argv[1]))
