"""Read a `script` action (and a script preset) into a frozen `Script` (pure).

A script is a list of steps, each a mapping with one key: `wait`, `send`, `swallow`, `close`,
`drop` or `preset`. An error names the step by its 1-based index and kind and the field inside
it, e.g. `action.script[3].send.to: must be one of: client, server, got 'clients'`, so with the
file and rule that rules.py puts in front it is one line that says where to look.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any, Final

from ..options.config_fields import (
    FieldError,
    Fields,
    at_least,
    choice,
    nonempty,
    positive_number,
    regex,
    show,
    string,
)
from .close_fields import close_code, close_reason
from .directions import Toward
from .matching import MessageMatch
from .spec import Script
from .steps import (
    FINAL_STEPS,
    BodyKind,
    CloseStep,
    DropStep,
    Peer,
    Send,
    Side,
    Step,
    Swallow,
    WaitMessage,
    WaitMessages,
    WaitSeconds,
)
from .templates import parse_json_template, parse_template

STEP_KINDS: Final = ("wait", "send", "swallow", "close", "drop", "preset")
WAIT_FIELDS: Final = ("s", "messages", "message", "from")
MESSAGE_FIELDS: Final = ("from", "text", "regex", "json", "binary_len")
SEND_FIELDS: Final = ("to", *(kind.value for kind in BodyKind))
CLOSE_FIELDS: Final = ("code", "reason", "toward")

#: The key that makes a preset a script (the others are `reject` defaults).
SCRIPT_PRESET_KEY: Final = "script"

_COUNT: Final = at_least(1)


def is_script_preset(preset: Mapping[str, Any]) -> bool:
    return SCRIPT_PRESET_KEY in preset


def parse_script(value: object, presets: Mapping[str, Mapping[str, Any]]) -> Script:
    """The steps of a `script` action; `presets` are every loaded preset (script ones expand)."""
    steps, used = _steps(value, presets, allow_presets=True)
    return Script(steps=steps, presets=used)


def parse_script_preset(value: object) -> tuple[Step, ...]:
    """A script preset's steps: the same language, without `preset` (presets do not nest)."""
    steps, _ = _steps(value, {}, allow_presets=False)
    return steps


def _steps(
    value: object, presets: Mapping[str, Mapping[str, Any]], *, allow_presets: bool
) -> tuple[tuple[Step, ...], tuple[str, ...]]:
    if not isinstance(value, list):
        raise ValueError(f"must be a list of steps, got {show(value)}")
    if not value:
        raise ValueError("must have at least one step")
    steps: list[Step] = []
    used: list[str] = []
    for index, entry in enumerate(value, start=1):
        kind = _kind(entry, index)
        try:
            params = entry[kind]
            if kind == "preset":
                if not allow_presets:
                    raise ValueError("a preset's steps cannot use another preset")
                name, expanded = _preset(params, presets)
                used.append(name)
                new_steps: tuple[Step, ...] = expanded
            else:
                new_steps = (_STEP_PARSERS[kind](params),)
            if isinstance(new_steps[0], Swallow):
                _check_swallow(steps)
            if steps and isinstance(steps[-1], FINAL_STEPS):
                raise ValueError(
                    f"comes after a {steps[-1].describe().popitem()[0]}: it never runs"
                )
        except FieldError as e:
            raise FieldError(
                f"[{index}].{kind}.{e.field}" if e.field else f"[{index}].{kind}", e.problem
            ) from None
        except ValueError as e:
            raise FieldError(f"[{index}].{kind}", str(e)) from None
        steps.extend(new_steps)
    return tuple(steps), tuple(used)


def _kind(entry: object, index: int) -> str:
    if not isinstance(entry, Mapping) or len(entry) != 1:
        raise FieldError(
            f"[{index}]",
            f"a step is a mapping with one of {', '.join(STEP_KINDS)}, got {show(entry)}",
        )
    [kind] = entry
    if kind not in STEP_KINDS:
        raise FieldError(
            f"[{index}]", f"unknown step {show(kind)} (expected one of: {', '.join(STEP_KINDS)})"
        )
    return str(kind)


def _check_swallow(steps: list[Step]) -> None:
    if not steps or not isinstance(steps[-1], WaitMessages | WaitMessage):
        raise ValueError(
            "must come right after a wait for a message (it swallows the message that wait matched)"
        )


