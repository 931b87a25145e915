"""When recorded server messages are due on a replayed connection, given the live client and a
clock: gating, timing, speed, the end, and memory that does not grow with the tape.

Times are floats passed in (epoch seconds); delays are multiples of 1/8 s so sums are exact.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
from wswatchlib.tapes.format import End, TapeEnd, TapeMessage
from wswatchlib.tapes.player import (
    Action,
    ClientExpectations,
    Finish,
    Gate,
    Send,
    TapePlayer,
    Wait,
)

OPENED = 1000.0

Line = TapeMessage | TapeEnd


def server(t_ms: float, text: str = "s") -> TapeMessage:
    return TapeMessage(t_ms, False, text=text)


def client(t_ms: float, size: int = 1) -> TapeMessage:
    return TapeMessage(t_ms, True, data=b"c" * size)


def closed(t_ms: float | None) -> TapeEnd:
    return TapeEnd(End.CLOSED, t_ms=t_ms, code=1000, reason="done", closed_by="server", clean=True)


def player(
    lines: list[Line] | Iterator[Line],
    gate: Gate = Gate.MESSAGES,
    speed: float = 1.0,
) -> TapePlayer:
    return TapePlayer(iter(lines), gate=gate, speed=speed, opened_at=OPENED)


def actions_at(tape: TapePlayer, now: float) -> list[Action]:
    """Everything the player does at `now`, up to and including the first Wait."""
    done: list[Action] = []
    while True:
        action = tape.next_action(now)
        done.append(action)
        if isinstance(action, Wait):
            return done


def test_messages_gate_waits_for_the_client_then_keeps_the_recorded_delay() -> None:
    """A server message waits (Wait(None)) until the live client has sent as many messages as
    the recording's had; then it comes the recorded delay after the client got there."""
    reply = server(500, "reply")
    tape = player([client(250), reply])
    assert tape.next_action(OPENED) == Wait(None)
    assert tape.next_action(OPENED + 60) == Wait(None)
    tape.client_sent(10, OPENED + 70)
    assert tape.next_action(OPENED + 70) == Wait(OPENED + 70.25)
    assert tape.next_action(OPENED + 70.125) == Wait(OPENED + 70.25)
    assert tape.next_action(OPENED + 70.25) == Send(reply)


def test_server_message_before_any_client_message_is_timed_from_the_open() -> None:
    """A greeting the server sent before the client said anything is due its recorded delay
    after the open."""
    greeting = server(375, "hello")
    tape = player([greeting, client(500)])
    assert tape.next_action(OPENED) == Wait(OPENED + 0.375)
    assert actions_at(tape, OPENED + 0.375) == [Send(greeting), Wait(None)]


def test_consecutive_server_messages_keep_their_spacing() -> None:
    """Server messages behind one gate keep their recorded spacing, measured from when the
    live client reached the gate."""
    first, second, third = server(500, "1"), server(750, "2"), server(1250, "3")
    tape = player([client(250), first, second, third, closed(1500)])
    tape.client_sent(1, OPENED + 4)
    assert actions_at(tape, OPENED + 4) == [Wait(OPENED + 4.25)]
    assert actions_at(tape, OPENED + 4.25) == [Send(first), Wait(OPENED + 4.5)]
    assert actions_at(tape, OPENED + 4.5) == [Send(second), Wait(OPENED + 5.0)]
    assert tape.next_action(OPENED + 5.0) == Send(third)
    assert tape.next_action(OPENED + 5.0) == Wait(OPENED + 5.25)
    assert tape.next_action(OPENED + 5.25) == Finish(closed(1500))


def test_a_late_caller_gets_everything_already_due_at_once() -> None:
    """Delays are from the gate, not from when the previous message was actually sent: a
    caller that comes late is not made to wait again."""
    lines: list[Line] = [client(250), server(500, "1"), server(750, "2"), closed(1000)]
    tape = player(lines)
    tape.client_sent(1, OPENED + 1)
    assert actions_at(tape, OPENED + 9) == [
        Send(server(500, "1")),
        Send(server(750, "2")),
        Finish(closed(1000)),
        Wait(None),
    ]


