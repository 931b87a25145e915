"""`wswatch tape export FILE --har`: a tape as a HAR 1.2 with one websocket entry, the shape
DevTools and `wswatch tape import` (har.py) read.

A client binary message kept as a digest cannot be restored: it is exported as opcode 2 with
data "" and `_wswatchDigest` ({len, sha256}); the end line goes in `_wswatchEnd`. An import reads
both back, so import(export(tape)) has the tape's messages and close.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import urllib.parse
from pathlib import Path
from typing import Any

from .format import TapeEnd, TapeError, end_line, read_lines, read_summary, wswatch_version
from .har import epoch_of


def export_har(path: Path) -> dict[str, Any]:
    """The tape at `path` as a HAR 1.2 document with one websocket entry."""
    header = read_summary(path).header
    started = epoch_of(header.recorded_at) or 0.0
    messages: list[dict[str, Any]] = []
    end: TapeEnd | None = None
    for line in read_lines(path):
        if isinstance(line, TapeEnd):
            end = line
            continue
        item: dict[str, Any] = {
            "type": "send" if line.from_client else "receive",
            "time": round(started + line.t_ms / 1000, 6),
            "opcode": 1 if line.text is not None else 2,
            "data": line.text
            if line.text is not None
            else base64.b64encode(line.data or b"").decode(),
        }
        if line.text is None and line.data is None:  # a digest: the bytes were never kept
            item["_wswatchDigest"] = {"len": line.length, "sha256": line.sha256}
        messages.append(item)
    request, response = header.request, header.response
    host = f"[{request.host}]" if ":" in request.host else request.host
    default = 443 if request.scheme == "wss" else 80
    netloc = host if request.port == default else f"{host}:{request.port}"
    query = urllib.parse.parse_qsl(request.path.partition("?")[2], keep_blank_values=True)
    answer: dict[str, Any] = {"status": 0, "statusText": "", "httpVersion": "", "headers": [],
                              "cookies": [], "content": {"size": 0, "mimeType": ""},
                              "redirectURL": "", "headersSize": -1, "bodySize": -1}  # fmt: skip
    if response is not None:
        body = response.body_bytes
        content: dict[str, Any] = {"size": len(body), "mimeType": ""}
        if response.body_base64 is not None:
            content.update(text=response.body_base64, encoding="base64")
        elif response.body:
            content["text"] = response.body
        answer.update(status=response.status, statusText=response.reason, content=content,
                      httpVersion=response.http_version, bodySize=len(body),
                      headers=[{"name": n, "value": v} for n, v in response.headers])  # fmt: skip
    elif end is not None and end.error:
        answer["_error"] = end.error
    last = (messages[-1]["time"] - started) * 1000 if messages else 0.0
    duration = end.t_ms if end is not None and end.t_ms is not None else last
    entry: dict[str, Any] = {
        "startedDateTime": header.recorded_at,
        "time": round(duration, 3),
        "request": {
            "method": request.method,
            "url": f"{request.scheme}://{netloc}{request.path}",
            "httpVersion": request.http_version,
            "cookies": [],
            "headers": [{"name": n, "value": v} for n, v in request.headers],
            "queryString": [{"name": n, "value": v} for n, v in query],
            "headersSize": -1,
            "bodySize": 0,
        },
        "response": answer,
        "cache": {},
        "timings": {"send": 0, "wait": 0, "receive": 0},
        "_resourceType": "websocket",
        "_webSocketMessages": messages,
    }
    if end is not None:
        entry["_wswatchEnd"] = end_line(end)
    creator = {"name": "wswatch", "version": wswatch_version()}
    return {"log": {"version": "1.2", "creator": creator, "pages": [], "entries": [entry]}}


def add_export_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    command = commands.add_parser(
        "export",
        help="write a tape as a HAR",
        description="Write a tape as a HAR 1.2 with one websocket entry. Client binary messages "
        "kept as digests have no bytes: they are exported empty, with _wswatchDigest.",
    )
    command.add_argument("file", metavar="FILE")
    command.add_argument(
        "--har", action="store_true", required=True, help="as a HAR (the one format)"
    )
    command.add_argument("-o", "--output", metavar="OUT.har", help="default: standard output")
    command.set_defaults(run=run_export)


def run_export(arguments: argparse.Namespace) -> int:
    prog = "wswatch tape export"
    try:
        text = json.dumps(export_har(Path(arguments.file)), indent=2, ensure_ascii=False) + "\n"
        if arguments.output:
            Path(arguments.output).write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
    except TapeError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"{prog}: error: {error.filename}: {error.strerror or error}", file=sys.stderr)
        return 2
    return 0
