"""Fault rules: parse wswatch fault-injection YAML into validated, immutable specs (spec.py).

This module is pure (no mitmproxy imports). User-written rule files become frozen
dataclasses once, at load time, so the addon only ever handles values that are
known to be valid, and a typo is reported with the file, the rule and the dotted
field instead of surfacing as a broken connection later.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any, Final

from ..options.config_fields import (
    REQUIRED,
    Check,
    ConfigFileError,
    FieldError,
    Fields,
    at_least,
    boolean,
    choice,
    integer,
    locate,
    nonempty,
    number,
    parse_yaml,
    positive_number,
    read_text,
    regex,
    show,
    string,
)
from ..rfc6455 import CloseCode
from .close_fields import SENDABLE_CLOSE_CODES_TEXT, close_code, close_reason, sendable
from .matching import MessageMatch
from .script_rules import (
    SCRIPT_PRESET_KEY,
    is_script_preset,
    message_match,
    parse_script,
    parse_script_preset,
)
from .spec import (
    AT_S_COMBINES_WITH,
    CAPTIVE_PORTAL_HTML,
    MOMENT_ACTIONS,
    Action,
    ActionSpec,
    Bad101,
    Bad101Defect,
    Close,
    CloseBeforeAnswer,
    Delay,
    Direction,
    Drop,
    Hang,
    Html,
    Match,
    MessageFault,
    MessageOp,
    MessageType,
    Network,
    Per,
    PongFault,
    PongOp,
    Redirect,
    Reject,
    Reset,
    Rule,
    Scheme,
    Script,
    Stall,
    Throttle,
    Toward,
    When,
    Window,
)

#: Preset file shipped with wswatch: ``<repo>/config/faults/presets.yaml``.
DEFAULT_PRESETS_PATH: Final = (
    Path(__file__).absolute().parents[3] / "config" / "faults" / "presets.yaml"
)

_ID_PATTERN: Final = re.compile(r"[a-z0-9][a-z0-9._-]*")


class FaultRulesError(ValueError):
    """A rules or presets file is unreadable or invalid; the message locates the problem."""


def parse_rules_text(text: str, path: str, presets: Mapping[str, Mapping]) -> list[Rule]:
    """Parse one rules document; *path* is only used in messages and :attr:`Rule.source`."""
    return _parse_rules(text, path, presets, {})


def parse_action(value: object, where: str, presets: Mapping[str, Mapping]) -> Action:
    """One action mapping on its own (a client's fault header); errors start with *where*."""
    try:
        return _action(value, presets)
    except ValueError as e:
        raise FaultRulesError(locate(where, error=e)) from None


#: The code `disconnect_action` takes for a drop, as a plain int for messages.
NO_FRAME = int(CloseCode.ABNORMAL_CLOSURE)


def disconnect_action(code: int, reason: str = "") -> Close | Drop:
    """The action that ends a connection at once with *code*: a ``drop`` for 1006 (no close
    frame), else a ``close`` whose code and reason are checked as ``close.code``/``close.reason``.
    """
    if code == CloseCode.ABNORMAL_CLOSURE:
        if reason:
            raise FieldError("reason", f"not allowed with code {NO_FRAME} (no close frame)")
        return Drop()
    if not sendable(code):
        raise FieldError(
            "code",
            f"must be {NO_FRAME} (drop) or {SENDABLE_CLOSE_CODES_TEXT}, got {code}",
        )
    try:
        return Close(code=code, reason=close_reason(reason))
    except ValueError as e:
        raise FieldError("reason", str(e)) from None


def load_rule_files(
    paths: Sequence[str | os.PathLike[str]],
    presets: Mapping[str, Mapping] | None = None,
) -> list[Rule]:
    """Load rule files in order; ids must be unique across all of them.

    *presets* defaults to the shipped :data:`DEFAULT_PRESETS_PATH`.
    """
    if presets is None:
        presets = load_presets(DEFAULT_PRESETS_PATH)
    first_seen: dict[str, str] = {}
    return [
        rule
        for path in paths
        for rule in _parse_rules(_read(path), os.fspath(path), presets, first_seen)
    ]


def load_presets(
    path: str | os.PathLike[str] = DEFAULT_PRESETS_PATH,
) -> dict[str, dict[str, Any]]:
    """Load a presets file: a mapping of preset name to ``reject`` defaults, or to a script.

    Reject presets are validated like ``reject`` parameters (headers come back as a plain
    dict); a script preset (``{script: [steps]}``) comes back as ``{"script": steps}``, its
    steps parsed.
    """
    where = os.fspath(path)
    document = _load_yaml(_read(path), where)
    if not isinstance(document, Mapping):
        raise FaultRulesError(f"{where}: top level must be a mapping of preset names to presets")
    presets: dict[str, dict[str, Any]] = {}
    for name, raw in document.items():
        try:
            presets[_identifier(name)] = _preset(raw)
        except ValueError as e:
            raise FaultRulesError(locate(where, f"preset {show(name)}", error=e)) from None
    return presets


def _read(path: str | os.PathLike[str]) -> str:
    """File text, with I/O and encoding failures turned into :class:`FaultRulesError`."""
    try:
        return read_text(path)
    except ConfigFileError as e:
        raise FaultRulesError(str(e)) from e


def _load_yaml(text: str, path: str) -> Any:
    """One YAML document, with parse failures turned into :class:`FaultRulesError`."""
    try:
        return parse_yaml(text, path)
    except ConfigFileError as e:
        raise FaultRulesError(str(e)) from e


TOP_LEVEL_FIELDS: Final = ("rules", "seed")
RULE_FIELDS: Final = ("id", "description", "enabled", "match", "when", "action")
MATCH_FIELDS: Final = ("host", "path", "scheme", "client", "headers", "subprotocol")
WHEN_FIELDS: Final = (
    "probability",
    "seed",
    "first",
    "after",
    "every",
    "times",
    "window",
    "per",
    "max_active",
    "at_s",
)
WINDOW_FIELDS: Final = ("start_s", "end_s")
PRESET_FIELDS: Final = ("status", "reason", "headers", "body")


def _parse_rules(
    text: str, path: str, presets: Mapping[str, Mapping], first_seen: dict[str, str]
) -> list[Rule]:
    """Parse one document, claiming ids in *first_seen* (id -> file) to catch duplicates."""
    document = _load_yaml(text, path)
    if isinstance(document, Mapping):
        unknown = [key for key in document if key not in TOP_LEVEL_FIELDS]
        if unknown:
            raise FaultRulesError(
                f"{path}: unknown top-level field {show(unknown[0])}"
                f" (expected: {', '.join(TOP_LEVEL_FIELDS)})"
            )
    if not isinstance(document, Mapping) or not isinstance(document.get("rules"), list):
        raise FaultRulesError(f"{path}: top level must be a mapping with a 'rules' list")
    try:
        file_seed = integer(document.get("seed", 0))
    except ValueError as e:
        raise FaultRulesError(f"{path}: seed: {e}") from None
    rules = []
    for index, entry in enumerate(document["rules"], start=1):
        try:
            rule = _rule(entry, path, file_seed, presets)
            if rule.id in first_seen:
                other = first_seen[rule.id]
                raise FieldError("id", f"duplicate rule id (first defined in {other})")
        except ValueError as e:
            raise FaultRulesError(
                locate(path, f"rule {_rule_label(entry, index)}", error=e)
            ) from None
        first_seen[rule.id] = path
        rules.append(rule)
    return rules


def _rule_label(entry: object, index: int) -> str:
    """``'the-id'`` when the entry has a valid id, else its 1-based position ``#n``."""
    rule_id = entry.get("id") if isinstance(entry, Mapping) else None
    if isinstance(rule_id, str) and _ID_PATTERN.fullmatch(rule_id):
        return repr(rule_id)
    return f"#{index}"


def _rule(entry: object, path: str, file_seed: int, presets: Mapping[str, Mapping]) -> Rule:
    """Build a :class:`Rule` from one entry of the ``rules`` list."""
    spec = Fields(entry, RULE_FIELDS)
    rule_id = spec.require("id", _identifier)
    description = spec.get("description", string, default="")
    enabled = spec.get("enabled", boolean, default=True)
    match = spec.get("match", _match, default=Match())
    when = spec.get("when", _when, default=When())
    at_moment = when.at_s is not None
    action = spec.require("action", lambda value: _action(value, presets, at_moment=at_moment))
    if at_moment and not isinstance(action, MOMENT_ACTIONS):
        raise FieldError(
            "when.at_s", f"only allowed when the action is close or drop, got {action.kind}"
        )
    return Rule(
        id=rule_id,
        description=description,
        enabled=enabled,
        match=match,
        when=when,
        action=action,
        source=path,
        seed=file_seed if when.seed is None else when.seed,
    )


_COUNT: Final = at_least(0)
_POSITIVE_COUNT: Final = at_least(1)


def _seconds(value: object) -> float:
    """A duration or instant in seconds, zero allowed."""
    amount = number(value)
    if amount < 0:
        raise ValueError(f"must be >= 0, got {show(value)}")
    return amount


def _probability(value: object) -> float:
    """A probability; 0 is refused because such a rule could never fire."""
    amount = number(value)
    if not 0 < amount <= 1:
        raise ValueError(f"must be > 0 and <= 1, got {show(value)}")
    return amount


def _header_text(value: object) -> str:
    """A string safe to put in an HTTP head: CR or LF would split the response."""
    text = string(value)
    if "\r" in text or "\n" in text:
        raise ValueError("must not contain CR or LF")
    return text


def _header_map(value: object) -> tuple[tuple[str, str], ...]:
    """``{name: value}`` pairs for HTTP headers, in the order written."""
    if not isinstance(value, Mapping):
        raise ValueError(f"must be a mapping, got {show(value)}")
    pairs = []
    for name, text in value.items():
        try:
            checked_name = nonempty(_header_text(name))
        except ValueError as e:
            raise ValueError(f"invalid header name {show(name)}: {e}") from None
        try:
            pairs.append((checked_name, _header_text(text)))
        except ValueError as e:
            raise FieldError(checked_name, str(e)) from None
    return tuple(pairs)


def _identifier(value: object) -> str:
    """A rule id or preset name: lowercase, usable on command lines and in logs unquoted."""
    text = string(value)
    if not _ID_PATTERN.fullmatch(text):
        raise ValueError(f"must match {_ID_PATTERN.pattern}, got {text!r}")
    return text


def _http_status(value: object) -> int:
    """A final HTTP status; 101 is refused because it would complete the upgrade."""
    status = integer(value)
    if not 100 <= status <= 599 or status == 101:
        raise ValueError(f"must be between 100 and 599 (not 101), got {status}")
    return status


_REDIRECT_STATUSES: Final = (301, 302, 303, 307, 308)


def _redirect_status(value: object) -> int:
    """An HTTP status that carries a ``Location``."""
    status = integer(value)
    if status not in _REDIRECT_STATUSES:
        raise ValueError(f"must be one of: {', '.join(map(str, _REDIRECT_STATUSES))}, got {status}")
    return status


def _path(value: object) -> tuple[str | None, re.Pattern[str] | None]:
    """``(glob, None)``, or ``(None, regex)`` for values written ``re:<regex>``."""
    text = nonempty(value)
    if text.startswith("re:"):
        return None, regex(text.removeprefix("re:"))
    return text, None


def _client(value: object) -> tuple[str, Network | None]:
    """``(text, network)`` for a CIDR such as ``10.0.0.0/8``, ``(glob, None)`` otherwise."""
    text = nonempty(value)
    if "/" not in text:
        return text, None
    try:
        return text, ipaddress.ip_network(text)
    except ValueError as e:
        raise ValueError(f"invalid CIDR network: {e}") from None


def _match(value: object) -> Match:
    """Host globs and header names are lowercased here, once, so matching compares directly."""
    spec = Fields(value, MATCH_FIELDS)
    host = spec.get("host", nonempty)
    path_glob, path_regex = spec.get("path", _path, default=(None, None))
    client, client_network = spec.get("client", _client, default=(None, None))
    headers = spec.get("headers", _header_map, default=())
    return Match(
        host=None if host is None else host.lower(),
        path_glob=path_glob,
        path_regex=path_regex,
        scheme=spec.get("scheme", choice(Scheme)),
        client=client,
        client_network=client_network,
        headers=tuple((name.lower(), glob) for name, glob in headers),
        subprotocol=spec.get("subprotocol", nonempty),
    )


def _window(value: object) -> Window:
    """An empty or inverted window is refused: it would silently never (or always) fire."""
    spec = Fields(value, WINDOW_FIELDS)
    window = Window(start_s=spec.get("start_s", _seconds), end_s=spec.get("end_s", _seconds))
    if window.start_s is None and window.end_s is None:
        raise ValueError("missing required field (one of start_s, end_s)")
    start_s, end_s = window.start_s, window.end_s
    if start_s is not None and end_s is not None and start_s >= end_s:
        raise ValueError(f"start_s must be less than end_s, got {start_s:g} >= {end_s:g}")
    return window


def _when(value: object) -> When:
    """Also refuses first/after/every combinations that leave no attempt to fire on."""
    spec = Fields(value, WHEN_FIELDS)
    when = When(
        probability=spec.get("probability", _probability),
        seed=spec.get("seed", integer),
        first=spec.get("first", _POSITIVE_COUNT),
        after=spec.get("after", _COUNT),
        every=spec.get("every", _POSITIVE_COUNT),
        times=spec.get("times", _POSITIVE_COUNT),
        window=spec.get("window", _window),
        per=spec.get("per", choice(Per), default=Per.GLOBAL),
        max_active=spec.get("max_active", _POSITIVE_COUNT),
        at_s=spec.get("at_s", positive_number),
    )
    if when.at_s is not None:
        excluded = [
            name
            for name in WHEN_FIELDS
            if name in spec and name not in {"at_s", *AT_S_COMBINES_WITH}
        ]
        if excluded:
            raise ValueError(
                f"at_s cannot be combined with {excluded[0]}"
                f" (it combines with: {', '.join(AT_S_COMBINES_WITH)})"
            )
    if when.first is not None:
        candidates = range((when.after or 0) + 1, when.first + 1)
        if not any(attempt % (when.every or 1) == 0 for attempt in candidates):
            raise ValueError("first, after and every leave no attempt on which the rule can fire")
    return when


def _action(value: object, presets: Mapping[str, Mapping], *, at_moment: bool = False) -> Action:
    """The single action of a rule, dispatched on its key.

    A ``close`` or ``drop`` needs a trigger (``after_messages``/``after_s``), except in a rule
    with ``when.at_s`` (*at_moment*), whose moment is the trigger and which refuses another.
    """
    if not isinstance(value, Mapping):
        raise ValueError(f"must be a mapping, got {show(value)}")
    if len(value) != 1:
        listed = f": {', '.join(map(str, value))}" if value else ""
        raise ValueError(f"exactly one action is required, got {len(value)}{listed}")
    [(kind, params)] = value.items()
    if kind == Script.kind:
        try:
            return parse_script(params, presets)
        except FieldError as e:
            raise FieldError(f"{kind}{e.field}", e.problem) from None
        except ValueError as e:
            raise FieldError(kind, str(e)) from None
    if kind not in ACTION_SPECS:
        expected = ", ".join((*ACTION_SPECS, Script.kind))
        raise ValueError(f"unknown action {show(kind)} (expected one of: {expected})")
    cls, parse = ACTION_SPECS[kind]
    try:
        action = parse(Fields(params, [spec.name for spec in fields(cls)]), presets)
        if isinstance(action, MOMENT_ACTIONS):
            _check_trigger(action, at_moment=at_moment)
        return action
    except FieldError as e:
        raise e.within(kind) from None
    except ValueError as e:
        raise FieldError(kind, str(e)) from None


def _trigger(spec: Fields) -> tuple[int | None, float | None]:
    """``(after_messages, after_s)``, either of which may be omitted."""
    return spec.get("after_messages", _COUNT), spec.get("after_s", _seconds)


def _check_trigger(action: Close | Drop, *, at_moment: bool) -> None:
    """Without a trigger or a moment a ``close`` or ``drop`` would never happen; with both,
    it is unclear which one is meant."""
    triggered = action.after_messages is not None or action.after_s is not None
    if at_moment and triggered:
        given = "after_messages" if action.after_messages is not None else "after_s"
        raise FieldError(given, "not allowed with when.at_s (the moment is the trigger)")
    if not at_moment and not triggered:
        raise ValueError("missing required field (one of after_messages, after_s)")


def _preset_name(presets: Mapping[str, Mapping]) -> Check[str]:
    """A check accepting the names of the loaded presets."""

    def check(value: object) -> str:
        name = string(value)
        rejects = sorted(key for key, preset in presets.items() if not is_script_preset(preset))
        if name not in rejects:
            known = ", ".join(rejects) or "no presets are loaded"
            raise ValueError(f"unknown preset {name!r} (expected one of: {known})")
        return name

    return check


def _preset(value: object) -> dict[str, Any]:
    """One validated preset as plain data, holding only the fields it gives (a script preset:
    its parsed steps)."""
    if isinstance(value, Mapping) and SCRIPT_PRESET_KEY in value:
        spec = Fields(value, (SCRIPT_PRESET_KEY,))
        return {SCRIPT_PRESET_KEY: spec.require(SCRIPT_PRESET_KEY, parse_script_preset)}
    spec = Fields(value, PRESET_FIELDS)
    checks: dict[str, Check[Any]] = {
        "status": _http_status,
        "reason": _header_text,
        "headers": lambda raw: dict(_header_map(raw)),
        "body": string,
    }
    return {name: spec.require(name, check) for name, check in checks.items() if name in spec}


def _parse_reject(spec: Fields, presets: Mapping[str, Mapping]) -> Reject:
    """Explicit fields override the preset's; headers merge, case-insensitively by name."""
    preset = spec.get("preset", _preset_name(presets))
    defaults = presets[preset] if preset is not None else {}
    explicit = spec.get("headers", _header_map, default=())
    headers = {
        name.lower(): (name, text)
        for name, text in (*defaults.get("headers", {}).items(), *explicit)
    }
    return Reject(
        status=spec.get("status", _http_status, default=defaults.get("status", REQUIRED)),
        reason=spec.get("reason", _header_text, default=defaults.get("reason", "")),
        headers=tuple(headers.values()),
        body=spec.get("body", string, default=defaults.get("body", "")),
        preset=preset,
    )


def _parse_delay(spec: Fields, presets: Mapping[str, Mapping]) -> Delay:
    return Delay(ms=spec.require("ms", _COUNT), jitter_ms=spec.get("jitter_ms", _COUNT, default=0))


def _parse_hang(spec: Fields, presets: Mapping[str, Mapping]) -> Hang:
    return Hang(max_s=spec.get("max_s", positive_number))


def _parse_reset(spec: Fields, presets: Mapping[str, Mapping]) -> Reset:
    return Reset()


def _parse_close_before_answer(spec: Fields, presets: Mapping[str, Mapping]) -> CloseBeforeAnswer:
    return CloseBeforeAnswer()


def _parse_bad_101(spec: Fields, presets: Mapping[str, Mapping]) -> Bad101:
    defect = spec.require("defect", choice(Bad101Defect))
    subprotocol = spec.depends(
        "subprotocol",
        nonempty,
        on=defect is Bad101Defect.UNREQUESTED_SUBPROTOCOL,
        condition="defect is 'unrequested_subprotocol'",
        default="wswatch-unrequested",
    )
    return Bad101(defect=defect, subprotocol=subprotocol)


def _parse_html(spec: Fields, presets: Mapping[str, Mapping]) -> Html:
    return Html(
        status=spec.get("status", _http_status, default=200),
        body=spec.get("body", string, default=CAPTIVE_PORTAL_HTML),
    )


def _parse_redirect(spec: Fields, presets: Mapping[str, Mapping]) -> Redirect:
    return Redirect(
        location=spec.require("location", lambda value: nonempty(_header_text(value))),
        status=spec.get("status", _redirect_status, default=302),
    )


def _parse_close(spec: Fields, presets: Mapping[str, Mapping]) -> Close:
    after_messages, after_s = _trigger(spec)
    return Close(
        code=spec.get("code", close_code, default=1000),
        reason=spec.get("reason", close_reason, default=""),
        after_messages=after_messages,
        after_s=after_s,
        toward=spec.get("toward", choice(Toward), default=Toward.BOTH),
    )


def _parse_drop(spec: Fields, presets: Mapping[str, Mapping]) -> Drop:
    after_messages, after_s = _trigger(spec)
    return Drop(after_messages=after_messages, after_s=after_s)


def _parse_stall(spec: Fields, presets: Mapping[str, Mapping]) -> Stall:
    direction = spec.require("direction", choice(Direction))
    after_messages, after_s = _trigger(spec)
    return Stall(
        direction=direction,
        after_messages=after_messages,
        after_s=after_s,
        for_s=spec.get("for_s", positive_number),
    )


def _parse_messages(spec: Fields, presets: Mapping[str, Mapping]) -> MessageFault:
    do = spec.require("do", choice(MessageOp))
    return MessageFault(
        do=do,
        direction=spec.get("direction", choice(Direction), default=Direction.BOTH),
        type=spec.get("type", choice(MessageType), default=MessageType.ANY),
        pattern=spec.get("pattern", regex),
        match=spec.get("match", _selecting_match),
        probability=spec.get("probability", _probability, default=1.0),
        delay_ms=spec.depends(
            "delay_ms", _POSITIVE_COUNT, on=do is MessageOp.DELAY, condition="do is 'delay'"
        ),
        truncate_to=spec.depends(
            "truncate_to", _COUNT, on=do is MessageOp.TRUNCATE, condition="do is 'truncate'"
        ),
    )


def _selecting_match(value: object) -> MessageMatch:
    """A `messages` action's `match`: a script's message match, without `from` (the action's
    `direction` says whose messages)."""
    if isinstance(value, Mapping) and "from" in value:
        raise FieldError("from", "not here: the action's direction says whose messages")
    return message_match(value)[0]


def _parse_pongs(spec: Fields, presets: Mapping[str, Mapping]) -> PongFault:
    do = spec.require("do", choice(PongOp))
    return PongFault(
        do=do,
        delay_ms=spec.depends(
            "delay_ms", _POSITIVE_COUNT, on=do is PongOp.DELAY, condition="do is 'delay'"
        ),
    )


def _parse_throttle(spec: Fields, presets: Mapping[str, Mapping]) -> Throttle:
    return Throttle(
        bytes_per_s=spec.require("bytes_per_s", _POSITIVE_COUNT),
        direction=spec.get("direction", choice(Direction), default=Direction.BOTH),
    )


_ActionParser = Callable[[Fields, Mapping[str, Mapping]], Action]

#: Action name -> (spec class, whose fields are the allowed parameters; parser).
ACTION_SPECS: Final[dict[str, tuple[type[ActionSpec], _ActionParser]]] = {
    cls.kind: (cls, parse)
    for cls, parse in (
        (Reject, _parse_reject),
        (Delay, _parse_delay),
        (Hang, _parse_hang),
        (Reset, _parse_reset),
        (CloseBeforeAnswer, _parse_close_before_answer),
        (Bad101, _parse_bad_101),
        (Html, _parse_html),
        (Redirect, _parse_redirect),
        (Close, _parse_close),
        (Drop, _parse_drop),
        (Stall, _parse_stall),
        (MessageFault, _parse_messages),
        (PongFault, _parse_pongs),
        (Throttle, _parse_throttle),
    )
}