def test_each_gate_waits_for_its_own_count() -> None:
    """Each server message waits for the client messages recorded before it, and is timed
    from the live client message that met its gate."""
    lines: list[Line] = [client(0), server(125, "a"), client(1000), client(2000), server(2500, "b")]
    tape = player(lines)
    tape.client_sent(1, OPENED + 1)
    assert actions_at(tape, OPENED + 1.125) == [Send(server(125, "a")), Wait(None)]
    tape.client_sent(1, OPENED + 3)
    assert tape.next_action(OPENED + 3) == Wait(None)
    tape.client_sent(1, OPENED + 7)
    assert tape.next_action(OPENED + 7) == Wait(OPENED + 7.5)


def test_bytes_gate_counts_payload_bytes_however_the_client_chunks() -> None:
    """With the bytes gate, a server message waits for as many client payload bytes as were
    recorded before it, whatever the number of messages they came in."""
    reply = server(1125, "result")
    tape = player([client(0, 1000), client(1000, 1000), reply], gate=Gate.BYTES)
    for index in range(3):
        tape.client_sent(500, OPENED + index)
        assert tape.next_action(OPENED + index) == Wait(None), f"after {500 * (index + 1)} bytes"
    tape.client_sent(500, OPENED + 3)
    assert tape.next_action(OPENED + 3) == Wait(OPENED + 3.125)
    assert tape.next_action(OPENED + 3.125) == Send(reply)


def test_bytes_gate_met_by_one_big_message() -> None:
    """One live message carrying all the recorded bytes meets the gate at once."""
    reply = server(2000, "result")
    tape = player([client(0, 700), client(1000, 300), reply], gate=Gate.BYTES)
    tape.client_sent(1000, OPENED + 1)
    assert tape.next_action(OPENED + 1) == Wait(OPENED + 2)


def test_bytes_gate_counts_binary_and_digest_sizes_and_text_messages() -> None:
    """Binary data and a digest's length count as bytes; a text message counts as a message,
    whatever its length (control messages around an upload differ in length from run to run)."""
    lines: list[Line] = [
        TapeMessage(0, True, text="é, a long control message"),
        TapeMessage(0, True, data=b"abc"),
        TapeMessage(0, True, length=5, sha256="0" * 64),
        server(0, "reply"),
    ]
    tape = player(lines, gate=Gate.BYTES)
    tape.client_sent(8, OPENED)
    assert tape.next_action(OPENED) == Wait(None), "8 bytes, but no text message yet"
    tape.client_sent(2, OPENED + 1, is_text=True)
    assert tape.next_action(OPENED + 1) == Send(server(0, "reply"))


def test_messages_gate_ignores_sizes() -> None:
    """With the messages gate, one tiny live message stands for one big recorded one."""
    reply = server(250)
    tape = player([client(0, 100_000), reply])
    tape.client_sent(1, OPENED + 2)
    assert tape.next_action(OPENED + 2) == Wait(OPENED + 2.25)


def test_gate_none_plays_the_recorded_clock_whatever_the_client_does() -> None:
    """With no gate, server messages and the end are due at their recorded time from the open,
    whether the client sends nothing, or more, or later; its steps are not kept."""
    lines: list[Line] = [client(250), server(500, "a"), client(625), server(875, "b"), closed(1000)]
    silent, chatty = player(lines, Gate.NONE), player(lines, Gate.NONE)
    for index in range(10):
        chatty.client_sent(1000, OPENED + 0.125 * index)
    assert len(chatty._live_steps) == 0
    for tape in (silent, chatty):
        assert tape.next_action(OPENED) == Wait(OPENED + 0.5)
        assert actions_at(tape, OPENED + 0.5) == [Send(server(500, "a")), Wait(OPENED + 0.875)]
        assert actions_at(tape, OPENED + 0.875) == [Send(server(875, "b")), Wait(OPENED + 1.0)]
        assert tape.next_action(OPENED + 1.0) == Finish(closed(1000))


