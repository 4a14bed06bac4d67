"""The offline CLI refuses what it cannot do before doing any work, in plain words."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from monitor.cli import app

EXAMPLES = Path(__file__).resolve().parents[2] / "schemas" / "examples"
runner = CliRunner()


@pytest.fixture
def events(tmp_path: Path) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_text(
        "".join(
            json.dumps(json.loads((EXAMPLES / n).read_text())) + "\n"
            for n in ("suggestion.json", "outcome.json")
        )
    )
    return path


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, [str(a) for a in args])
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), result.exception  # a traceback is never the answer
    return result.exit_code, result.output


def test_alerts_out_onto_the_input_is_refused_and_the_input_kept(events: Path) -> None:
    before = events.read_bytes()
    code, output = _run("replay", events, "--alerts-out", events)
    assert code == 2 and "that is the input file" in output
    assert events.read_bytes() == before


def test_alerts_out_a_directory_is_refused(events: Path, tmp_path: Path) -> None:
    code, output = _run("replay", events, "--alerts-out", tmp_path)
    assert code == 2 and "is a directory" in output


@pytest.mark.parametrize(
    ("truth", "message"),
    [
        ("[]", "expected a JSON object"),
        ('{"degradations": [{"id": "x"}]}', "degradations.0.signals"),
        ("\x00\x01", "not JSON"),
    ],
)
def test_a_truth_file_of_the_wrong_shape_is_refused_before_the_replay(
    events: Path, tmp_path: Path, truth: str, message: str
) -> None:
    path = tmp_path / "truth.json"
    path.write_text(truth)
    code, output = _run("replay", events, "--truth", path)
    assert code == 2 and message in output and "valid events" not in output


def test_error_text_is_not_read_as_markup(events: Path, tmp_path: Path) -> None:
    config = tmp_path / "cfg[prod].yaml"
    config.write_text('timezone: "[/x]"\n')
    code, output = _run("replay", events, "--config", config)
    assert code == 2 and "cfg[prod].yaml" in output and "'[/x]'" in output


def test_demo_checks_its_port_before_simulating(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, output = _run("demo", "--port", port, "--out", tmp_path / "demo")
    assert code == 2 and f"--port {port}" in output
    assert not (tmp_path / "demo" / "events.jsonl").exists()


def test_an_output_directory_that_is_a_file_is_refused(events: Path) -> None:
    code, output = _run("schema", "--out", events)
    assert code == 2 and "not a directory" in output


def test_a_config_feature_the_stream_lacks_is_warned_about(events: Path, tmp_path: Path) -> None:
    config = tmp_path / "cfg.yaml"
    config.write_text("features:\n  inbasket-replly: {decision_timeout: 2h}\n")
    code, output = _run("replay", events, "--config", config)
    assert code == 0 and "does not have: inbasket-replly" in output
    config.write_text("features:\n  inbasket-reply: {decision_timeout: 2h}\n")
    assert "does not have" not in _run("replay", events, "--config", config)[1]


@pytest.mark.parametrize("content", ["", "\n\n", "not json\n{}\n"])
def test_a_file_without_a_valid_event_fails(tmp_path: Path, content: str) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(content)
    alerts = tmp_path / "alerts.jsonl"
    code, output = _run("replay", path, "--alerts-out", alerts)
    assert code == 1 and "no valid event" in output
    assert not alerts.exists()


def test_a_file_with_a_valid_event_succeeds(events: Path, tmp_path: Path) -> None:
    code, output = _run("replay", events, "--alerts-out", tmp_path / "alerts.jsonl")
    assert code == 0, output
    assert (tmp_path / "alerts.jsonl").exists()


def test_worker_settings_errors_are_one_line_and_help_names_the_example(tmp_path: Path) -> None:
    bad = tmp_path / "worker.yaml"
    bad.write_text("web_port: 70000\n")
    code, text = _run("worker", "--config", str(bad))
    assert code == 2 and "Traceback" not in text
    assert "web_port: Input should be less than or equal to 65535" in text
    code, text = _run("worker", "--help")
    assert code == 0 and "examples/worker.yaml" in text


@pytest.mark.parametrize("command", ["demo", "worker"])
def test_an_invalid_web_config_is_refused_before_any_work(command: str, tmp_path: Path) -> None:
    web = tmp_path / "web.yml"
    web.write_text("basic_auth_users: {prometheus: not-a-bcrypt-hash}\n")
    out = ["--out", str(tmp_path / "out")] if command == "demo" else []
    code, text = _run(command, "--web.config.file", str(web), *out)
    assert code == 2
    assert "expected a bcrypt hash" in text and "not-a-bcrypt-hash" not in text
    assert not (tmp_path / "out").exists()
