"""The real local Kafka broker (tools/kafka/kafka.sh + tools.kafka.broker) works.

(a) against the session broker (kafka_bootstrap fixture): keyed produce/consume;
(b) per supported Kafka version: start a broker on its own port, round-trip one
    message, stop it and check that the process is gone and the port closed.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

from tools.kafka.broker import (
    DEFAULT_VERSION,
    KafkaError,
    LocalKafka,
    port_open,
)

pytestmark = pytest.mark.kafka

# One 4.1.x (the kafka.sh default) and the last 3.x line.
VERSIONS = [DEFAULT_VERSION, "3.9.1"]
# Separate ports from the session broker (19092/19093) and from each other.
VERSION_PORTS = {version: 19200 + 10 * i for i, version in enumerate(VERSIONS)}


def _produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> list:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    try:
        futures = [producer.send(topic, key=key, value=value) for key, value in records]
        producer.flush(timeout=30)
        return [future.get(timeout=30) for future in futures]
    finally:
        producer.close(timeout=10)


def _consume(bootstrap: str, topic: str, expected: int, timeout: float = 30.0) -> list:
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=f"vitals-test-{uuid.uuid4().hex[:10]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    try:
        consumer.subscribe([topic])
        received: list = []
        deadline = time.monotonic() + timeout
        while len(received) < expected and time.monotonic() < deadline:
            for messages in consumer.poll(timeout_ms=500).values():
                received.extend(messages)
        return received
    finally:
        consumer.close()


def test_session_broker_keyed_roundtrip(kafka_bootstrap: str, kafka_topic) -> None:
    topic = kafka_topic(partitions=3)
    records = [(f"patient-{i % 3}".encode(), f"event-{i}".encode()) for i in range(9)]

    metadata = _produce(kafka_bootstrap, topic, records)
    assert all(m.topic == topic for m in metadata)

    received = _consume(kafka_bootstrap, topic, expected=len(records))
    assert sorted((m.key, m.value) for m in received) == sorted(records)

    # Keyed partitioning: one partition per key, and per-key order preserved.
    partitions_by_key: dict[bytes, set[int]] = defaultdict(set)
    values_by_key: dict[bytes, list[bytes]] = defaultdict(list)
    for message in sorted(received, key=lambda m: (m.partition, m.offset)):
        partitions_by_key[message.key].add(message.partition)
        values_by_key[message.key].append(message.value)
    assert all(len(parts) == 1 for parts in partitions_by_key.values()), partitions_by_key
    for key, values in values_by_key.items():
        assert values == [value for k, value in records if k == key]


@pytest.mark.slow
@pytest.mark.parametrize("version", VERSIONS)
def test_broker_version_start_roundtrip_stop(version: str) -> None:
    port = VERSION_PORTS[version]
    broker = LocalKafka(version=version, port=port, clean=True)
    if broker.is_running():  # leftover of an interrupted run: start from scratch
        broker.stop()
    assert not port_open(broker.host, port), f"port {port} is busy; cannot test Kafka {version}"

    try:
        broker.start()
    except KafkaError as exc:
        pytest.fail(
            f"Kafka {version} could not be fetched/started from Maven Central via "
            f"tools/kafka/kafka.sh:\n{exc}",
            pytrace=False,
        )
    pid = broker.pid
    try:
        assert broker.started
        assert pid is not None and broker.pid_alive(pid)
        assert port_open(broker.host, port)
        assert broker.server_version() == version

        topic = f"vitals-version-check-{uuid.uuid4().hex[:8]}"
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
        try:
            admin.create_topics(
                {topic: {"num_partitions": 1, "replication_factor": 1}}, wait_for_metadata=True
            )
        finally:
            admin.close()
        _produce(broker.bootstrap, topic, [(b"key-1", f"hello {version}".encode())])
        received = _consume(broker.bootstrap, topic, expected=1)
        assert [(m.key, m.value) for m in received] == [(b"key-1", f"hello {version}".encode())]
    finally:
        broker.stop()

    assert not broker.pid_alive(pid), f"Kafka {version} pid {pid} still alive after stop"
    assert not port_open(broker.host, port), f"port {port} still open after stop"
    assert not broker.is_running()
