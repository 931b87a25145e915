"""Which relay follows an accepted upgrade: the option, and what needs the message layer."""

from __future__ import annotations

import dataclasses

import pytest
from wswatchlib.relay.choice import MessageLayerUsers, Relay, choose_relay

NOBODY = MessageLayerUsers(
    fault_may_act=False, flow_detail=1, websocket_hooks=(), message_view=False, rawtcp=True
)


@pytest.mark.parametrize(
    ("requested", "change", "expected"),
    [
        (Relay.AUTO, {}, Relay.OBSERVE),
        (Relay.AUTO, {"fault_may_act": True}, Relay.WEBSOCKET),
        (Relay.AUTO, {"flow_detail": 3}, Relay.WEBSOCKET),
        (Relay.AUTO, {"websocket_hooks": ("Recorder",)}, Relay.WEBSOCKET),
        (Relay.AUTO, {"message_view": True}, Relay.WEBSOCKET),
        (Relay.OBSERVE, {"fault_may_act": True}, Relay.OBSERVE),
        (Relay.WEBSOCKET, {}, Relay.WEBSOCKET),
        (Relay.OBSERVE, {"rawtcp": False}, Relay.WEBSOCKET),
        (Relay.AUTO, {"rawtcp": False}, Relay.WEBSOCKET),
    ],
)
def test_relay_chosen_wrongly_for_what_needs_messages(requested, change, expected) -> None:
    """`auto` observes unless something needs messages; without rawtcp nothing can observe."""
    assert choose_relay(requested, dataclasses.replace(NOBODY, **change)) is expected
