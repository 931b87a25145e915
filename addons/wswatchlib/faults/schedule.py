"""Fault schedule: decide whether a rule whose ``match`` applies fires on this attempt.

Pure and deterministic given the rules, the clock and the sequence of calls: each rule
(or, with ``per: client``, each client of a rule) owns its counters and random streams,
seeded from the rule's seed and id, so a seeded chaos run replays the same decisions and
two rules sharing a file seed still draw independently.

A rule with ``when.at_s`` is a moment of the session: :meth:`FaultSchedule.moments` says when
each is due, :meth:`FaultSchedule.take_moment` spends it (once), and each open connection it
may strike is then one attempt for :meth:`FaultSchedule.decide`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .spec import Per, Rule


@dataclass(slots=True)
class _Bucket:
    """Counters and random streams of one rule, for everyone or for one client IP.

    ``attempts_rng`` feeds :meth:`FaultSchedule.decide` and ``messages_rng`` feeds
    :meth:`FaultSchedule.sample`, so message traffic never shifts attempt decisions.
    """

    attempts_rng: random.Random
    messages_rng: random.Random
    attempts: int = 0
    hits: int = 0
    active: int = 0

    @classmethod
    def seeded(cls, rule: Rule, client_ip: str | None) -> _Bucket:
        """A fresh bucket; string seeds are hashed with SHA-512, so they are stable across runs."""
        base = f"{rule.seed}/{rule.id}/{client_ip or '*'}"
        return cls(random.Random(f"{base}/attempts"), random.Random(f"{base}/messages"))


@dataclass(slots=True)
class _RuleState:
    """A rule with its runtime switch and its buckets (one, or one per client IP)."""

    rule: Rule
    enabled: bool
    buckets: dict[str | None, _Bucket] = field(default_factory=dict)
    moment_spent: bool = False

    def key(self, client_ip: str) -> str | None:
        """The bucket key for *client_ip*: the IP itself with ``per: client``, else ``None``."""
        return client_ip if self.rule.when.per is Per.CLIENT else None

    def bucket(self, client_ip: str) -> _Bucket:
        """The bucket that counts for *client_ip*, created on first use."""
        key = self.key(client_ip)
        if key not in self.buckets:
            self.buckets[key] = _Bucket.seeded(self.rule, key)
        return self.buckets[key]


class FaultSchedule:
    """Runtime state of the loaded rules: attempt and hit counters, active faults, RNGs.

    *clock* returns monotonic seconds; the session starts when the schedule is built,
    and ``when.window`` bounds are measured from there.
    """

    def __init__(self, rules: Iterable[Rule], clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._start = clock()
        self._states: dict[str, _RuleState] = {}
        self.replace_rules(rules)

    def decide(self, rule_id: str, client_ip: str) -> bool:
        """Count one attempt whose request matched the rule, and say whether the rule fires.

        Steps, in this fixed order (the first failing one answers False):

        1. A disabled rule never fires and counts nothing.
        2. The attempt is counted in the rule's bucket (global, or the client's with
           ``per: client``); ``n`` is that bucket's attempt number, from 1.
        3. Attempt-number conditions: ``first`` (n <= first), ``after`` (n > after),
           ``every`` (n % every == 0). An attempt failing these draws no random number.
        4. Exactly one number is drawn from the bucket's stream, even without
           ``probability``, so the k-th qualifying attempt always gets the same draw
           whatever the clock or other faults do.
        5. ``window``: seconds since session start in ``[start_s, end_s)``.
        6. ``times``: fewer than ``times`` hits so far.
        7. ``max_active``: fewer than ``max_active`` faults of the bucket still active.
        8. ``probability``: the draw is below ``probability``.

        Firing counts a hit and an active fault; call :meth:`release` when it ends.
        Raises KeyError for an unknown rule id.
        """
        state = self._states[rule_id]
        if not state.enabled:
            return False
        when = state.rule.when
        bucket = state.bucket(client_ip)
        bucket.attempts += 1
        attempt = bucket.attempts
        if (
            (when.first is not None and attempt > when.first)
            or (when.after is not None and attempt <= when.after)
            or (when.every is not None and attempt % when.every != 0)
        ):
            return False
        draw = bucket.attempts_rng.random()
        fires = (
            (when.window is None or when.window.contains(self._clock() - self._start))
            and (when.times is None or bucket.hits < when.times)
            and (when.max_active is None or bucket.active < when.max_active)
            and (when.probability is None or draw < when.probability)
        )
        if fires:
            bucket.hits += 1
            bucket.active += 1
        return fires

    def elapsed(self) -> float:
        """Seconds since the session started, the clock of ``window`` and ``at_s``."""
        return self._clock() - self._start

    def moments(self) -> list[tuple[str, float]]:
        """``(rule id, seconds from now)`` of each ``at_s`` moment still to come, in load order.

        A moment already spent, or already past when its rule was loaded, is not listed:
        ``at_s`` is a time of the session, and a rule that arrives later has missed it.
        """
        elapsed = self.elapsed()
        return [
            (rule_id, state.rule.when.at_s - elapsed)
            for rule_id, state in self._states.items()
            if state.rule.when.at_s is not None
            and not state.moment_spent
            and state.rule.when.at_s > elapsed
        ]

    def take_moment(self, rule_id: str) -> bool:
        """The ``at_s`` moment of *rule_id* has come: True the first time if the rule is enabled.

        The moment is spent either way (a rule disabled at its moment skips it for good), and
        False for a rule that a reload removed or that has no ``at_s``.
        """
        state = self._states.get(rule_id)
        if state is None or state.rule.when.at_s is None or state.moment_spent:
            return False
        state.moment_spent = True
        return state.enabled

    def release(self, rule_id: str, client_ip: str) -> None:
        """A fault that :meth:`decide` fired has ended; frees a ``max_active`` slot.

        Never goes below zero; ignores faults that a reload or :meth:`reset` forgot.
        """
        state = self._states.get(rule_id)
        bucket = state.buckets.get(state.key(client_ip)) if state is not None else None
        if bucket is not None:
            bucket.active = max(0, bucket.active - 1)

    def sample(self, rule_id: str, client_ip: str, probability: float) -> bool:
        """A seeded coin flip for per-message probabilities (``messages.probability``).

        Drawn from the bucket's own message stream, separate from :meth:`decide`'s.
        """
        return self._states[rule_id].bucket(client_ip).messages_rng.random() < probability

    def set_enabled(self, rule_id: str, enabled: bool) -> None:
        """Switch a rule on or off at runtime; its counters are kept."""
        self._states[rule_id].enabled = enabled

    def reset(self, rule_id: str) -> None:
        """Forget a rule's counters and active faults, and reseed its random streams.

        A spent ``at_s`` moment stays spent: its time of the session has passed.
        """
        self._states[rule_id].buckets.clear()

    def stats(self) -> list[dict[str, Any]]:
        """Per rule, in load order: counters summed over all its buckets."""
        return [
            {
                "id": rule_id,
                "enabled": state.enabled,
                "attempts": sum(bucket.attempts for bucket in state.buckets.values()),
                "hits": sum(bucket.hits for bucket in state.buckets.values()),
                "active": sum(bucket.active for bucket in state.buckets.values()),
                "source": state.rule.source,
            }
            for rule_id, state in self._states.items()
        ]

    def replace_rules(self, rules: Iterable[Rule]) -> None:
        """Install reloaded rules; a rule equal to its previous definition keeps its state.

        Kept state includes a runtime :meth:`set_enabled` switch; a changed or new rule
        starts fresh from its ``enabled`` field. The session start is unchanged.
        """
        states: dict[str, _RuleState] = {}
        for rule in rules:
            if rule.id in states:
                raise ValueError(f"duplicate rule id {rule.id!r}")
            state = self._states.get(rule.id)
            if state is None or state.rule != rule:
                state = _RuleState(rule, rule.enabled)
            states[rule.id] = state
        self._states = states
