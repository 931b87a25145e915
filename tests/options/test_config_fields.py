"""The shared YAML readers: file, document, and typed fields with their exact messages."""

from __future__ import annotations

import enum

import pytest
from wswatchlib.options import config_fields as fields


class Colour(enum.StrEnum):
    RED = "red"
    BLUE = "blue"


@pytest.mark.parametrize(
    ("check", "value", "message"),
    [
        (fields.string, 3, "must be a string, got 3"),
        (fields.integer, True, "must be an integer, got true"),
        (fields.integer_between(1, 9), 10, "must be between 1 and 9, got 10"),
        (fields.at_least(1), 0, "must be >= 1, got 0"),
        (fields.number, "1.5", "must be a number, got '1.5'"),
        (fields.number, float("nan"), "must be a finite number, got nan"),
        (fields.boolean, "yes", "must be true or false, got 'yes'"),
        (fields.nonempty, "", "must not be empty"),
        (fields.string_list, "x", "must be a list of strings, got 'x'"),
        (fields.string_list, ["a", 2], "must be a list of strings, got a list"),
        (fields.choice(Colour), "green", "must be one of: red, blue, got 'green'"),
        (fields.regex, "(", "invalid regex: missing ), unterminated subpattern at position 0"),
    ],
)
def test_checks_say_what_is_wrong_with_the_value(check, value, message) -> None:
    """Each check raises ValueError with the problem, quoting the value as YAML shows it."""
    with pytest.raises(ValueError) as raised:
        check(value)
    assert str(raised.value) == message


def test_fields_name_the_dotted_field_of_nested_problems() -> None:
    """Fields tags errors with the field, and nested checks with the full dotted path."""

    def meaning(value: object) -> str:
        return fields.Fields(value, ("meaning",)).require("meaning", fields.string)

    spec = fields.Fields({"codes": {}, "name": 3}, ("codes", "name"))
    with pytest.raises(fields.FieldError) as missing:
        spec.require("codes", meaning)
    with pytest.raises(fields.FieldError) as wrong:
        spec.get("name", fields.string)
    assert str(missing.value) == "codes.meaning: missing required field"
    assert str(wrong.value) == "name: must be a string, got 3"


def test_fields_refuse_unknown_keys_and_read_null_as_empty() -> None:
    """A typo is an error on its mapping; an empty YAML section is an empty mapping."""
    with pytest.raises(ValueError, match=r"^unknown field 'colour' \(expected one of: hosts\)$"):
        fields.Fields({"colour": 1}, ("hosts",))
    assert "hosts" not in fields.Fields(None, ("hosts",))


def test_locate_joins_file_entry_field_and_problem() -> None:
    """locate() builds the user-facing line, leaving out an empty field."""
    assert fields.locate("f.yaml", "rule 'r'", error=fields.FieldError("when.first", "bad")) == (
        "f.yaml: rule 'r': when.first: bad"
    )
    assert fields.locate("f.yaml", "rule 'r'", error=ValueError("must be a mapping")) == (
        "f.yaml: rule 'r': must be a mapping"
    )


def test_yaml_errors_give_the_position(tmp_path) -> None:
    """A parser error names the file and ends with the 1-based line and column."""
    with pytest.raises(fields.ConfigFileError) as raised:
        fields.parse_yaml("a: 1\na: 2\n", "f.yaml")
    assert str(raised.value).startswith("f.yaml: not valid YAML: found duplicate key")
    assert str(raised.value).endswith("(line 2, column 1)")


def test_unreadable_files_name_the_path(tmp_path) -> None:
    """Missing and non-UTF-8 files are ConfigFileErrors that start with the path."""
    missing = tmp_path / "missing.yaml"
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(fields.ConfigFileError, match=f"^{missing}: cannot read: No such file"):
        fields.read_text(missing)
    with pytest.raises(
        fields.ConfigFileError, match=rf"^{latin}: cannot read: not UTF-8 \(.* at byte 9\)$"
    ):
        fields.read_text(latin)
