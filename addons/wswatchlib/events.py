"""The JSON event contract, schema 1: the fields of each event wswatch writes.

Pipelines and tests depend on these names and meanings (docs/events.md). Fields
may be added; none may change meaning. Every event also gets `event`, `schema`, `ts` and
`flow_id` from the event log, and `proxy_id`, `run_id`, `seq` from its fleet stamp
(fleet/identity.py).
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import functools
import math
from dataclasses import dataclass, field, fields
from typing import Any

SCHEMA = 1

HANDSHAKE = "ws.handshake"
CLOSED = "ws.closed"
SUMMARY = "session.summary"
FAULT_INJECTED = "fault.injected"
FAULT_NOT_APPLIED = "fault.not_applied"
CLIENT_VERDICT = "client.verdict"

#: flow.metadata key of the `FaultMark` of a flow a fault disturbed, kept as plain data.
FAULT_METADATA_KEY = "wswatch.fault"

#: flow.metadata key of the tape a replayed flow was answered from (its file name).
TAPE_METADATA_KEY = "wswatch.tape"

#: TCPFlow.metadata key the watcher sets on a raw TCP relay of an upgraded WebSocket connection:
#: the id of the HTTP flow whose `ws.handshake` was reported.
UPGRADE_FLOW_METADATA_KEY = "wswatch.upgrade_flow"


class Outcome(enum.StrEnum):
    """What became of one upgrade attempt."""

    #: A 101 that satisfies RFC 6455 section 4.2.2 for a valid request.
    ACCEPTED = "accepted"
    #: Any HTTP answer other than 101 (RFC 6455 section 4.2.2: the handshake failed).
    REJECTED = "rejected"
    #: No HTTP answer at all: network, TLS or timeout failure, or the client gave up.
    FAILED = "failed"
    #: A 101 that breaks RFC 6455, or that answers a request breaking it.
    INVALID = "invalid"


def utc_timestamp(epoch_seconds: float) -> str:
    """ISO 8601 UTC with milliseconds, e.g. 2026-11-20T23:10:27.123Z: what
    `datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")` writes (microseconds
    rounded half to even, then cut to milliseconds), with the date and time of each second
    formatted once: every event has a timestamp, most handshakes two, in the same second."""
    fraction, whole = math.modf(epoch_seconds)
    microseconds = round(fraction * 1_000_000)
    if microseconds < 0:  # before 1970: datetime borrows from the second
        whole, microseconds = whole - 1, microseconds + 1_000_000
    if microseconds >= 1_000_000:
        whole, microseconds = whole + 1, microseconds - 1_000_000
    return f"{_second_of(int(whole))}.{microseconds // 1000:03d}Z"


@functools.lru_cache(maxsize=4)
def _second_of(epoch_second: int) -> str:
    moment = datetime.datetime.fromtimestamp(epoch_second, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


@dataclass(frozen=True, slots=True)
class FaultMark:
    """How a fault disturbed a flow, for the events about that flow (`injected`, `rule_id`,
    `closed_by: proxy`, an injected failure, `dropped`).

    Kept in `flow.metadata` as a plain dict (`put`, `of`): mitmproxy saves a flow's metadata with
    the flow (`-w`, mitmweb) and its format holds plain data only, and a saved flow then shows
    which fault touched it.
    """

    rule_id: str
    #: The action's kind (`close`, `reject`...), or `bad_header` for a fault header refused.
    action: str
    #: A connection fault closed the connection (the peers saw the proxy's close).
    closed_by_proxy: bool = False
    #: How a handshake fault ended the flow itself (a `network_errors.InjectedEnd` value).
    ended: str | None = None
    #: Held messages a connection fault delivered later, from each side.
    redelivered_client: int = 0
    redelivered_server: int = 0
    #: Messages a fault (a script's `send`) sent to each peer: not counted in `messages`.
    sent_to_client: int = 0
    sent_to_server: int = 0

    @classmethod
    def of(cls, metadata: dict[str, Any]) -> FaultMark | None:
        """The mark a fault left in a flow's metadata, if any."""
        stored = metadata.get(FAULT_METADATA_KEY)
        if not stored:
            return None
        redelivered = stored.get("redelivered") or {}
        sent = stored.get("sent") or {}
        return cls(
            rule_id=stored["rule_id"],
            action=stored["action"],
            closed_by_proxy=bool(stored.get("closed_by_proxy")),
            ended=stored.get("ended"),
            redelivered_client=redelivered.get("client", 0),
            redelivered_server=redelivered.get("server", 0),
            sent_to_client=sent.get("to_client", 0),
            sent_to_server=sent.get("to_server", 0),
        )

    @classmethod
    def change(cls, metadata: dict[str, Any], **changes: Any) -> None:
        """Change fields of the mark a fault already left in a flow's metadata."""
        mark = cls.of(metadata)
        assert mark is not None, "a fault marks its flow before it changes the mark"
        dataclasses.replace(mark, **changes).put(metadata)

    @classmethod
    def count(cls, metadata: dict[str, Any], counter: str) -> None:
        """Add one to a counter (`sent_to_client`, `redelivered_server`...) of the mark."""
        mark = cls.of(metadata)
        assert mark is not None, "a fault marks its flow before it counts on the mark"
        dataclasses.replace(mark, **{counter: getattr(mark, counter) + 1}).put(metadata)

    def put(self, metadata: dict[str, Any]) -> None:
        """Store this mark in a flow's metadata (in place of any earlier one)."""
        metadata[FAULT_METADATA_KEY] = {
            "rule_id": self.rule_id,
            "action": self.action,
            "closed_by_proxy": self.closed_by_proxy,
            "ended": self.ended,
            "redelivered": self.redelivered,
            "sent": self.sent,
        }

    @property
    def redelivered(self) -> dict[str, int]:
        return {"client": self.redelivered_client, "server": self.redelivered_server}

    @property
    def sent(self) -> dict[str, int]:
        return {"to_client": self.sent_to_client, "to_server": self.sent_to_server}