@pytest.mark.parametrize(
    ("speed", "due"),
    [(1.0, 0.5), (2.0, 0.25), (0.5, 1.0), (math.inf, 0.0)],
    ids=["recorded", "twice_as_fast", "half_speed", "no_delays"],
)
@pytest.mark.parametrize("gate", [Gate.MESSAGES, Gate.NONE])
def test_speed_divides_delays(gate: Gate, speed: float, due: float) -> None:
    """Delays are divided by `speed`: 2 halves them, math.inf sends as soon as the gate is
    met; the gate itself is not hurried."""
    reply = server(750, "reply")
    tape = player([client(250), reply], gate=gate, speed=speed)
    start = OPENED
    if gate is Gate.MESSAGES:
        assert tape.next_action(OPENED) == Wait(None)
        start = OPENED + 8
        tape.client_sent(1, start)
    else:
        due = due * 1.5  # 750 ms from the open, not 500 from the client's message
    expected: list[Action] = [Send(reply)] if due == 0 else [Wait(start + due), Send(reply)]
    got = [tape.next_action(start)]
    if due:
        got.append(tape.next_action(start + due))
    assert got == expected


def test_end_line_is_gated_timed_and_returned_once() -> None:
    """The recorded end waits for the client's messages recorded before it, comes its
    recorded delay later, is returned once as Finish(end), and then nothing more happens."""
    end = closed(1000)
    tape = player([client(250), server(375), client(500), end])
    tape.client_sent(1, OPENED + 1)
    assert actions_at(tape, OPENED + 1.125) == [Send(server(375)), Wait(None)]
    tape.client_sent(1, OPENED + 2)
    assert tape.next_action(OPENED + 2) == Wait(OPENED + 2.5)
    assert tape.next_action(OPENED + 2.5) == Finish(end)
    tape.client_sent(1, OPENED + 3)
    assert [tape.next_action(OPENED + 60) for _ in range(3)] == [Wait(None)] * 3


@pytest.mark.parametrize(
    "end",
    [
        TapeEnd(End.CLOSED, t_ms=None, code=1000),
        TapeEnd(End.HANDSHAKE),
        TapeEnd(End.ERROR, error="reset"),
    ],
    ids=["closed_without_time", "handshake", "error"],
)
def test_end_without_time_is_due_when_its_gate_is_met(end: TapeEnd) -> None:
    """An end line with no `t` is due the moment the client reaches its gate."""
    tape = player([client(250), end])
    assert tape.next_action(OPENED) == Wait(None)
    tape.client_sent(1, OPENED + 4)
    assert tape.next_action(OPENED + 4) == Finish(end)


def test_tape_without_end_line_finishes_as_a_drop() -> None:
    """A tape cut short (no end line) gives Finish(None) once its messages are played."""
    tape = player([server(250, "only")])
    assert actions_at(tape, OPENED + 0.25) == [Send(server(250, "only")), Finish(None), Wait(None)]


def test_cut_tape_waits_for_the_recorded_client_before_dropping() -> None:
    """The drop of a cut tape is gated by the client messages recorded before the cut."""
    tape = player([server(0, "hi"), client(250), client(500)])
    assert actions_at(tape, OPENED) == [Send(server(0, "hi")), Wait(None)]
    tape.client_sent(1, OPENED + 1)
    assert tape.next_action(OPENED + 1) == Wait(None)
    tape.client_sent(1, OPENED + 2)
    assert tape.next_action(OPENED + 2) == Finish(None)


def test_empty_tape_finishes_at_once() -> None:
    """A tape with no lines after its header drops at the open."""
    assert actions_at(player([]), OPENED) == [Finish(None), Wait(None)]


def test_client_ahead_gets_messages_due_from_when_it_crossed_each_gate() -> None:
    """A client that sent more than the recording's before the player looked gets each server
    message its recorded delay after the live message that met that message's gate."""
    lines: list[Line] = [
        client(250),
        server(500, "a"),
        client(750),
        client(1000),
        server(1250, "b"),
        closed(2000),
    ]
    tape = player(lines)
    for index, moment in enumerate((1.0, 2.0, 3.0, 4.0)):
        tape.client_sent(1, OPENED + moment)
        assert tape.live.messages == index + 1
    assert actions_at(tape, OPENED + 5) == [
        Send(server(500, "a")),  # gate 1 met at +1: due +1.25
        Send(server(1250, "b")),  # gate 3 met at +3: due +3.25
        Finish(closed(2000)),  # gate 3, 1000 ms after the gate: due +4
        Wait(None),
    ]


def test_client_ahead_in_bytes_meets_gates_mid_message() -> None:
    """With the bytes gate, the live message whose bytes carried the client past a gate is the
    one its server message is timed from."""
    lines: list[Line] = [client(0, 100), server(250, "a"), client(500, 100), server(750, "b")]
    tape = player(lines, gate=Gate.BYTES)
    tape.client_sent(150, OPENED + 1)
    tape.client_sent(10, OPENED + 2)
    tape.client_sent(40, OPENED + 3)
    assert tape.next_action(OPENED + 1.25) == Send(server(250, "a"))
    assert tape.next_action(OPENED + 1.25) == Wait(OPENED + 3.25)


