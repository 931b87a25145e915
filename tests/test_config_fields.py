"""Typed YAML field readers and the YAML error line shared by every config loader."""

from __future__ import annotations

import pytest
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from wswatchlib import config_fields as fields


@pytest.mark.parametrize(
    ("check", "value", "message"),
    [
        (lambda v: fields.string(v, "a.b"), 3, "a.b: must be a string, got 3"),
        (lambda v: fields.integer(v, "n", 1, 9), True, "n: must be an integer, got true"),
        (lambda v: fields.integer(v, "n", 1, 9), 10, "n: must be between 1 and 9, got 10"),
        (lambda v: fields.string_list(v, "hosts"), "x", "hosts: must be a list of strings, got 'x'"),
        (lambda v: fields.string_list(v, "hosts"), ["a", 2], "hosts[1]: must be a string, got 2"),
        (lambda v: fields.mapping(v, "secrets"), [], "secrets: must be a mapping, got []"),
        (lambda v: fields.required(v, "meaning", "close_codes.4001"), {}, "close_codes.4001.meaning: missing required field"),
        (lambda v: fields.check_known(v, ("hosts",), "signature"), {"colour": 1}, "signature.colour: unknown field 'colour' (expected one of: hosts)"),
    ],
)
def test_field_readers_name_the_field_and_the_problem(check, value, message) -> None:
    """Each reader raises FieldError with the dotted field and what is wrong."""
    with pytest.raises(fields.FieldError) as raised:
        check(value)
    assert str(raised.value) == message


def test_yaml_problem_gives_the_position() -> None:
    """A parser error becomes one line ending with its 1-based line and column."""
    with pytest.raises(YAMLError) as raised:
        YAML(typ="safe").load("a: 1\na: 2\n")
    assert fields.yaml_problem(raised.value).endswith("(line 2, column 1)")
