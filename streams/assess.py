"""Stage 2 on Kafka: assess-topic messages through the engine's AssessStage, one per
assess partition (:class:`~streams.state.AssessPart` is that stage plus its checkpoint).

A pack (see :mod:`streams.outbox`) is applied entry by entry: deliveries whose
sequence number is at or below the last one applied from their input partition were
re-sent by a restarted stage 1 and are dropped, so a resolution is applied once. A
:class:`~monitor.core.codec.Tick` reports a source's watermark and an
:class:`~monitor.core.codec.Idle` leaves a source out of it; after either, the
assessor advances to the watermark. Alerts are logged as JSON lines of the alert-log
format (no identifiers, no PHI) and counted.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from monitor.core.codec import Idle, Tick, decode
from monitor.core.records import Alert, Flag, Resolution
from streams.checkpoint import Checkpoint, current, entries
from streams.dead_letters import source_headers
from streams.gaps import Offsets
from streams.state import AssessPart
from streams.stats import WorkerStats

log = logging.getLogger("vitals.worker")
alert_log = logging.getLogger("vitals.alerts")

_KINDS: dict[str, type[Resolution] | type[Flag]] = {"r": Resolution, "f": Flag}  # (codec tags)


class Assess:
    """The stage-2 partitions this worker owns."""

    def __init__(
        self,
        table: Any,
        make_part: Callable[[int, list[tuple[str, str, bytes]]], AssessPart],
        checkpoint: Checkpoint,
        offsets: Offsets,
        stats: WorkerStats,
        on_restored: Callable[[AssessPart], Any],
        generation: Callable[[], int],
    ) -> None:
        self.table = table
        self.generation = generation  # events of an earlier one: see streams.resolve
        self.on_restored = on_restored  # (fixes the end offset it catches up with)
        self.make_part = make_part
        self.checkpoint = checkpoint
        self.offsets = offsets
        self.stats = stats
        self.parts: dict[int, AssessPart] = {}

    def part(self, p: int) -> AssessPart:
        part = self.parts.get(p)
        return part if part is not None else self.restore(p)

    def restore(self, p: int) -> AssessPart:
        """Rebuild partition *p*'s state from its checkpoint in the table."""
        t0 = time.perf_counter()
        found = entries(self.table, p)
        part = self.parts[p] = self.make_part(p, found)
        self.stats.restore_seconds["assess"] = time.perf_counter() - t0
        self.on_restored(part)
        log.info(
            "assess partition %d restored: %d entries, watermark %s", p, len(found), part.advanced
        )
        return part

    async def on_events(self, events: list[Any]) -> None:
        """Apply a batch of stage-2 messages (and any the consumer skipped before one)."""
        events = current(events, self.generation())
        self.checkpoint.pending.extend(events)
        self.stats.events["assess"] += len(events)
        parts, offsets = self.parts, self.offsets
        for event in events:
            msg = event.message
            part = parts.get(msg.partition) or self.restore(msg.partition)
            last = part.offset
            if last is not None and msg.offset == last + 1:
                self.apply(part, msg)
            else:
                for record in await offsets.to_apply(part, msg):
                    self.apply(part, record)

    def apply(self, part: AssessPart, msg: Any) -> None:
        """Apply one stage-2 record (a faust message or a record read back)."""
        part.offset = msg.offset
        part.changed = True
        try:
            headers = source_headers(msg)
            if ("vitals-pack", b"1") in headers:
                src = int(next(v for k, v in headers if k == "vitals-src"))
                self._apply_pack(part, src, json.loads(msg.value))
                return
            record = decode(msg.value)
            if not isinstance(record, Tick | Idle):
                raise ValueError(f"{type(record).__name__} outside a pack")
        except Exception as exc:  # written by stage 1 only; log and skip
            log.error(
                "assess: undecodable record at %s[%d]@%d: %s",
                msg.topic,
                msg.partition,
                msg.offset,
                type(exc).__name__,
            )
            return
        self._apply_clock(part, record)

    def _apply_clock(self, part: AssessPart, record: Tick | Idle) -> None:
        if isinstance(record, Idle):
            part.mark_idle(record.source)
        else:
            part.report(record.source, record.watermark)
        self.on_alerts(part.advance())

    def _apply_pack(self, part: AssessPart, src: int, entries: list[Any]) -> None:
        part.idle.discard(src)
        last = part.last_seq.get(src, 0)
        dropped = 0
        for raw, refs in entries:
            keys = []
            for seq, skey in refs:
                if seq <= last:
                    dropped += 1
                    continue
                last = seq
                keys.append(skey)
            if keys:
                item = _KINDS[raw[0]](*raw[1:])
                if len(keys) == 1:
                    part.put(item, keys[0])
                else:  # several rollups of it live here: one queue entry, in rollup order
                    part.put(item, tuple(keys))
        part.last_seq[src] = last
        self.stats.redelivered_dropped += dropped

    def on_alerts(self, alerts: list[Alert]) -> None:
        for alert in alerts:
            self.stats.alerts[(alert.signal, alert.state)] += 1
            alert_log.warning("alert %s", json.dumps(alert.to_log(), sort_keys=True))

    def revoke(self, p: int) -> None:
        part = self.parts.pop(p, None)
        if part is not None:  # (its series disappear from /metrics with it)
            part.assessor.drop(list(part.assessor.keys()))
