"""Kafka security settings reach every client alike: faust (consumer, producer,
topic creation) and kafka-python (publisher, admin, the worker's read-back)."""

from __future__ import annotations

from typing import Any

import pytest

from monitor.kafka_settings import KafkaSettings
from streams.settings import WorkerSettings


def _both(**kafka: Any) -> tuple[dict[str, Any], Any]:
    settings = WorkerSettings(kafka=KafkaSettings(**kafka))
    return settings.kafka.kafka_python_kwargs(), settings.broker_credentials()


@pytest.mark.parametrize("protocol", ["SASL_PLAINTEXT", "SASL_SSL"])
def test_sasl_without_a_mechanism_is_plain_for_every_client(protocol: str) -> None:
    kwargs, creds = _both(security_protocol=protocol, sasl_username="u", sasl_password="p")
    assert kwargs["sasl_mechanism"] == "PLAIN" == creds.mechanism.value
    assert kwargs["sasl_plain_username"] == "u" and kwargs["sasl_plain_password"] == "p"


def test_a_configured_mechanism_is_used_by_every_client() -> None:
    kwargs, creds = _both(
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="u",
        sasl_password="p",
    )
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512" == creds.mechanism.value


def test_no_sasl_settings_without_sasl() -> None:
    kwargs, creds = _both(security_protocol="PLAINTEXT", sasl_mechanism="PLAIN")
    assert "sasl_mechanism" not in kwargs and creds is None


# -- secrets ------------------------------------------------------------------------------


def test_a_password_file_feeds_every_client(tmp_path) -> None:
    path = tmp_path / "pw"
    path.write_text("s3cret-from-file\n")
    kwargs, creds = _both(
        security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512", sasl_username="u",
        sasl_password_file=path,
    )  # fmt: skip
    assert kwargs["sasl_plain_password"] == "s3cret-from-file" == creds.password


def test_password_files_come_from_the_environment(tmp_path, monkeypatch) -> None:
    path = tmp_path / "pw"
    path.write_text("env-file-secret")
    monkeypatch.setenv("VITALS_KAFKA_SASL_PASSWORD_FILE", str(path))
    monkeypatch.setenv("VITALS_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    settings = WorkerSettings.load(None)
    assert settings.kafka.secret("sasl_password") == "env-file-secret"
    assert "env-file-secret" not in repr(settings) + str(settings.kafka.model_dump())


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"sasl_password": "inline-secret", "sasl_password_file": "PW"}, "not both"),
        ({"sasl_password_file": "/nonexistent/pw"}, "cannot read it"),
        ({"ssl_password_file": "EMPTY"}, "is empty"),
        ({"sasl_password": 12345, "security_protocol": "SASL_SSL"}, "sasl_password"),
    ],
)
def test_secret_errors_are_clear_and_quote_no_secret(tmp_path, given, message) -> None:
    (tmp_path / "pw").write_text("inline-secret")
    (tmp_path / "empty").write_text("\n")
    given = {k: {"PW": tmp_path / "pw", "EMPTY": tmp_path / "empty"}.get(v, v)
             for k, v in given.items()}  # fmt: skip
    with pytest.raises(ValueError) as info:
        WorkerSettings(kafka=KafkaSettings(**given))
    assert message in str(info.value)
    assert "inline-secret" not in str(info.value) and "12345" not in str(info.value)