def _wait(params: object) -> Step:
    spec = Fields(params, WAIT_FIELDS)
    given = [name for name in ("s", "messages", "message") if name in spec]
    if len(given) != 1:
        raise ValueError(
            "needs exactly one of s, messages, message"
            + (f", got {', '.join(given)}" if given else "")
        )
    if given == ["s"]:
        if "from" in spec:
            raise FieldError("from", "only with messages (a time wait counts no messages)")
        return WaitSeconds(spec.require("s", positive_number))
    side = spec.get("from", choice(Side), default=Side.ANY)
    if given == ["messages"]:
        return WaitMessages(count=spec.require("messages", _COUNT), side=side)
    message = spec.require("message", message_match)
    return WaitMessage(match=message[0], side=message[1] or side)


def _binary_len(value: object) -> tuple[int, int]:
    if not isinstance(value, list) or len(value) != 2:
        raise ValueError(f"must be [MIN, MAX], got {show(value)}")
    low, high = (at_least(0)(item) for item in value)
    if low > high:
        raise ValueError(f"MIN must be <= MAX, got [{low}, {high}]")
    return low, high


def _json_subset(value: object) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        raise ValueError(f"must be JSON data, got {show(value)}") from None
    return value


def message_match(value: object) -> tuple[MessageMatch, Side | None]:
    """`message: {from, text | regex | json | binary_len}`; `from` may also sit beside it."""
    spec = Fields(value, MESSAGE_FIELDS)
    conditions = [name for name in MESSAGE_FIELDS[1:] if name in spec]
    if not conditions:
        raise ValueError(f"needs at least one of {', '.join(MESSAGE_FIELDS[1:])}")
    if "json" in spec and "binary_len" in spec:
        raise FieldError("binary_len", "not with json (json matches text messages only)")
    return (
        MessageMatch(
            text=spec.get("text", nonempty),
            regex=spec.get("regex", regex),
            json=spec.get("json", _json_subset),
            has_json="json" in spec,
            binary_len=spec.get("binary_len", _binary_len),
        ),
        spec.get("from", choice(Side)),
    )


def _base64(value: object) -> bytes:
    try:
        return base64.b64decode(string(value), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"must be base64, got {show(value)}") from None


def _send(params: object) -> Step:
    spec = Fields(params, SEND_FIELDS)
    to = spec.require("to", choice(Peer))
    bodies = [kind for kind in BodyKind if kind.value in spec]
    if len(bodies) != 1:
        names = ", ".join(kind.value for kind in BodyKind)
        given = f", got {', '.join(kind.value for kind in bodies)}" if bodies else ""
        raise ValueError(f"needs exactly one of {names}{given}")
    kind = bodies[0]
    if kind is BodyKind.TEXT:
        body: Any = spec.require("text", lambda value: parse_template(string(value)))
    elif kind is BodyKind.JSON:
        body = spec.require("json", lambda value: parse_json_template(_json_subset(value)))
    else:
        body = spec.require("binary_b64", _base64)
    return Send(to=to, kind=kind, body=body)


def _swallow(params: object) -> Step:
    Fields(params, ())
    return Swallow()


def _close(params: object) -> Step:
    spec = Fields(params, CLOSE_FIELDS)
    return CloseStep(
        code=spec.get("code", close_code, default=1000),
        reason=spec.get("reason", close_reason, default=""),
        toward=spec.get("toward", choice(Toward), default=Toward.BOTH),
    )


def _drop(params: object) -> Step:
    Fields(params, ())
    return DropStep()


def _preset(
    value: object, presets: Mapping[str, Mapping[str, Any]]
) -> tuple[str, tuple[Step, ...]]:
    name = string(value)
    scripts = sorted(key for key, preset in presets.items() if is_script_preset(preset))
    if name not in scripts:
        known = ", ".join(scripts) or "no script presets are loaded"
        raise ValueError(f"unknown script preset {name!r} (expected one of: {known})")
    steps: tuple[Step, ...] = presets[name][SCRIPT_PRESET_KEY]
    return name, steps


_STEP_PARSERS: Final = {
    "wait": _wait,
    "send": _send,
    "swallow": _swallow,
    "close": _close,
    "drop": _drop,
}
