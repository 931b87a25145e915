"""What each fault does, decided in `faults/effects.py` with no proxy and no real time: every
timing decision takes a clock reading, here a fake one."""

from __future__ import annotations

import base64
import hashlib
import random
import re

import pytest
from wswatchlib.faults import effects
from wswatchlib.faults.matching import MessageMatch
from wswatchlib.faults.spec import (
    Bad101,
    Bad101Defect,
    Close,
    CloseBeforeAnswer,
    Delay,
    Direction,
    Drop,
    Hang,
    Html,
    MessageFault,
    MessageOp,
    MessageType,
    PongFault,
    PongOp,
    Redirect,
    Reject,
    Reset,
    Stall,
    Throttle,
    Toward,
)
from wswatchlib.watch.network_errors import InjectedEnd


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# Handshake faults ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "effect"),
    [
        (
            Reject(429, "Slow down", (("Retry-After", "3"),), "later"),
            effects.Respond(429, "later", (("Retry-After", "3"),), "Slow down"),
        ),
        (
            Html(200, "<p>portal</p>"),
            effects.Respond(200, "<p>portal</p>", (("content-type", "text/html; charset=utf-8"),)),
        ),
        (
            Redirect("wss://elsewhere/", 307),
            effects.Respond(307, "", (("location", "wss://elsewhere/"),)),
        ),
        (Delay(1500), effects.Wait(1.5)),
        (Hang(30), effects.HoldRequest(30)),
        (Hang(), effects.HoldRequest(None)),
        (Reset(), effects.EndConnection(InjectedEnd.RESET, reset=True)),
        (CloseBeforeAnswer(), effects.EndConnection(InjectedEnd.CLOSE)),
        (
            Bad101(Bad101Defect.WRONG_ACCEPT),
            effects.Spoil101(Bad101(Bad101Defect.WRONG_ACCEPT)),
        ),
    ],
    ids=["reject", "html", "redirect", "delay", "hang", "hang-forever", "reset", "close", "101"],
)
def test_each_handshake_action_has_one_effect(action, effect) -> None:
    assert effects.handshake_effect(action, random.Random(0)) == effect


def test_delay_jitter_stays_within_its_bound_and_repeats_with_the_seed() -> None:
    """jitter_ms adds 0..jitter_ms; the same seed draws the same waits."""
    action = Delay(1000, jitter_ms=200)
    first = [effects.handshake_effect(action, rng) for rng in [random.Random(7)] * 20]
    again = [effects.handshake_effect(action, rng) for rng in [random.Random(7)] * 20]
    waits = [effect.seconds for effect in first if isinstance(effect, effects.Wait)]
    assert len(waits) == 20 and all(1.0 <= wait <= 1.2 for wait in waits)
    assert len(set(waits)) > 1 and first == again


def test_a_connection_action_is_not_a_handshake_effect() -> None:
    with pytest.raises(ValueError, match="close is not a handshake action"):
        effects.handshake_effect(Close(4001), random.Random(0))


@pytest.mark.parametrize(
    ("now", "client_gone", "outcome"),
    [
        (100.0, False, effects.HoldOutcome.HOLDING),
        (104.9, False, effects.HoldOutcome.HOLDING),
        (105.0, False, effects.HoldOutcome.EXPIRED),
        (104.0, True, effects.HoldOutcome.CLIENT_GAVE_UP),
        (106.0, True, effects.HoldOutcome.CLIENT_GAVE_UP),
    ],
)
def test_a_held_request_ends_when_the_client_goes_or_its_deadline_passes(
    now, client_gone, outcome
) -> None:
    """hang max_s=5 from t=100: held until 105, unless the client gives up first."""
    assert effects.hold_outcome(now, 105.0, client_gone) is outcome


def test_a_hang_without_limit_holds_until_the_client_goes() -> None:
    assert effects.hold_outcome(10**9, None, False) is effects.HoldOutcome.HOLDING
    assert effects.hold_outcome(10**9, None, True) is effects.HoldOutcome.CLIENT_GAVE_UP