def recorded_session(clients: int, reply_every: int, lag: int) -> Iterator[Line]:
    """A long recording, one line at a time: the client sends every 20 ms; every
    `reply_every`-th message gets an answer 50 ms later, written after the client messages
    sent meanwhile (`lag` of them); then a close."""
    for index in range(clients):
        yield client(index * 20.0, 100)
        answered = index - lag
        if answered >= 0 and answered % reply_every == 0:
            yield server(answered * 20.0 + 50, str(answered))
    for answered in range(max(clients - lag, 0), clients):
        if answered % reply_every == 0:
            yield server(answered * 20.0 + 50, str(answered))
    yield closed(clients * 20.0 + 100)


@pytest.mark.parametrize(
    ("clients", "reply_every", "lag", "gate"),
    [
        (50_000, 1, 2, Gate.MESSAGES),
        (50_000, 1, 2, Gate.BYTES),
        (99_900, 1000, 2, Gate.MESSAGES),
        (99_900, 1000, 2, Gate.BYTES),
    ],
    ids=["reply_each_messages", "reply_each_bytes", "sparse_messages", "sparse_bytes"],
)
def test_memory_stays_bounded_over_a_long_tape(
    clients: int, reply_every: int, lag: int, gate: Gate
) -> None:
    """A 100,000-line tape read from a generator, with a client keeping the recorded pace, is
    played whole while the player holds only a handful of unmatched client steps."""
    lines = recorded_session(clients, reply_every, lag)
    tape = TapePlayer(lines, gate=gate, speed=1.0, opened_at=OPENED)
    sends = [OPENED + index * 0.02 for index in range(clients)]
    next_send = 0
    now = OPENED
    sent, most_held = 0, 0
    while True:
        action = tape.next_action(now)
        if isinstance(action, Send):
            sent += 1
            continue
        if isinstance(action, Finish):
            break
        assert isinstance(action, Wait)
        client_due = sends[next_send] if next_send < len(sends) else None
        if client_due is not None and (action.until is None or client_due <= action.until):
            now = max(now, client_due)
            tape.client_sent(100, now)
            next_send += 1
        else:
            assert action.until is not None, "waiting on a client that has nothing left to send"
            now = action.until
        most_held = max(most_held, len(tape._live_steps))
    assert action == Finish(closed(clients * 20.0 + 100))
    assert sent == len(range(0, clients, reply_every))
    assert next_send == clients
    assert most_held <= 4, most_held
    assert next(lines, None) is None


def test_player_reads_lines_only_as_far_as_the_next_server_message() -> None:
    """Lines are pulled from the iterator one server message at a time, not read ahead."""
    pulled: list[int] = []

    def lines() -> Iterator[Line]:
        for index in range(1000):
            pulled.append(index)
            yield server(index * 1000.0, str(index))

    tape = TapePlayer(lines(), gate=Gate.NONE, speed=1.0, opened_at=OPENED)
    assert actions_at(tape, OPENED + 2.5) == [
        Send(server(0, "0")),
        Send(server(1000, "1")),
        Send(server(2000, "2")),
        Wait(OPENED + 3),
    ]
    assert pulled == [0, 1, 2, 3]


def test_client_expectations_give_recorded_client_messages_in_order_then_none() -> None:
    """Each call gives the next recorded client message, server lines and the end skipped;
    past the last, None, and the count stays at the number given."""
    first, second = TapeMessage(1, True, text="auth"), TapeMessage(2, True, data=b"audio")
    expected = ClientExpectations(iter([server(0), first, server(1.5), second, closed(3)]))
    assert (expected.next(), expected.count) == (first, 1)
    assert (expected.next(), expected.count) == (second, 2)
    assert (expected.next(), expected.next(), expected.count) == (None, None, 2)


def test_client_expectations_of_a_tape_without_client_messages() -> None:
    """A recording whose client sent nothing expects nothing."""
    expected = ClientExpectations(iter([server(0), closed(1)]))
    assert (expected.next(), expected.count) == (None, 0)
