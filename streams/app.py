"""The Vitals streaming worker: the monitor core inside a Faust app on Kafka.

Read top to bottom: topics and tables (declared once, all raw bytes), stage 1
``resolve``, stage 2 ``assess``, the checkpoint, the timers, the web pages.

Pipeline
--------
``ehr.ai.events`` (key suggestion_id, JSON event v1)
  → **resolve** (event by event: faust's ``noack_take`` batching dropped an
    input message now and then, which the SIGKILL test caught as lost events
    in 2 of 3 runs): ``parse_event``; invalid → dead-letter
    topic (original bytes and headers + ``vitals-reason``/``vitals-detail``/
    ``vitals-source-*``); valid → the partition's
    :class:`~monitor.core.resolver.Resolver`. Each Resolution/Flag goes to stage 2
    once per ``item.key.rollups()`` key (4 deliveries), each delivery numbered
    by a per-source-partition sequence (``seq``). Deliveries wait in an
    *outbox* for up to ``flush_interval`` (0.02 s), 400 entries, the next tick
    or the next checkpoint, and go out *packed*: one ``<app_id>-assess``
    message per destination partition (the partition the series key hashes
    to, as Kafka's default partitioner
    would place a message keyed by it), headers ``vitals-src`` (input
    partition) and ``vitals-pack``, value a JSON array of
    ``[record, [[seq, series key], ...]]`` entries. A ``Tick`` of the
    watermark is broadcast to every assess partition when it advanced by
    ``tick_interval`` event seconds (checked after each event), and on a
    wall-clock timer.
  → **assess**: one Assessor per assess partition; ``process(item, key)`` per
    delivery; for ticks, ``advance(min watermark over sources)``. An input
    partition with no input for ``idle_after`` wall seconds is announced
    ``Idle`` and left out of that minimum until it sends again: one empty or
    stuck input partition would otherwise hold every alert back. Alerts are
    logged as JSON (alert-log fields only: no identifiers, no PHI) and counted.

Stage-2 messages and checkpoint records are written with the underlying
aiokafka producer (record batches built by the worker, delivery futures
checked at the checkpoint, ``producer_linger`` to batch requests), not one
awaited ``Topic.send`` each: that per message cost was the bulk of the
worker's time. Sent one message per input event, stage-2 traffic saturated the
worker at 2,000 events/s (p99 latency 8 s); the outbox brought it to 0.13 s.

State and checkpoints (why it is done this way)
-----------------------------------------------
The core keeps its state in plain dicts per partition (fast; the resolver
touches several entries per event). Writing each change to a Faust table as it
happens would send several changelog records per event, and Faust's
at-least-once commit is independent of the changelog: after a crash the
changelog can be *ahead* of the committed offset, and replaying those events
on top of it double-applies them. So instead:

1. Agents iterate ``stream.noack()``: an event is **not** acknowledged when
   processed, so Faust can never commit its offset yet.
2. Every ``checkpoint_interval`` seconds (or ``checkpoint_events`` events) the
   checkpoint swaps out the list of processed events and, in the same
   synchronous step, serializes the entries changed since the last checkpoint
   (:class:`~streams.state.DirtyDict`) into the tables' changelogs
   (``value_type=bytes``, compacted, keys prefixed by the partition; stage 1
   writes a delta of the changed entries, or a base of its whole state once
   the deltas outgrow the last one, stage 2 its whole state: see
   :mod:`streams.state`), then ``await producer.flush()`` (changelog, stage-2
   messages and dead letters all durable), and only then acks the events.
   Faust commits acked offsets (and flushes again before committing).
3. Hence the committed offset never passes the checkpointed state. After a
   crash, the tables hold the state as of the last completed checkpoint;
   events after it were never acked, hence never committed, so they are
   re-delivered and re-applied to exactly the state they were first applied
   to. The checkpoint also records the last input offset it covers, and
   input messages at or before the last offset applied to the state (that
   one after a restore) are skipped, so a crash between checkpoint and offset
   commit, or a rebalance that rewinds the consumer under a state that
   already has the events, does not re-apply events either (the resolver would
   drop them by event_id, but count them as duplicates). The resolver counters therefore come
   out the same as without the crash (tested with SIGKILL).
4. Re-processing re-emits the same deliveries with the same ``seq`` (the
   counter is checkpointed with the resolver, and the resolver's output is a
   function of its state and the input order). Batch boundaries may differ
   after a restart, so packs may differ, but the sequence numbers are per
   delivery, not per message: stage 2 keeps the last applied sequence per
   source partition in its own checkpoint and skips each delivery with
   ``seq <= last``: a resolution is applied once. Ticks are idempotent (max).
5. On partition assignment the Faust table recovery runs first (Faust delivers
   no events of a partition before it); the in-memory state of a partition is
   rebuilt from the table entries with its prefix on its first use. On revoke,
   Faust waits for every processed event to be acked (``stream_wait_empty``),
   i.e. for the next checkpoint, commits, and then the partition's state is
   dropped (and its series disappear from /metrics). On stop it waits the same
   way, after its timers have stopped: :class:`VitalsApp` keeps checkpointing
   meanwhile, so a SIGTERM ends with the state checkpointed and exit 0. A
   partition rebuilt from its checkpoint shows its counts on /metrics only once
   it has caught up (:class:`~streams.state.CatchUp`): after a crash they would
   otherwise go back, which Prometheus reads as a counter reset.
6. A message at an offset beyond the next one after the state's means the
   consumer skipped records (faust can, across a rebalance, and then commits
   past them as a "gap"): the missing range is read back from the broker and
   applied first (:mod:`streams.gaps`), so no event is lost to it.

Failure policy: bad input never stops the worker (it is dead-lettered), but
anything else that fails while an event is applied or a checkpoint is cut (a
delivery, a read-back) stops it with a non-zero exit: the events since the last
checkpoint are not acked, so a restart resumes from a consistent state. Faust
would otherwise restart just the agent, and the events it had processed would
be acked by the next checkpoint without all of their effects.

Alerts are not de-duplicated: after a crash an alert raised between the last
checkpoint and the crash can be logged again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import faust
from aiokafka.partitioner import murmur2
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from monitor.core.codec import Idle, Tick, decode, encode
from monitor.core.config import MonitorConfig, load_config
from monitor.core.contract import InvalidEvent, parse_event
from monitor.core.records import Flag, Resolution, SeriesKey
from monitor.core.resolver import ResolverConfig
from monitor.kafka_settings import DEAD_LETTER_RETENTION_DAYS
from streams.dead_letters import dead_letter, source_headers
from streams.gaps import SKIPPED, GapConsumer, RangeReader, track_skipped_offsets
from streams.metrics import PipelineCollector
from streams.settings import WorkerSettings
from streams.state import AssessPart, Baselines, ResolvePart, split_key
from streams.web_security import faust_web_settings

log = logging.getLogger("vitals.worker")
alert_log = logging.getLogger("vitals.alerts")

RAW = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}
_KINDS: dict[str, Any] = {"r": Resolution, "f": Flag}  # tags of monitor.core.codec
PACK_ITEMS = 400  # entries per stage-2 pack, at most
PACK_BYTES = 512 * 1024  # and bytes: the producer refuses requests over 1,000,000
# Changelog topics: the broker's cleaner never compacts the active segment (1 GiB
# or 7 days by default), and a restart reads everything not yet compacted.
# Smaller, hourly segments keep what a restart reads close to the live state.
CHANGELOG_CONFIG = {"segment.bytes": 64 * 1024 * 1024, "segment.ms": 3_600_000}


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


def _header(message: Any, name: str) -> bytes | None:
    for k, v in source_headers(message):
        if k == name:
            return v
    return None


def _assessor_factory(config: MonitorConfig) -> Callable[..., Any] | None:
    try:
        from monitor.core.assessor import Assessor
    except ImportError as exc:  # the lead's module is not there yet
        log.warning("stage 2 disabled: monitor.core.assessor unavailable (%s)", exc)
        return None
    return lambda baselines: Assessor(config, baselines=baselines)


def input_partition_count(settings: WorkerSettings) -> int:
    """Partitions of the input topic (asked from the broker unless configured)."""
    if settings.input_partitions:
        return settings.input_partitions
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(**settings.kafka.kafka_python_kwargs())
    try:
        for _ in range(30):
            parts = consumer.partitions_for_topic(settings.kafka.input_topic)
            if parts:
                return len(parts)
            time.sleep(1)
    finally:
        consumer.close()
    raise SystemExit(f"input topic {settings.kafka.input_topic!r} does not exist")


class Worker:
    """The state, the two stages and the checkpoint of one worker process."""

    def __init__(
        self,
        app: faust.App,
        settings: WorkerSettings,
        input_partitions: int,
        make_assessor: Callable[[], Any] | None,
        resolver_config: ResolverConfig,
    ):
        self.app = app
        self.settings = settings
        self.input_partitions = input_partitions
        self.make_assessor = make_assessor
        self.resolver_config = resolver_config
        k = settings.kafka
        # -- topics and tables: declared once, everything raw bytes -----------
        self.input_topic = app.topic(k.input_topic, **RAW)
        # Declared before the first dead letter (created if missing, as `vitals
        # topics create` makes it): a send to a missing topic waits for metadata
        # under the worker's lock, or has the broker create it with its defaults.
        self._dead_letters_declared = False
        self.dead_letters = app.topic(
            k.dead_letter_topic,
            partitions=1,
            replicas=settings.replication_factor,
            retention=DEAD_LETTER_RETENTION_DAYS * 86_400,
            **RAW,
        )
        self.assess_topic = app.topic(
            settings.assess_topic or f"{settings.app_id}-assess",
            partitions=settings.assess_partitions,
            replicas=settings.replication_factor,
            internal=True,
            **RAW,
        )
        table = {  # bytes → raw serializer
            "key_type": bytes,
            "value_type": bytes,
            "extra_topic_configs": CHANGELOG_CONFIG,
        }
        self.resolve_table = app.Table("resolve-state", partitions=input_partitions, **table)
        self.assess_table = app.Table(
            "assess-state", partitions=settings.assess_partitions, **table
        )
        # Every worker keeps reading every worker's baselines (see Baselines): all
        # partitions are standbys everywhere (else the writer's own active one is
        # left unread after recovery), and each record is applied as it comes
        # (faust buffers an active partition's records up to recovery_buffer_size,
        # 1,000 by default, and after recovery only flushes a full buffer).
        self.baselines_table = app.GlobalTable(
            "baselines",
            partitions=1,
            synchronize_all_active_partitions=True,
            recovery_buffer_size=1,
            **table,
        )
        self.baselines = Baselines(self.baselines_table.data)
        # -- in-memory state, per partition ------------------------------------
        self.resolve_parts: dict[int, ResolvePart] = {}
        self.assess_parts: dict[int, AssessPart] = {}
        self.pending: list[Any] = []  # processed, not yet acked events
        self.inflight: list[asyncio.Future] = []  # delivery futures, checked at checkpoint
        # stage-2 entries resolved but not yet sent: source → destination → entries
        self.outbox: dict[int, dict[int, list[bytes]]] = {}
        self.outbox_entries = 0  # entries in the outbox (flushed at PACK_ITEMS)
        self.lock = asyncio.Lock()
        self._dest: dict[str, tuple[int, bytes]] = {}  # series key → (partition, JSON)
        self._keys: dict[str, SeriesKey] = {}  # parsed series keys (stage 2)
        # -- pipeline health (for /metrics) ------------------------------------
        self.events: Counter[str] = Counter()  # per stage
        self.dead: Counter[str] = Counter()  # per reason
        self.dead_truncated = 0  # dead letters cut to fit a producer request
        self.alerts: Counter[tuple[str, str]] = Counter()  # (signal, state)
        self.dropped_duplicates = 0
        self.redelivered = 0
        self.range_reader = RangeReader(settings.kafka.kafka_python_kwargs(), SKIPPED)
        self.gaps = 0  # offset gaps the consumer left, read back
        self.gap_records = 0
        self.rebalances = 0
        self.restore_seconds: dict[str, float] = {"resolve": 0.0, "assess": 0.0}
        self.checkpoints = 0
        self.checkpoint_seconds = 0.0
        self.checkpoint_records = 0
        self.failed: BaseException | None = None  # set when a stage stopped the worker
        self.started = time.time()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(PipelineCollector(self))
        self._register_monitor_collector()

    def _register_monitor_collector(self) -> None:
        try:
            from monitor.collector import MonitorCollector
        except ImportError:
            return
        self.registry.register(
            MonitorCollector(
                lambda: [p.assessor for p in self.assess_parts.values() if self.caught_up(p)]
            )
        )

    # -- stage 1: resolve --------------------------------------------------------

    async def on_input(self, event: Any) -> None:
        """Resolve one input event; its stage-2 deliveries wait in :attr:`outbox`
        (sent by :meth:`flush`: every ``flush_interval``, when full, before a tick
        and before a checkpoint)."""
        msg = event.message
        self.pending.append(event)
        self.events["resolve"] += 1
        part = self.resolve_parts.get(msg.partition) or self._restore_resolve(msg.partition)
        part.last_input = time.monotonic()
        part.idle = False
        records = await self.to_apply(part, msg)
        if not records:
            return
        for record in records:
            await self.resolve_one(part, record)
        wm = part.resolver.watermark
        if math.isfinite(wm) and wm >= part.last_tick + self.settings.tick_interval:
            await self.tick(part)

    async def to_apply(self, part: ResolvePart | AssessPart, msg: Any) -> list[Any]:
        """The records to apply to ``part`` for ``msg``: none when it is already in
        the state (redelivered after a crash between checkpoint and commit, or
        after a rebalance that kept or rebuilt the state but rewound the consumer
        to the last commit); else any the consumer skipped before it, then it."""
        if part.offset is None:
            return [msg]
        if msg.offset <= part.offset:
            self.redelivered += 1
            return []
        if msg.offset > part.offset + 1:
            return [*await self.missing(msg, part.offset), msg]
        return [msg]

    async def resolve_one(self, part: ResolvePart, msg: Any) -> None:
        """Apply one input record (a faust message or a record read back) to its partition."""
        part.offset = msg.offset
        part.changed = True
        try:
            ev = parse_event(msg.value if msg.value is not None else b"")
        except InvalidEvent as exc:
            await self.dead_letter(msg, exc.reason, str(exc))
            return
        except Exception as exc:  # never crash on input
            await self.dead_letter(msg, "undecodable", type(exc).__name__)
            return
        ahead = ev.occurred_at.timestamp() - time.time()
        if ahead > self.settings.max_ahead:  # a bad clock: it would move the watermark past
            # every other event, and they would all be dropped as too late
            await self.dead_letter(
                msg, "future_time", f"occurred_at {ahead:.0f} s ahead of this worker's clock"
            )
            return
        items = part.resolver.process(ev)
        if items:
            out = self.outbox.get(part.partition)
            if out is None:
                out = self.outbox[part.partition] = {}
            self.pack(part, items, out)

    async def missing(self, msg: Any, applied: int) -> list[Any]:
        """The records after offset ``applied`` and before ``msg`` that the consumer
        skipped, read back from the broker (see :mod:`streams.gaps`)."""
        start, end = applied + 1, msg.offset
        reader = self.range_reader
        records = reader.kept(msg.topic, msg.partition, start, end)
        if records is None:
            records = await asyncio.to_thread(reader.read, msg.topic, msg.partition, start, end)
        self.gaps += 1
        self.gap_records += len(records)
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

    def pack(self, part: ResolvePart, items: list[Any], out: dict[int, list[bytes]]) -> None:
        """Number each (item, rollup key) delivery and add it to its destination's pack."""
        dest = self._dest
        for item in items:
            value = encode(item)
            refs: dict[int, list[bytes]] = {}
            for key in item.key.rollups():
                skey = str(key)
                d = dest.get(skey)
                if d is None:
                    d = dest[skey] = self._destination(skey)
                part.seq += 1
                r = refs.get(d[0])
                if r is None:
                    r = refs[d[0]] = []
                r.append(b"[%d,%s]" % (part.seq, d[1]))
            for p, r in refs.items():
                entries = out.get(p)
                if entries is None:
                    entries = out[p] = []
                entries.append(b"[%s,[%s]]" % (value, b",".join(r)))
                self.outbox_entries += 1

    def _destination(self, skey: str) -> tuple[int, bytes]:
        """The assess partition of a series (Kafka's default partitioner on the key)."""
        n = self.settings.assess_partitions
        return (murmur2(skey.encode()) & 0x7FFFFFFF) % n, json.dumps(skey).encode()

    async def flush(self) -> None:
        """Send the outbox: one message per (source, destination) and up to
        :data:`PACK_ITEMS` entries or :data:`PACK_BYTES`, in resolution order."""
        outbox, self.outbox = self.outbox, {}
        self.outbox_entries = 0
        for src, out in outbox.items():
            await self.send_packs(src, out)

    async def send_packs(self, src: int, out: dict[int, list[bytes]]) -> None:
        topic = self.assess_topic.get_topic_name()
        headers = [("vitals-src", str(src).encode()), ("vitals-pack", b"1")]
        for p in sorted(out):
            for pack in packs(out[p]):
                await self.produce(topic, p, b"[" + b",".join(pack) + b"]", headers=headers)

    async def produce(
        self,
        topic: str,
        partition: int | None,
        value: bytes | None,
        key: bytes | None = None,
        **kw: Any,
    ) -> None:
        """Send one record with the underlying aiokafka producer (``partition`` None:
        by key); delivery is checked (and waited for) by the next checkpoint."""
        producer = self.app.producer._ensure_producer()
        fut = await producer.send(topic, value=value, key=key, partition=partition, **kw)
        self.inflight.append(fut)

    async def produce_many(
        self, topic: str, partition: int, records: list[tuple[bytes, bytes | None]]
    ) -> None:
        """Send (key, value) records to one partition in as few record batches as fit."""
        producer = self.app.producer._ensure_producer()
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
                    await self.produce(topic, partition, value, key=key)
                    batch = producer.create_batch()
        if batch.record_count():
            self.inflight.append(await producer.send_batch(batch, topic, partition=partition))

    async def tick(self, part: ResolvePart) -> None:
        wm = part.resolver.watermark
        if not math.isfinite(wm) or part.idle:
            return
        part.last_tick = wm
        await self.broadcast(Tick(part.partition, wm))

    async def broadcast(self, record: Tick | Idle) -> None:
        """Send a clock record to every assess partition, after the results before it."""
        await self.flush()
        value = encode(record)
        topic = self.assess_topic.get_topic_name()
        for p in range(self.settings.assess_partitions):
            await self.produce(topic, p, value)

    async def announce_idle(self, part: ResolvePart) -> None:
        """Tell stage 2 that input partition ``part`` has had no input for
        ``idle_after`` wall seconds (or none since it was assigned), so its
        watermark no longer holds the others back; its next input ends that."""
        if part.idle or time.monotonic() - part.last_input < self.settings.idle_after:
            return
        part.idle = True
        await self.broadcast(Idle(part.partition))
        log.info("input partition %d idle: left out of the stage-2 watermark", part.partition)

    async def dead_letter(self, msg: Any, reason: str, detail: str) -> None:
        """Write *msg* to the dead-letter topic (cut to fit if it would not:
        :mod:`streams.dead_letters`); its delivery is checked by the checkpoint
        before the event is acked."""
        self.dead[reason] += 1
        if not self._dead_letters_declared:
            await self.dead_letters.maybe_declare()
            self._dead_letters_declared = True
        limit = self.app.conf.producer_max_request_size
        key, value, headers = dead_letter(msg, reason, detail, limit)
        if headers[-1][0] == "vitals-truncated":  # (the mark comes last)
            self.dead_truncated += 1
        await self.produce(self.dead_letters.get_topic_name(), None, value, key, headers=headers)

    def _restore_resolve(self, p: int) -> ResolvePart:
        t0 = time.perf_counter()
        entries = self._entries(self.resolve_table, p)
        part = self.resolve_parts[p] = ResolvePart(p, self.resolver_config, entries)
        self.restore_seconds["resolve"] = time.perf_counter() - t0
        self.caught_up(part)  # (the end offset, if the consumer knows it already)
        log.info(
            "resolve partition %d restored: %d entries, seq %d, watermark %s",
            p,
            len(entries),
            part.seq,
            part.resolver.watermark,
        )
        return part

    def caught_up(self, part: ResolvePart | AssessPart) -> bool:
        """Whether ``part``'s counts go on /metrics (see :class:`~streams.state.CatchUp`)."""
        if part.catch_up.done:
            return True
        resolve = isinstance(part, ResolvePart)
        topic = (self.input_topic if resolve else self.assess_topic).get_topic_name()
        p = part.partition
        return part.catch_up.check(
            part.offset,
            self.highwater(topic, p),
            no_records=lambda start, stop: SKIPPED.covers(topic, p, start, stop),
            idle=resolve and part.idle,
        )

    def highwater(self, topic: str, partition: int) -> int | None:
        """The partition's end offset as of the consumer's last fetch (None: unknown)."""
        from faust.types import TP

        try:
            hw = self.app.consumer.highwater(TP(topic, partition))
        except Exception:
            return None
        return hw if isinstance(hw, int) else None

    # -- stage 2: assess ----------------------------------------------------------

    async def on_assess(self, event: Any) -> None:
        """Apply one stage-2 message (and any the consumer skipped before it)."""
        msg = event.message
        self.pending.append(event)
        self.events["assess"] += 1
        if self.make_assessor is None:
            return
        part = self.assess_parts.get(msg.partition) or self._restore_assess(msg.partition)
        for record in await self.to_apply(part, msg):
            self.assess_one(part, record)

    def assess_one(self, part: AssessPart, msg: Any) -> None:
        """Apply one stage-2 record (a faust message or a record read back)."""
        part.offset = msg.offset
        headers = source_headers(msg)
        try:
            if ("vitals-pack", b"1") in headers:
                src = int(next(v for k, v in headers if k == "vitals-src"))
                self._apply_pack(part, src, json.loads(msg.value))
                return
            record = decode(msg.value)
        except Exception as exc:  # written by stage 1 only; log and skip
            log.error(
                "assess: undecodable record at %s[%d]@%d: %s",
                msg.topic,
                msg.partition,
                msg.offset,
                type(exc).__name__,
            )
            return
        part.changed = True
        if isinstance(record, Tick | Idle):
            if isinstance(record, Idle):
                part.idle.add(record.source)
            elif record.watermark > part.ticks.get(record.source, -math.inf):
                part.ticks[record.source] = record.watermark
                part.idle.discard(record.source)
            wm = part.watermark
            # (Assessor.advance before any item loops forever: its tick clock
            # starts at the first queued item. Wait for one.)
            if wm > part.advanced and part.has_items:
                part.advanced = wm
                self.on_alerts(part.assessor.advance(wm))
            return
        # one delivery per message (written by an earlier version of stage 1)
        src, seq = _header(msg, "vitals-src"), _header(msg, "vitals-seq")
        if src is not None and seq is not None:
            s, n = int(src), int(seq)
            if n <= part.last_seq.get(s, 0):
                self.dropped_duplicates += 1
                return
            part.last_seq[s] = n
        part.has_items = True
        self.on_alerts(part.assessor.process(record, self._series(msg.key.decode())))

    def _apply_pack(self, part: AssessPart, src: int, entries: list[Any]) -> None:
        part.changed = True
        part.idle.discard(src)
        last = part.last_seq.get(src, 0)
        process = part.assessor.process
        series = self._series
        for raw, refs in entries:
            record = None
            for seq, skey in refs:
                if seq <= last:
                    self.dropped_duplicates += 1
                    continue
                last = seq
                if record is None:
                    record = _KINDS[raw[0]](*raw[1:])
                part.has_items = True
                alerts = process(record, series(skey))
                if alerts:
                    self.on_alerts(alerts)
        part.last_seq[src] = last

    def _series(self, text: str) -> SeriesKey:
        key = self._keys.get(text)
        if key is None:
            key = self._keys[text] = SeriesKey.parse(text)
        return key

    def on_alerts(self, alerts: list[Any]) -> None:
        for alert in alerts:
            self.alerts[(alert.signal, alert.state)] += 1
            alert_log.warning("alert %s", json.dumps(alert.to_log(), sort_keys=True))

    def _restore_assess(self, p: int) -> AssessPart:
        t0 = time.perf_counter()
        entries = self._entries(self.assess_table, p)
        part = self.assess_parts[p] = AssessPart(
            p,
            lambda: self.make_assessor(self.baselines),
            entries,
            sources=self.input_partitions,
            lag=self.resolver_config.clock_skew,
        )
        self.restore_seconds["assess"] = time.perf_counter() - t0
        self.caught_up(part)
        log.info(
            "assess partition %d restored: %d entries, watermark %s", p, len(entries), part.advanced
        )
        return part

    @staticmethod
    def _entries(table: Any, p: int) -> list[tuple[str, str, bytes]]:
        prefix = f"{p}/".encode()
        out = []
        for raw_key, value in list(table.data.items()):
            if value is None or not bytes(raw_key).startswith(prefix):
                continue
            _, kind, key = split_key(raw_key)
            out.append((kind, key, value))
        return out

    # -- checkpoint ------------------------------------------------------------

    async def checkpoint(self) -> None:
        """State changed since the last checkpoint → changelogs; flush; then ack."""
        if self.failed is not None:  # the state may hold part of a failed event: keep it out
            return
        async with self.lock:
            t0 = time.perf_counter()
            await self.flush()  # the state to cut has emitted these: they go first
            # Under the lock (agents take it per batch) and in one synchronous
            # step (no restore or revoke in between): the events to ack and
            # exactly the state they produced. Then the writes go out.
            events, self.pending = self.pending, []
            out: list[tuple[str, int, dict[bytes, bytes | None]]] = []
            for table, parts in (
                (self.resolve_table, self.resolve_parts),
                (self.assess_table, self.assess_parts),
            ):
                topic = table.changelog_topic.get_topic_name()
                for p, part in list(parts.items()):  # (agents and timers add parts meanwhile)
                    out.append((topic, p, part.checkpoint()))
                    self._apply(table, out[-1][2])
            topic = self.baselines_table.changelog_topic.get_topic_name()
            out.append((topic, 0, self.baselines.checkpoint()))
            self._apply(self.baselines_table, out[-1][2])
            writes = 0
            for topic, p, changes in out:
                if changes:
                    await self.produce_many(topic, p, list(changes.items()))
                    writes += len(changes)
            inflight, self.inflight = self.inflight, []
            if not events and not writes and not inflight:
                return
            await self.app.producer.flush()
            # every stage-2 message, dead letter and changelog record delivered
            # (raises, and so never acks, if any of them failed)
            await asyncio.gather(*inflight)
            for event in events:
                event.ack()
            await self.app.consumer.commit()
            self.checkpoints += 1
            self.checkpoint_records += writes
            self.checkpoint_seconds = time.perf_counter() - t0

    @staticmethod
    def _apply(table: Any, changes: dict[bytes, bytes | None]) -> None:
        data = table.data
        for key, value in changes.items():
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value

    @contextlib.asynccontextmanager
    async def stopping_on_error(self, stage: str) -> AsyncIterator[None]:
        """Stop the worker (non-zero exit) when a stage fails: see the failure policy."""
        try:
            yield
        except Exception as exc:
            log.critical(
                "%s stage failed, stopping the worker (a restart resumes from the last "
                "checkpoint): %s: %s",
                stage,
                type(exc).__name__,
                exc,
            )
            self.failed = exc
            await self.app.crash(exc)
            raise

    async def checkpoint_while_stopping(self, every: float = 0.1) -> None:
        """Checkpoint until cancelled: run while faust stops (see :class:`VitalsApp`)."""
        while self.failed is None:
            try:
                await self.checkpoint()
            except Exception as exc:  # nothing acked: a restart resumes from the last one
                log.critical("final checkpoint failed: %s: %s", type(exc).__name__, exc)
                return
            await asyncio.sleep(every)

    async def maybe_checkpoint(self) -> None:
        if len(self.pending) >= self.settings.checkpoint_events and not self.lock.locked():
            await self.checkpoint()

    # -- rebalance ------------------------------------------------------------------

    def on_revoked(self, revoked: set[Any]) -> None:
        """Drop the state of revoked partitions, and the processed events of those
        partitions not yet acked: that state is gone, so their offsets must not
        be committed (the next owner re-processes them from the last commit)."""
        gone = {(tp.topic, tp.partition) for tp in revoked}
        self.pending = [
            e for e in self.pending if (e.message.topic, e.message.partition) not in gone
        ]
        topics = {
            self.input_topic.get_topic_name(): self.resolve_parts,
            self.assess_topic.get_topic_name(): self.assess_parts,
        }
        for tp in revoked:
            self.range_reader.forget(tp.topic, tp.partition)
            parts = topics.get(tp.topic)
            if parts is None:
                continue
            part = parts.pop(tp.partition, None)
            if isinstance(part, ResolvePart):
                # never checkpointed: the new owner re-emits them (same seq)
                out = self.outbox.pop(tp.partition, {})
                self.outbox_entries -= sum(len(e) for e in out.values())
            elif isinstance(part, AssessPart):
                part.assessor.drop(list(part.assessor.keys()))

    def ensure_assigned(self) -> None:
        """Build the state of every assigned, recovered partition (for /metrics)."""
        if not self.ready():
            return
        in_name = self.input_topic.get_topic_name()
        as_name = self.assess_topic.get_topic_name()
        for tp in self.app.consumer.assignment():
            if tp.topic == in_name and tp.partition not in self.resolve_parts:
                self._restore_resolve(tp.partition)
            elif (
                tp.topic == as_name
                and self.make_assessor is not None
                and tp.partition not in self.assess_parts
            ):
                self._restore_assess(tp.partition)

    def ready(self) -> bool:
        app = self.app
        try:
            assigned = bool(app.consumer.assignment())
        except Exception:
            return False
        recovery = app.tables.recovery
        return (
            assigned
            and not app.rebalancing
            and recovery.completed.is_set()
            and not recovery.in_recovery
        )


