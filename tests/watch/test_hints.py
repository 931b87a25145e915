"""Hints: every failure gets one (completeness of the tables) and the most specific one wins."""

from __future__ import annotations

import pytest
from wswatchlib.watch.handshake import Outcome, Problem
from wswatchlib.watch.hints import (
    ABNORMAL_HINTS,
    CLIENT_HUNG_UP_AT_ONCE_HINT,
    CLIENT_HUNG_UP_AT_ONCE_S,
    CLOSE_CODE_HINTS,
    FAILURE_HINTS,
    HTML_OK_HINT,
    PROBLEM_HINTS,
    RAW_TCP_HINT,
    STATUS_CLASS_HINTS,
    STATUS_HINTS,
    VIOLATION_HINTS,
    close_hint,
    close_meaning,
    handshake_hint,
)
from wswatchlib.watch.network_errors import FailureKind
from wswatchlib.watch.vendors import (
    DEFAULT_VENDORS_PATH,
    VendorCatalog,
    VendorProfile,
    load_catalog,
)
from wswatchlib.watch.violations import Violation


@pytest.fixture(scope="module")
def catalog() -> VendorCatalog:
    """The catalog shipped in config/vendors.yaml."""
    return load_catalog(DEFAULT_VENDORS_PATH)


@pytest.fixture(scope="module")
def deepgram(catalog: VendorCatalog) -> VendorProfile:
    """The shipped Deepgram profile."""
    [profile] = [v for v in catalog.vendors if v.id == "deepgram"]
    return profile


def rejected(
    catalog: VendorCatalog,
    vendor: VendorProfile | None,
    status: int,
    *,
    error: str | None = None,
    content_type: str = "",
    problems: tuple[Problem, ...] = (),
) -> str | None:
    """The hint for a rejected handshake."""
    return handshake_hint(
        catalog, vendor, Outcome.REJECTED, status, content_type, error, problems, None
    )


# --- completeness -------------------------------------------------------------------------------


def test_every_problem_has_a_hint() -> None:
    """PROBLEM_HINTS has a non-empty entry for every Problem."""
    assert set(PROBLEM_HINTS) == set(Problem)
    assert all(PROBLEM_HINTS.values())


def test_every_failure_kind_has_a_hint() -> None:
    """FAILURE_HINTS has a non-empty entry for every FailureKind."""
    assert set(FAILURE_HINTS) == set(FailureKind)
    assert all(FAILURE_HINTS.values())


def test_every_rfc_close_code_has_a_hint() -> None:
    """CLOSE_CODE_HINTS names every code of the RFC 6455 / IANA range 1000-1015."""
    assert sorted(CLOSE_CODE_HINTS) == list(range(1000, 1016))
    assert all(CLOSE_CODE_HINTS.values())


def test_every_rejection_status_gets_a_hint(catalog: VendorCatalog) -> None:
    """Every status 300-599 of a rejected handshake gets a non-empty hint, listed or by class."""
    missing = [status for status in range(300, 600) if not rejected(catalog, None, status)]
    assert missing == []


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (404, STATUS_HINTS[404]),
        (418, STATUS_CLASS_HINTS[4]),
        (399, STATUS_CLASS_HINTS[3]),
        (599, STATUS_CLASS_HINTS[5]),
        (100, STATUS_CLASS_HINTS[1]),
        (299, STATUS_CLASS_HINTS[2]),
    ],
)
def test_status_hint_table_then_class_fallback(
    catalog: VendorCatalog, status: int, expected: str
) -> None:
    """A listed status gets its own hint; an unlisted one its class's hint."""
    assert rejected(catalog, None, status) == expected


def test_every_clean_close_code_but_1000_gets_a_hint() -> None:
    """Every clean close with a code 1001-4999 gets a non-empty hint."""
    missing = [
        code for code in range(1001, 5000) if not close_hint(None, code, None, True, "server")
    ]
    assert missing == []


@pytest.mark.parametrize(
    ("code", "start"),
    [
        (1004, "Reserved code 1004"),
        (1016, "A code reserved for future RFC use"),
        (2999, "A code reserved for future RFC use"),
        (3000, "A registered library or framework code"),
        (4000, "An application-defined code"),
        (4999, "An application-defined code"),
        (999, "Close code outside 1000-4999"),
        (5000, "Close code outside 1000-4999"),
    ],
)
def test_close_hint_by_code_range(code: int, start: str) -> None:
    """Codes without a table entry get the hint of their range; codes outside every range too."""
    hint = close_hint(None, code, None, True, "server")
    assert hint is not None and hint.startswith(start)


