"""Addon: answer upgrades from tapes (`wswatch_replay=PATH`) instead of the real endpoint.

In `request` a matching upgrade takes its tape (`matching.TapeLibrary`, recording order). A
refused attempt is answered there, byte for byte as recorded. An accepted one (or a recorded
network failure) is pointed at the loopback `server` with a ticket naming the tape: mitmproxy
connects there instead of the upstream, so the upstream is never contacted, and every other
concern sees the connection as a live one. In `response` and `error`, before the watcher reports,
the request gets back the address it was sent to, so events, flows and the report name the real
endpoint (marked `replayed` with the tape's name). A request no tape matches fails (an HTTP error
naming it and the tapes searched), passes through, or is recorded, as `wswatch_replay_on_miss`
says.
"""

from __future__ import annotations

import logging
import math
import secrets
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mitmproxy import connection, ctx, exceptions, http

from .. import events
from ..redaction.payloads import MessageKeyRules, PayloadScrubber
from ..redaction.redactor import Redactor, scrub_secrets
from ..rfc6455 import CloseCode
from ..text import wire_bytes
from ..watch.handshake import header_map, is_upgrade_request
from .client_check import ClientCheck, parse_paths
from .format import TAPE_SUFFIX, TapeError, TapeSummary, read_summary
from .matching import KeyRules, RequestKey, TapeLibrary, describe_key, request_key
from .player import Gate
from .recorder import RECORD_INTO_KEY, TapeRecorder
from .server import TICKET_HEADER, PlaySettings, ReplayServer, Ticket

logger = logging.getLogger("wswatch")

TAPE_MISS = "tape.miss"
TAPE_MISMATCH = "tape.mismatch"

#: flow.metadata key: where a replayed request was really sent (scheme, host, port, Host header).
ORIGINAL_ADDRESS_KEY = "wswatch.tape_original_address"
#: The status and reason of the answer to a request no tape matches (`fail`).
MISS_STATUS, MISS_REASON = 404, "No Tape"
#: The close code sent on a client mismatch with `wswatch_replay_on_mismatch=close` (RFC 6455
#: section 7.4.1: the endpoint received a message that violates its policy).
MISMATCH_CLOSE_CODE = int(CloseCode.POLICY_VIOLATION)
ON_MISS = ("fail", "passthrough", "record")
ON_MISMATCH = ("continue", "close")


def load_tapes(path: Path) -> list[TapeSummary]:
    """The tapes at `path`: one file, or every `*.tape.jsonl` under a directory."""
    if path.is_dir():
        return [read_summary(each) for each in sorted(path.rglob(f"*{TAPE_SUFFIX}"))]
    return [read_summary(path)]


def parse_speed(value: str) -> float:
    """`wswatch_replay_speed`: a factor over 0 (2: twice as fast), or `max` (no delays)."""
    if value.strip().lower() == "max":
        return math.inf
    try:
        speed = float(value)
    except ValueError:
        speed = 0.0
    if not speed > 0 or math.isinf(speed):
        raise ValueError(f"expected a number over 0 (2 plays twice as fast) or max, got {value!r}")
    return speed


def miss_body(key: RequestKey, searched: Sequence[str], source: str) -> str:
    """What a request no tape matches gets: what it asked, where wswatch looked, what it has."""
    lines = [
        f"wswatch: no tape matches {describe_key(key)}",
        f"(wswatch_replay={source}; the upstream was not contacted)",
        f"Searched {len(searched)} request key(s):" if searched else "No tapes were loaded.",
        *(f"  {line}" for line in searched),
    ]
    return "\n".join(lines) + "\n"


