"""The committed JSON Schema and examples match the pydantic models."""

from __future__ import annotations

import json
from pathlib import Path

from monitor.core.contract import validate_event
from monitor.schema import EXAMPLES, json_schema, render, write_schema

ROOT = Path(__file__).resolve().parents[2]


def test_committed_schema_is_in_sync_with_models() -> None:
    committed = (ROOT / "schemas" / "event-v1.json").read_text()
    assert committed == render(json_schema()), "run `vitals schema` and commit schemas/"


def test_committed_examples_are_valid_and_in_sync(tmp_path: Path) -> None:
    write_schema(tmp_path)
    for name, example in EXAMPLES.items():
        validate_event(example)
        committed = ROOT / "schemas" / "examples" / f"{name}.json"
        assert json.loads(committed.read_text()) == example


def test_schema_forbids_extra_fields_and_pins_version() -> None:
    schema = json_schema()
    for model in ("Suggestion", "Outcome", "Feedback"):
        definition = schema["$defs"][model]
        assert definition["additionalProperties"] is False
        assert definition["properties"]["schema_version"]["const"] == 1
    assert schema["discriminator"]["propertyName"] == "type"
