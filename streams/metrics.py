"""Pipeline health as a prometheus-client custom Collector.

Rendered from a :class:`~streams.stats.WorkerStats` on every scrape, so the series of
a partition this worker no longer owns disappear instead of going stale. Per-series
monitor metrics come from ``monitor.collector`` (on the same registry: see
:mod:`streams.topology`); the standard ``process_*`` metrics (start time, memory,
CPU) come with these, for the restart and memory alerts.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

from prometheus_client import ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor.core.contract import REASONS
from monitor.core.resolver import COUNTERS
from streams.stats import WorkerStats


class PipelineCollector(Collector):
    def __init__(self, stats: WorkerStats) -> None:
        self.stats = stats
        self._process = ProcessCollector(registry=None)

    def collect(self) -> Iterator[Metric]:
        w = self.stats
        now = time.time()
        yield from self._process.collect()

        events = CounterMetricFamily(
            "vitals_worker_events", "Messages processed, per stage.", labels=["stage"]
        )
        for stage in ("resolve", "assess"):
            events.add_metric([stage], w.events[stage])
        yield events

        dead = CounterMetricFamily(
            "vitals_worker_dead_letters",
            "Input messages sent to the dead-letter topic.",
            labels=["reason"],
        )
        for reason in sorted(set(REASONS) | set(w.dead)):
            dead.add_metric([reason], w.dead[reason])
        yield dead
        yield CounterMetricFamily(
            "vitals_worker_dead_letters_truncated",
            "Dead letters cut to fit a producer request (the original stays in its source topic).",
            value=w.dead_truncated,
        )

        yield CounterMetricFamily(
            "vitals_worker_input_redelivered",
            "Input messages skipped as already in the checkpointed state.",
            value=w.redelivered,
        )
        yield CounterMetricFamily(
            "vitals_worker_offset_gaps",
            "Offset ranges the consumer did not deliver (transaction markers included),"
            " checked before the next record (streams.gaps).",
            value=w.gaps,
        )
        yield CounterMetricFamily(
            "vitals_worker_gap_records_read",
            "Records read back from skipped offset ranges and applied.",
            value=w.gap_records,
        )
        yield CounterMetricFamily(
            "vitals_worker_gap_records_lost",
            "Offsets of skipped ranges that retention deleted before the read-back: events"
            " lost (the topic's retention was shorter than the worker's outage).",
            value=w.gap_records_lost(),
        )
        yield CounterMetricFamily(
            "vitals_worker_redelivered_dropped",
            "Stage-2 messages dropped as re-sent by a restarted stage 1.",
            value=w.redelivered_dropped,
        )

        alerts = CounterMetricFamily(
            "vitals_worker_alerts",
            "Alert state changes raised by this worker.",
            labels=["signal", "state"],
        )
        for (signal, state), n in sorted(w.alerts.items()):
            alerts.add_metric([signal, state], n)
        yield alerts

        yield CounterMetricFamily(
            "vitals_worker_rebalances", "Partition assignments received.", value=w.rebalances
        )

        restore = GaugeMetricFamily(
            "vitals_worker_state_restore_seconds",
            "Duration of the last rebuild of a partition's state from its table.",
            labels=["stage"],
        )
        for stage, sec in w.restore_seconds.items():
            restore.add_metric([stage], sec)
        yield restore

        yield CounterMetricFamily(
            "vitals_worker_checkpoints", "Checkpoints written.", value=w.checkpoints
        )
        yield CounterMetricFamily(
            "vitals_worker_checkpoint_records",
            "Changelog records written by checkpoints.",
            value=w.checkpoint_records,
        )
        cks = GaugeMetricFamily(
            "vitals_worker_checkpoint_duration_seconds", "Duration of the last checkpoint."
        )
        cks.add_metric([], w.checkpoint_seconds)
        yield cks

        ready = GaugeMetricFamily("vitals_worker_ready", "1 when assigned and recovered.")
        ready.add_metric([], 1.0 if w.ready() else 0.0)
        yield ready

        lag = GaugeMetricFamily(
            "vitals_worker_consumer_lag",
            "Messages not yet processed, per owned partition.",
            labels=["topic", "partition"],
        )
        wml = GaugeMetricFamily(
            "vitals_worker_watermark_lag_seconds",
            "Wall-clock time minus the event-time watermark, per owned partition.",
            labels=["stage", "partition"],
        )
        parts = sorted(w.partitions(), key=lambda p: (p.stage != "resolve", p.partition))
        for part in parts:
            if part.lag is not None:
                lag.add_metric([part.topic, str(part.partition)], part.lag)
            if math.isfinite(part.watermark):
                wml.add_metric([part.stage, str(part.partition)], now - part.watermark)
        yield lag
        yield wml

        catching = GaugeMetricFamily(
            "vitals_worker_catching_up",
            "1 while a partition rebuilt from its checkpoint re-applies what its topic"
            " held; its counts are left out of /metrics until then.",
            labels=["stage", "partition"],
        )
        for part in parts:
            catching.add_metric([part.stage, str(part.partition)], 0.0 if part.caught_up else 1.0)
        yield catching

        # Resolver counters of the owned input partitions (checkpointed: they
        # survive restarts exactly, so they are the count of unique events).
        resolving = [p for p in parts if p.stage == "resolve"]
        for name in COUNTERS:
            fam = CounterMetricFamily(
                f"vitals_resolver_{name}", f"Resolver counter {name!r}.", labels=["partition"]
            )
            for part in resolving:
                if part.caught_up and part.counters is not None:
                    fam.add_metric([str(part.partition)], part.counters.get(name, 0))
            yield fam
        open_ = GaugeMetricFamily(
            "vitals_resolver_open_suggestions",
            "Suggestions waiting for an outcome.",
            labels=["partition"],
        )
        for part in resolving:
            open_.add_metric([str(part.partition)], part.open_suggestions)
        yield open_
