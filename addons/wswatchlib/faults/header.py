"""Client-requested faults: a test asks for a fault on its own request with a header, like
Envoy's x-envoy-fault-* headers. Pure: header text in, validated action out.

    x-wswatch-fault: reject=503
    x-wswatch-fault: reject=deepgram-401
    x-wswatch-fault: delay=1500;jitter_ms=200
    x-wswatch-fault: close=4001;reason=bye;after_messages=2
    x-wswatch-fault: {bad_101: {defect: wrong_accept}}

`ACTION=VALUE` sets the action's main parameter (table below), `;name=value` adds others, and a
YAML flow mapping gives the full rule-file syntax. Validation is the rule files' own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..options.config_fields import ConfigFileError, parse_yaml
from .rules import FaultRulesError, parse_action
from .spec import Action

HEADER = "x-wswatch-fault"

#: The parameter `ACTION=VALUE` sets, per action.
MAIN_PARAMETER: dict[str, str] = {
    "reject": "status",
    "delay": "ms",
    "hang": "max_s",
    "redirect": "location",
    "html": "status",
    "bad_101": "defect",
    "close": "code",
    "drop": "after_messages",
    "stall": "direction",
    "messages": "do",
    "pongs": "do",
    "throttle": "bytes_per_s",
}


def _scalar(text: str) -> Any:
    text = text.strip()
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text, text)


def _shorthand(value: str) -> dict[str, Any]:
    name, has_value, rest = value.partition("=")
    name = name.strip()
    params: dict[str, Any] = {}
    if has_value:
        main, *extras = rest.split(";")
        main_value = _scalar(main)
        if name == "reject" and isinstance(main_value, str):
            params["preset"] = main_value
        else:
            params[MAIN_PARAMETER.get(name, name)] = main_value
        for extra in extras:
            key, _, text = extra.partition("=")
            params[key.strip()] = _scalar(text)
    return {name: params}


def parse_fault_header(value: str, presets: Mapping[str, Mapping]) -> Action:
    """The action a client asked for; FaultRulesError says what is wrong with the header."""
    value = value.strip()
    where = f"{HEADER} header"
    if value.startswith("{"):
        try:
            document = parse_yaml(value, where)
        except ConfigFileError as error:
            raise FaultRulesError(str(error)) from error
    else:
        document = _shorthand(value)
    return parse_action(document, where, presets)