def test_abnormal_hints_cover_every_closer() -> None:
    """ABNORMAL_HINTS has an entry for the client, the server, the proxy and an unknown closer."""
    assert set(ABNORMAL_HINTS) == {"client", "server", "proxy", None}
    assert all(ABNORMAL_HINTS.values())


# --- handshake precedence -----------------------------------------------------------------------


def test_accepted_handshake_has_no_hint(catalog: VendorCatalog, deepgram: VendorProfile) -> None:
    """An accepted handshake needs no hint, whatever else is known."""
    assert (
        handshake_hint(
            catalog, deepgram, Outcome.ACCEPTED, 101, "", "Invalid credentials", (), None
        )
        is None
    )


def test_vendor_error_hint_beats_vendor_status_hint(
    catalog: VendorCatalog, deepgram: VendorProfile
) -> None:
    """Deepgram's 'Invalid credentials' error hint (any case) wins over its 401 status hint."""
    assert (
        rejected(catalog, deepgram, 401, error="INVALID CREDENTIALS.")
        == (deepgram.error_hints[0][1])
    )
    assert deepgram.error_hints[0][1] != deepgram.status_hints[401]


def test_vendor_status_hint_beats_generic_status_hint(
    catalog: VendorCatalog, deepgram: VendorProfile
) -> None:
    """A vendor's own 401 hint wins over the generic 401 hint when the error text is unknown."""
    assert rejected(catalog, deepgram, 401, error="something else") == deepgram.status_hints[401]
    assert deepgram.status_hints[401] != STATUS_HINTS[401]


def test_vendor_status_hint_beats_problem_hint(
    catalog: VendorCatalog, deepgram: VendorProfile
) -> None:
    """A vendor's status hint wins over an RFC problem of the request."""
    hint = rejected(catalog, deepgram, 400, problems=(Problem.REQUEST_BAD_VERSION,))
    assert hint == deepgram.status_hints[400]


def test_problem_hint_beats_generic_status_hint(catalog: VendorCatalog) -> None:
    """Without a vendor, the request's first RFC problem explains a rejection."""
    hint = rejected(
        catalog, None, 400, problems=(Problem.REQUEST_BAD_VERSION, Problem.REQUEST_MISSING_KEY)
    )
    assert hint == PROBLEM_HINTS[Problem.REQUEST_BAD_VERSION]


def test_generic_status_hint_without_vendor(catalog: VendorCatalog) -> None:
    """Without a vendor a 401 gets the generic 401 hint."""
    assert rejected(catalog, None, 401) == STATUS_HINTS[401]


def test_invalid_handshake_gets_its_problem_hint(catalog: VendorCatalog) -> None:
    """An invalid 101 is explained by its first problem."""
    hint = handshake_hint(
        catalog, None, Outcome.INVALID, 101, "", None, (Problem.RESPONSE_BAD_ACCEPT,), None
    )
    assert hint == PROBLEM_HINTS[Problem.RESPONSE_BAD_ACCEPT]


@pytest.mark.parametrize("kind", list(FailureKind))
def test_failed_handshake_gets_its_failure_hint(catalog: VendorCatalog, kind: FailureKind) -> None:
    """A failed attempt is explained by its failure kind."""
    hint = handshake_hint(catalog, None, Outcome.FAILED, None, "", "text", (), kind)
    assert hint == FAILURE_HINTS[kind]


@pytest.mark.parametrize(
    ("waited_s", "expected"),
    [
        (0.0005, CLIENT_HUNG_UP_AT_ONCE_HINT),
        (CLIENT_HUNG_UP_AT_ONCE_S - 0.01, CLIENT_HUNG_UP_AT_ONCE_HINT),
        (CLIENT_HUNG_UP_AT_ONCE_S, FAILURE_HINTS[FailureKind.CLIENT_GAVE_UP]),
        (30.0, FAILURE_HINTS[FailureKind.CLIENT_GAVE_UP]),
        (None, FAILURE_HINTS[FailureKind.CLIENT_GAVE_UP]),
    ],
)
def test_client_that_hung_up_at_once_is_not_blamed_on_the_upstream(
    catalog: VendorCatalog, waited_s: float | None, expected: str
) -> None:
    """client_gave_up after 0.5 ms points at the client; after waiting, at a silent upstream."""
    hint = handshake_hint(
        catalog,
        None,
        Outcome.FAILED,
        None,
        "",
        None,
        (),
        FailureKind.CLIENT_GAVE_UP,
        waited_s=waited_s,
    )
    assert hint == expected


