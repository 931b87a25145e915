"""Label values: each from a closed set, a class, or a bounded space of well-formed names.

A label value becomes a time series for as long as the proxy runs, so nothing unbounded may
become one: no URL, path, query, client address, client id, request id or free text (a reason,
an error). Values from a fixed set are checked against it; anything else is `other`. Names that
come from configuration (a vendor profile id, a fault rule id, an upstream host) must look like
names and share a fixed number of slots: the first ones seen keep theirs, later ones are
`other`. A secret the redactor found is already gone from the events read here, and the name
patterns exclude its marker and any free text.
"""

from __future__ import annotations

import re
from typing import Any

#: A value outside the closed set, malformed, or past its space's slots.
OTHER = "other"
#: The event had no value (null): no HTTP answer, no close code, nobody known to have closed.
NONE = "none"


def status_class(status: Any) -> str:
    """`4xx` for 401 (RFC 9110 section 15: the first digit is the class); `none` for no answer."""
    if status is None:
        return NONE
    if isinstance(status, int) and not isinstance(status, bool) and 100 <= status <= 599:
        return f"{status // 100}xx"
    return OTHER


def boolean(value: Any) -> str:
    """`true` / `false`, as JSON writes them."""
    return "true" if value is True else "false"


def one_of(value: Any, allowed: frozenset[str]) -> str:
    """The value if it is one of `allowed`, `none` if null, else `other`."""
    if value is None:
        return NONE
    return value if isinstance(value, str) and value in allowed else OTHER


class BoundedNames:
    """Label values that must match `pattern`, at most `slots` distinct ones per space."""

    def __init__(self, pattern: str, slots: int) -> None:
        self.pattern = re.compile(pattern)
        self.slots = slots
        self.seen: set[str] = set()

    def label(self, value: Any) -> str:
        if value is None or value == "":
            return NONE
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not self.pattern.fullmatch(value):
            return OTHER
        if value in self.seen:
            return value
        if len(self.seen) >= self.slots:
            return OTHER
        self.seen.add(value)
        return value


def close_codes() -> BoundedNames:
    """Close codes RFC 6455 section 7.4 lets a frame carry (1000-4999): 4-digit numbers; peers
    choose 3000-4999 freely, so they share 64 slots."""
    return BoundedNames(r"[1-4][0-9]{3}", 64)


def vendors() -> BoundedNames:
    """Vendor profile ids (config/vendors.yaml keys)."""
    return BoundedNames(r"[a-z0-9][a-z0-9._-]{0,63}", 32)


def server_addresses() -> BoundedNames:
    """Upstream host names and IP literals, without port; 32 slots (one per upstream in reverse
    mode, the first 32 hosts clients asked for in regular mode)."""
    return BoundedNames(r"[a-z0-9][a-z0-9.:_-]{0,252}", 32)


def fault_rule_ids() -> BoundedNames:
    """Fault rule ids (faults/rules.py's id pattern) and `client-requested`."""
    return BoundedNames(r"[a-z0-9][a-z0-9._-]{0,63}", 64)


def fault_actions() -> BoundedNames:
    """Fault action kinds (`reject`, `close`, ...): a fixed set in faults/spec.py."""
    return BoundedNames(r"[a-z][a-z0-9_]{0,39}", 32)


def verdict_rules() -> BoundedNames:
    """Verdict rule names (`hot-loop`, `retry-after`, ...)."""
    return BoundedNames(r"[a-z][a-z0-9-]{0,39}", 32)
