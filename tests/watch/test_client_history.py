"""Client history: since-previous facts per client, in bounded memory."""

from __future__ import annotations

from wswatchlib.watch.client_history import ClientHistory, SincePrevious


def test_first_attempt_has_no_previous_attempt_or_close() -> None:
    """A client never seen before: both since-previous facts are None."""
    assert ClientHistory().attempt("c-a", 100.0) == SincePrevious(None, None)


def test_second_attempt_measures_from_previous_start_and_previous_close() -> None:
    """Attempt at 100, connection ends at 101.25, next attempt at 103.5: 3.5 s and 2.25 s."""
    history = ClientHistory()
    history.attempt("c-a", 100.0)
    history.connection_ended("c-a", 101.25)
    assert history.attempt("c-a", 103.5) == SincePrevious(3.5, 2.25)


def test_times_are_rounded_to_milliseconds() -> None:
    """Sub-millisecond noise is not reported."""
    history = ClientHistory()
    history.attempt("c-a", 100.0)
    assert history.attempt("c-a", 100.12345).attempt_s == 0.123


def test_clients_are_kept_apart() -> None:
    """One client's attempts and closes do not count for another."""
    history = ClientHistory()
    history.attempt("c-a", 100.0)
    history.connection_ended("c-a", 101.0)
    assert history.attempt("c-b", 102.0) == SincePrevious(None, None)


def test_an_attempt_reported_late_does_not_move_the_latest_start_back() -> None:
    """Out-of-order reports: negative since for the earlier one, the later start still counts."""
    history = ClientHistory()
    history.attempt("c-a", 105.0)
    assert history.attempt("c-a", 104.0).attempt_s == -1.0
    assert history.attempt("c-a", 106.0).attempt_s == 1.0


def test_least_recently_seen_client_is_forgotten_past_capacity() -> None:
    """Capacity 2: a third client evicts the one seen least recently, not the oldest added."""
    history = ClientHistory(capacity=2)
    history.attempt("c-a", 1.0)
    history.attempt("c-b", 2.0)
    history.connection_ended("c-a", 3.0)  # c-a seen again: c-b is now the least recent
    history.attempt("c-c", 4.0)
    assert len(history) == 2
    assert history.attempt("c-a", 5.0) == SincePrevious(4.0, 2.0)
    assert history.attempt("c-b", 6.0) == SincePrevious(None, None)
