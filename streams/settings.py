"""Settings of the streaming worker (``vitals worker --config FILE``).

A YAML (or JSON) file with a ``kafka:`` block (:class:`~monitor.kafka_settings.KafkaSettings`)
and the worker's own fields; ``examples/worker.yaml`` has every field, commented.
``VITALS_KAFKA_*`` environment variables fill Kafka fields the file leaves out (e.g.
the bootstrap address in CI).
"""

from __future__ import annotations

import json
import os
import ssl
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from monitor.core.contract import error_message
from monitor.kafka_settings import KafkaSettings


class WorkerSettings(BaseModel):
    """Everything a worker process needs; every worker of a group shares ``app_id``."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    app_id: str = Field(
        "vitals", description="Faust app id: the consumer group and the prefix of internal topics."
    )
    assess_topic: str | None = Field(
        None, description="Internal stage-1 → stage-2 topic; None = '<app_id>-assess'."
    )
    assess_partitions: int = Field(
        6, ge=1, description="Partitions of the internal assess topic (stage-2 parallelism)."
    )
    input_partitions: int | None = Field(
        None,
        ge=1,
        description="Partitions of the input topic; None = ask the broker at start. "
        "The stage-1 checkpoint table is co-partitioned with it.",
    )
    replication_factor: int = Field(1, ge=1, description="Of internal topics and changelogs.")
    web_host: str = "0.0.0.0"
    web_port: int = Field(6066, ge=1, le=65535, description="/metrics, /healthz, /readyz.")
    web_config_file: Path | None = Field(
        None,
        description="TLS and basic auth for the web endpoints: a Prometheus exporter web "
        "config (monitor/web_config.py); `vitals worker --web.config.file` sets it too.",
    )
    data_dir: Path = Field(Path("vitals-data"), description="Faust data directory.")
    checkpoint_interval: float = Field(
        5.0, gt=0, description="Seconds between checkpoints (state → changelog, then ack)."
    )
    checkpoint_events: int = Field(
        20000, ge=1, description="Also checkpoint after this many unacknowledged events."
    )
    tick_interval: float = Field(
        60.0, gt=0, description="Event-time seconds of watermark progress between ticks."
    )
    tick_timer: float = Field(5.0, gt=0, description="Wall seconds between timer ticks.")
    max_ahead: float = Field(
        3600.0,
        ge=0,
        description="Seconds an event's occurred_at may be ahead of this worker's clock; "
        "later ones are dead-lettered (future_time): one bad clock would otherwise move "
        "the watermark past every other event.",
    )
    idle_after: float = Field(
        60.0,
        gt=0,
        description="Wall seconds without input after which an input partition is left "
        "out of the stage-2 watermark (an empty or stuck partition would hold every "
        "alert back); its next input brings it back.",
    )
    flush_interval: float = Field(
        0.02,
        gt=0,
        description="Wall seconds a stage waits for more input to apply as one batch; "
        "stage 1 sends a batch's results packed into one stage-2 message per partition.",
    )
    producer_linger: float = Field(
        0.005,
        ge=0,
        description="Seconds the producer waits to batch records (stage-2 messages, "
        "changelog, dead letters) into one request; 0 sends every record on its own.",
    )
    session_timeout: float = Field(
        10.0,
        gt=0,
        description="Consumer session timeout (s): how soon a dead worker's "
        "partitions move to the others.",
    )
    monitor_config: Path | None = Field(None, description="Monitor config (YAML); None = defaults.")
    log_level: str = "info"

    @classmethod
    def load(cls, path: Path | None = None, **overrides: Any) -> WorkerSettings:
        """Read a YAML/JSON file; ``VITALS_KAFKA_*`` fill the Kafka fields it omits.

        Raises ValueError naming the file and, one line each, every offending field
        (``kafka.bootstrap``, ``VITALS_KAFKA_BOOTSTRAP`` when it came from there).
        """
        where = "worker settings" if path is None else str(path)
        data: dict[str, Any] = {}
        if path is not None:
            text = Path(path).read_text()
            try:
                loaded = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
            except (yaml.YAMLError, ValueError) as exc:
                raise ValueError(f"{where}: not valid YAML/JSON: {exc}") from None
            if loaded is not None and not isinstance(loaded, dict):
                raise ValueError(f"{where}: expected a mapping at the top level")
            data = dict(loaded or {})
        kafka_given = data.pop("kafka", None) or {}
        if not isinstance(kafka_given, dict):
            raise ValueError(f"{where}: kafka: expected a mapping")
        try:
            data["kafka"] = KafkaSettings.from_env(**kafka_given)
            data.update(overrides)
            return cls(**data)
        except ValidationError as exc:
            lines = []
            for err in exc.errors(include_url=False):
                loc = ".".join(str(p) for p in err["loc"])
                if exc.title == "KafkaSettings":
                    field = str(err["loc"][0]) if err["loc"] else ""
                    env = f"VITALS_KAFKA_{field.upper()}"
                    loc = f"kafka.{loc}" if field in kafka_given or env not in os.environ else env
                lines.append(f"  {loc}: {error_message(err)}" if loc else f"  {error_message(err)}")
            raise ValueError(f"{where}: invalid settings\n" + "\n".join(lines)) from None

    def broker_credentials(self) -> Any:
        """faust credentials for the configured security protocol (None for PLAINTEXT)."""
        import faust

        k = self.kafka
        context = None
        if k.security_protocol in ("SSL", "SASL_SSL"):
            context = ssl.create_default_context(
                purpose=ssl.Purpose.SERVER_AUTH,
                cafile=str(k.ssl_cafile) if k.ssl_cafile else None,
            )
            if k.ssl_certfile:
                context.load_cert_chain(
                    str(k.ssl_certfile),
                    str(k.ssl_keyfile) if k.ssl_keyfile else None,
                    k.secret("ssl_password"),
                )
        if k.security_protocol in ("SASL_PLAINTEXT", "SASL_SSL"):
            return faust.SASLCredentials(
                username=k.sasl_username,
                password=k.secret("sasl_password"),
                mechanism=k.sasl,
                ssl_context=context,
            )
        if k.security_protocol == "SSL":
            return faust.SSLCredentials(context)
        return None
