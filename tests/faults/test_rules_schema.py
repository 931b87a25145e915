"""The shipped JSON Schema of rule files: regenerated from the loader's specs it is the same file,
it accepts every shipped scenario and every rule file the docs show, and it refuses what the
loader refuses in shape (an unknown step, a send with no body, an unknown field)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
from wswatchlib.faults.rules import FaultRulesError, load_presets, parse_rules_text
from wswatchlib.faults.schema import SCHEMA_FILE_NAME, schema_text
from wswatchlib.options.config_fields import parse_yaml

REPO = Path(__file__).resolve().parents[2]
FAULTS_DIR = REPO / "config" / "faults"
SHIPPED = FAULTS_DIR / SCHEMA_FILE_NAME
SCENARIOS = sorted(set(FAULTS_DIR.glob("*.yaml")) - {FAULTS_DIR / "presets.yaml"})


def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SHIPPED.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def docs_rule_files() -> list[str]:
    """Every ```yaml block of the docs that is a whole rule file (it has `rules:`)."""
    blocks = []
    for page in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for block in re.findall(r"```yaml\n(.*?)```", page.read_text(encoding="utf-8"), re.S):
            if re.search(r"^rules:", block, re.M):
                blocks.append(block)
    return blocks


def test_the_shipped_schema_is_what_the_specs_generate():
    """Regenerate with `python -m wswatchlib.faults.schema > config/faults/wswatch-rules.schema.json`."""
    assert SHIPPED.read_text(encoding="utf-8") == schema_text()


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda path: path.name)
def test_every_shipped_scenario_is_valid_and_names_the_schema(path):
    text = path.read_text(encoding="utf-8")
    assert text.startswith(f"# yaml-language-server: $schema=./{SCHEMA_FILE_NAME}\n")
    assert list(validator().iter_errors(parse_yaml(text, str(path)))) == []


def test_every_rule_file_in_the_docs_is_valid_for_the_schema_and_the_loader():
    blocks = docs_rule_files()
    assert len(blocks) >= 3
    presets = load_presets()
    for block in blocks:
        assert list(validator().iter_errors(parse_yaml(block, "docs"))) == [], block
        # The catalogue of every field (docs/faults.md) combines conditions no rule would.
        if "id: first-two-503" not in block:
            assert parse_rules_text(block, "docs", presets)


@pytest.mark.parametrize(
    "action",
    [
        "{script: [{jump: {}}]}",
        "{script: [{send: {to: client}}]}",
        "{script: [{send: {to: nobody, text: x}}]}",
        "{script: [{wait: {}}]}",
        "{script: [{preset: no-such-preset}]}",
        "{script: []}",
        "{close: {code: 1011, after_s: 1, colour: red}}",
        "{explode: {}}",
    ],
)
def test_what_the_loader_refuses_in_shape_the_schema_refuses_too(action):
    text = f"rules:\n  - id: bad\n    action: {action}\n"
    assert list(validator().iter_errors(parse_yaml(text, "bad.yaml"))) != []
    with pytest.raises(FaultRulesError):
        parse_rules_text(text, "bad.yaml", load_presets())
