"""Pipeline health as a prometheus-client custom Collector.

Rendered from the worker's current state on every scrape, so the per-partition
series of a partition this worker no longer owns disappear instead of going
stale. Per-series monitor metrics come from ``monitor.collector`` (registered
on the same dedicated registry by :mod:`streams.app`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor.core.contract import REASONS
from monitor.core.resolver import COUNTERS


class PipelineCollector(Collector):
    def __init__(self, worker: Any) -> None:
        self.w = worker

    def collect(self) -> Iterator[Metric]:
        w = self.w
        now = time.time()

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
            value=w.range_reader.lost,
        )
        yield CounterMetricFamily(
            "vitals_worker_redelivered_dropped",
            "Stage-2 messages dropped as re-sent by a restarted stage 1.",
            value=w.dropped_duplicates,
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
        topics = (
            ("resolve", w.input_topic.get_topic_name(), w.resolve_parts),
            ("assess", w.assess_topic.get_topic_name(), w.assess_parts),
        )
        for stage, topic, parts in topics:
            for p, part in sorted(parts.items()):
                hw = w.highwater(topic, p)
                if hw is not None:
                    done = -1 if part.offset is None else part.offset
                    lag.add_metric([topic, str(p)], max(0, hw - done - 1))
                wm = part.resolver.watermark if stage == "resolve" else part.advanced
                if math.isfinite(wm):
                    wml.add_metric([stage, str(p)], now - wm)
        yield lag
        yield wml

        catching = GaugeMetricFamily(
            "vitals_worker_catching_up",
            "1 while a partition rebuilt from its checkpoint re-applies what its topic"
            " held; its counts are left out of /metrics until then.",
            labels=["stage", "partition"],
        )
        shown = set()
        for stage, _, parts in topics:
            for p, part in sorted(parts.items()):
                ok = w.caught_up(part)
                catching.add_metric([stage, str(p)], 0.0 if ok else 1.0)
                if ok and stage == "resolve":
                    shown.add(p)
        yield catching

        # Resolver counters of the owned input partitions (checkpointed: they
        # survive restarts exactly, so they are the count of unique events).
        for name in COUNTERS:
            fam = CounterMetricFamily(
                f"vitals_resolver_{name}", f"Resolver counter {name!r}.", labels=["partition"]
            )
            for p, part in sorted(w.resolve_parts.items()):
                if p in shown:
                    fam.add_metric([str(p)], part.counters.get(name, 0))
            yield fam
        open_ = GaugeMetricFamily(
            "vitals_resolver_open_suggestions",
            "Suggestions waiting for an outcome.",
            labels=["partition"],
        )
        for p, part in sorted(w.resolve_parts.items()):
            open_.add_metric([str(p)], len(part.maps["suggestions"]))
        yield open_
