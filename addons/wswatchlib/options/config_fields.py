"""Reading user-edited YAML files: the file, the document, and each field in its type.

Shared by every config loader (vendor profiles, fault rules, presets, the fault header), so a
user sees the same wording everywhere. Checks raise `ValueError("what is wrong")`; `Fields`
tags it with the dotted field (`FieldError`); the loaders add the file and the entry.
"""

from __future__ import annotations

import enum
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, TypeVar

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

T = TypeVar("T")
E = TypeVar("E", bound=enum.Enum)
Check = Callable[[Any], T]

#: `Fields.get` default meaning "this field must be present".
REQUIRED: Final = object()


class ConfigFileError(ValueError):
    """A config file cannot be read or parsed; the message starts with its path."""


class FieldError(ValueError):
    """A problem tagged with the dotted path of its field, relative to the value being checked."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}" if field else problem)
        self.field = field
        self.problem = problem

    @classmethod
    def of(cls, error: ValueError) -> FieldError:
        """*error* itself, or a problem with the checked value as a whole."""
        return error if isinstance(error, FieldError) else cls("", str(error))

    def within(self, parent: str) -> FieldError:
        """The same problem, seen from the mapping that holds *parent*."""
        return FieldError(f"{parent}.{self.field}" if self.field else parent, self.problem)


def locate(*context: str, error: ValueError) -> str:
    """`file: entry: field: problem`, leaving out empty parts (no field: the entry as a whole)."""
    located = FieldError.of(error)
    return ": ".join(part for part in (*context, located.field, located.problem) if part)


class Fields:
    """A YAML mapping read field by field: unknown keys are refused, errors name the field.

    ``None`` (an empty YAML section such as ``reset:``) reads as an empty mapping.
    """

    def __init__(self, data: object, allowed: Sequence[str]) -> None:
        data = {} if data is None else data
        if not isinstance(data, Mapping):
            raise ValueError(f"must be a mapping, got {show(data)}")
        expected = f"expected one of: {', '.join(allowed)}" if allowed else "expected no fields"
        for key in data:
            if key not in allowed:
                raise ValueError(f"unknown field {show(key)} ({expected})")
        self._data = data

    def __contains__(self, name: str) -> bool:
        return name in self._data

    def get(self, name: str, check: Check[T], default: Any = None) -> T:
        """The checked value of *name*, or *default* when absent (`REQUIRED`: an error)."""
        if name not in self._data:
            if default is REQUIRED:
                raise FieldError(name, "missing required field")
            return default
        return checked_under(name, check, self._data[name])

    def require(self, name: str, check: Check[T]) -> T:
        """The checked value of a field that must be present."""
        return self.get(name, check, REQUIRED)

    def depends(
        self, name: str, check: Check[T], *, on: bool, condition: str, default: Any = REQUIRED
    ) -> T | None:
        """A field that only makes sense when *on*: then read with *default*, else refused."""
        if on:
            return self.get(name, check, default)
        if name in self._data:
            raise FieldError(name, f"only allowed when {condition}")
        return None


def checked_under(label: str, check: Check[T], value: object) -> T:
    """`check(value)`, its error reported as the field or entry `label`'s (a list index, a
    close code, a mapping key)."""
    try:
        return check(value)
    except FieldError as e:
        raise e.within(label) from None
    except ValueError as e:
        raise FieldError(label, str(e)) from None


def show(value: object) -> str:
    """A value as the user wrote it in YAML, for messages."""
    match value:
        case bool():
            return "true" if value else "false"
        case None:
            return "null"
        case Mapping():
            return "a mapping"
        case list():
            return "a list"
        case _:
            return repr(value)


def integer(value: object) -> int:
    """A YAML integer; booleans and numeric strings are refused."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"must be an integer, got {show(value)}")
    return value


def integer_between(low: int, high: int) -> Check[int]:
    """An integer check with both bounds."""

    def check(value: object) -> int:
        number = integer(value)
        if not low <= number <= high:
            raise ValueError(f"must be between {low} and {high}, got {number}")
        return number

    return check


def at_least(minimum: int) -> Check[int]:
    """An integer check with a lower bound."""

    def check(value: object) -> int:
        number = integer(value)
        if number < minimum:
            raise ValueError(f"must be >= {minimum}, got {number}")
        return number

    return check


def number(value: object) -> float:
    """A finite YAML int or float; booleans and numeric strings are refused."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"must be a number, got {show(value)}")
    try:
        result = float(value)
    except OverflowError:
        result = math.inf
    if not math.isfinite(result):
        raise ValueError(f"must be a finite number, got {show(value)}")
    return result


def positive_number(value: object) -> float:
    """A finite number above zero (a duration that must not be zero)."""
    amount = number(value)
    if amount <= 0:
        raise ValueError(f"must be > 0, got {show(value)}")
    return amount


def string(value: object) -> str:
    """A YAML string; numbers are refused so that ``"1"`` versus ``1`` is never guessed."""
    if not isinstance(value, str):
        raise ValueError(f"must be a string, got {show(value)}")
    return value


def nonempty(value: object) -> str:
    """A string that says something (empty globs, names and locations are mistakes)."""
    text = string(value)
    if not text:
        raise ValueError("must not be empty")
    return text


def string_list(value: object) -> tuple[str, ...]:
    """A YAML list of strings."""
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"must be a list of strings, got {show(value)}")
    return tuple(value)


def boolean(value: object) -> bool:
    """A YAML boolean (``true``/``false``; YAML 1.2 reads ``yes`` as a string)."""
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, got {show(value)}")
    return value


def choice(kind: type[E]) -> Check[E]:
    """A check accepting exactly the values of enum *kind*."""

    def check(value: object) -> E:
        try:
            return kind(value)
        except ValueError:
            allowed = ", ".join(str(member.value) for member in kind)
            raise ValueError(f"must be one of: {allowed}, got {show(value)}") from None

    return check


def regex(value: object) -> re.Pattern[str]:
    """A compiled regular expression."""
    try:
        return re.compile(string(value))
    except re.error as e:
        raise ValueError(f"invalid regex: {e}") from None


def yaml_problem(error: Exception) -> str:
    """A YAML parser error as one line with its position: "found ... (line 3, column 7)"."""
    problem = (
        getattr(error, "problem", None) or (str(error).strip().splitlines() or ["parse error"])[0]
    )
    mark = getattr(error, "problem_mark", None)
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    return f"{problem}{where}"


def read_text(path: str | os.PathLike[str]) -> str:
    """A config file's text; I/O and encoding failures become ConfigFileError."""
    where = os.fspath(path)
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigFileError(f"{where}: cannot read: {error.strerror or error}") from error
    except UnicodeDecodeError as error:
        raise ConfigFileError(
            f"{where}: cannot read: not UTF-8 ({error.reason} at byte {error.start})"
        ) from error


def parse_yaml(text: str, where: str) -> Any:
    """Safe-load one YAML document (no arbitrary tags, duplicate keys rejected)."""
    try:
        return YAML(typ="safe").load(text)
    except YAMLError as error:
        raise ConfigFileError(f"{where}: not valid YAML: {yaml_problem(error)}") from error
