"""Every use of faust's and aiokafka's private API, in one place.

The worker relies on four behaviours of the pinned versions (faust-streaming 0.15.3,
aiokafka 0.14.0) that neither offers publicly. ``tests/unit/test_kafka_internals.py``
checks each against the installed versions, so an upgrade that changes one fails
there first, not in production.

1. :func:`raw_producer`: the aiokafka producer under faust's (``_ensure_producer()``),
   to append records to batches built by the worker (``create_batch``/``send_batch``)
   and to have delivery futures without one awaited ``Topic.send`` per record.
2. :class:`GapConsumer`: faust's consumer with its ``_add_gap`` replaced by
   :func:`streams.gaps.add_gap` (faust's rebuilds an interval tree on every gap).
3. The same consumer reads committed records only: the aiokafka consumer's
   ``_isolation_level`` is set when faust creates it (faust offers the setting only
   together with its own exactly-once processing).
4. :func:`track_skipped_offsets`: aiokafka's ``PartitionRecords`` class is replaced by
   one that notes in :data:`streams.gaps.SKIPPED` the offsets a fetch held no record
   for (transaction markers, aborted batches).
"""

from __future__ import annotations

from typing import Any

import aiokafka.consumer.fetcher as aiokafka_fetcher
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, Consumer

from streams.gaps import SKIPPED, add_gap

ISOLATION = "read_committed"  # a transactional bridge's aborted events are not input


def raw_producer(app: Any) -> Any:
    """The started aiokafka ``AIOKafkaProducer`` under ``app.producer``."""
    return app.producer._ensure_producer()


class _CommittedReadsThread(AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._isolation_level = ISOLATION  # read when it starts (aiokafka 0.14)
        return consumer


class GapConsumer(Consumer):
    """faust's aiokafka consumer with :func:`~streams.gaps.add_gap`, reading committed
    records only (faust reads uncommitted ones unless it runs exactly-once itself)."""

    def _new_consumer_thread(self) -> AIOKafkaConsumerThread:
        return _CommittedReadsThread(self, loop=self.loop, beacon=self.beacon)

    async def _add_gap(self, tp: Any, offset_from: int, offset_to: int) -> None:
        add_gap(self._gap[tp], self._committed_offset[tp], offset_from, offset_to)


def install(app: Any) -> None:
    """Make *app*'s transport use :class:`GapConsumer`, and track skipped offsets."""
    app.transport.Consumer = GapConsumer
    track_skipped_offsets()


class _NotingPartitionRecords(aiokafka_fetcher.PartitionRecords):  # type: ignore[misc]
    """aiokafka's unpacking of one fetched partition, noting in :data:`SKIPPED` the
    offsets it moved past without yielding a record."""

    def _unpack_records(self) -> Any:
        tp, expected = self._tp, self.next_fetch_offset
        for record in super()._unpack_records():
            if record.offset > expected:
                SKIPPED.note(tp.topic, tp.partition, expected, record.offset)
            expected = record.offset + 1
            yield record
        if self.next_fetch_offset > expected:  # the fetch ended past its last record
            SKIPPED.note(tp.topic, tp.partition, expected, self.next_fetch_offset)


def track_skipped_offsets() -> None:
    """Make aiokafka consumers of this process note skipped offsets in :data:`SKIPPED`
    (aiokafka 0.14 builds one ``PartitionRecords`` per fetched partition)."""
    aiokafka_fetcher.PartitionRecords = _NotingPartitionRecords
