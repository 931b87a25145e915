"""The tape format, version 1: one upgrade attempt as JSON lines. Pure.

Line 1 is the header (`"wswatch_tape": 1`): when, which wswatch, the handshake request and
response as seen (redacted), vendor, subprotocol and extensions. Then one line per data message
(`"t"` ms since the 101, `"from"` client or server, and one of `"text"`, `"binary"` (base64), or
`"len"` + `"sha256"` for a client binary message kept as a digest). The last line says how it
ended (`"end"`): a close (code, reason, who, clean), the handshake's own end for a refused
attempt, or the network failure. A tape cut short (the proxy killed) has no end line: it replays
as a dropped connection.

The JSON Schema of these lines is `tape.schema.json` beside this file (`schema.py` builds it).
Readers accept any header field they do not know, so fields may be added within a version.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import importlib.metadata
import json
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

#: The format version this code writes and reads.
TAPE_VERSION = 1
#: The header key holding the version: it also tells a tape from any other JSON-lines file.
VERSION_KEY = "wswatch_tape"
#: Tape file names end so; a directory of tapes is searched for these.
TAPE_SUFFIX = ".tape.jsonl"


def wswatch_version() -> str:
    """The version of the wswatch writing a tape: the installed package's, or, run from a
    checkout (`mitmdump -s addons/wswatch.py`), the one its pyproject.toml declares."""
    try:
        return importlib.metadata.version("wswatch")
    except importlib.metadata.PackageNotFoundError:
        pyproject = Path(__file__).resolve().parents[3] / "pyproject.toml"
        try:
            return str(tomllib.loads(pyproject.read_text())["project"]["version"])
        except (OSError, KeyError, tomllib.TOMLDecodeError):
            return "unknown"


class TapeError(ValueError):
    """A file that is not a tape wswatch can read: the message names the file, line and field."""


class End(enum.StrEnum):
    """How a recorded attempt ended (the end line's `end`)."""

    #: The WebSocket closed: a Close frame from one side (`closed_by`), or a connection that
    #: ended without one (`clean` false, code null).
    CLOSED = "closed"
    #: The handshake was refused (any answer but a valid 101): the header holds the answer.
    HANDSHAKE = "handshake"
    #: No answer: the connection to the endpoint failed (refused, DNS, TLS, timeout).
    ERROR = "error"


class ClientBinary(enum.StrEnum):
    """How a client's binary messages are kept (`wswatch_record_client_binary`)."""

    #: Length and SHA-256 only: uploads (audio, video) are large, are the user's own data, and
    #: replay needs only their count and size (gating) and digest (exact matching).
    DIGEST = "digest"
    #: The bytes, base64.
    WHOLE = "whole"


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    scheme: str  # "ws" or "wss"
    host: str
    port: int
    #: Path and query, secret parameters' values redacted.
    path: str
    http_version: str
    #: [name, value] pairs as sent, secret values redacted.
    headers: list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class RecordedResponse:
    status: int
    reason: str
    http_version: str
    headers: list[tuple[str, str]]
    #: The body: text when it decodes as UTF-8, else base64 in `body_base64`.
    body: str | None = None
    body_base64: str | None = None

    @property
    def body_bytes(self) -> bytes:
        if self.body_base64 is not None:
            return base64.b64decode(self.body_base64)
        return (self.body or "").encode()


@dataclass(frozen=True, slots=True)
class TapeHeader:
    recorded_at: str
    wswatch_version: str
    request: RecordedRequest
    response: RecordedResponse | None
    outcome: str | None = None
    vendor: str | None = None
    subprotocol: str | None = None
    extensions: str | None = None
    client_binary: str = ClientBinary.DIGEST.value
    relay: str | None = None

    @property
    def accepted(self) -> bool:
        return self.response is not None and self.response.status == 101


@dataclass(frozen=True, slots=True)
class TapeMessage:
    t_ms: float
    from_client: bool
    text: str | None = None
    data: bytes | None = None
    #: A client binary message kept as a digest: its length and SHA-256 (hex).
    length: int | None = None
    sha256: str | None = None

    @property
    def is_text(self) -> bool:
        return self.text is not None

    @property
    def size(self) -> int:
        """Payload bytes, as the client sent them (for gating by bytes)."""
        if self.text is not None:
            return len(self.text.encode("utf-8", "surrogatepass"))
        if self.data is not None:
            return len(self.data)
        return self.length or 0


@dataclass(frozen=True, slots=True)
class TapeEnd:
    end: End
    t_ms: float | None = None
    code: int | None = None
    reason: str | None = None
    closed_by: str | None = None
    clean: bool = False
    error: str | None = None


@dataclass
class TapeSummary:
    """What a tape's header says, and where it is: enough to match requests without reading
    its messages (they stream from disk when replayed)."""

    path: Path
    header: TapeHeader
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.name


def _pairs(value: Any, where: str) -> list[tuple[str, str]]:
    if not isinstance(value, list) or not all(
        isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)
        for pair in value
    ):
        raise TapeError(f"{where}: expected a list of [name, value] pairs of strings")
    return [(name, item) for name, item in value]


