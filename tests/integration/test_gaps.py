"""streams.gaps.RangeReader on a real local Kafka: exact offset ranges, reused."""

from __future__ import annotations

import pytest

from streams.gaps import RangeReader

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(60)]


def test_reads_exactly_the_requested_ranges(kafka_bootstrap: str, kafka_topic) -> None:
    from kafka import KafkaProducer

    topic = kafka_topic(2)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    for p in (0, 1):
        for i in range(20):
            producer.send(topic, value=f"{p}:{i}".encode(), partition=p, headers=[("h", b"x")])
    producer.flush()
    producer.close()

    reader = RangeReader({"bootstrap_servers": kafka_bootstrap})
    try:
        got = reader.read(topic, 1, 5, 12)
        assert [r.offset for r in got] == list(range(5, 12))
        assert [r.value for r in got] == [f"1:{i}".encode() for i in range(5, 12)]
        assert got[0].headers == [("h", b"x")] and got[0].partition == 1
        # the same consumer, another partition, a one-record range, then the tail
        assert [r.value for r in reader.read(topic, 0, 3, 4)] == [b"0:3"]
        assert [r.offset for r in reader.read(topic, 0, 18, 20)] == [18, 19]
    finally:
        reader.close()
