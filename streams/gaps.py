"""Reading back input offsets that faust's consumer skipped.

Each stage records the last offset applied to its state. A message that
arrives at a higher offset than the next one means faust's consumer skipped
records: it can drop records it fetched across a rebalance (its read-offset
bookkeeping marks them read) and then treats the jump as a compaction gap,
acking and committing past it. Seeking faust's consumer back does not work
reliably (records in flight move its read offset past the seek again), so the
missing range is read with a consumer of our own, outside any group, and
applied before the message that revealed the gap. Offsets that do not hold
records (compaction, transaction markers) are simply not returned; the reader
keeps its consumer, so such a gap costs one fetch.
"""

from __future__ import annotations

import time
from typing import Any

READ_TIMEOUT = 30.0  # seconds to read one missing range before giving up


class RangeReader:
    """Reads offset ranges of any partition with one consumer (no group, no commits),
    created on first use. Blocking (kafka-python): call it from one thread at a time."""

    def __init__(self, kafka_kwargs: dict[str, Any]) -> None:
        self._kwargs = kafka_kwargs
        self._consumer: Any = None

    def read(self, topic: str, partition: int, start: int, end: int) -> list[Any]:
        """The records at offsets ``start <= offset < end``, in order (fewer only when
        offsets in the range hold no record, or ``READ_TIMEOUT`` passed)."""
        from kafka import KafkaConsumer, TopicPartition

        if self._consumer is None:
            self._consumer = KafkaConsumer(**self._kwargs, group_id=None, enable_auto_commit=False)
        consumer = self._consumer
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, start)
        out: list[Any] = []
        deadline = time.monotonic() + READ_TIMEOUT
        while consumer.position(tp) < end and time.monotonic() < deadline:
            for record in consumer.poll(timeout_ms=500).get(tp, []):
                if start <= record.offset < end:
                    out.append(record)
        return out

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None
