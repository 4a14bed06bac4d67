"""Topic administration: the input topic and its dead-letter topic."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from bridge.connection import admin_client
from monitor.kafka_settings import DEAD_LETTER_RETENTION_DAYS, KafkaSettings

DAY_MS = 86_400_000


@dataclass(frozen=True)
class TopicResult:
    name: str
    partitions: int
    created: bool


def topic_exists(admin: Any, name: str) -> bool:
    """Whether the broker has topic *name* (asking never creates it)."""
    return name in admin.list_topics()


def create_topics(
    settings: KafkaSettings,
    *,
    partitions: int = 6,
    replication: int = 1,
    dlq_partitions: int = 1,
    retention_days: float = 7,
    dlq_retention_days: float = DEAD_LETTER_RETENTION_DAYS,
    connect_timeout_s: float = 10.0,
    dead_letter: bool = True,
) -> list[TopicResult]:
    """Create the input topic and (with *dead_letter*) the dead-letter topic; existing
    topics are left as they are."""
    admin = admin_client(settings, connect_timeout_s)
    wanted = [
        NewTopic(
            settings.input_topic,
            partitions,
            replication,
            topic_configs={"retention.ms": str(int(retention_days * DAY_MS))},
        ),
        NewTopic(
            settings.dead_letter_topic,
            dlq_partitions,
            replication,
            topic_configs={"retention.ms": str(int(dlq_retention_days * DAY_MS))},
        ),
    ][: 2 if dead_letter else 1]
    results = []
    try:
        for topic in wanted:
            try:
                admin.create_topics([topic])
                results.append(TopicResult(topic.name, topic.num_partitions, True))
            except TopicAlreadyExistsError:
                meta = admin.describe_topics([topic.name])[0]
                results.append(TopicResult(topic.name, len(meta["partitions"]), False))
    finally:
        admin.close()
    return results
