"""Reading back input offsets that faust's consumer skipped.

Each stage records the last offset applied to its state. A message that
arrives at a higher offset than the next one means faust's consumer skipped
records: it can drop records it fetched across a rebalance (its read-offset
bookkeeping marks them read) and then treats the jump as a compaction gap,
acking and committing past it. Seeking faust's consumer back does not work
reliably (records in flight move its read offset past the seek again), so the
missing range is read with a consumer of our own, outside any group, and
applied before the message that revealed the gap. Offsets that do not hold
records (compaction, transaction markers) are simply not returned.

A transactional producer leaves a commit marker after every transaction, so
its topic has a one-offset gap every few records. The reader therefore keeps
what a fetch brought beyond the requested range (up to ``READ_AHEAD``
offsets, all of them known to hold exactly those records) and answers the
next gaps of that partition from it: one fetch per ``READ_AHEAD`` offsets
instead of one per transaction (bench/bench_worker.py ``--transactions``).

In a live stream that still means a fetch per transaction, since each marker
lies past what the last fetch brought. But the worker's own consumer has
already seen what is there: aiokafka drops commit markers and aborted
batches as it unpacks a fetch. :func:`track_skipped_offsets` notes the
offsets it passed over without a record (:data:`SKIPPED`), and a gap they
cover needs no read-back.

faust itself records every gap it sees (to commit across it) in an interval
tree that it rebuilt after each one: quadratic in the gaps between two
commits, and most of the worker's time on a topic with a marker every few
records. :class:`GapConsumer` adds gaps that arrive in offset order without
the rebuild.
"""

from __future__ import annotations

import logging
import threading
import time
from bisect import bisect_left
from collections import deque
from typing import Any

import aiokafka.consumer.fetcher as aiokafka_fetcher
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, Consumer
from intervaltree import IntervalTree

log = logging.getLogger("vitals.worker")

READ_TIMEOUT = 30.0  # seconds to read one missing range before giving up (raises)
READ_AHEAD = 5000  # offsets past a requested range kept from the same fetches
ISOLATION = "read_committed"  # a transactional bridge's aborted events are not input


class ReadBackTimeout(RuntimeError):
    """A skipped range could not be read back in ``READ_TIMEOUT``: applying the
    message after it would lose the records in it, so the stage must fail instead
    (the worker restarts from its last checkpoint)."""


class RangeReader:
    """Reads offset ranges of any partition with one consumer (no group, no commits),
    created on first use. Blocking (kafka-python): call it from one thread at a time."""

    def __init__(self, kafka_kwargs: dict[str, Any], skipped: SkippedOffsets | None = None) -> None:
        self._kwargs = kafka_kwargs
        self._skipped = skipped  # what the worker's own consumer passed over: no records
        self._consumer: Any = None
        self._known: dict[tuple[str, int], tuple[int, int, list[Any], list[int]]] = {}
        """(topic, partition) -> (lo, hi, records, their offsets): every record at
        lo <= offset < hi."""
        self.fetched_ranges = 0  # ranges that needed the broker (the rest came from _known)
        self.lost = 0  # offsets of requested ranges that retention deleted before the read

    def read(self, topic: str, partition: int, start: int, end: int) -> list[Any]:
        """The records at offsets ``start <= offset < end``, in order (fewer only when
        offsets in the range hold no record: compaction, transaction markers, aborted
        transactions, or retention deleted them). Raises :class:`ReadBackTimeout`
        rather than return part of the range."""
        kept = self.kept(topic, partition, start, end)
        if kept is not None:
            return kept
        self.fetched_ranges += 1
        return self._fetch(topic, partition, start, end)

    def kept(self, topic: str, partition: int, start: int, end: int) -> list[Any] | None:
        """The records of the range known without I/O: none when the ``skipped``
        offsets cover it, else those of an earlier fetch; None if neither does."""
        if self._skipped is not None and self._skipped.covers(topic, partition, start, end):
            return []
        known = self._known.get((topic, partition))
        if known is None or start < known[0] or end > known[1]:
            return None
        offsets, records = known[3], known[2]
        return records[bisect_left(offsets, start) : bisect_left(offsets, end)]

    def _fetch(self, topic: str, partition: int, start: int, end: int) -> list[Any]:
        from kafka import KafkaConsumer, TopicPartition

        if self._consumer is None:
            self._consumer = KafkaConsumer(
                **self._kwargs,
                group_id=None,
                enable_auto_commit=False,
                isolation_level=ISOLATION,
                # A range that retention has begun to delete: read what is left of
                # it, not jump to the partition's end (kafka-python's default).
                auto_offset_reset="earliest",
            )
        consumer = self._consumer
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        # Offsets before the log start are gone: events lost, not markers. Counted and
        # logged, since nothing can bring them back (retention shorter than an outage).
        gone_to = min(consumer.beginning_offsets([tp])[tp], end)
        if gone_to > start:
            self.lost += gone_to - start
            log.error(
                "%s[%d]: offsets %d..%d were deleted by retention before they could be "
                "read back: %d records lost",
                topic,
                partition,
                start,
                gone_to - 1,
                gone_to - start,
            )
        consumer.seek(tp, start)
        records: list[Any] = []
        deadline = time.monotonic() + READ_TIMEOUT
        while consumer.position(tp) < end and time.monotonic() < deadline:
            records += consumer.poll(timeout_ms=500).get(tp, [])
        if consumer.position(tp) < end:
            raise ReadBackTimeout(
                f"{topic}[{partition}]: offsets {start}..{end - 1} not read back in "
                f"{READ_TIMEOUT:g} s (reached {consumer.position(tp)})"
            )
        # what the same fetches brought past the range (poll hands out buffered records)
        limit = end + READ_AHEAD
        while consumer.position(tp) < limit:
            more = consumer.poll(timeout_ms=0).get(tp, [])
            if not more:
                break
            records += more
        hi = consumer.position(tp)
        kept = [r for r in records if start <= r.offset < hi]
        offsets = [r.offset for r in kept]
        self._known[(topic, partition)] = (start, hi, kept, offsets)
        return kept[: bisect_left(offsets, end)]

    def forget(self, topic: str, partition: int) -> None:
        """Drop what is kept of a partition (its reads are done: revoked)."""
        self._known.pop((topic, partition), None)
        if self._skipped is not None:
            self._skipped.forget(topic, partition)

    def close(self) -> None:
        self._known.clear()
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None