def test_failed_handshake_without_kind_gets_other_hint(catalog: VendorCatalog) -> None:
    """A failure without a classified kind falls back to the OTHER hint."""
    hint = handshake_hint(catalog, None, Outcome.FAILED, None, "", None, (), None)
    assert hint == FAILURE_HINTS[FailureKind.OTHER]


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("text/html; charset=utf-8", HTML_OK_HINT),
        ("TEXT/HTML", HTML_OK_HINT),
        ("application/json", STATUS_HINTS[200]),
        ("", STATUS_HINTS[200]),
    ],
)
def test_200_hint_depends_on_html(catalog: VendorCatalog, content_type: str, expected: str) -> None:
    """A 200 with an HTML body gets the captive-portal hint, any other 200 the plain one."""
    assert rejected(catalog, None, 200, content_type=content_type) == expected


# --- close precedence ---------------------------------------------------------------------------


def test_normal_close_has_no_hint() -> None:
    """A clean close with 1000 needs no hint."""
    assert close_hint(None, 1000, "bye", True, "client") is None


def test_clean_close_without_code_has_no_hint() -> None:
    """A clean close frame without a code has nothing to explain by code."""
    assert close_hint(None, None, None, True, "server") is None


def test_vendor_close_reason_beats_close_code(deepgram: VendorProfile) -> None:
    """Deepgram's NET-0001 reason hint (KeepAlive) wins over its 1011 close-code hint."""
    hint = close_hint(deepgram, 1011, "NET-0001: no audio received", True, "server")
    assert hint == dict(deepgram.close_reason_hints)["NET-0001"]
    assert "KeepAlive" in hint
    assert hint != deepgram.close_codes[1011].hint


def test_vendor_close_code_hint_beats_generic(deepgram: VendorProfile) -> None:
    """Deepgram's own 1008 hint wins over the generic 1008 hint."""
    assert close_hint(deepgram, 1008, None, True, "server") == deepgram.close_codes[1008].hint


def test_vendor_close_code_without_hint_uses_meaning(catalog: VendorCatalog) -> None:
    """A vendor close code without a hint is explained by the vendor name and its meaning."""
    [discord] = [v for v in catalog.vendors if v.id == "discord"]
    hint = close_hint(discord, 4001, None, True, "server")
    assert hint == "Discord Gateway: unknown opcode sent."


def test_generic_close_code_hint_without_vendor() -> None:
    """Without a vendor a 1011 gets the generic 1011 hint."""
    assert close_hint(None, 1011, "oops", True, "server") == CLOSE_CODE_HINTS[1011]


@pytest.mark.parametrize("closed_by", ["client", "server", "proxy", None, "elsewhere"])
def test_unclean_close_gets_abnormal_hint_by_closer(
    deepgram: VendorProfile, closed_by: str | None
) -> None:
    """An unclean close is explained by who closed it, whatever the vendor or reason say."""
    expected = ABNORMAL_HINTS[closed_by if closed_by in ABNORMAL_HINTS else None]
    assert close_hint(deepgram, 1006, "NET-0001", False, closed_by) == expected


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (None, None),
        (1011, "server-side timeout or error (NET-0000 / NET-0001)"),
        (1001, CLOSE_CODE_HINTS[1001]),
        (4321, None),
    ],
)
def test_close_meaning_vendor_first(
    deepgram: VendorProfile, code: int | None, expected: str | None
) -> None:
    """A close code's meaning is the vendor's own, else the generic table's, else None."""
    assert close_meaning(deepgram, code) == expected


# --- protocol violations and raw TCP relays -----------------------------------------------------


@pytest.mark.parametrize("violation", list(Violation))
def test_every_violation_has_a_hint_naming_the_side(violation: Violation) -> None:
    """VIOLATION_HINTS covers every Violation, and each hint names the side that broke the rule."""
    side = "client" if violation is Violation.CLIENT_UNMASKED_FRAME else "server"
    hint = close_hint(None, 1002, "x", True, "proxy", violation=violation, violated_by=side)
    assert hint and "{" not in hint
    assert hint.startswith(f"The {side} ")


def test_violation_hint_beats_vendor_close_reason(deepgram: VendorProfile) -> None:
    """A close the proxy sent for a broken rule is explained by the rule, not by vendor text."""
    hint = close_hint(
        deepgram,
        1002,
        "NET-0001",
        True,
        "proxy",
        violation=Violation.INVALID_OPCODE,
        violated_by="client",
    )
    assert hint == VIOLATION_HINTS[Violation.INVALID_OPCODE].format(side="client")


def test_raw_tcp_relay_gets_raw_tcp_hint_not_abnormal_hint() -> None:
    """A relay without frames has no close code; its hint says why, not 'dropped without close'."""
    assert close_hint(None, None, None, False, None, raw_tcp=True) == RAW_TCP_HINT