@pytest.mark.parametrize(
    ("defect", "subprotocol", "edits"),
    [
        (Bad101Defect.WRONG_ACCEPT, None, (("Sec-WebSocket-Accept", effects.WRONG_ACCEPT),)),
        (Bad101Defect.MISSING_UPGRADE, None, (("Upgrade", None),)),
        (Bad101Defect.MISSING_CONNECTION, None, (("Connection", None),)),
        (Bad101Defect.UNREQUESTED_SUBPROTOCOL, "chat", (("Sec-WebSocket-Protocol", "chat"),)),
        (
            Bad101Defect.UNREQUESTED_SUBPROTOCOL,
            None,
            (("Sec-WebSocket-Protocol", "wswatch-unrequested"),),
        ),
    ],
)
def test_each_101_defect_is_one_header_edit(defect, subprotocol, edits) -> None:
    assert effects.spoiled_101(Bad101(defect, subprotocol)) == edits


def test_the_wrong_accept_has_a_real_ones_shape_but_not_its_value() -> None:
    """20 bytes of base64 like a real accept (RFC 6455 section 4.2.2), so a client that only
    checks the shape takes it: only the value is wrong."""
    key = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 section 1.3's example key
    real = base64.b64encode(
        hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
    ).decode()
    assert real == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert len(base64.b64decode(effects.WRONG_ACCEPT)) == 20 and real != effects.WRONG_ACCEPT


# Connection faults: when they fire -------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "seconds", "from_start"),
    [
        (Close(4001, after_s=2.5), 2.5, False),
        (Drop(after_messages=3), None, False),
        (Stall(Direction.BOTH), None, True),
        (Stall(Direction.BOTH, after_s=1.0, for_s=3.0), 1.0, False),
        (Stall(Direction.BOTH, after_messages=2), None, False),
        (Throttle(1000), None, False),
    ],
)
def test_timers_and_stalls_from_the_start(action, seconds, from_start) -> None:
    assert effects.timer_s(action) == seconds
    assert effects.stalls_from_start(action) is from_start


@pytest.mark.parametrize(
    ("action", "fires_at"),
    [
        (Close(4001, after_messages=3), 3),
        (Drop(after_messages=1), 1),
        (Stall(Direction.BOTH, after_messages=2), 2),
    ],
)
def test_after_messages_fires_on_the_nth_message_and_after(action, fires_at) -> None:
    fired = [effects.fires_on_message(action, count) for count in range(1, 6)]
    assert fired == [count >= fires_at for count in range(1, 6)]


@pytest.mark.parametrize("action", [Close(4001, after_s=1.0), Drop(), Throttle(10)])
def test_without_after_messages_no_message_fires_it(action) -> None:
    assert not any(effects.fires_on_message(action, count) for count in range(1, 100))


@pytest.mark.parametrize(
    ("action", "close"),
    [
        (Close(4001, "bye"), effects.CloseWith(4001, "bye", as_client=False)),
        (Close(4001, "bye", toward=Toward.CLIENT), effects.CloseWith(4001, "bye", False)),
        (Close(1011, "NET", toward=Toward.SERVER), effects.CloseWith(1011, "NET", True)),
        (Drop(), effects.CloseWith(1006, "", as_client=False)),
    ],
)
def test_close_and_drop_effects(action, close) -> None:
    """A close toward the server acts as the client; a drop is 1006, no frame."""
    assert effects.close_effect(action) == close


def test_a_stall_with_an_end_keeps_what_it_holds_one_without_swallows_it() -> None:
    clock = FakeClock()
    window = effects.StallWindow()
    assert not window.holding
    window.start(clock(), for_s=3.0)
    assert window.holding and window.keeps_held and window.until == 103.0
    window.end()
    assert not window.holding
    window.start(clock(), for_s=None)
    assert window.holding and not window.keeps_held


def test_throttle_paces_messages_to_its_rate_with_a_fake_clock() -> None:
    """2000 B/s: three 1000-byte messages at once leave at 0, 0.5 and 1.0 s; one arriving
    after the backlog cleared leaves at once."""
    clock = FakeClock(0.0)
    pacer = effects.Pacer(2000)
    waits = [pacer.wait_s(clock(), 1000) for _ in range(3)]
    assert waits == [0.0, 0.5, 1.0]
    clock.now = 5.0
    assert pacer.wait_s(clock(), 1000) == 0.0
    clock.now = 5.2  # the previous one's half second is not over
    assert pacer.wait_s(clock(), 1000) == pytest.approx(0.3)


