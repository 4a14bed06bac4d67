"""Validated, idempotent publishing of contract-v1 events to Kafka (kafka-python).

Every event is validated before it is sent, keyed by ``suggestion_id`` (so the
resolver sees all of a suggestion's events on one partition), and produced with
``acks=all`` and idempotence on, batched, retried, and flushed on close.
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError

from bridge.connection import BrokerUnavailable, diagnosed
from monitor.core.contract import (
    Feedback,
    Outcome,
    Suggestion,
    dump_event,
    parse_event,
    validate_event,
)
from monitor.kafka_settings import KafkaSettings

log = logging.getLogger(__name__)

__all__ = ["BrokerUnavailable", "PublishError", "Publisher", "TopicMissing"]

EventLike = Suggestion | Outcome | Feedback | dict[str, Any]


class PublishError(RuntimeError):
    """Some events could not be delivered after all retries."""


class TopicMissing(LookupError):
    """The topic to publish to does not exist (and creating it was not asked for)."""


class Publisher:
    """Send events to the input topic.

    Parameters
    ----------
    settings
        Bootstrap servers, topic and security.
    linger_ms, batch_size
        Producer batching; defaults favour throughput with < 10 ms of added latency.
    connect_timeout_s
        How long to try the bootstrap servers before :class:`BrokerUnavailable`.
    create_topic
        Create the topic (as ``vitals topics create`` creates the input topic) when it
        does not exist.
        Without it a missing topic raises :class:`TopicMissing`: a typo in a topic
        name must not create a topic nobody reads.
    producer_overrides
        Any other kafka-python ``KafkaProducer`` option.

    Examples
    --------
    >>> with Publisher(KafkaSettings(bootstrap="127.0.0.1:19092")) as pub:  # doctest: +SKIP
    ...     pub.publish({"schema_version": 1, "type": "feedback", ...})
    """

    def __init__(
        self,
        settings: KafkaSettings,
        *,
        linger_ms: int = 5,
        batch_size: int = 256 * 1024,
        connect_timeout_s: float = 10.0,
        create_topic: bool = False,
        **producer_overrides: Any,
    ) -> None:
        self.settings = settings
        self.topic = settings.input_topic
        self.sent = 0
        self.failed = 0
        self._last_error: BaseException | None = None
        config: dict[str, Any] = {
            **settings.kafka_python_kwargs(),
            "acks": "all",
            "enable_idempotence": True,
            "retries": 2**31 - 1,
            "delivery_timeout_ms": 120_000,
            "linger_ms": linger_ms,
            "batch_size": batch_size,
            "compression_type": None,
            "max_in_flight_requests_per_connection": 5,
            "client_id": "vitals-publisher",
            "bootstrap_timeout_ms": int(connect_timeout_s * 1000),
            # a metadata request for a missing topic never creates it (see create_topic)
            "allow_auto_create_topics": False,
        }
        config.update(producer_overrides)
        self._ensure_topic(create_topic, connect_timeout_s)
        with diagnosed(settings, connect_timeout_s):
            self._producer = KafkaProducer(**config)

    def _ensure_topic(self, create: bool, connect_timeout_s: float) -> None:
        from bridge.admin import create_topics, topic_exists
        from bridge.connection import admin_client

        admin = admin_client(self.settings, connect_timeout_s)
        try:
            if topic_exists(admin, self.topic):
                return
        finally:
            admin.close()
        if not create:
            raise TopicMissing(
                f"topic {self.topic!r} does not exist at {self.settings.bootstrap}; "
                "create it with `vitals topics create --topic NAME`, or publish with "
                "--create-topic"
            )
        created = create_topics(
            self.settings, connect_timeout_s=connect_timeout_s, dead_letter=False
        )
        log.info("created %s", ", ".join(f"{r.name} ({r.partitions} partitions)" for r in created))

    def publish(self, event: EventLike) -> None:
        """Validate one event (model or dict) and queue it; raises InvalidEvent if invalid."""
        if isinstance(event, dict):
            event = validate_event(event)
        self._send(event.suggestion_id, dump_event(event))

    def publish_json(self, raw: bytes | str) -> None:
        """Validate one JSON-encoded event and queue its bytes unchanged."""
        event = parse_event(raw)
        value = raw.encode() if isinstance(raw, str) else bytes(raw)
        self._send(event.suggestion_id, value.strip())

    def _send(self, key: str, value: bytes) -> None:
        future = self._producer.send(self.topic, key=key.encode(), value=value)
        future.add_errback(self._on_error)
        self.sent += 1

    def _on_error(self, exc: BaseException) -> None:
        self.failed += 1
        self._last_error = exc
        log.error("delivery failed: %s", type(exc).__name__)

    def flush(self, timeout: float | None = 60.0) -> None:
        """Block until every queued event is acknowledged; raise PublishError on any failure."""
        try:
            self._producer.flush(timeout=timeout)
        except KafkaError as exc:
            raise PublishError(f"flush did not complete: {exc}") from exc
        if self.failed:
            raise PublishError(
                f"{self.failed} of {self.sent} events were not delivered "
                f"(last error: {self._last_error!r})"
            )

    def close(self, timeout: float | None = 60.0) -> None:
        """Flush, then release the producer."""
        try:
            self.flush(timeout)
        finally:
            self._producer.close(timeout=timeout)

    def __enter__(self) -> Publisher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
