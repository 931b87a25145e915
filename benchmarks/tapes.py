"""Tapes for bench.py: the replay measurement's tape, written with wswatch's own format helpers,
and the message lines counted in the tapes a recording set-up wrote (so that a recording rate
is shown with the proof that every message reached the tape).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from wswatchlib import events
from wswatchlib.tapes.format import (
    TAPE_SUFFIX,
    End,
    RecordedRequest,
    RecordedResponse,
    TapeEnd,
    TapeHeader,
    TapeMessage,
    end_line,
    header_line,
    message_line,
    write_line,
)
from wswatchlib.watch.handshake import accept_for_key

#: The handshake the replay tape's client sent (RFC 6455 section 4.1's sample key).
CLIENT_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
#: Recorded gap between two server messages: replayed at wswatch_replay_speed=max, it is ignored.
GAP_MS = 0.05


def write_server_stream(
    path: Path, host: str, port: int, request_path: str, count: int, payload: bytes
) -> None:
    """A tape of one accepted connection on which the server sent `count` binary messages of
    `payload` and then closed (1000), the client sending none."""
    header = TapeHeader(
        recorded_at=events.utc_timestamp(time.time()),
        wswatch_version="bench",
        request=RecordedRequest(
            method="GET",
            scheme="ws",
            host=host,
            port=port,
            path=request_path,
            http_version="HTTP/1.1",
            headers=[
                ("Host", f"{host}:{port}"),
                ("Upgrade", "websocket"),
                ("Connection", "Upgrade"),
                ("Sec-WebSocket-Key", CLIENT_KEY),
                ("Sec-WebSocket-Version", "13"),
            ],
        ),
        response=RecordedResponse(
            status=101,
            reason="Switching Protocols",
            http_version="HTTP/1.1",
            headers=[
                ("Upgrade", "websocket"),
                ("Connection", "Upgrade"),
                ("Sec-WebSocket-Accept", accept_for_key(CLIENT_KEY)),
            ],
        ),
        outcome=events.Outcome.ACCEPTED.value,
        relay="observe",
    )
    with path.open("w", encoding="utf-8", newline="\n") as file:
        write_line(file, header_line(header))
        for number in range(count):
            write_line(file, message_line(TapeMessage(number * GAP_MS, False, data=payload)))
        end = TapeEnd(End.CLOSED, count * GAP_MS, 1000, "", "server", True)
        write_line(file, end_line(end))


@dataclass(frozen=True)
class TapeLines:
    """What one tape file holds, counted line by line."""

    #: The recorded request's path and query, as the header line has it.
    request_path: str
    client: int
    server: int
    #: The end line's `end` ("closed", "handshake", "error"); None when the tape has none.
    end: str | None
    #: Still `NAME.partial`: the recorder never finished it.
    partial: bool


def count_lines(directory: Path) -> list[TapeLines]:
    """Every tape under `directory`, finished or not, in name (recording) order."""
    found = []
    for path in sorted(directory.glob(f"*{TAPE_SUFFIX}*")):
        client = server = 0
        end: str | None = None
        with path.open("rb") as file:
            header = json.loads(file.readline())
            for line in file:
                # message_line writes "t" then "from": the direction is near the start.
                start = line[:40]
                if b'"from":"client"' in start:
                    client += 1
                elif b'"from":"server"' in start:
                    server += 1
                elif line.startswith(b'{"end"'):
                    end = json.loads(line)["end"]
        found.append(
            TapeLines(
                header["request"]["path"], client, server, end, path.name.endswith(".partial")
            )
        )
    return found