def add_gap(gaps: IntervalTree, committed: int | None, offset_from: int, offset_to: int) -> None:
    """faust's ``Consumer._add_gap`` on one partition's tree: record offsets
    ``offset_from..offset_to`` (inclusive) not yet committed. A gap past the
    tree's end cannot overlap it, so only one that is not (after a seek back)
    pays for faust's ``merge_overlaps``."""
    if committed is not None:
        offset_from = max(offset_from, committed + 1)
    if offset_from > offset_to:
        return
    in_order = not gaps or offset_from >= gaps.end()
    gaps.addi(offset_from, offset_to + 1)
    if not in_order:
        gaps.merge_overlaps()


class _CommittedReadsThread(AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._isolation_level = ISOLATION  # read when it starts (aiokafka 0.14)
        return consumer


class GapConsumer(Consumer):
    """faust's aiokafka consumer (the worker's transport uses it) with :func:`add_gap`,
    reading committed records only: faust reads uncommitted ones unless it runs
    exactly-once itself, so the events of a bridge's aborted transactions counted."""

    def _new_consumer_thread(self) -> AIOKafkaConsumerThread:
        return _CommittedReadsThread(self, loop=self.loop, beacon=self.beacon)

    async def _add_gap(self, tp: Any, offset_from: int, offset_to: int) -> None:
        add_gap(self._gap[tp], self._committed_offset[tp], offset_from, offset_to)


class SkippedOffsets:
    """Offset ranges per partition that a consumer's fetches held no record for
    (commit and abort markers, aborted batches, compacted holes): ranges are
    noted by aiokafka's thread and looked up by the worker's."""

    def __init__(self, keep: int = 4096) -> None:
        self._ranges: dict[tuple[str, int], deque[tuple[int, int]]] = {}
        self._keep = keep
        # aiokafka's thread appends while the worker's iterates: iterating a deque that
        # is appended to raises, and copying 4,096 ranges on every gap cost more.
        self._lock = threading.Lock()

    def note(self, topic: str, partition: int, begin: int, end: int) -> None:
        with self._lock:
            ranges = self._ranges.get((topic, partition))
            if ranges is None:
                ranges = self._ranges[(topic, partition)] = deque(maxlen=self._keep)
            ranges.append((begin, end))

    def covers(self, topic: str, partition: int, start: int, end: int) -> bool:
        """True when one noted range holds all of ``start <= offset < end``."""
        with self._lock:
            ranges = self._ranges.get((topic, partition))
            if not ranges:
                return False
            # the latest fetches first: a gap is usually the last fetch's marker
            return any(begin <= start and end <= stop for begin, stop in reversed(ranges))

    def forget(self, topic: str, partition: int) -> None:
        with self._lock:
            self._ranges.pop((topic, partition), None)


SKIPPED = SkippedOffsets()


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
    (the worker calls it once; aiokafka 0.14 builds ``PartitionRecords`` per fetch)."""
    aiokafka_fetcher.PartitionRecords = _NotingPartitionRecords
