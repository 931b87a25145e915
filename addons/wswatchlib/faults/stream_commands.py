"""Addon: speak into open connections now, from mitmweb's command bar, the console or a script.

- `wswatch.send FILTER DIRECTION TEXT` sends TEXT (a template: `{{uuid}}`, `{{now_ms}}`,
  `{{handshake.query.NAME}}`...) to the `client` or the `server` of every open WebSocket the
  mitmproxy flow filter selects;
- `wswatch.preset FILTER NAME` runs a script preset on each of them.

Both answer with how many connections they reached. They act through the same script runs as
rules (`scripted.py`), so each logs `fault.injected` per step, with `rule_id` the command's
name, and `ws.closed` counts what they sent in `injected_messages`. A connection on the
observe-only relay has no message layer to send into: it is skipped, and the log says how to
give such connections the message layer.
"""

from __future__ import annotations

import logging

from mitmproxy import command, exceptions, flowfilter

from .connection_faults import ConnectionFaults
from .rulebook import ArmedFault, FaultRules
from .rules import load_presets
from .script_rules import SCRIPT_PRESET_KEY, is_script_preset
from .spec import Script
from .steps import BodyKind, Peer, Send
from .templates import parse_template

logger = logging.getLogger("wswatch")

#: The rule ids reported for what the commands injected.
SEND_COMMAND = "wswatch.send"
PRESET_COMMAND = "wswatch.preset"


class StreamCommands:
    def __init__(self, rules: FaultRules, connections: ConnectionFaults) -> None:
        self.rules = rules
        self.connections = connections

    @command.command("wswatch.send")
    def send(self, flow_filter: str, direction: str, text: str) -> int:
        """Send TEXT now to the client or the server of every open WebSocket FILTER selects."""
        selects = _filter(SEND_COMMAND, flow_filter)
        try:
            to = Peer(direction)
        except ValueError:
            raise exceptions.CommandError(
                f"{SEND_COMMAND}: DIRECTION must be client or server, got {direction!r}"
            ) from None
        try:
            template = parse_template(text)
        except ValueError as error:
            raise exceptions.CommandError(f"{SEND_COMMAND}: {error}") from None
        script = Script(steps=(Send(to=to, kind=BodyKind.TEXT, body=template),))
        return self._run(SEND_COMMAND, selects, script)

    @command.command("wswatch.preset")
    def preset(self, flow_filter: str, name: str) -> int:
        """Run the script preset NAME now on every open WebSocket FILTER selects."""
        selects = _filter(PRESET_COMMAND, flow_filter)
        presets = self.rules.presets or load_presets()
        scripts = sorted(key for key, preset in presets.items() if is_script_preset(preset))
        if name not in scripts:
            raise exceptions.CommandError(
                f"{PRESET_COMMAND}: unknown script preset {name!r} (expected one of: "
                f"{', '.join(scripts)})"
            )
        script = Script(steps=presets[name][SCRIPT_PRESET_KEY], presets=(name,))
        return self._run(PRESET_COMMAND, selects, script)

    def _run(self, rule_id: str, selects: flowfilter.TFilter, script: Script) -> int:
        reached = 0
        for flow in self.connections.open_websockets():
            if selects(flow):
                client_ip = flow.client_conn.peername[0] if flow.client_conn.peername else ""
                self.connections.commanded.start(flow, ArmedFault(rule_id, script, client_ip))
                reached += 1
        skipped = sum(1 for flow in self.connections.observed_flows() if selects(flow))
        if skipped:
            logger.warning(
                f"{rule_id}: {skipped} matching WebSocket(s) on the observe-only relay have no "
                "message layer to send into; start wswatch with --set wswatch_relay=websocket "
                "(or load a rule matching them) to reach them"
            )
        logger.info(f"{rule_id}: reached {reached} WebSocket(s)")
        return reached


def _filter(command_name: str, text: str) -> flowfilter.TFilter:
    try:
        selects = flowfilter.parse(text)
    except ValueError as error:
        raise exceptions.CommandError(f"{command_name}: invalid FILTER {text!r}: {error}") from None
    if selects is None:
        raise exceptions.CommandError(f"{command_name}: invalid FILTER {text!r}")
    return selects
