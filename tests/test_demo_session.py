"""The README's example session (examples/demo_session.py): real clients, the real mitmdump."""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

import pytest
from demo_run import DURATION_S, DemoRun, demo_session


def test_analyse_misses_no_misbehaving_client_and_flags_no_good_one(demo: DemoRun) -> None:
    """`wswatch analyse` gives each client the errors of its behaviour, and none to the good ones."""
    assert demo.findings("hammer", "error") == {"hot-loop", "retry-after"}
    assert demo.findings("impatient", "error") == {"retry-after"}
    assert demo.findings("revoked-key", "error") == {"status-retry"}
    assert demo.findings("polite") == set()
    assert demo.findings("streamer") == set()
    worst = {client["client_id"]: client["worst"] for client in demo.analysis["clients"]}
    assert worst == {
        "hammer": "error",
        "impatient": "error",
        "revoked-key": "error",
        "polite": None,  # no finding at all (the table prints "ok")
        "streamer": None,
    }


def test_polite_client_waited_out_the_retry_after_it_was_given(demo: DemoRun) -> None:
    """polite: accepted, shed with 1013 by the injected fault, one 429, in after its Retry-After."""
    attempts = demo.of("ws.handshake", "polite")
    assert [(a["outcome"], a["status"]) for a in attempts] == [
        ("accepted", 101),
        ("rejected", 429),
        ("accepted", 101),
    ]
    limited, retry = attempts[1], attempts[2]
    assert limited["retry_after"] >= 1
    assert limited["hint"].startswith("Rate limited")
    assert retry["since_previous_attempt_s"] >= limited["retry_after"]


def test_hammer_reconnected_dozens_of_times_through_the_rate_limit(demo: DemoRun) -> None:
    """hammer: after the 1013 it comes back, typically within 0.1 s, and gets a 429 each time."""
    attempts = demo.of("ws.handshake", "hammer")
    rejected = [a for a in attempts if a["status"] == 429]
    assert len(rejected) >= 10
    assert statistics.median(a["since_previous_attempt_s"] for a in rejected[1:]) < 0.1
    assert attempts[-1]["outcome"] == "accepted"


def test_overload_is_injected_and_the_429s_and_401s_are_the_services(demo: DemoRun) -> None:
    """The 1013 closes carry the fault rule; every rejection is the real service's."""
    overloaded = [e for e in demo.events if e["event"] == "ws.closed" and e["close_code"] == 1013]
    assert sorted(e["client_id"] for e in overloaded) == ["hammer", "impatient", "polite"]
    assert all(e["injected"] and e["rule_id"] == "overload-1013" for e in overloaded)
    rejected = [
        e for e in demo.events if e["event"] == "ws.handshake" and e["status"] in (401, 429)
    ]
    assert rejected and not any(e["injected"] for e in rejected)


def test_revoked_key_got_only_401s_with_request_id_and_hint(demo: DemoRun) -> None:
    """revoked-key: a 401 every time, each with the service's request id, error and a hint."""
    attempts = demo.of("ws.handshake", "revoked-key")
    assert len(attempts) >= 8
    assert {a["status"] for a in attempts} == {401}
    assert all(a["request_id"].startswith("req_") for a in attempts)
    assert {a["error"] for a in attempts} == {
        'Bearer error="invalid_token", error_description="The API key is invalid or revoked"'
    }
    assert all(a["hint"].startswith("Authentication failed") for a in attempts)


def test_streamer_stayed_connected_and_every_message_was_answered(demo: DemoRun) -> None:
    """streamer: one attempt, one connection it closed itself, its messages all answered."""
    assert [a["outcome"] for a in demo.of("ws.handshake", "streamer")] == ["accepted"]
    [closed] = demo.of("ws.closed", "streamer")
    assert (closed["closed_by"], closed["close_code"], closed["clean"]) == ("client", 1000, True)
    assert closed["messages"]["client"] >= 20
    assert closed["messages"]["server"] == closed["messages"]["client"]


def test_no_fake_api_key_in_events_or_proxy_terminal(demo: DemoRun) -> None:
    """The keys the clients sent (and the 401 body echoed) appear in no output, redacted instead."""
    proxy_log = (demo.out_dir / "proxy.log").read_text(encoding="utf-8")
    events_text = demo.events_path.read_text(encoding="utf-8")
    for key in demo_session.KEYS.values():
        assert key not in events_text
        assert key not in proxy_log
    echoed = demo.of("ws.handshake", "revoked-key")[0]["body_excerpt"]
    assert "Invalid API key provided: [redacted]" in echoed


def test_session_ends_in_bounded_time_with_the_proxys_summary(demo: DemoRun) -> None:
    """The run stops itself: clients, proxy (its exit summary written) and service, in time."""
    assert demo.elapsed_s < DURATION_S + 20
    assert demo.events[-1]["event"] == "session.summary"
    verdicts = [e for e in demo.events if e["event"] == "client.verdict"]
    assert {e["client_id"] for e in verdicts} == {
        "polite",
        "hammer",
        "impatient",
        "revoked-key",
        "streamer",
    }


def test_too_short_duration_is_refused_with_message(tmp_path: Path) -> None:
    """A session too short for its overload and rate limit to play out is refused, naming why."""
    with pytest.raises(ValueError) as raised:
        demo_session.run_demo(tmp_path, duration_s=3)
    assert str(raised.value) == "the demo session needs at least 6 s, got 3"


def test_missing_mitmdump_is_reported_with_the_python_to_use(tmp_path: Path, monkeypatch) -> None:
    """Run with a Python that has no mitmdump beside it, the session says which Python to use."""
    monkeypatch.setattr(demo_session, "MITMDUMP", tmp_path / "mitmdump")
    with pytest.raises(FileNotFoundError) as raised:
        demo_session.run_demo(tmp_path / "out", duration_s=6)
    assert str(raised.value) == (
        f"mitmdump is not next to {sys.executable}: run this with the Python of the venv "
        "wswatch is installed in (.venv/bin/python)"
    )
    assert not (tmp_path / "out").exists()