class VitalsApp(faust.App):
    """faust's App, checkpointing while it stops. On stop faust waits until every
    event processed is acked (``stream_wait_empty``), and only a checkpoint acks
    them, but the checkpoint timer stops with the app: a SIGTERM before the next
    checkpoint waited until the supervisor killed the worker, state and all."""

    vitals: Worker

    async def on_stop(self) -> None:
        worker = getattr(self, "vitals", None)
        task = None if worker is None else asyncio.ensure_future(worker.checkpoint_while_stopping())
        try:
            await super().on_stop()
        finally:
            if task is not None:
                task.cancel()


def create_app(
    settings: WorkerSettings,
    *,
    input_partitions: int | None = None,
    make_assessor: Callable[[], Any] | None = None,
) -> faust.App:
    """The Faust app of a worker; ``app.vitals`` is its :class:`Worker`."""
    config = load_config(settings.monitor_config)
    resolver_config = config.resolver_config
    if make_assessor is None:
        make_assessor = _assessor_factory(config)
    n_input = input_partitions or input_partition_count(settings)
    app = VitalsApp(
        settings.app_id,
        broker=[f"kafka://{h}" for h in settings.kafka.servers],
        broker_credentials=settings.broker_credentials(),
        store="memory://",
        datadir=str(settings.data_dir),
        topic_partitions=settings.assess_partitions,
        topic_replication_factor=settings.replication_factor,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_linger=settings.producer_linger,
        stream_wait_empty=True,
        web_enabled=True,
        web_port=settings.web_port,
        web_bind=settings.web_host,
        web_in_thread=False,
        **faust_web_settings(settings.web_config_file),
        broker_session_timeout=settings.session_timeout,
        broker_heartbeat_interval=min(3.0, settings.session_timeout / 3),
        autodiscover=False,
    )
    app.transport.Consumer = GapConsumer  # type: ignore[misc]  # see streams.gaps
    track_skipped_offsets()
    w = Worker(app, settings, n_input, make_assessor, resolver_config)
    app.vitals = w  # type: ignore[attr-defined]

    @app.agent(w.input_topic, name="resolve")
    async def resolve(stream: Any) -> None:
        async with w.stopping_on_error("resolve"):
            async for event in stream.noack().events():
                async with w.lock:
                    await w.on_input(event)
                    if w.outbox_entries >= PACK_ITEMS:
                        await w.flush()
                await w.maybe_checkpoint()

    @app.agent(w.assess_topic, name="assess")
    async def assess(stream: Any) -> None:
        async with w.stopping_on_error("assess"):
            async for event in stream.noack().events():
                async with w.lock:
                    await w.on_assess(event)
                await w.maybe_checkpoint()

    @app.timer(interval=settings.checkpoint_interval)
    async def checkpoint_timer() -> None:
        await w.checkpoint()

    @app.timer(interval=settings.flush_interval)
    async def flush_timer() -> None:
        if w.outbox:
            async with w.lock:
                await w.flush()

    @app.timer(interval=settings.tick_timer)
    async def tick_timer() -> None:
        w.ensure_assigned()
        async with w.lock:
            for part in list(w.resolve_parts.values()):
                await w.tick(part)
                await w.announce_idle(part)

    @app.on_partitions_revoked.connect
    async def on_revoked(app: faust.App, revoked: set[Any], **kwargs: Any) -> None:
        w.on_revoked(revoked)

    @app.on_before_shutdown.connect
    async def on_shutdown(app: faust.App, **kwargs: Any) -> None:
        await asyncio.to_thread(w.range_reader.close)

    @app.on_partitions_assigned.connect
    async def on_assigned(app: faust.App, assigned: set[Any], **kwargs: Any) -> None:
        w.rebalances += 1

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(w.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        return web.json({"alive": True})

    @app.page("/readyz")
    async def readyz(web: Any, request: Any) -> Any:
        ok = w.ready()
        return web.json({"ready": ok}, status=200 if ok else 503)

    return app


def run_worker(settings: WorkerSettings) -> None:
    """Run a worker until SIGINT/SIGTERM (what ``vitals worker --config FILE`` calls).

    The broker is tried first (:func:`bridge.connection.check_broker`): a wrong
    password or an untrusted certificate exits at once with its cause, where
    faust would retry without end."""
    from bridge.connection import BrokerUnavailable, check_broker

    try:
        check_broker(settings.kafka)
    except BrokerUnavailable as exc:
        raise SystemExit(f"vitals worker: {exc}") from None
    app = create_app(settings)
    worker = faust.Worker(app, loglevel=settings.log_level.upper(), quiet=True)
    # At WARNING and above faust installs a terminal spinner that sets the root
    # logger to DEBUG: every debug call of faust/aiokafka then builds a record.
    worker.spinner = None
    worker.execute_from_commandline()
