"""Reading back input offsets that faust's consumer skipped.

Each stage records the last offset applied to its state (a state that applied nothing
starts at the partition's log start). A message at a higher offset than the next one
means the consumer skipped records (faust can, across a rebalance, and then commits
past them as a gap; records acked unapplied across a rebalance can lie behind the
committed offset): the missing range is read with a consumer of our own, outside any
group, and applied before the message that revealed it. Offsets
that hold no record (compaction, transaction markers) are simply not returned.

- :class:`RangeReader` reads a range, keeping what the same fetches brought past it
  (``READ_AHEAD`` offsets), which answers the next gaps of a transactional topic.
- :class:`SkippedOffsets` (:data:`SKIPPED`) holds the offsets the worker's own consumer
  saw hold no record (noted by :mod:`streams.kafka_internals`): such a gap needs no
  read-back.
- :func:`add_gap` records a gap in faust's interval tree without rebuilding it.
- :class:`Offsets` decides, per message, what a stage applies: nothing (already in the
  state), or the skipped records read back and then the message.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from bisect import bisect_left
from collections import deque
from typing import Any

from intervaltree import IntervalTree

log = logging.getLogger("vitals.worker")

READ_TIMEOUT = 30.0  # seconds to read one missing range before giving up (raises)
READ_AHEAD = 5000  # offsets past a requested range kept from the same fetches
ISOLATION = "read_committed"  # as the worker's own consumer (streams.kafka_internals)


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

    def _open(self) -> Any:
        from kafka import KafkaConsumer

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
        return self._consumer

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
        from kafka import TopicPartition

        consumer = self._open()
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

    def log_start(self, topic: str, partition: int) -> int:
        """The partition's first offset still held (offsets before it were deleted)."""
        from kafka import TopicPartition

        consumer = self._open()
        tp = TopicPartition(topic, partition)
        return consumer.beginning_offsets([tp])[tp]

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


class Offsets:
    """What a stage applies for each message it is given, by the offset its state last
    applied (``part.offset``, None before any): see the module docstring."""

    def __init__(self, reader: RangeReader, stats: Any) -> None:
        self.reader = reader
        self.stats = stats  # a streams.stats.WorkerStats

    async def to_apply(self, part: Any, msg: Any) -> list[Any]:
        """The records to apply to *part* for *msg*: none when its state holds it
        already (redelivered after a crash between checkpoint and commit, or after a
        rebalance that rewound the consumer); else any skipped before it (since the log
        start when the state has applied nothing), then it."""
        last = part.offset
        if last is None:
            # A state that has applied nothing starts at the partition's first record
            # (the worker reads from the earliest): a consumer that starts past it was
            # given an offset committed for records acked unapplied (streams.checkpoint
            # .current) or skipped by faust, and those records are in no state yet.
            start = await asyncio.to_thread(self.reader.log_start, msg.topic, msg.partition)
            if msg.offset <= start:
                return [msg]
            return [*await self.missing(msg, start - 1), msg]
        if msg.offset == last + 1:
            return [msg]
        if msg.offset <= last:
            self.stats.redelivered += 1
            return []
        return [*await self.missing(msg, last), msg]

    async def missing(self, msg: Any, applied: int) -> list[Any]:
        """The records after offset *applied* and before *msg* that the consumer
        skipped, read back from the broker."""
        start, end = applied + 1, msg.offset
        reader = self.reader
        records = reader.kept(msg.topic, msg.partition, start, end)
        if records is None:
            records = await asyncio.to_thread(reader.read, msg.topic, msg.partition, start, end)
        self.stats.gaps += 1
        self.stats.gap_records += len(records)
        # An empty gap is what a transaction marker leaves: normal for a transactional
        # bridge. Records in it are ones the consumer skipped.
        log.log(
            logging.WARNING if records else logging.DEBUG,
            "%s[%d]: offsets %d..%d were not delivered by the consumer: read back %d records",
            msg.topic,
            msg.partition,
            start,
            end - 1,
            len(records),
        )
        return records