def _get(line: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in line:
        raise TapeError(f"{where}: field {key!r} is missing")
    value = line[key]
    # JSON true/false are not numbers, though Python's bool is an int.
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise TapeError(f"{where}: field {key!r} has the wrong type ({type(value).__name__})")
    return value


def _optional(line: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    """`line[key]` when absent or null, else checked as `_get` does: an end line's fields
    reach the player's arithmetic and the Close frame, where a wrong type would crash replay."""
    return None if line.get(key) is None else _get(line, key, kind, where)


def header_line(header: TapeHeader) -> dict[str, Any]:
    request = header.request
    line: dict[str, Any] = {
        VERSION_KEY: TAPE_VERSION,
        "recorded_at": header.recorded_at,
        "wswatch_version": header.wswatch_version,
        "request": {
            "method": request.method,
            "scheme": request.scheme,
            "host": request.host,
            "port": request.port,
            "path": request.path,
            "http_version": request.http_version,
            "headers": [list(pair) for pair in request.headers],
        },
        "response": None,
        "outcome": header.outcome,
        "vendor": header.vendor,
        "subprotocol": header.subprotocol,
        "extensions": header.extensions,
        "client_binary": header.client_binary,
        "relay": header.relay,
    }
    if header.response is not None:
        response = header.response
        line["response"] = {
            "status": response.status,
            "reason": response.reason,
            "http_version": response.http_version,
            "headers": [list(pair) for pair in response.headers],
            "body": response.body,
            "body_base64": response.body_base64,
        }
    return line


def parse_header(line: dict[str, Any], where: str) -> TapeHeader:
    version = line.get(VERSION_KEY)
    if version != TAPE_VERSION:
        raise TapeError(
            f"{where}: not a wswatch tape of version {TAPE_VERSION} "
            f"(field {VERSION_KEY!r} is {version!r})"
        )
    request = _get(line, "request", dict, where)
    req_where = f"{where} request"
    recorded_request = RecordedRequest(
        method=_get(request, "method", str, req_where),
        scheme=_get(request, "scheme", str, req_where),
        host=_get(request, "host", str, req_where),
        port=_get(request, "port", int, req_where),
        path=_get(request, "path", str, req_where),
        http_version=request.get("http_version") or "HTTP/1.1",
        headers=_pairs(request.get("headers", []), f"{req_where} field 'headers'"),
    )
    response = line.get("response")
    recorded_response = None
    if response is not None:
        if not isinstance(response, dict):
            raise TapeError(f"{where}: field 'response' must be an object or null")
        res_where = f"{where} response"
        recorded_response = RecordedResponse(
            status=_get(response, "status", int, res_where),
            reason=response.get("reason") or "",
            http_version=response.get("http_version") or "HTTP/1.1",
            headers=_pairs(response.get("headers", []), f"{res_where} field 'headers'"),
            body=response.get("body"),
            body_base64=response.get("body_base64"),
        )
    return TapeHeader(
        recorded_at=str(line.get("recorded_at", "")),
        wswatch_version=str(line.get("wswatch_version", "")),
        request=recorded_request,
        response=recorded_response,
        outcome=line.get("outcome"),
        vendor=line.get("vendor"),
        subprotocol=line.get("subprotocol"),
        extensions=line.get("extensions"),
        client_binary=line.get("client_binary") or ClientBinary.DIGEST.value,
        relay=line.get("relay"),
    )


def message_line(message: TapeMessage) -> dict[str, Any]:
    line: dict[str, Any] = {
        "t": round(message.t_ms, 3),
        "from": "client" if message.from_client else "server",
    }
    if message.text is not None:
        line["text"] = message.text
    elif message.data is not None:
        line["binary"] = base64.b64encode(message.data).decode("ascii")
    else:
        line["len"] = message.length
        line["sha256"] = message.sha256
    return line


def digest_of(data: bytes) -> TapeMessage:
    """The digest form of a client binary message (time and direction set by the caller)."""
    return TapeMessage(0.0, True, length=len(data), sha256=hashlib.sha256(data).hexdigest())


def end_line(end: TapeEnd) -> dict[str, Any]:
    line: dict[str, Any] = {"end": end.end.value, "t": end.t_ms}
    if end.end is End.CLOSED:
        line.update(code=end.code, reason=end.reason, closed_by=end.closed_by, clean=end.clean)
    elif end.end is End.ERROR:
        line["error"] = end.error
    return line


def parse_line(line: dict[str, Any], where: str) -> TapeMessage | TapeEnd:
    """A message line or the end line (the header is read by `parse_header`)."""
    if "end" in line:
        try:
            kind = End(line["end"])
        except ValueError:
            raise TapeError(
                f"{where}: field 'end' must be one of {', '.join(End)}, got {line['end']!r}"
            ) from None
        code = line.get("code")
        if code is not None and (not isinstance(code, int) or isinstance(code, bool)):
            raise TapeError(f"{where}: field 'code' must be an integer or null")
        t_ms = _optional(line, "t", (int, float), where)
        return TapeEnd(
            end=kind,
            t_ms=None if t_ms is None else float(t_ms),
            code=code,
            reason=_optional(line, "reason", str, where),
            closed_by=_optional(line, "closed_by", str, where),
            clean=bool(_optional(line, "clean", bool, where)),
            error=_optional(line, "error", str, where),
        )
    t_ms = _get(line, "t", (int, float), where)
    sender = _get(line, "from", str, where)
    if sender not in ("client", "server"):
        raise TapeError(f"{where}: field 'from' must be client or server, got {sender!r}")
    from_client = sender == "client"
    if "text" in line:
        return TapeMessage(float(t_ms), from_client, text=_get(line, "text", str, where))
    if "binary" in line:
        # Read before the try: a TapeError is a ValueError, and a wrong type is no bad base64.
        encoded = _get(line, "binary", str, where)
        try:
            data = base64.b64decode(encoded, validate=True)
        except ValueError:
            raise TapeError(f"{where}: field 'binary' is not valid base64") from None
        return TapeMessage(float(t_ms), from_client, data=data)
    if "sha256" in line:
        return TapeMessage(
            float(t_ms),
            from_client,
            length=_get(line, "len", int, where),
            sha256=_get(line, "sha256", str, where),
        )
    raise TapeError(f"{where}: a message line needs 'text', 'binary' or 'len' and 'sha256'")


def _decoded(raw: str, where: str) -> dict[str, Any]:
    try:
        line = json.loads(raw)
    except json.JSONDecodeError as error:
        raise TapeError(f"{where}: not JSON ({error.msg})") from None
    if not isinstance(line, dict):
        raise TapeError(f"{where}: expected a JSON object")
    return line


def read_summary(path: Path) -> TapeSummary:
    """The header of the tape at `path` (its first line only)."""
    try:
        with path.open(encoding="utf-8") as file:
            first = file.readline()
    except (OSError, UnicodeDecodeError) as error:
        raise TapeError(f"{path}: cannot read it ({error})") from None
    if not first.strip():
        raise TapeError(f"{path} line 1: empty, expected the tape header")
    return TapeSummary(path, parse_header(_decoded(first, f"{path} line 1"), f"{path} line 1"))


def read_lines(path: Path) -> Iterator[TapeMessage | TapeEnd]:
    """The messages of a tape, then its end line if it has one, read lazily from disk: a tape
    of any length replays in constant memory. Bytes are decoded a line at a time, so a line
    that is not UTF-8 is a TapeError naming it (a text-mode file fails a whole buffer ahead)."""
    with path.open("rb") as file:
        for number, raw_bytes in enumerate(file, start=1):
            if number == 1 or not raw_bytes.strip():
                continue
            where = f"{path} line {number}"
            try:
                raw = raw_bytes.decode("utf-8")
            except UnicodeDecodeError as error:
                raise TapeError(f"{where}: not UTF-8 ({error.reason})") from None
            yield parse_line(_decoded(raw, where), where)


def write_line(file: IO[str], line: dict[str, Any]) -> None:
    """One line of a tape: compact JSON, non-ASCII kept as is (the file is UTF-8)."""
    file.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")))
    file.write("\n")
