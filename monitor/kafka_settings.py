"""Connection settings shared by the publisher, topic admin and the Faust worker.

Plain pydantic settings (no Kafka imports): bootstrap servers, topic names and
security. Every field can come from a config file or a ``VITALS_KAFKA_*``
environment variable; see :meth:`KafkaSettings.from_env`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

INPUT_TOPIC: Final = "ehr.ai.events"
DEAD_LETTER_TOPIC: Final = "ehr.ai.events.dlq"
DEAD_LETTER_RETENTION_DAYS: Final = 30.0
"""Of the dead-letter topic when Vitals creates it (``vitals topics create``, the worker)."""

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class KafkaSettings(BaseModel):
    """Where Kafka is and how to talk to it securely."""

    model_config = ConfigDict(extra="forbid")

    bootstrap: str = Field(
        default="127.0.0.1:9092", description="Comma-separated HOST:PORT list of brokers."
    )
    input_topic: str = INPUT_TOPIC
    dead_letter_topic: str = DEAD_LETTER_TOPIC
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None

    @field_validator("bootstrap")
    @classmethod
    def _hosts_have_ports(cls, value: str) -> str:
        for host in value.split(","):
            name, _, port = host.strip().rpartition(":")
            if not name or not port.isdigit():
                raise ValueError(f"expected HOST:PORT, got {host!r}")
        return value

    @property
    def servers(self) -> list[str]:
        return [h.strip() for h in self.bootstrap.split(",")]

    @classmethod
    def from_env(cls, **overrides: Any) -> KafkaSettings:
        """Settings from ``VITALS_KAFKA_<FIELD>`` variables, then explicit overrides."""
        values: dict[str, Any] = {}
        for name in cls.model_fields:
            env = os.environ.get(f"VITALS_KAFKA_{name.upper()}")
            if env:
                values[name] = env
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @property
    def sasl(self) -> str | None:
        """The SASL mechanism every client uses: the configured one, PLAIN when the
        protocol is SASL and none is set (faust's default), None without SASL."""
        if self.security_protocol.startswith("SASL"):
            return self.sasl_mechanism or "PLAIN"
        return None

    def kafka_python_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for kafka-python clients (producer, admin)."""
        kwargs: dict[str, Any] = {
            "bootstrap_servers": self.servers,
            "security_protocol": self.security_protocol,
        }
        if self.sasl:
            kwargs["sasl_mechanism"] = self.sasl
            kwargs["sasl_plain_username"] = self.sasl_username
            kwargs["sasl_plain_password"] = (
                self.sasl_password.get_secret_value() if self.sasl_password else None
            )
        for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            value = getattr(self, name)
            if value is not None:
                kwargs[name] = str(value)
        return kwargs
