"""Worker settings: the shipped example, and errors that name the field in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from streams.settings import WorkerSettings

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "worker.yaml"


def test_the_example_loads_and_states_every_field_with_its_default() -> None:
    doc = yaml.safe_load(EXAMPLE.read_text())
    loaded = WorkerSettings.load(EXAMPLE)
    defaults = WorkerSettings()
    text = EXAMPLE.read_text()
    for name in WorkerSettings.model_fields:
        assert f"{name}:" in text, f"examples/worker.yaml does not mention {name}"
        if name in doc and name != "kafka":
            assert getattr(loaded, name) == getattr(defaults, name), name
    for name in type(defaults.kafka).model_fields:
        assert f"{name}:" in text, f"examples/worker.yaml does not mention kafka.{name}"


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("web_port: 70000\n", "web_port: Input should be less than or equal to 65535"),
        ("checkpoint_intervall: 5\n", "checkpoint_intervall: Extra inputs are not permitted"),
        ("kafka: {bootstrap: nohost}\n", "kafka.bootstrap: expected HOST:PORT"),
        ("kafka: [1]\n", "kafka: expected a mapping"),
        ("- 1\n", "expected a mapping at the top level"),
    ],
)
def test_an_invalid_field_is_named_in_one_line(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "worker.yaml"
    path.write_text(text)
    with pytest.raises(ValueError) as exc:
        WorkerSettings.load(path)
    assert field in str(exc.value)
    assert str(exc.value).startswith(str(path))
    assert len(str(exc.value).splitlines()) <= 2


def test_a_bad_variable_is_named_as_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VITALS_KAFKA_BOOTSTRAP", "nohost")
    with pytest.raises(ValueError, match="VITALS_KAFKA_BOOTSTRAP: expected HOST:PORT"):
        WorkerSettings.load(None)