class TapeReplay:
    def __init__(
        self,
        event_log: Any,
        request_view: Callable[[http.HTTPFlow], tuple[str, frozenset[str]]],
        redactor: Callable[[], Redactor],
        message_rules: Callable[[], MessageKeyRules],
        recorder: TapeRecorder,
    ) -> None:
        self.event_log = event_log
        self._request_view = request_view
        self._redactor = redactor
        self._message_rules = message_rules
        self.library: TapeLibrary | None = None
        self.server = ReplayServer()
        self.settings = PlaySettings()
        recorder.on_written.append(self._recorded)

    def load(self, loader: Any) -> None:
        loader.add_option(
            "wswatch_replay",
            str,
            "",
            "Answer WebSocket upgrades from tapes (a *.tape.jsonl file or a directory of them) "
            "instead of the real endpoint, which is never contacted for them.",
        )
        loader.add_option(
            "wswatch_replay_on_miss",
            str,
            "fail",
            "A request no tape matches: fail (HTTP 404 naming the request and the tapes "
            "searched), passthrough (to the real endpoint), or record (to it, recording a tape).",
            choices=list(ON_MISS),
        )
        loader.add_option(
            "wswatch_replay_gate",
            str,
            Gate.MESSAGES.value,
            "Each recorded server message waits until the client has sent as many messages "
            "(messages), or binary payload bytes and text messages (bytes), as in the "
            "recording; none: the server plays on its own clock.",
            choices=[gate.value for gate in Gate],
        )
        loader.add_option(
            "wswatch_replay_speed",
            str,
            "1",
            "Recorded delays are divided by this factor (2: twice as fast); max: no delays.",
        )
        loader.add_option(
            "wswatch_replay_match",
            str,
            ClientCheck.OFF.value,
            "Compare each client message with the recording's: off, exact, or json (JSON "
            "documents, wswatch_replay_ignore paths left out). A difference is a tape.mismatch "
            "event.",
            choices=[check.value for check in ClientCheck],
        )
        loader.add_option(
            "wswatch_replay_ignore",
            Sequence[str],
            [],
            "JSON paths left out when wswatch_replay_match=json: dotted keys, * for any "
            "(request_id, meta.ts, items.*.id).",
        )
        loader.add_option(
            "wswatch_replay_on_mismatch",
            str,
            "continue",
            "After a tape.mismatch: continue playing, or close the connection with 1008 and "
            "a reason naming the mismatch.",
            choices=list(ON_MISMATCH),
        )
        loader.add_option(
            "wswatch_replay_match_headers",
            Sequence[str],
            [],
            "Request headers whose values must match the recording's too (a model name).",
        )
        loader.add_option(
            "wswatch_replay_ignore_params",
            Sequence[str],
            [],
            "Query parameters left out of matching (volatile ones: timestamps, nonces); secret "
            "parameters are always left out.",
        )

    def configure(self, updated: set[str]) -> None:
        options = ctx.options
        if updated & {
            "wswatch_replay_speed",
            "wswatch_replay_gate",
            "wswatch_replay_match",
            "wswatch_replay_ignore",
            "wswatch_replay_on_mismatch",
        }:
            try:
                speed = parse_speed(options.wswatch_replay_speed)
            except ValueError as error:
                raise exceptions.OptionsError(f"wswatch_replay_speed: {error}") from None
            try:
                ignored = parse_paths(list(options.wswatch_replay_ignore))
            except ValueError as error:
                raise exceptions.OptionsError(f"wswatch_replay_ignore: {error}") from None
            self.settings = PlaySettings(
                gate=Gate(options.wswatch_replay_gate),
                speed=speed,
                check=ClientCheck(options.wswatch_replay_match),
                ignored_paths=ignored,
                close_on_mismatch=MISMATCH_CLOSE_CODE
                if options.wswatch_replay_on_mismatch == "close"
                else None,
            )
        if updated & {
            "wswatch_replay",
            "wswatch_replay_match_headers",
            "wswatch_replay_ignore_params",
            "wswatch_replay_on_miss",
        }:
            self._load_library()

    def _load_library(self) -> None:
        options = ctx.options
        if not options.wswatch_replay:
            self.library = None
            self.server.stop()
            return
        path = Path(options.wswatch_replay).expanduser()
        if not path.exists() and options.wswatch_replay_on_miss == "record":
            path.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            raise exceptions.OptionsError(f"Cannot load wswatch_replay: {path} does not exist")
        try:
            tapes = load_tapes(path)
        except TapeError as error:
            raise exceptions.OptionsError(f"Cannot load wswatch_replay: {error}") from None
        rules = KeyRules(
            ignored_params=frozenset(p.lower() for p in options.wswatch_replay_ignore_params),
            headers=tuple(h.lower() for h in options.wswatch_replay_match_headers),
        )
        self.library = TapeLibrary(
            tapes, rules, lambda name: self._redactor().is_secret_param(name)
        )
        self.server.bind()
        logger.info(f"wswatch: replaying {len(self.library)} tape(s) from {path}")

    def running(self) -> None:
        if self.library is not None:
            self.server.ensure_serving()

    def done(self) -> None:
        self.server.stop()

    # Requests --------------------------------------------------------------------------------

    def request(self, flow: http.HTTPFlow) -> None:
        library = self.library
        if library is None or flow.response is not None or flow.error is not None:
            return
        request = flow.request
        headers = header_map(request.headers)
        if not is_upgrade_request(headers):
            return
        key = request_key(
            request.method, request.path, headers, library.rules, self._redactor().is_secret_param
        )
        tape = library.take(key)
        if tape is None:
            self._miss(flow, key)
            return
        flow.metadata[events.TAPE_METADATA_KEY] = tape.name
        recorded = tape.header.response
        if recorded is not None and recorded.status != 101:
            flow.response = _recorded_answer(
                recorded.status,
                recorded.reason,
                recorded.headers,
                recorded.body_bytes,
                recorded.http_version,
            )
            return
        self.server.ensure_serving()
        token = secrets.token_urlsafe(16)
        url, request_secrets = self._request_view(flow)
        scrubber = PayloadScrubber(self._message_rules(), request_secrets)
        self.server.expect(
            token,
            Ticket(
                tape,
                self.settings,
                lambda number, why: self._mismatch(
                    flow.id, url, tape.name, number, why, request_secrets | scrubber.secrets
                ),
                scrubber.text,
            ),
        )
        host_header = request.headers.get("host")
        flow.metadata[ORIGINAL_ADDRESS_KEY] = [
            request.scheme,
            request.host,
            request.port,
            host_header,
        ]
        request.scheme, request.host, request.port = "http", "127.0.0.1", self.server.port
        if flow.server_conn.via is not None:
            # Upstream mode: the loopback server is reached directly, never through the
            # upstream proxy (which may not reach this machine's loopback, and must not be
            # contacted either). A connection of this stream's own, so other requests of the
            # client's connection still go through the upstream proxy.
            flow.server_conn = connection.Server(
                address=None, transport_protocol=flow.server_conn.transport_protocol
            )
        if host_header is not None:
            request.headers["host"] = host_header
        request.headers[TICKET_HEADER] = token

    def _miss(self, flow: http.HTTPFlow, key: RequestKey) -> None:
        library = self.library
        assert library is not None
        on_miss = ctx.options.wswatch_replay_on_miss
        url, request_secrets = self._request_view(flow)
        self.event_log.emit(
            TAPE_MISS,
            {"url": url, "request": describe_key(key), "tapes": len(library), "then": on_miss},
            flow_id=flow.id,
            secrets=request_secrets,
            level=logging.WARNING if on_miss == "fail" else logging.INFO,
        )
        if on_miss == "record":
            flow.metadata[RECORD_INTO_KEY] = str(self._record_directory())
        elif on_miss == "fail":
            body = miss_body(key, library.searched(), ctx.options.wswatch_replay)
            flow.response = http.Response.make(
                MISS_STATUS,
                scrub_secrets(body, request_secrets),
                {"content-type": "text/plain; charset=utf-8", "x-wswatch-tape": "miss"},
            )
            flow.response.reason = MISS_REASON

    def _record_directory(self) -> Path:
        if ctx.options.wswatch_record:
            return Path(ctx.options.wswatch_record).expanduser()
        path = Path(ctx.options.wswatch_replay).expanduser()
        return path if path.is_dir() else path.parent

    def _recorded(self, path: Path) -> None:
        """A tape was written: with `record` on a miss, the next such request replays it."""
        if self.library is not None and ctx.options.wswatch_replay_on_miss == "record":
            try:
                self.library.add(read_summary(path))
            except TapeError as error:
                logger.error(f"wswatch: cannot replay the tape just recorded: {error}")

    def _mismatch(
        self,
        flow_id: str,
        url: str,
        tape: str,
        number: int,
        why: str,
        request_secrets: frozenset[str],
    ) -> None:
        self.event_log.emit(
            TAPE_MISMATCH,
            {
                "url": url,
                "tape": tape,
                "message": number,
                "diff": why,
                "then": ctx.options.wswatch_replay_on_mismatch,
            },
            flow_id=flow_id,
            secrets=request_secrets,
            level=logging.WARNING,
        )

    # Answers ---------------------------------------------------------------------------------

    def response(self, flow: http.HTTPFlow) -> None:
        self._restore(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._restore(flow)

    @staticmethod
    def _restore(flow: http.HTTPFlow) -> None:
        """Give the request back the address it was sent to, before anyone reports it."""
        original = flow.metadata.pop(ORIGINAL_ADDRESS_KEY, None)
        if original is None:
            return
        scheme, host, port, host_header = original
        request = flow.request
        request.scheme, request.host, request.port = scheme, host, port
        if host_header is not None:
            request.headers["host"] = host_header
        request.headers.pop(TICKET_HEADER, None)


def _recorded_answer(
    status: int, reason: str, headers: list[tuple[str, str]], body: bytes, http_version: str
) -> http.Response:
    """A recorded refusal as it was sent: status, reason, headers in order, body."""
    now = time.time()
    return http.Response(
        http_version=wire_bytes(http_version),
        status_code=status,
        reason=wire_bytes(reason),
        headers=http.Headers([(wire_bytes(name), wire_bytes(value)) for name, value in headers]),
        content=body,
        trailers=None,
        timestamp_start=now,
        timestamp_end=now,
    )
