"""streams.gaps.RangeReader on a real local Kafka: exact offset ranges, reused."""

from __future__ import annotations

import pytest

import streams.gaps
from streams.gaps import Offsets, RangeReader, ReadBackTimeout
from streams.stats import WorkerStats

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(60)]


def _transactions(bootstrap: str, topic: str, txns: list[tuple[list[bytes], bool]]) -> None:
    """Write each (values, commit) as one transaction to partition 0, aborted if not commit."""
    import uuid

    from kafka import KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=bootstrap, transactional_id=f"t-{uuid.uuid4().hex[:6]}"
    )
    producer.init_transactions()
    for values, commit in txns:
        producer.begin_transaction()
        for value in values:
            producer.send(topic, value=value, partition=0)
        producer.flush()
        producer.commit_transaction() if commit else producer.abort_transaction()
    producer.close()


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


def _values(bootstrap: str, topic: str, n: int, deleted_to: int = 0) -> None:
    """Write values "0".."n-1" to partition 0; retention-delete offsets below *deleted_to*."""
    from kafka import KafkaAdminClient, KafkaProducer, TopicPartition

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for i in range(n):
        producer.send(topic, value=str(i).encode(), partition=0)
    producer.flush()
    producer.close()
    if deleted_to:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        try:
            admin.delete_records({TopicPartition(topic, 0): deleted_to})
        finally:
            admin.close()


def test_a_range_retention_began_to_delete_reads_what_is_left(
    kafka_bootstrap: str, kafka_topic
) -> None:
    """Records before the log start are gone: the reader returns the rest of the range
    (kafka-python's default reset would jump to the partition's end and return none)."""
    topic = kafka_topic(1)
    _values(kafka_bootstrap, topic, 20, deleted_to=10)
    reader = RangeReader({"bootstrap_servers": kafka_bootstrap})
    try:
        assert [r.offset for r in reader.read(topic, 0, 5, 15)] == list(range(10, 15))
        assert reader.lost == 5  # offsets 5..9: counted as lost, not taken for markers
        assert [r.value for r in reader.read(topic, 0, 15, 18)] == [b"15", b"16", b"17"]
        assert reader.lost == 5
    finally:
        reader.close()


def test_a_state_that_applied_nothing_starts_at_the_log_start(
    kafka_bootstrap: str, kafka_topic
) -> None:
    """A partition state without an offset (nothing applied, nothing checkpointed)
    given a message past the log start gets the records before it read back: the
    consumer starts at a committed offset, and records acked unapplied across a
    rebalance (or skipped by faust) sit before it, in no state. Offsets retention
    deleted are not counted lost: the state never needed them."""
    import asyncio
    from types import SimpleNamespace

    topic = kafka_topic(1)
    _values(kafka_bootstrap, topic, 12, deleted_to=3)
    reader = RangeReader({"bootstrap_servers": kafka_bootstrap})
    offsets = Offsets(reader, WorkerStats())
    fresh = SimpleNamespace(offset=None)
    try:
        at = SimpleNamespace(topic=topic, partition=0, offset=8)
        got = asyncio.run(offsets.to_apply(fresh, at))
        assert [r.offset for r in got[:-1]] == list(range(3, 8)) and got[-1] is at
        assert [r.value for r in got[:-1]] == [str(i).encode() for i in range(3, 8)]
        assert reader.lost == 0
        first = SimpleNamespace(topic=topic, partition=0, offset=3)  # at the log start
        assert asyncio.run(offsets.to_apply(fresh, first)) == [first]
    finally:
        reader.close()


def test_a_range_not_read_in_time_raises_instead_of_returning_part(
    kafka_bootstrap: str, kafka_topic, monkeypatch: pytest.MonkeyPatch
) -> None:
    topic = kafka_topic(1)
    _values(kafka_bootstrap, topic, 5)
    monkeypatch.setattr(streams.gaps, "READ_TIMEOUT", 0.0)
    reader = RangeReader({"bootstrap_servers": kafka_bootstrap})
    try:
        with pytest.raises(ReadBackTimeout, match=r"offsets 1\.\.3 not read back"):
            reader.read(topic, 0, 1, 4)
    finally:
        reader.close()


