"""Everything the worker writes to Kafka: stage-2 packs, clock records, dead letters,
checkpoint records.

Stage 1 fans each resolution and flag out to the series it rolls up to. Each
(item, series) *delivery* is numbered by a per-input-partition sequence (``seq``,
checkpointed with the resolver) and waits here, grouped by the assess partition its
series key hashes to (as Kafka's default partitioner places a key), until the end of
the input batch, a full pack, a tick or a checkpoint. :meth:`Outbox.flush` sends them
*packed*: one ``<app_id>-assess`` message per (input partition, assess
partition) and up to :data:`PACK_ITEMS` entries or :data:`PACK_BYTES`, headers
``vitals-src`` (the input partition) and ``vitals-pack``, value a JSON array of
``[record, [[seq, series key], ...]]`` entries (``record`` as :mod:`monitor.core.codec`
writes it). Dead letters wait here too, and go out with the next flush.

Records go out through the underlying aiokafka producer, as batches the worker builds
(:func:`~streams.kafka_internals.raw_producer`); delivery futures are kept in
:attr:`Outbox.inflight` and checked by the checkpoint before it acks anything.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

from aiokafka.partitioner import murmur2

from monitor.core.codec import Idle, Tick, encode
from monitor.core.records import Flag, Resolution, rollup_names
from streams.dead_letters import dead_letter
from streams.kafka_internals import raw_producer
from streams.stats import WorkerStats

PACK_ITEMS = 400  # entries per stage-2 pack, at most
PACK_BYTES = 512 * 1024  # and bytes: the producer refuses requests over 1,000,000


def packs(entries: list[bytes]) -> Iterator[list[bytes]]:
    """*entries* in order, cut into packs of at most PACK_ITEMS entries and PACK_BYTES."""
    pack: list[bytes] = []
    size = 0
    for entry in entries:
        if pack and (len(pack) == PACK_ITEMS or size + len(entry) > PACK_BYTES):
            yield pack
            pack, size = [], 0
        pack.append(entry)
        size += len(entry) + 1
    if pack:
        yield pack


class Outbox:
    """Pending writes and their delivery futures (one per worker process)."""

    def __init__(
        self,
        app: Any,
        assess_topic: str,
        assess_partitions: int,
        dead_letters: Any,
        stats: WorkerStats,
    ) -> None:
        self.app = app
        self.assess_topic = assess_topic
        self.assess_partitions = assess_partitions
        self.dead_letters = dead_letters  # the faust topic (declared before its first send)
        self._declared = False
        self.stats = stats
        self.entries: dict[int, dict[int, list[bytes]]] = {}  # source -> destination -> entries
        self.count = 0  # entries held (the resolve agent flushes at PACK_ITEMS)
        self.letters: list[tuple[Any, str, str]] = []  # (message, reason, detail)
        self.inflight: list[asyncio.Future] = []
        self._dest: dict[str, tuple[int, bytes]] = {}  # series key -> (partition, JSON)
        self._names: dict[tuple[str, str, str], tuple[tuple[int, bytes], ...]] = {}

    # -- stage 1 adds ------------------------------------------------------------------

    def add(self, part: Any, item: Resolution | Flag) -> None:
        """Number each (item, rollup series) delivery of *item* from input partition
        ``part`` (a :class:`~streams.state.ResolvePart`) and hold it for its destination."""
        dests = self._names.get((item.feature, item.model_version, item.site))
        if dests is None:
            dests = self._rollup_dests(item)
        out = self.entries.get(part.partition)
        if out is None:
            out = self.entries[part.partition] = {}
        value = encode(item)
        seq = part.seq
        refs: dict[int, list[bytes]] = {}
        for p, name in dests:
            seq += 1
            r = refs.get(p)
            if r is None:
                refs[p] = [b"[%d,%s]" % (seq, name)]
            else:
                r.append(b"[%d,%s]" % (seq, name))
        part.seq = seq
        for p, r in refs.items():
            entries = out.get(p)
            if entries is None:
                entries = out[p] = []
            entries.append(b"[%s,[%s]]" % (value, b",".join(r)))
            self.count += 1

    def _rollup_dests(self, item: Resolution | Flag) -> tuple[tuple[int, bytes], ...]:
        n = self.assess_partitions
        dests = tuple(
            ((murmur2(name.encode()) & 0x7FFFFFFF) % n, json.dumps(name).encode())
            for name in rollup_names(item.feature, item.model_version, item.site)
        )
        self._names[(item.feature, item.model_version, item.site)] = dests
        return dests

    def dead_letter(self, msg: Any, reason: str, detail: str) -> None:
        """Hold *msg* for the dead-letter topic (sent by the next flush)."""
        self.stats.dead[reason] += 1
        self.letters.append((msg, reason, detail))

    def drop_source(self, partition: int) -> None:
        """Forget what input partition *partition* holds (revoked: its next owner
        re-emits the same deliveries with the same sequence numbers)."""
        out = self.entries.pop(partition, {})
        self.count -= sum(len(e) for e in out.values())
        self.letters = [x for x in self.letters if x[0].partition != partition]

    # -- sending -----------------------------------------------------------------------

    async def flush(self) -> None:
        """Send what is held: the packs in resolution order, then the dead letters."""
        entries, self.entries = self.entries, {}
        self.count = 0
        for src, out in entries.items():
            headers = [("vitals-src", str(src).encode()), ("vitals-pack", b"1")]
            for p in sorted(out):
                for pack in packs(out[p]):
                    await self.send(self.assess_topic, p, b"[" + b",".join(pack) + b"]", headers)
        if self.letters:
            await self._send_letters()

    async def _send_letters(self) -> None:
        letters, self.letters = self.letters, []
        if not self._declared:  # created if missing, as `vitals topics create` makes it
            await self.dead_letters.maybe_declare()
            self._declared = True
        topic = self.dead_letters.get_topic_name()
        limit = self.app.conf.producer_max_request_size
        for msg, reason, detail in letters:
            key, value, headers = dead_letter(msg, reason, detail, limit)
            if headers[-1][0] == "vitals-truncated":  # (the mark comes last)
                self.stats.dead_truncated += 1
            await self.send(topic, None, value, headers, key=key)

    async def broadcast(self, record: Tick | Idle) -> None:
        """Send a clock record to every assess partition, after the results before it."""
        await self.flush()
        value = encode(record)
        for p in range(self.assess_partitions):
            await self.send(self.assess_topic, p, value)

    async def send(
        self,
        topic: str,
        partition: int | None,
        value: bytes | None,
        headers: list[tuple[str, bytes]] | None = None,
        key: bytes | None = None,
    ) -> None:
        """Send one record (``partition`` None: by key); its delivery is checked by the
        next checkpoint."""
        producer = raw_producer(self.app)
        fut = await producer.send(topic, value=value, key=key, partition=partition, headers=headers)
        self.inflight.append(fut)

    async def send_many(
        self, topic: str, partition: int, records: list[tuple[bytes, bytes | None]]
    ) -> None:
        """Send (key, value) records to one partition in as few record batches as fit."""
        producer = raw_producer(self.app)
        batch = producer.create_batch()
        for key, value in records:
            if batch.append(key=key, value=value, timestamp=None) is None:
                if batch.record_count():
                    self.inflight.append(
                        await producer.send_batch(batch, topic, partition=partition)
                    )
                    batch = producer.create_batch()
                if batch.append(key=key, value=value, timestamp=None) is None:
                    # larger than a batch on its own: send it alone
                    await self.send(topic, partition, value, key=key)
                    batch = producer.create_batch()
        if batch.record_count():
            self.inflight.append(await producer.send_batch(batch, topic, partition=partition))

    def take_inflight(self) -> list[asyncio.Future]:
        inflight, self.inflight = self.inflight, []
        return inflight
