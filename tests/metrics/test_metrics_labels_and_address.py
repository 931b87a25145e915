"""Label value rules, the wswatch_metrics address, and the documented metric table (pure)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from wswatchlib.metrics import labels
from wswatchlib.metrics.address import ListenAddress, parse_listen_address
from wswatchlib.metrics.catalog import CATALOG

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("status", "label"),
    [
        (101, "1xx"),
        (200, "2xx"),
        (301, "3xx"),
        (429, "4xx"),
        (503, "5xx"),
        (None, "none"),
        (600, "other"),
        (99, "other"),
        ("401", "other"),
        (True, "other"),
    ],
)
def test_status_class_is_the_first_digit_or_none_or_other(status: object, label: str) -> None:
    """RFC 9110's five classes; no answer is `none`; anything else `other`."""
    assert labels.status_class(status) == label


def test_bounded_names_keep_the_first_slots_and_refuse_what_is_not_a_name() -> None:
    """The first `slots` well-formed names keep theirs; later ones and malformed ones: `other`."""
    space = labels.BoundedNames(r"[a-z]+", 2)
    assert [space.label(v) for v in ("a", "b", "c", "a", "B", "", None, 7)] == [
        "a",
        "b",
        "other",
        "a",
        "other",
        "none",
        "none",
        "other",
    ]


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("127.0.0.1:9464", ListenAddress("127.0.0.1", 9464)),
        ("localhost:0", ListenAddress("localhost", 0)),
        ("[::1]:9464", ListenAddress("::1", 9464)),
    ],
)
def test_listen_address_parses_host_and_port(text: str, address: ListenAddress) -> None:
    """HOST:PORT, with IPv6 in brackets."""
    assert parse_listen_address(text) == address
    assert str(address) == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("9464", "expected HOST:PORT (e.g. 127.0.0.1:9464), got '9464'"),
        (":9464", "expected HOST:PORT (e.g. 127.0.0.1:9464), got ':9464'"),
        ("127.0.0.1:http", "the port must be a number from 0 to 65535, got 'http'"),
        ("127.0.0.1:70000", "the port must be a number from 0 to 65535, got '70000'"),
        ("::1:9464", "write an IPv6 address in brackets ([::1]:9464), got '::1:9464'"),
        ("user@host:9464", "the host must be a name or an IP address, got 'user@host'"),
    ],
)
def test_bad_listen_address_says_what_is_wrong(text: str, message: str) -> None:
    """Each malformed value is refused with the reason."""
    with pytest.raises(ValueError) as error:
        parse_listen_address(text)
    assert str(error.value) == message


def test_readme_metric_table_matches_the_catalog() -> None:
    """Every metric, its labels and type, exactly as the Metrics table says (docs/report-and-metrics.md)."""
    page = (REPO / "docs" / "report-and-metrics.md").read_text()
    section = page[page.index("## Metrics") : page.index("## Session report")]
    rows = re.findall(r"^\| `(wswatch_\w+)` \|([^|]*)\| (\w+) \|", section, re.M)
    documented = {name: (tuple(re.findall(r"`(\w+)`", names)), kind) for name, names, kind in rows}
    assert documented == {spec.exposed_name: (spec.labels, spec.kind.value) for spec in CATALOG}