def test_marker_gaps_of_a_transactional_topic_cost_one_fetch(
    kafka_bootstrap: str, kafka_topic
) -> None:
    """Each committed transaction leaves a marker offset; the worker asks for every
    such gap as it meets it. After the first fetch, the reader answers from what
    that fetch brought, and answers exactly."""
    topic = kafka_topic(1)
    _transactions(
        kafka_bootstrap, topic, [([f"{t}:{i}".encode() for i in range(3)], True) for t in range(30)]
    )
    # 30 x (3 records + 1 marker): records at 4k..4k+2, markers at 4k+3
    reader = RangeReader({"bootstrap_servers": kafka_bootstrap})
    try:
        for t in range(29):
            assert reader.read(topic, 0, 4 * t + 3, 4 * t + 4) == []  # the marker only
        assert reader.fetched_ranges == 1
        got = reader.read(topic, 0, 41, 46)  # across a marker, from what is kept
        assert [(r.offset, r.value) for r in got] == [
            (41, b"10:1"), (42, b"10:2"), (44, b"11:0"), (45, b"11:1")
        ]  # fmt: skip
        assert reader.fetched_ranges == 1
        assert [r.value for r in reader.read(topic, 0, 0, 2)] == [b"0:0", b"0:1"]  # before it
        assert reader.fetched_ranges == 2
    finally:
        reader.close()


def test_aborted_transactions_are_not_read_back(kafka_bootstrap: str, kafka_topic) -> None:
    topic = kafka_topic(1)
    _transactions(
        kafka_bootstrap, topic, [([b"kept-1"], True), ([b"aborted"], False), ([b"kept-2"], True)]
    )
    reader = RangeReader({"bootstrap_servers": kafka_bootstrap})
    try:  # kept-1, marker, aborted, marker, kept-2, marker
        assert [r.value for r in reader.read(topic, 0, 0, 6)] == [b"kept-1", b"kept-2"]
        assert reader.read(topic, 0, 2, 4) == []
    finally:
        reader.close()


def test_offsets_aiokafka_passes_over_are_noted(kafka_bootstrap: str, kafka_topic) -> None:
    """With tracking on, an aiokafka consumer (read_committed, as the worker's)
    notes the commit markers and the aborted transaction it read past, and
    never an offset that holds a delivered record."""
    import asyncio

    from aiokafka import AIOKafkaConsumer

    from streams.gaps import SKIPPED
    from streams.kafka_internals import track_skipped_offsets

    topic = kafka_topic(1)
    _transactions(
        kafka_bootstrap, topic, [([b"a", b"b"], True), ([b"x", b"y"], False), ([b"c"], True)]
    )
    # offsets: a0 b1 M2 | x3 y4 A5 | c6 M7

    async def consume() -> list[tuple[int, bytes]]:
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=kafka_bootstrap,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
        )
        await consumer.start()
        try:
            got: list[tuple[int, bytes]] = []
            while len(got) < 3:
                for records in (await consumer.getmany(timeout_ms=1000)).values():
                    got += [(r.offset, r.value) for r in records]
            return got
        finally:
            await consumer.stop()

    track_skipped_offsets()
    assert asyncio.run(consume()) == [(0, b"a"), (1, b"b"), (6, b"c")]
    assert SKIPPED.covers(topic, 0, 2, 3)  # a commit marker
    assert SKIPPED.covers(topic, 0, 2, 6)  # marker, aborted batch and abort marker
    assert not SKIPPED.covers(topic, 0, 1, 3)  # b was delivered
    assert not SKIPPED.covers(topic, 0, 5, 7)  # c was delivered
    # the worker's reader answers such a gap from them, without a fetch
    reader = RangeReader({"bootstrap_servers": kafka_bootstrap}, SKIPPED)
    try:
        assert reader.read(topic, 0, 2, 6) == [] and reader.fetched_ranges == 0
        assert [r.value for r in reader.read(topic, 0, 1, 3)] == [b"b"]
        assert reader.fetched_ranges == 1
    finally:
        reader.close()
