"""Fault schedule: when a matching rule fires, with counters, a fake clock and seeded draws."""

from __future__ import annotations

import pytest
from wswatchlib.faults.rules import parse_rules_text
from wswatchlib.faults.schedule import FaultSchedule
from wswatchlib.faults.spec import Rule

CLIENT = "127.0.0.1"
OTHER_CLIENT = "10.0.0.2"


class FakeClock:
    """A monotonic clock that only moves when the test says so."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def rules(when: str = "{}", *, seed: int = 0, enabled: bool = True) -> list[Rule]:
    """One rule 'r' with the given when (YAML flow style) and a reset action."""
    text = (
        f"seed: {seed}\nrules: [{{id: r, enabled: {str(enabled).lower()}, when: {when},"
        " action: {reset: {}}}]"
    )
    return parse_rules_text(text, "faults.yaml", {})


def schedule(when: str = "{}", *, seed: int = 0, clock: FakeClock | None = None) -> FaultSchedule:
    """A schedule holding only rule 'r'."""
    return FaultSchedule(rules(when, seed=seed), clock=clock or FakeClock())


def decisions(faults: FaultSchedule, count: int, client_ip: str = CLIENT) -> list[bool]:
    """decide() for *count* consecutive attempts of rule 'r'."""
    return [faults.decide("r", client_ip) for _ in range(count)]


def stats(faults: FaultSchedule) -> dict[str, object]:
    """The stats() entry of rule 'r'."""
    [entry] = faults.stats()
    return entry


T, F = True, False

COUNT_CONDITIONS = [
    ("{}", [T, T, T]),
    ("{first: 2}", [T, T, F, F]),
    ("{after: 3}", [F, F, F, T, T, T]),
    ("{every: 3}", [F, F, T, F, F, T, F]),
    ("{times: 2}", [T, T, F, F]),
    ("{after: 1, first: 4}", [F, T, T, T, F, F]),
    ("{every: 2, times: 2}", [F, T, F, T, F, F, F]),
    ("{after: 2, every: 2, first: 6}", [F, F, F, T, F, T, F, F]),
]


@pytest.mark.parametrize(("when", "expected"), COUNT_CONDITIONS)
def test_count_conditions(when, expected):
    """first, after, every and times select attempts by their number and by hits so far."""
    assert decisions(schedule(when), len(expected)) == expected


WINDOW = [
    ("{window: {start_s: 10, end_s: 60}}", [0, 9.9, 10, 59.9, 60], [F, F, T, T, F]),
    ("{window: {start_s: 10}}", [0, 10, 1e6], [F, T, T]),
    ("{window: {end_s: 5}}", [0, 4.9, 5], [T, T, F]),
]


@pytest.mark.parametrize(("when", "times", "expected"), WINDOW)
def test_window(when, times, expected):
    """window fires only in [start_s, end_s) seconds since the session started."""
    clock = FakeClock(1000.0)
    faults = schedule(when, clock=clock)
    results = []
    for elapsed in times:
        clock.now = 1000.0 + elapsed
        results.append(faults.decide("r", CLIENT))
    assert results == expected


def test_window_attempts_still_count():
    """Attempts outside the window count toward first, so first: 1 is spent before it opens."""
    clock = FakeClock()
    faults = schedule("{first: 1, window: {start_s: 10}}", clock=clock)
    assert faults.decide("r", CLIENT) is False
    clock.now = 10
    assert faults.decide("r", CLIENT) is False
    assert stats(faults)["attempts"] == 2


def test_per_client_counters_are_independent():
    """With per: client, each client IP has its own attempts and hits."""
    faults = schedule("{first: 1, per: client}")
    assert decisions(faults, 2, CLIENT) == [T, F]
    assert decisions(faults, 2, OTHER_CLIENT) == [T, F]
    assert stats(faults) | {"source": None} == {
        "id": "r",
        "enabled": True,
        "attempts": 4,
        "hits": 2,
        "active": 2,
        "source": None,
    }


def test_global_counters_are_shared():
    """With the default per: global, all clients share one set of counters."""
    faults = schedule("{first: 1}")
    assert decisions(faults, 1, CLIENT) + decisions(faults, 1, OTHER_CLIENT) == [T, F]


def test_max_active_with_release():
    """max_active refuses to fire while that many faults are active, until one is released."""
    faults = schedule("{max_active: 1}")
    assert decisions(faults, 2) == [T, F]
    faults.release("r", CLIENT)
    assert decisions(faults, 2) == [T, F]
    assert stats(faults)["active"] == 1


def test_max_active_per_client():
    """With per: client, max_active limits each client separately."""
    faults = schedule("{max_active: 1, per: client}")
    assert decisions(faults, 2, CLIENT) == [T, F]
    assert decisions(faults, 2, OTHER_CLIENT) == [T, F]


def test_release_never_below_zero():
    """Extra releases, and releases for unknown rules or clients, are ignored."""
    faults = schedule("{max_active: 1}")
    faults.release("r", CLIENT)
    faults.release("gone", CLIENT)
    assert decisions(faults, 2) == [T, F]
    for _ in range(3):
        faults.release("r", CLIENT)
    assert stats(faults)["active"] == 0


def test_seeded_probability_is_reproducible():
    """The same seed gives the same decisions in two schedules; another seed gives others."""
    first = decisions(schedule("{probability: 0.3}", seed=42), 60)
    again = decisions(schedule("{probability: 0.3}", seed=42), 60)
    other = decisions(schedule("{probability: 0.3}", seed=43), 60)
    assert first == again
    assert first != other
    assert T in first and F in first


def test_when_seed_overrides_file_seed():
    """when.seed drives the draws: same when.seed under different file seeds, same decisions."""
    one = decisions(schedule("{probability: 0.5, seed: 7}", seed=1), 40)
    two = decisions(schedule("{probability: 0.5, seed: 7}", seed=2), 40)
    assert one == two


def test_skipped_attempts_draw_nothing():
    """Attempts failing first/after/every draw no number: every-2 attempt 2k sees draw k."""
    every_other = decisions(schedule("{probability: 0.5, every: 2}"), 40)[1::2]
    plain = decisions(schedule("{probability: 0.5}"), 20)
    assert every_other == plain


def test_draw_is_spent_even_outside_window():
    """A qualifying attempt consumes its draw even when the window blocks it, so runs line up."""
    clock = FakeClock()
    windowed = schedule("{probability: 0.5, window: {start_s: 10}}", clock=clock)
    plain = decisions(schedule("{probability: 0.5}"), 30)
    assert decisions(windowed, 10) == [F] * 10
    clock.now = 10
    assert decisions(windowed, 20) == plain[10:]


def test_sample_is_seeded_and_separate_from_decide():
    """sample() replays per seed and does not shift the decide() stream."""
    quiet, busy = schedule("{probability: 0.5}", seed=5), schedule("{probability: 0.5}", seed=5)
    samples_quiet = [quiet.sample("r", CLIENT, 0.5) for _ in range(20)]
    samples_busy, decided_busy = [], []
    for _ in range(20):
        decided_busy.append(busy.decide("r", CLIENT))
        samples_busy.append(busy.sample("r", CLIENT, 0.5))
    assert samples_busy == samples_quiet
    assert decided_busy == decisions(schedule("{probability: 0.5}", seed=5), 20)


def test_disabled_rule_never_fires():
    """A rule with enabled: false never fires and counts no attempts."""
    faults = FaultSchedule(rules(enabled=False), clock=FakeClock())
    assert decisions(faults, 3) == [F, F, F]
    assert stats(faults)["attempts"] == 0


def test_set_enabled_at_runtime():
    """set_enabled(False) stops firing and counting; set_enabled(True) resumes with the counters."""
    faults = schedule("{first: 2}")
    assert decisions(faults, 1) == [T]
    faults.set_enabled("r", False)
    assert decisions(faults, 3) == [F, F, F]
    assert stats(faults)["enabled"] is False
    faults.set_enabled("r", True)
    assert decisions(faults, 2) == [T, F]


def test_reset_restarts_counters_and_draws():
    """reset() forgets attempts, hits and active faults and replays the seeded draws."""
    faults = schedule("{probability: 0.5, first: 30}")
    before = decisions(faults, 30)
    faults.reset("r")
    assert stats(faults) | {"source": None} == {
        "id": "r",
        "enabled": True,
        "attempts": 0,
        "hits": 0,
        "active": 0,
        "source": None,
    }
    assert decisions(faults, 30) == before


def test_stats():
    """stats() lists every rule in load order with its counters and source file."""
    text = "rules: [{id: a, action: {reset: {}}}, {id: b, enabled: false, action: {reset: {}}}]"
    faults = FaultSchedule(parse_rules_text(text, "chaos.yaml", {}), clock=FakeClock())
    faults.decide("a", CLIENT)
    counters = {"attempts": 0, "hits": 0, "active": 0}
    assert faults.stats() == [
        {"id": "a", "enabled": True, "attempts": 1, "hits": 1, "active": 1, "source": "chaos.yaml"},
        {"id": "b", "enabled": False, **counters, "source": "chaos.yaml"},
    ]


def test_replace_rules_keeps_equal_rules():
    """A reloaded rule equal to the old one keeps its counters and runtime switch."""
    faults = schedule("{first: 2}")
    assert decisions(faults, 1) == [T]
    faults.set_enabled("r", False)
    faults.replace_rules(rules("{first: 2}"))
    assert stats(faults)["enabled"] is False
    faults.set_enabled("r", True)
    assert decisions(faults, 2) == [T, F]


def test_replace_rules_resets_changed_rules():
    """A reloaded rule whose definition changed starts from fresh counters."""
    faults = schedule("{first: 2}")
    assert decisions(faults, 2) == [T, T]
    faults.replace_rules(rules("{first: 3}"))
    assert decisions(faults, 4) == [T, T, T, F]


def test_replace_rules_drops_removed_rules():
    """Rules missing from the reload disappear from stats and cannot be decided."""
    faults = schedule()
    faults.replace_rules([])
    assert faults.stats() == []
    with pytest.raises(KeyError):
        faults.decide("r", CLIENT)


def test_replace_rules_keeps_session_start():
    """A reload does not restart the session clock that windows are measured from."""
    clock = FakeClock()
    faults = schedule("{window: {end_s: 10}}", clock=clock)
    clock.now = 20
    faults.replace_rules(rules("{window: {end_s: 10}, first: 5}"))
    assert decisions(faults, 1) == [F]


def test_unknown_rule_id():
    """decide() on an id that is not loaded raises KeyError."""
    with pytest.raises(KeyError):
        schedule().decide("nope", CLIENT)


def test_duplicate_rule_ids():
    """Two rules with one id cannot share a schedule."""
    with pytest.raises(ValueError) as caught:
        FaultSchedule(rules() + rules(), clock=FakeClock())
    assert str(caught.value) == "duplicate rule id 'r'"


# --- moments (when.at_s) ------------------------------------------------------------------------


def moment_rules(*at_s: float, enabled: bool = True, when: str = "") -> list[Rule]:
    """One close rule per moment, 'm<at_s>', in the order given."""
    text = "rules: [" + ", ".join(
        f"{{id: m{moment:g}, enabled: {str(enabled).lower()}, when: {{at_s: {moment}{when}}},"
        " action: {close: {code: 1012}}}"
        for moment in at_s
    )
    return parse_rules_text(text + "]", "faults.yaml", {})


def test_moments_say_how_long_until_each_at_s():
    """moments() lists each at_s rule with the seconds left, measured from the session start."""
    clock = FakeClock(500.0)
    faults = FaultSchedule([*rules(), *moment_rules(30, 10)], clock=clock)
    clock.now = 504.0
    assert faults.moments() == [("m30", 26.0), ("m10", 6.0)]


def test_a_moment_is_taken_once():
    """take_moment() is True the first time only, and a spent moment is no longer listed."""
    faults = FaultSchedule(moment_rules(30), clock=FakeClock())
    assert [faults.take_moment("m30"), faults.take_moment("m30")] == [T, F]
    assert faults.moments() == []


def test_a_disabled_rule_skips_its_moment_for_good():
    """Disabled at its moment: take_moment() is False, and enabling it later does not revive it."""
    faults = FaultSchedule(moment_rules(30, enabled=False), clock=FakeClock())
    assert faults.take_moment("m30") is False
    faults.set_enabled("m30", True)
    assert faults.take_moment("m30") is False


def test_take_moment_is_false_for_unknown_or_untimed_rules():
    """A rule a reload removed, or one without at_s, has no moment to take."""
    faults = FaultSchedule(rules(), clock=FakeClock())
    assert [faults.take_moment("gone"), faults.take_moment("r")] == [F, F]


def test_a_moment_already_past_when_its_rule_is_loaded_never_comes():
    """A rule loaded after its at_s has missed it: it is not listed."""
    clock = FakeClock()
    faults = FaultSchedule([], clock=clock)
    clock.now = 40
    faults.replace_rules(moment_rules(30, 50))
    assert faults.moments() == [("m50", 10.0)]


def test_a_reload_keeps_a_spent_moment_spent():
    """An unchanged rule keeps its spent moment across a reload, and reset does not revive it."""
    faults = FaultSchedule(moment_rules(30), clock=FakeClock())
    faults.take_moment("m30")
    faults.replace_rules(moment_rules(30))
    faults.reset("m30")
    assert (faults.moments(), faults.take_moment("m30")) == ([], False)


MOMENT_SELECTION = [
    ("", [CLIENT, CLIENT, OTHER_CLIENT], [T, T, T]),
    (", times: 2", [CLIENT, OTHER_CLIENT, CLIENT], [T, T, F]),
    (", times: 1, per: client", [CLIENT, CLIENT, OTHER_CLIENT, OTHER_CLIENT], [T, F, T, F]),
]


@pytest.mark.parametrize(("when", "connections", "expected"), MOMENT_SELECTION)
def test_each_open_connection_is_one_attempt_at_a_moment(when, connections, expected):
    """At a moment, decide() per open connection: times (per client, with per) caps the hits."""
    faults = FaultSchedule(moment_rules(30, when=when), clock=FakeClock())
    assert [faults.decide("m30", client_ip) for client_ip in connections] == expected


def test_moment_probability_is_seeded():
    """probability at a moment draws from the rule's seeded stream: same seed, same victims."""
    seeded = moment_rules(30, when=", probability: 0.5, seed: 9")
    first, second = (FaultSchedule(seeded, clock=FakeClock()) for _ in range(2))
    first_victims = [first.decide("m30", CLIENT) for _ in range(20)]
    second_victims = [second.decide("m30", CLIENT) for _ in range(20)]
    assert first_victims == second_victims
    assert set(first_victims) == {T, F}
