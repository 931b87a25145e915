"""Timelines and episodes from events, including events written before contract7's fields."""

from __future__ import annotations

from verdict_streams import T0, Stream, reconnect_loop
from wswatchlib.verdicts.analysis import analyse
from wswatchlib.verdicts.episodes import UNKNOWN_CLIENT, SetbackKind, build_timelines


def test_episode_runs_from_a_close_to_a_stable_connection() -> None:
    """A close, two refused attempts and an accepted one form one recovered episode."""
    stream = Stream()
    reconnect_loop(stream, "c", [1.0, 2.0, 4.0])
    stream.end(T0 + 200)
    [episode] = build_timelines(stream.events, 30).clients["c"].episodes
    assert episode.recovered
    assert episode.trigger.describe() == "close 1006"
    assert [round(delay, 3) for delay in episode.delays] == [1.0, 2.0, 4.0]
    assert [retry.after.kind for retry in episode.retries] == [
        SetbackKind.CLOSED,
        SetbackKind.FAILED,
        SetbackKind.FAILED,
    ]


def test_short_connection_stays_in_the_episode() -> None:
    """A connection shorter than stable_connection_s does not end the episode (flapping)."""
    stream = Stream()
    stream.connect("c", T0, 60.0)
    stream.connect("c", T0 + 61, 2.0)
    stream.connect("c", T0 + 64, None)
    stream.end(T0 + 200)
    [episode] = build_timelines(stream.events, 30).clients["c"].episodes
    assert [setback.describe() for setback in episode.setbacks] == ["close 1006", "close 1006"]
    assert len(episode.short_connections) == 1
    assert episode.recovered


def test_client_and_shutdown_closes_are_not_setbacks() -> None:
    """A close by the client, or by the proxy at shutdown (no code), starts no episode."""
    stream = Stream()
    stream.connect("c", T0, 10.0, code=1000, closed_by="client")
    stream.connect("c", T0 + 20, 10.0, code=None, closed_by="proxy")
    stream.end(T0 + 60)
    assert build_timelines(stream.events, 30).clients["c"].episodes == ()


def test_events_without_contract7_fields_degrade() -> None:
    """Events lacking client_id/started/gaps (the proxy before issue 7) still grade a loop:
    the client is "unknown", an attempt starts at ts - duration_ms, ws.closed joins by flow_id."""
    stream = Stream()
    flow = stream.handshake(None, T0, "accepted", duration_ms=5, new_fields=False)
    stream.closed(None, flow, T0 + 0.005, 60.0, code=1006, new_fields=False)
    start = T0 + 60.005
    for _ in range(10):
        start += 0.05
        stream.handshake(None, start, duration_ms=2, new_fields=False)
        start += 0.002
    stream.end(start + 1)
    timelines = build_timelines(stream.events, 30)
    assert list(timelines.clients) == [UNKNOWN_CLIENT]
    [episode] = timelines.clients[UNKNOWN_CLIENT].episodes
    assert [round(delay, 3) for delay in episode.delays] == [0.05] * 10
    rules = {finding.rule for finding in analyse(stream.events).findings}
    assert rules == {"hot-loop", "growth", "jitter"}
