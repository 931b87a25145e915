"""Fleet identity: the default proxy id, the run id's format and order, the stamp's numbering."""

from __future__ import annotations

import uuid

import pytest
from wswatchlib.fleet.identity import FLEET_KEYS, FleetStamp, default_proxy_id, new_run_id


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [("buildbox-3", 8080, "buildbox-3:8080"), ("runner", 41235, "runner:41235"), ("h", None, "h")],
)
def test_default_proxy_id_is_host_and_port(host: str, port: int | None, expected: str) -> None:
    """HOST:PORT, or the host name alone when the proxy has no port."""
    assert default_proxy_id(host, port) == expected


def test_run_id_is_a_uuid7_carrying_its_start_time() -> None:
    """A run id parses as an RFC 9562 UUID version 7 whose first 48 bits are the start in ms."""
    run_id = new_run_id(1_763_700_000_123, (1 << 74) - 1)
    parsed = uuid.UUID(run_id)
    assert (parsed.version, parsed.variant) == (7, uuid.RFC_4122)
    assert parsed.int >> 80 == 1_763_700_000_123
    assert str(parsed) == run_id


def test_run_ids_sort_by_start_time_whatever_their_random_bits() -> None:
    """A later start sorts after an earlier one as text, so a pipeline can order runs."""
    earlier = new_run_id(1_000, (1 << 74) - 1)
    later = new_run_id(1_001, 0)
    assert earlier < later


def test_run_ids_of_the_same_millisecond_differ_by_their_random_bits() -> None:
    """Two proxies started in the same millisecond still get different run ids."""
    assert new_run_id(5, 1) != new_run_id(5, 2)


def test_stamp_numbers_events_from_one_with_the_same_run_and_proxy() -> None:
    """seq is 1, 2, 3 in stamping order; proxy_id and run_id are the same on every event."""
    stamp = FleetStamp("run-1", lambda: "host:8080")
    stamped = [stamp(None, "", {"event": name}) for name in ("a", "b", "c")]
    assert [tuple(event[key] for key in FLEET_KEYS) for event in stamped] == [
        ("host:8080", "run-1", 1),
        ("host:8080", "run-1", 2),
        ("host:8080", "run-1", 3),
    ]
    assert stamp.last_seq == 3


def test_default_proxy_id_is_decided_once_at_the_first_event() -> None:
    """The default is asked for once (the port is known by then) and kept for the run."""
    asked: list[int] = []

    def proxy_id() -> str:
        asked.append(1)
        return f"host:{len(asked)}"

    stamp = FleetStamp("run-1", proxy_id)
    assert asked == []
    ids = [stamp(None, "", {})["proxy_id"] for _ in range(3)]
    assert ids == ["host:1"] * 3 and asked == [1]


def test_option_overrides_the_default_from_the_next_event_and_unset_restores_it() -> None:
    """wswatch_proxy_id wins while set; emptied, the default decided earlier comes back."""
    stamp = FleetStamp("run-1", lambda: "host:8080")
    first = stamp(None, "", {})["proxy_id"]
    stamp.override = "edge-eu-1"
    second = stamp(None, "", {})["proxy_id"]
    stamp.override = ""
    third = stamp(None, "", {})
    assert [first, second, third["proxy_id"]] == ["host:8080", "edge-eu-1", "host:8080"]
    assert third["seq"] == 3


def test_an_event_whose_proxy_id_cannot_be_decided_takes_no_number() -> None:
    """A failure deciding the proxy id raises before counting, so the next event is still 1."""
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise OSError("no host name")
        return "host:1"

    stamp = FleetStamp("run-1", flaky)
    with pytest.raises(OSError, match="no host name"):
        stamp(None, "", {})
    assert stamp(None, "", {})["seq"] == 1