@pytest.mark.parametrize(
    ("direction", "from_client", "covered"),
    [
        (Direction.BOTH, True, True),
        (Direction.BOTH, False, True),
        (Direction.CLIENT_TO_SERVER, True, True),
        (Direction.CLIENT_TO_SERVER, False, False),
        (Direction.SERVER_TO_CLIENT, True, False),
        (Direction.SERVER_TO_CLIENT, False, True),
    ],
)
def test_direction_covers(direction, from_client, covered) -> None:
    assert effects.covers(direction, from_client) is covered


# Message faults --------------------------------------------------------------------------------


def _text(content: str, from_client: bool = True) -> effects.MessageFacts:
    return effects.MessageFacts(from_client, True, content.encode())


def _never() -> bool:
    raise AssertionError("sampled though the probability is 1")


@pytest.mark.parametrize(
    ("action", "effect"),
    [
        (MessageFault(MessageOp.DROP), effects.DROP),
        (MessageFault(MessageOp.DUPLICATE), effects.DUPLICATE),
        (MessageFault(MessageOp.TRUNCATE, truncate_to=2), effects.Rewrite(b"he")),
        (MessageFault(MessageOp.DELAY, delay_ms=250), effects.DelayBy(0.25)),
    ],
)
def test_each_message_op_has_one_effect(action, effect) -> None:
    assert effects.message_effect(action, _text("hello"), _never, random.Random(0)) == effect


def test_corrupt_rewrites_with_flipped_bytes() -> None:
    facts = effects.MessageFacts(False, False, bytes(128))
    effect = effects.message_effect(
        MessageFault(MessageOp.CORRUPT), facts, _never, random.Random(0)
    )
    assert isinstance(effect, effects.Rewrite)
    assert len(effect.content) == 128 and effect.content.count(0xFF) == 2


@pytest.mark.parametrize(
    ("action", "facts"),
    [
        (MessageFault(MessageOp.DROP, direction=Direction.SERVER_TO_CLIENT), _text("hi")),
        (MessageFault(MessageOp.DROP, type=MessageType.BINARY), _text("hi")),
        (
            MessageFault(MessageOp.DROP, type=MessageType.TEXT),
            effects.MessageFacts(True, False, b"hi"),
        ),
        (MessageFault(MessageOp.DROP, pattern=re.compile("^KeepAlive")), _text("hello")),
        (
            MessageFault(
                MessageOp.DROP, match=MessageMatch(json={"type": "KeepAlive"}, has_json=True)
            ),
            _text('{"type": "Results"}'),
        ),
    ],
    ids=["direction", "type-binary", "type-text", "pattern", "match"],
)
def test_a_message_the_action_does_not_select_passes_unsampled(action, facts) -> None:
    assert effects.message_effect(action, facts, _never, random.Random(0)) is effects.PASS


def test_a_json_match_selects_as_a_scripts_wait_does() -> None:
    keepalive = MessageMatch(json={"type": "KeepAlive"}, has_json=True)
    action = MessageFault(MessageOp.DROP, match=keepalive)
    facts = _text('{"type": "KeepAlive", "ts": 1}')
    assert effects.message_effect(action, facts, _never, random.Random(0)) is effects.DROP


def test_a_binary_pattern_is_searched_in_latin_1() -> None:
    action = MessageFault(MessageOp.DROP, pattern=re.compile("\xff\x00end"))
    facts = effects.MessageFacts(True, False, b"start\xff\x00end")
    assert effects.message_effect(action, facts, _never, random.Random(0)) is effects.DROP


def test_probability_below_one_asks_the_sample_once_per_selected_message() -> None:
    draws = iter([True, False])
    asked: list[bool] = []

    def sample() -> bool:
        asked.append(True)
        return next(draws)

    action = MessageFault(MessageOp.DROP, probability=0.5, pattern=re.compile("x"))
    rng = random.Random(0)
    assert effects.message_effect(action, _text("x1"), sample, rng) is effects.DROP
    assert effects.message_effect(action, _text("y"), sample, rng) is effects.PASS
    assert effects.message_effect(action, _text("x2"), sample, rng) is effects.PASS
    assert len(asked) == 2


@pytest.mark.parametrize(
    ("action", "hold_s"),
    [
        (PongFault(PongOp.SUPPRESS), None),
        (PongFault(PongOp.DELAY, delay_ms=400), 0.4),
    ],
)
def test_pongs_are_swallowed_or_held(action, hold_s) -> None:
    assert effects.pong_hold_s(action) == hold_s
