"""HAR <-> tapes: the HAR a user attaches to a bug report becomes a tape that replays it.

Chrome and Edge DevTools ("Save all as HAR"), mitmproxy's `hardump` and dev-proxy write a
WebSocket as an entry with `_resourceType: "websocket"` and `_webSocketMessages`: `{type: send |
receive, time: epoch seconds, opcode: 1 (text) | 2 (binary, data in base64), data}`.
`wswatch tape import FILE.har -o DIR` writes one tape per such entry, in start order; other
entries are skipped. A HAR is a raw capture, so the import scrubs as the recorder does (the
vendor profiles' secret headers and query parameters, each message through a payload scrubber
that knows the request's secret values), and `TapeWriter.finish` refuses a tape that still holds
one. The HAR is checked field by field: a bad one is one error naming the entry and the field.

What a HAR does not hold, said rather than invented:
- The close. The end line is `closed` with `code` null, which replays as a dropped connection
  after the last message; `--close CODE` makes the replay close with CODE from the server.
- When the 101 came: `t` counts from `startedDateTime` (the request's start; from the first
  message when that is missing or later).
- HTTP/2 pseudo-headers (`:authority`) are left out and the method is GET: replay answers
  HTTP/1.1 upgrades.

The inverse, `wswatch tape export`, is `har_export.py`; an import reads back what it adds
(`_wswatchDigest`, `_wswatchEnd`), so import(export(tape)) has the tape's messages and close.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import datetime
import hashlib
import json
import math
import sys
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..events import Outcome, utc_timestamp
from ..redaction.payloads import MessageKeyRules, PayloadScrubber
from ..redaction.redactor import REDACTED, Redactor, scrub, scrub_variants
from ..rfc6455 import NO_FRAME_CLOSE_CODES
from ..text import encodable, split_tokens
from ..watch.vendors import (
    DEFAULT_VENDORS_PATH,
    Exchange,
    VendorCatalog,
    VendorFileError,
    identify,
    load_catalog,
)
from .format import (
    ClientBinary,
    End,
    RecordedRequest,
    RecordedResponse,
    TapeEnd,
    TapeError,
    TapeHeader,
    TapeMessage,
    end_line,
    header_line,
    message_line,
    parse_line,
    wswatch_version,
)
from .writer import TapeWriter, tape_name

_SCHEMES = {"wss": "wss", "https": "wss", "ws": "ws", "http": "ws"}
_JSON_KINDS = {dict: "an object", list: "a list", str: "a string", int: "a number",
               float: "a number", bool: "a boolean", type(None): "null"}  # fmt: skip


class HarError(ValueError):
    """A HAR that cannot be imported: the message names the file, the entry and the field."""


@dataclass(frozen=True, slots=True)
class Redaction:
    """What is secret: the vendor profiles' names, for the handshake and the messages."""

    redactor: Redactor
    rules: MessageKeyRules
    catalog: VendorCatalog | None = None


def default_redaction(vendors: str = DEFAULT_VENDORS_PATH) -> Redaction:
    catalog = load_catalog(vendors)
    return Redaction(Redactor(catalog.all_secrets), catalog.all_message_secrets, catalog)


@dataclass
class Imported:
    """One websocket entry as a tape, scrubbed, not yet written."""

    index: int
    started: float
    header: TapeHeader
    messages: list[TapeMessage]
    end: TapeEnd
    scrubber: PayloadScrubber


def _take(box: dict[str, Any], key: str, kind: type | tuple[type, ...], at: str) -> Any:
    value = box.get(key)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        got = _JSON_KINDS.get(type(value), "something else") if key in box else "nothing"
        want = " or ".join(
            dict.fromkeys(_JSON_KINDS[k] for k in (kind if isinstance(kind, tuple) else (kind,)))
        )
        raise HarError(f"{at}{key}: expected {want}, got {got}")
    return value


def _headers(box: dict[str, Any], at: str) -> list[tuple[str, str]]:
    pairs = []
    for number, item in enumerate(_take(box, "headers", list, at) if "headers" in box else []):
        where = f"{at}headers[{number}]."
        if not isinstance(item, dict):
            raise HarError(f"{where[:-1]}: expected an object, got {_JSON_KINDS.get(type(item))}")
        name, value = _take(item, "name", str, where), _take(item, "value", str, where)
        if not name.startswith(":"):  # HTTP/2 pseudo-headers: no HTTP/1.1 upgrade has them
            pairs.append((encodable(name), encodable(value)))
    return pairs


