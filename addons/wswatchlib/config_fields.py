"""Typed readers for fields of user-edited YAML files.

Each reader returns the value in its Python type or raises `FieldError` naming the dotted field
and saying whether the value was missing or wrong; the file loaders add the file and the entry.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError


class ConfigFileError(ValueError):
    """A config file cannot be read or parsed; the message starts with its path."""


class FieldError(ValueError):
    """A field of a config entry is missing or has a wrong value."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def _shown(value: Any) -> str:
    return "true" if value is True else "false" if value is False else repr(value)


def mapping(value: Any, field: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise FieldError(field, f"must be a mapping, got {_shown(value)}")
    return value


def check_known(value: Mapping[str, Any], allowed: Iterable[str], field: str) -> None:
    """Reject keys outside `allowed`: a typo must not silently disable a setting."""
    allowed = tuple(allowed)
    for key in value:
        if key not in allowed:
            where = f"{field}.{key}" if field else str(key)
            raise FieldError(where, f"unknown field {key!r} (expected one of: {', '.join(allowed)})")


def string(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise FieldError(field, f"must be a string, got {_shown(value)}")
    return value


def string_list(value: Any, field: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise FieldError(field, f"must be a list of strings, got {_shown(value)}")
    return tuple(string(item, f"{field}[{index}]") for index, item in enumerate(value))


def integer(value: Any, field: str, low: int | None = None, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldError(field, f"must be an integer, got {_shown(value)}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise FieldError(field, f"must be between {low} and {high}, got {value}")
    return value


def required(value: Mapping[str, Any], key: str, field: str) -> Any:
    if key not in value or value[key] is None:
        raise FieldError(f"{field}.{key}" if field else key, "missing required field")
    return value[key]


def yaml_problem(error: Exception) -> str:
    """A YAML parser error as one line with its position: "found ... (line 3, column 7)"."""
    problem = getattr(error, "problem", None) or (str(error).strip().splitlines() or ["parse error"])[0]
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
