"""The private faust/aiokafka behaviours :mod:`streams.kafka_internals` relies on, checked
against the installed (pinned) versions: an upgrade that changes one fails here."""

from __future__ import annotations

import inspect
import struct
from typing import Any

import aiokafka
import aiokafka.consumer.fetcher as fetcher
import faust
import pytest
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.record.memory_records import MemoryRecords
from aiokafka.structs import TopicPartition
from faust.transport import consumer as faust_consumer
from faust.transport.drivers import aiokafka as faust_aiokafka
from intervaltree import IntervalTree

from streams import kafka_internals
from streams.gaps import SKIPPED


def _batch(offsets: list[int]) -> bytes:
    """One record batch holding records at *offsets* (consecutive within a batch)."""
    b = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=0,
        is_transactional=0,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=1 << 20,
    )
    for o in offsets:
        b.append(o - offsets[0], timestamp=None, key=b"k", value=b"v", headers=[])
    buf = b.build()
    struct.pack_into(">q", buf, 0, offsets[0])  # the batch's base offset
    return bytes(buf)


def test_the_pinned_versions() -> None:
    assert (faust.__version__, aiokafka.__version__) == ("0.15.3", "0.14.0"), (
        "re-check every item of streams.kafka_internals against the new versions, "
        "then update this test"
    )


def test_raw_producer_is_faust_s_started_aiokafka_producer() -> None:
    producer = faust_aiokafka.Producer.__new__(faust_aiokafka.Producer)
    sentinel = object()
    producer._producer = sentinel

    class App:
        pass

    app: Any = App()
    app.producer = producer
    assert kafka_internals.raw_producer(app) is sentinel
    for name in ("create_batch", "send_batch", "send"):  # what the outbox calls on it
        assert callable(getattr(aiokafka.AIOKafkaProducer, name))


def test_faust_s_gap_hook_and_its_bookkeeping_are_where_the_override_expects() -> None:
    params = list(inspect.signature(faust_consumer.Consumer._add_gap).parameters)
    assert params == ["self", "tp", "offset_from", "offset_to"]
    assert inspect.iscoroutinefunction(faust_consumer.Consumer._add_gap)
    init = inspect.getsource(faust_consumer.Consumer.__init__)
    assert "self._gap = defaultdict(IntervalTree)" in init
    assert "self._committed_offset = defaultdict(lambda: None)" in init
    assert issubclass(kafka_internals.GapConsumer, faust_aiokafka.Consumer)
    assert faust_aiokafka.Transport.Consumer is faust_aiokafka.Consumer  # what install() swaps
    tree = IntervalTree()
    consumer: Any = kafka_internals.GapConsumer.__new__(kafka_internals.GapConsumer)
    consumer._gap, consumer._committed_offset = {"tp": tree}, {"tp": 4}
    import asyncio

    asyncio.run(consumer._add_gap("tp", 2, 9))
    assert [(i.begin, i.end) for i in tree] == [(5, 10)]  # from past the committed offset


def test_the_isolation_level_set_on_the_consumer_is_read_when_it_starts() -> None:
    assert "isolation_level=self._isolation_level" in inspect.getsource(
        aiokafka.AIOKafkaConsumer.start
    )
    create = faust_aiokafka.AIOKafkaConsumerThread._create_worker_consumer
    assert list(inspect.signature(create).parameters) == ["self", "transport"]
    thread = faust_aiokafka.Consumer._new_consumer_thread
    assert "AIOKafkaConsumerThread(self, loop=self.loop, beacon=self.beacon)" in (
        inspect.getsource(thread)
    )


@pytest.fixture
def noting() -> Any:
    original = fetcher.PartitionRecords
    kafka_internals.track_skipped_offsets()
    yield fetcher.PartitionRecords
    fetcher.PartitionRecords = original


def test_skipped_offsets_are_noted_as_aiokafka_unpacks_a_fetch(noting: Any) -> None:
    # the fetcher builds PartitionRecords by its module-level name, per fetched partition
    assert "partition_records = PartitionRecords(" in inspect.getsource(fetcher)
    tp = TopicPartition("internals-test", 0)
    data = _batch([0, 1]) + _batch([5])  # offsets 2..4 hold no record
    records = noting(tp, MemoryRecords(data), [], 0, None, None, False, 0)
    assert [r.offset for r in records] == [0, 1, 5]
    assert SKIPPED.covers(tp.topic, 0, 2, 5) and not SKIPPED.covers(tp.topic, 0, 1, 5)
    SKIPPED.forget(tp.topic, 0)
