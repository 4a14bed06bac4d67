"""The Vitals streaming worker: topics, tables, agents, timers and pages, top to bottom.

::

    ehr.ai.events (key suggestion_id)  ──agent "resolve"──►  streams.resolve
        (one engine ResolveStage per input partition; rejects → dead-letter topic)
    <app_id>-assess (packs by series)  ──agent "assess"───►  streams.assess
        (one engine AssessStage per assess partition; alerts → log "vitals.alerts")

Both agents iterate ``stream.noack()``: only the checkpoint (:mod:`streams.checkpoint`)
acks, after the state that the events produced is in the changelogs. What the worker
writes goes through :mod:`streams.outbox`. On assignment faust recovers the tables
first; a partition's state is rebuilt from its table entries on first use. On revoke
and on stop faust waits until every processed event is acked, i.e. for the next
checkpoint, which :class:`VitalsApp` keeps cutting while it stops.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import faust
from faust.types import TP
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from monitor.collector import MonitorCollector
from monitor.core.assessor import Assessor
from monitor.core.config import load_config
from monitor.kafka_settings import DEAD_LETTER_RETENTION_DAYS
from streams import kafka_internals
from streams.assess import Assess
from streams.checkpoint import Checkpoint
from streams.gaps import SKIPPED, Offsets, RangeReader
from streams.metrics import PipelineCollector
from streams.outbox import Outbox
from streams.resolve import Resolve
from streams.settings import WorkerSettings
from streams.state import AssessPart, Baselines, ResolvePart
from streams.stats import PartitionStats, WorkerStats
from streams.web_security import faust_web_settings

log = logging.getLogger("vitals.worker")

RAW = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}
# Changelog topics: the broker's cleaner never compacts the active segment (1 GiB
# or 7 days by default), and a restart reads everything not yet compacted.
CHANGELOG_CONFIG = {"segment.bytes": 64 * 1024 * 1024, "segment.ms": 3_600_000}
TAKE = 1000  # events an agent applies in one step, at most


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
    """One worker process: its topics and tables, the two stages, outbox, checkpoint."""

    def __init__(self, app: faust.App, settings: WorkerSettings, input_partitions: int) -> None:
        self.app = app
        self.settings = settings
        config = load_config(settings.monitor_config)
        k = settings.kafka
        # -- topics and tables: declared once, everything raw bytes -----------------
        self.input_topic = app.topic(k.input_topic, **RAW)
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
        table = {"key_type": bytes, "value_type": bytes, "extra_topic_configs": CHANGELOG_CONFIG}
        self.resolve_table = app.Table("resolve-state", partitions=input_partitions, **table)
        self.assess_table = app.Table(
            "assess-state", partitions=settings.assess_partitions, **table
        )
        # Every worker reads every worker's baselines: all partitions are standbys
        # everywhere, and each record is applied as it comes (recovery_buffer_size=1).
        self.baselines_table = app.GlobalTable(
            "baselines",
            partitions=1,
            synchronize_all_active_partitions=True,
            recovery_buffer_size=1,
            **table,
        )
        self.baselines = Baselines(self.baselines_table.data)
        # -- the pieces ------------------------------------------------------------
        self.stats = WorkerStats()
        self.range_reader = RangeReader(k.kafka_python_kwargs(), SKIPPED)
        self.outbox = Outbox(
            app,
            self.assess_topic.get_topic_name(),
            settings.assess_partitions,
            self.dead_letters,
            self.stats,
        )
        self.checkpoint = Checkpoint(
            app,
            self.outbox,
            self.stats,
            lambda: (
                (self.resolve_table, self.resolve.parts),
                (self.assess_table, self.assess.parts),
            ),
            (self.baselines_table, self.baselines),
            settings.checkpoint_events,
        )
        offsets = Offsets(self.range_reader, self.stats)
        in_name = self.input_topic.get_topic_name()
        self.resolve = Resolve(
            settings,
            config.resolver_config,
            self.resolve_table,
            self.outbox,
            self.checkpoint,
            offsets,
            self.stats,
            lambda p: self.highwater(in_name, p),
            self.caught_up,
            lambda: app.consumer_generation_id,
        )

        def make_part(p: int, found: list[tuple[str, str, bytes]]) -> AssessPart:
            return AssessPart(
                p,
                lambda: Assessor(config, baselines=self.baselines),
                found,
                sources=input_partitions,
                lag=config.resolver_config.clock_skew,
            )

        self.assess = Assess(
            self.assess_table,
            make_part,
            self.checkpoint,
            offsets,
            self.stats,
            self.caught_up,
            lambda: app.consumer_generation_id,
        )
        self.stats.gap_records_lost = lambda: self.range_reader.lost
        self.stats.ready = self.ready
        self.stats.partitions = self.partition_stats
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(PipelineCollector(self.stats))
        self.registry.register(
            MonitorCollector(
                lambda: [p.assessor for p in self.assess.parts.values() if self.caught_up(p)]
            )
        )

    # -- partitions ------------------------------------------------------------------

    def on_revoked(self, revoked: set[Any]) -> None:
        """Drop the state of revoked partitions, and their processed events not yet
        acked (the next owner re-processes them from the last commit)."""
        self.checkpoint.forget({(tp.topic, tp.partition) for tp in revoked})
        in_name, as_name = self.input_topic.get_topic_name(), self.assess_topic.get_topic_name()
        for tp in revoked:
            self.range_reader.forget(tp.topic, tp.partition)
            if tp.topic == in_name:
                self.resolve.revoke(tp.partition)
            elif tp.topic == as_name:
                self.assess.revoke(tp.partition)

    def ensure_assigned(self) -> None:
        """Build the state of every assigned, recovered partition (for /metrics)."""
        if not self.ready():
            return
        in_name, as_name = self.input_topic.get_topic_name(), self.assess_topic.get_topic_name()
        for tp in self.app.consumer.assignment():
            if tp.topic == in_name and tp.partition not in self.resolve.parts:
                self.resolve.restore(tp.partition)
            elif tp.topic == as_name and tp.partition not in self.assess.parts:
                self.assess.restore(tp.partition)

    def ready(self) -> bool:
        app = self.app
        try:
            assigned = bool(app.consumer.assignment())
        except Exception:  # the consumer is not started yet
            return False
        recovery = app.tables.recovery
        return (
            assigned
            and not app.rebalancing
            and recovery.completed.is_set()
            and not recovery.in_recovery
        )

    def highwater(self, topic: str, partition: int) -> int | None:
        """The partition's end offset as of the consumer's last fetch (None: unknown)."""
        try:
            hw = self.app.consumer.highwater(TP(topic, partition))
        except Exception:  # the consumer is not started yet
            return None
        return hw if isinstance(hw, int) else None

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

    def partition_stats(self) -> list[PartitionStats]:
        out = []
        for stage, topic, parts in (
            ("resolve", self.input_topic.get_topic_name(), self.resolve.parts),
            ("assess", self.assess_topic.get_topic_name(), self.assess.parts),
        ):
            for p, part in sorted(parts.items()):
                hw = self.highwater(topic, p)
                done = -1 if part.offset is None else part.offset
                resolver = part.resolver if isinstance(part, ResolvePart) else None
                out.append(
                    PartitionStats(
                        stage=stage,
                        topic=topic,
                        partition=p,
                        lag=None if hw is None else max(0, hw - done - 1),
                        watermark=part.advanced if resolver is None else resolver.watermark,
                        caught_up=self.caught_up(part),
                        counters=None if resolver is None else part.counters,
                        open_suggestions=0 if resolver is None else len(part.maps["suggestions"]),
                    )
                )
        return out


class VitalsApp(faust.App):
    """faust's App, checkpointing while it stops: on stop faust waits until every
    processed event is acked, and only a checkpoint acks them."""

    vitals: Worker | None = None  # (set by create_app)

    async def on_stop(self) -> None:
        worker = self.vitals
        task = None if worker is None else asyncio.ensure_future(worker.checkpoint.while_stopping())
        try:
            await super().on_stop()
        finally:
            if task is not None:
                task.cancel()


def create_app(settings: WorkerSettings, *, input_partitions: int | None = None) -> VitalsApp:
    """The Faust app of a worker; ``app.vitals`` is its :class:`Worker`."""
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
        **faust_web_settings(settings.web_config_file),
        web_in_thread=False,
        broker_session_timeout=settings.session_timeout,
        broker_heartbeat_interval=min(3.0, settings.session_timeout / 3),
        autodiscover=False,
    )
    kafka_internals.install(app)
    w = app.vitals = Worker(app, settings, n_input)
    ckpt, outbox = w.checkpoint, w.outbox

    # Both agents take the events faust has buffered (waiting up to flush_interval for
    # more, up to TAKE), without acking them (only the checkpoint acks), and apply each
    # batch under the lock. Stage 1 sends a batch's results when it is done with it: a
    # busy worker sends fewer, fuller packs (each message costs stage 2 a faust message).
    within = settings.flush_interval

    @app.agent(w.input_topic, name="resolve")
    async def resolve(stream: Any) -> None:
        async with ckpt.stopping_on_error("resolve"):
            async for events in stream.noack_take(TAKE, within=within):
                async with ckpt.lock:
                    await w.resolve.on_events(events)
                    await outbox.flush()  # the batch's results, packed
                await ckpt.maybe_run()

    @app.agent(w.assess_topic, name="assess")
    async def assess(stream: Any) -> None:
        async with ckpt.stopping_on_error("assess"):
            async for events in stream.noack_take(TAKE, within=within):
                async with ckpt.lock:
                    await w.assess.on_events(events)
                await ckpt.maybe_run()

    @app.timer(interval=settings.checkpoint_interval)
    async def checkpoint_timer() -> None:
        await ckpt.run()

    @app.timer(interval=settings.tick_timer)
    async def tick_timer() -> None:
        w.ensure_assigned()
        async with ckpt.lock:
            await w.resolve.on_timer()

    @app.on_partitions_revoked.connect
    async def on_revoked(app: faust.App, revoked: set[Any], **kwargs: Any) -> None:
        w.on_revoked(revoked)

    @app.on_partitions_assigned.connect
    async def on_assigned(app: faust.App, assigned: set[Any], **kwargs: Any) -> None:
        w.stats.rebalances += 1

    @app.on_before_shutdown.connect
    async def on_shutdown(app: faust.App, **kwargs: Any) -> None:
        await asyncio.to_thread(w.range_reader.close)

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
