"""Connection settings shared by the publisher, topic admin and the Faust worker.

Plain pydantic settings (no Kafka imports): bootstrap servers, topic names and
security. Every field can come from a config file or a ``VITALS_KAFKA_*``
environment variable; see :meth:`KafkaSettings.from_env`.

Secrets (the SASL password, the password of an encrypted client key) come from
the environment or, better, from a file (``VITALS_KAFKA_SASL_PASSWORD_FILE``,
``VITALS_KAFKA_SSL_PASSWORD_FILE``: a mounted secret), never from a command line.
They are held as ``SecretStr`` and validation errors never quote an input.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    field_validator,
    model_validator,
)

INPUT_TOPIC: Final = "ehr.ai.events"
DEAD_LETTER_TOPIC: Final = "ehr.ai.events.dlq"
DEAD_LETTER_RETENTION_DAYS: Final = 30.0
"""Of the dead-letter topic when Vitals creates it (``vitals topics create``, the worker)."""

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class KafkaSettings(BaseModel):
    """Where Kafka is and how to talk to it securely."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    bootstrap: str = Field(
        default="127.0.0.1:9092", description="Comma-separated HOST:PORT list of brokers."
    )
    input_topic: str = INPUT_TOPIC
    dead_letter_topic: str = DEAD_LETTER_TOPIC
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    sasl_password_file: Path | None = Field(
        None, description="File holding the SASL password (a trailing newline is dropped)."
    )
    ssl_cafile: Path | None = Field(None, description="CA certificates (PEM) to trust.")
    ssl_certfile: Path | None = Field(None, description="Client certificate (PEM), mutual TLS.")
    ssl_keyfile: Path | None = Field(None, description="Its private key (PEM).")
    ssl_password: SecretStr | None = Field(None, description="Password of an encrypted key.")
    ssl_password_file: Path | None = Field(None, description="File holding that password.")

    @field_validator("bootstrap")
    @classmethod
    def _hosts_have_ports(cls, value: str) -> str:
        for host in value.split(","):
            name, _, port = host.strip().rpartition(":")
            if not name or not port.isdigit():
                raise ValueError(f"expected HOST:PORT, got {host!r}")
        return value

    _secrets: dict[str, SecretStr] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _read_secret_files(self) -> KafkaSettings:
        for name in ("sasl_password", "ssl_password"):
            path = getattr(self, f"{name}_file")
            value = getattr(self, name)
            if path is not None and value is not None:
                raise ValueError(f"give {name} or {name}_file, not both")
            if path is not None:
                try:
                    secret = Path(path).read_text().rstrip("\r\n")
                except OSError as exc:
                    raise ValueError(
                        f"{name}_file {path}: cannot read it ({exc.strerror})"
                    ) from None
                if not secret:
                    raise ValueError(f"{name}_file {path}: is empty")
                value = SecretStr(secret)
            if value is not None:
                self._secrets[name] = value
        return self

    def secret(self, name: str) -> str | None:
        """The value of secret *name* (``sasl_password``, ``ssl_password``), from the
        setting or its file; None when neither is given."""
        value = self._secrets.get(name)
        return None if value is None else value.get_secret_value()

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
            kwargs["sasl_plain_password"] = self.secret("sasl_password")
        for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            value = getattr(self, name)
            if value is not None:
                kwargs[name] = str(value)
        if self.secret("ssl_password") is not None:
            kwargs["ssl_password"] = self.secret("ssl_password")
        return kwargs
