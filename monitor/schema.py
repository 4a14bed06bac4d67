"""The published JSON Schema of event contract v1, generated from the pydantic models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from monitor.core.contract import EVENT_ADAPTER, SCHEMA_VERSION

SCHEMA_ID = "https://vitals.dev/schemas/event-v1.json"

EXAMPLES: dict[str, dict[str, Any]] = {
    "suggestion": {
        "schema_version": 1,
        "type": "suggestion",
        "event_id": "evt-0001",
        "suggestion_id": "sug-0001",
        "occurred_at": "2026-01-05T09:00:00-05:00",
        "feature": "inbasket-reply",
        "model_version": "reply-2.0",
        "site": "clinic-north",
        "care_setting": "outpatient",
        "score": 0.82,
        "draft_length": 412,
        "inputs": {"message-length-band": 3, "message-category": "med-refill"},
    },
    "outcome": {
        "schema_version": 1,
        "type": "outcome",
        "event_id": "evt-0002",
        "suggestion_id": "sug-0001",
        "occurred_at": "2026-01-05T09:03:12-05:00",
        "outcome": "edited",
        "edit_distance": 57,
        "final_length": 398,
    },
    "outcome-overridden": {
        "schema_version": 1,
        "type": "outcome",
        "event_id": "evt-0003",
        "suggestion_id": "sug-0002",
        "occurred_at": "2026-01-05T09:04:00Z",
        "outcome": "rejected",
        "override_reason": "not-clinically-appropriate",
    },
    "feedback": {
        "schema_version": 1,
        "type": "feedback",
        "event_id": "evt-0004",
        "suggestion_id": "sug-0001",
        "occurred_at": "2026-01-05T10:15:00Z",
        "category": "inaccurate",
    },
}


def json_schema() -> dict[str, Any]:
    """JSON Schema (2020-12) for one event, as bridges should validate it."""
    schema = EVENT_ADAPTER.json_schema(mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": f"Vitals AI event, contract v{SCHEMA_VERSION}",
        "description": (
            "One JSON object per Kafka message on ehr.ai.events, keyed by suggestion_id. "
            "Unknown fields are rejected; no field carries free text."
        ),
        **schema,
    }


def render(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=False) + "\n"


def write_schema(out_dir: Path) -> list[Path]:
    """Write ``event-v1.json`` and ``examples/*.json`` under *out_dir*; return the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "examples").mkdir(exist_ok=True)
    paths = [out_dir / f"event-v{SCHEMA_VERSION}.json"]
    paths[0].write_text(render(json_schema()))
    for name, example in EXAMPLES.items():
        path = out_dir / "examples" / f"{name}.json"
        path.write_text(render(example))
        paths.append(path)
    return paths
