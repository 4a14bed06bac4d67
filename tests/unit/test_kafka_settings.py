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