#: Event dataclass -> its field names, in order (read once per class).
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def field_values(event: Any) -> dict[str, Any]:
    """An event dataclass's fields by name, in order, values not copied: unlike `asdict`, no
    deep copy per handshake (the event log copies what it writes before anyone sees it)."""
    cls = type(event)
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(each.name for each in fields(cls))
    return {name: getattr(event, name) for name in names}


#: Event fields whose text a peer chose (reason phrase, error headers, body excerpt, close
#: reason): the only ones that can carry a credential wswatch did not see in the handshake.
PEER_TEXT_FIELDS: tuple[str, ...] = ("reason", "error_headers", "body_excerpt", "close_reason")


@dataclass(frozen=True, slots=True)
class HandshakeEvent:
    """One upgrade attempt, however it ended."""

    client: str
    url: str
    host: str
    path: str
    outcome: str
    status: int | None
    reason: str | None
    vendor: str | None
    request_id: str | None
    error: str | None
    error_headers: dict[str, str]
    retry_after: float | None
    body_excerpt: str | None
    problems: list[str]
    hint: str | None
    duration_ms: float | None
    failure: str | None = None
    subprotocol: str | None = None
    injected: bool = False
    rule_id: str | None = None
    #: Who made the attempt, stable across its reconnects (client_identity.py).
    client_id: str = ""
    #: When the request started: ISO 8601 UTC, as `ts`.
    started: str = ""
    #: Seconds since this client's previous attempt started / its previous connection ended.
    since_previous_attempt_s: float | None = None
    since_previous_close_s: float | None = None
    #: Answered from a tape (`wswatch_replay`), and the tape's file name.
    replayed: bool = False
    tape: str | None = None

    def fields(self) -> dict[str, Any]:
        return field_values(self)


@dataclass(frozen=True, slots=True)
class ClosedEvent:
    """The end of one upgraded connection."""

    url: str
    close_code: int | None
    close_reason: str | None
    closed_by: str | None
    clean: bool
    duration_s: float | None
    messages: dict[str, int] | None  # None when relayed as raw TCP: frames were not parsed
    bytes: dict[str, int] | None
    vendor: str | None
    hint: str | None
    dropped: dict[str, int] = field(default_factory=lambda: {"client": 0, "server": 0})
    close_meaning: str | None = None
    injected: bool = False
    rule_id: str | None = None
    retained_messages: int | None = None
    #: The RFC 6455 rule a peer broke, when the proxy closed the connection because of it.
    violation: str | None = None
    violated_by: str | None = None
    #: mitmproxy relayed the upgraded connection as raw TCP bytes (frames not parsed).
    raw_tcp: bool = False
    tcp_bytes: dict[str, int] | None = None
    client_id: str = ""
    #: Per side, seconds from the open to its last data message (None: it sent none), and its
    #: longest silence; both None for a raw TCP relay.
    last_message_s: dict[str, float | None] | None = None
    longest_gap_s: dict[str, float] | None = None
    #: Which relay followed the connection (relay_choice.Relay): "websocket", "observe", "tcp".
    relay: str = "websocket"
    #: Observe-only relay only (None elsewhere): per side, pings and pongs it sent; per side that
    #: pinged, {count, min, mean, max, last} ms from its ping to the other side's pong (or None);
    #: per side, the RFC 6455 rules its bytes broke (reported, never acted on).
    pings: dict[str, int] | None = None
    pongs: dict[str, int] | None = None
    pong_rtt_ms: dict[str, dict[str, float] | None] | None = None
    protocol_violations: dict[str, list[str]] | None = None
    #: permessage-deflate was negotiated and the observe-only relay counted compressed bytes.
    bytes_compressed: bool = False
    #: A raw TCP relay whose frames wswatch did not read, and why (its Sec-WebSocket-Version).
    frames_unread: str | None = None
    #: Messages wswatch itself sent to each peer (a script's `send`), apart from `messages`.
    injected_messages: dict[str, int] = field(
        default_factory=lambda: {"to_client": 0, "to_server": 0}
    )
    #: Played from a tape (`wswatch_replay`), and the tape's file name.
    replayed: bool = False
    tape: str | None = None

    def fields(self) -> dict[str, Any]:
        return field_values(self)