def epoch_of(stamp: str) -> float | None:
    try:
        moment = datetime.datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)).timestamp()


def read_har(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """The websocket entries of the HAR at `path`, with their index in `log.entries`."""
    try:
        document = json.loads(path.read_bytes().decode("utf-8-sig"))
    except OSError as error:
        raise HarError(f"{path}: cannot read it ({error.strerror or error})") from None
    except UnicodeDecodeError as error:
        raise HarError(f"{path}: not UTF-8 ({error.reason} at byte {error.start})") from None
    except ValueError as error:
        raise HarError(f"{path}: not JSON ({error})") from None
    log = document.get("log") if isinstance(document, dict) else None
    entries = log.get("entries") if isinstance(log, dict) else None
    if not isinstance(entries, list):
        raise HarError(f"{path}: no log.entries list: not a HAR file")
    found = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise HarError(f"{path}: entry {index}: expected an object")
        if entry.get("_resourceType") == "websocket" or "_webSocketMessages" in entry:
            found.append((index, entry))
    if not found:
        raise HarError(f"{path}: no WebSocket entry (_webSocketMessages) among {len(entries)}")
    return found


def entry_tape(
    entry: dict[str, Any],
    index: int,
    redaction: Redaction,
    client_binary: ClientBinary = ClientBinary.WHOLE,
    close_code: int | None = None,
) -> Imported:
    """One websocket entry as a tape: the handshake redacted, the messages scrubbed."""
    at = f"entry {index}, field "
    request, response = _take(entry, "request", dict, at), _take(entry, "response", dict, at)
    url = urllib.parse.urlsplit(_take(request, "url", str, at + "request."))
    scheme = _SCHEMES.get(url.scheme.lower())
    try:
        port = url.port or (443 if scheme == "wss" else 80)
    except ValueError:
        scheme = None
    if scheme is None or not url.hostname:
        raise HarError(f"{at}request.url: expected a ws, wss, http or https URL with a host")
    sent, answered = _headers(request, at + "request."), _headers(response, at + "response.")
    redactor = redaction.redactor
    secrets = set(redactor.secret_values(url.query, {}))
    for name, value in sent:
        secrets |= redactor.secret_values("", {name: value})
    secrets.update(part for part in (url.username, url.password) if part and len(part) >= 4)
    # A HAR exported from a tape carries its placeholders: they are no secret to search for.
    scrubber = PayloadScrubber(redaction.rules, {s for s in secrets if REDACTED not in s})
    forms = scrub_variants(scrubber.secrets)
    path = (url.path or "/") + (f"?{url.query}" if url.query else "")
    status = _take(response, "status", int, at + "response.")
    request_map = {name.lower(): value for name, value in sent}
    response_map = {name.lower(): value for name, value in answered}
    vendor = None
    if redaction.catalog is not None:
        offered = tuple(split_tokens(request_map.get("sec-websocket-protocol")))
        exchange = Exchange(url.hostname, url.path, request_map, response_map, offered)
        profile = identify(redaction.catalog, exchange)
        vendor = profile.id if profile else None
    stamp = entry.get("startedDateTime")
    started = epoch_of(stamp) if isinstance(stamp, str) else None
    if stamp is not None and started is None:
        raise HarError(f"{at}startedDateTime: expected an ISO 8601 date and time")
    raw = _messages(entry, at)
    if raw and (started is None or started > raw[0][1]):
        started = raw[0][1]
    started = started if started is not None else 0.0
    messages = []
    for from_client, when, text, data, digest in raw:
        t_ms = round(max(when - started, 0.0) * 1000, 3)
        if text is not None:
            messages.append(TapeMessage(t_ms, from_client, text=encodable(scrubber.text(text))))
        elif digest is not None:
            messages.append(TapeMessage(t_ms, True, length=digest[0], sha256=digest[1]))
        elif from_client and client_binary is ClientBinary.DIGEST:
            sha = hashlib.sha256(data or b"").hexdigest()
            messages.append(TapeMessage(t_ms, True, length=len(data or b""), sha256=sha))
        else:
            messages.append(TapeMessage(t_ms, from_client, data=scrubber.binary(data or b"")))
    recorded_response = None
    if status > 0:
        headers = [(n, scrub(redactor.redact_header(n, v), forms)) for n, v in answered]
        content = response.get("content")
        body = content.get("text") if isinstance(content, dict) and status != 101 else None
        reason = response.get("statusText")
        recorded_response = RecordedResponse(
            status, encodable(reason) if isinstance(reason, str) else "", "HTTP/1.1", headers,
            body=scrub(encodable(body), forms) if isinstance(body, str) and body else None,
        )  # fmt: skip
    header = TapeHeader(
        recorded_at=utc_timestamp(started),
        wswatch_version=wswatch_version(),
        request=RecordedRequest(
            "GET",
            scheme,
            url.hostname,
            port,
            scrub(encodable(redactor.redact_url(path)), forms),
            "HTTP/1.1",
            [(n, scrub(redactor.redact_header(n, v), forms)) for n, v in sent],
        ),
        response=recorded_response,
        outcome=(
            Outcome.ACCEPTED if status == 101 else Outcome.REJECTED if status else Outcome.FAILED
        ).value,
        vendor=vendor,
        subprotocol=scrub(response_map.get("sec-websocket-protocol"), forms),
        extensions=response_map.get("sec-websocket-extensions"),
        client_binary=client_binary.value,
    )
    last_t = messages[-1].t_ms if messages else 0.0
    if close_code is not None:
        end = TapeEnd(End.CLOSED, last_t, close_code, "", "server", clean=True)
    elif isinstance(entry.get("_wswatchEnd"), dict):
        try:
            parsed = parse_line(entry["_wswatchEnd"], f"{at}_wswatchEnd")
        except TapeError as error:
            raise HarError(str(error)) from None
        if not isinstance(parsed, TapeEnd):
            raise HarError(f"{at}_wswatchEnd: expected an end line")
        end = parsed
    elif status == 101:
        end = TapeEnd(End.CLOSED)  # no close in a HAR: code null, replayed as a drop
    elif status:
        end = TapeEnd(End.HANDSHAKE)
    else:
        failure = response.get("_error")
        end = TapeEnd(
            End.ERROR, error=scrub(encodable(failure), forms) if isinstance(failure, str) else None
        )
    return Imported(index, started, header, messages, end, scrubber)


_Raw = tuple[bool, float, str | None, bytes | None, tuple[int, str] | None]


def _messages(entry: dict[str, Any], at: str) -> list[_Raw]:
    """`_webSocketMessages`, checked: (from client, time, text, bytes, digest) each."""
    items = _take(entry, "_webSocketMessages", list, at) if "_webSocketMessages" in entry else []
    found: list[_Raw] = []
    for number, item in enumerate(items):
        where = f"{at}_webSocketMessages[{number}]."
        if not isinstance(item, dict):
            raise HarError(f"{where[:-1]}: expected an object, got {_JSON_KINDS.get(type(item))}")
        kind, when = _take(item, "type", str, where), _take(item, "time", (int, float), where)
        opcode, data = _take(item, "opcode", int, where), _take(item, "data", str, where)
        if kind not in ("send", "receive"):
            raise HarError(f"{where}type: expected send or receive, got {kind[:20]!r}")
        if not math.isfinite(when):
            raise HarError(f"{where}time: expected a finite number of seconds")
        if opcode not in (1, 2):
            raise HarError(f"{where}opcode: expected 1 (text) or 2 (binary), got {opcode}")
        digest = item.get("_wswatchDigest")
        if opcode == 2 and isinstance(digest, dict):
            length = _take(digest, "len", int, where + "_wswatchDigest.")
            sha = _take(digest, "sha256", str, where + "_wswatchDigest.").lower()
            if len(sha) != 64 or not set(sha) <= set("0123456789abcdef") or length < 0:
                raise HarError(f"{where}_wswatchDigest: expected a length and a SHA-256 (hex)")
            found.append((kind == "send", float(when), None, None, (length, sha)))
        elif opcode == 2:
            try:
                found.append(
                    (kind == "send", float(when), None, base64.b64decode(data, validate=True), None)
                )
            except binascii.Error:
                raise HarError(f"{where}data: opcode 2 (binary) but not valid base64") from None
        else:
            found.append((kind == "send", float(when), data, None, None))
    return found


@dataclass(frozen=True, slots=True)
class Written:
    entry: int
    path: Path
    messages: int
    #: The lines that still held a secret (then nothing was written).
    refused: list[int]


def import_har(
    har: Path,
    directory: Path,
    redaction: Redaction,
    client_binary: ClientBinary = ClientBinary.WHOLE,
    close_code: int | None = None,
) -> list[Written]:
    """Write a tape into `directory` for each websocket entry of `har`, in start order."""
    try:
        tapes = [entry_tape(e, i, redaction, client_binary, close_code) for i, e in read_har(har)]
    except HarError as error:
        raise HarError(
            str(error) if str(error).startswith(str(har)) else f"{har}: {error}"
        ) from None
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for sequence, tape in enumerate(sorted(tapes, key=lambda t: (t.started, t.index)), start=1):
        request, response = tape.header.request, tape.header.response
        status = response.status if response else None
        writer = TapeWriter(
            directory, tape_name(tape.started, sequence, request.host, request.path, status)
        )
        try:
            line = header_line(tape.header)
            writer.write({**line, "imported_from": "har"})
            for message in tape.messages:
                writer.write(message_line(message))
            writer.write(end_line(tape.end))
        except OSError:
            writer.abandon()
            raise
        # Placeholders are no secret: a HAR exported from a tape has them where secrets were.
        found = writer.finish(frozenset(s for s in tape.scrubber.secrets if REDACTED not in s))
        written.append(Written(tape.index, writer.path, len(tape.messages), found))
    return written


# The commands ------------------------------------------------------------------------------


def _close_code(text: str) -> int:
    try:
        code = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a close code: {text!r}") from None
    if not 1000 <= code <= 4999 or code in NO_FRAME_CLOSE_CODES:
        raise argparse.ArgumentTypeError(f"{code} is no close code a Close frame can carry")
    return code


def add_import_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    command = commands.add_parser(
        "import",
        help="turn a HAR's WebSocket entries into tapes (secrets scrubbed)",
        description="Write one tape per WebSocket entry (_webSocketMessages) of a HAR from "
        "Chrome or Edge DevTools, mitmproxy's hardump or dev-proxy. A HAR holds no close: the "
        "replay drops the connection after the last message unless --close is given.",
    )
    command.add_argument("file", metavar="FILE.har")
    command.add_argument("-o", "--output", metavar="DIR", required=True, help="tape directory")
    command.add_argument(
        "--close", type=_close_code, metavar="CODE", help="the server closes with CODE (1000)"
    )
    command.add_argument(
        "--client-binary",
        choices=[each.value for each in ClientBinary],
        default=ClientBinary.WHOLE.value,
        help="keep the client's binary messages whole (default) or as length and SHA-256",
    )
    command.add_argument("--vendors", metavar="YAML", default=DEFAULT_VENDORS_PATH)
    command.set_defaults(run=run_import)


def run_import(arguments: argparse.Namespace) -> int:
    prog = "wswatch tape import"
    try:
        redaction = default_redaction(arguments.vendors)
        written = import_har(
            Path(arguments.file),
            Path(arguments.output),
            redaction,
            ClientBinary(arguments.client_binary),
            arguments.close,
        )
    except (HarError, VendorFileError) as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"{prog}: error: {arguments.output}: {error.strerror or error}", file=sys.stderr)
        return 2
    for tape in written:
        if tape.refused:
            lines = ", ".join(map(str, tape.refused[:10]))
            print(
                f"{prog}: error: {arguments.file}: entry {tape.entry}: {tape.path.name} not "
                f"written: a known secret is still on line(s) {lines} after scrubbing",
                file=sys.stderr,
            )
        else:
            print(f"{tape.path} ({tape.messages} messages, from entry {tape.entry})")
    return 1 if any(tape.refused for tape in written) else 0
