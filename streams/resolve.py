"""Stage 1 on Kafka: input messages through the engine's ResolveStage, one per input
partition, results into the outbox.

Per message: skip it if the partition's state already holds it, or first apply what
the consumer skipped before it (:class:`~streams.gaps.Offsets`); then
:meth:`monitor.core.engine.ResolveStage.feed` parses, admits (``max_ahead`` against
this machine's clock: :class:`~monitor.core.engine.WallClock`), resolves and fans out
to :meth:`streams.outbox.Outbox.add`. Rejected input goes to the dead-letter topic.

Clock records: a :class:`~monitor.core.codec.Tick` of the partition's watermark is
broadcast to every assess partition once the watermark advanced by ``tick_interval``
event seconds, and on a wall-clock timer. A partition that has applied every record
it holds and has had no input for ``idle_after`` wall seconds is announced
:class:`~monitor.core.codec.Idle`: stage 2 leaves it out of its watermark until it
reports again, so one empty input partition does not hold every alert back.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

from monitor.core.codec import Idle, Tick
from monitor.core.engine import ResolveStage, WallClock
from monitor.core.resolver import ResolverConfig
from streams.checkpoint import Checkpoint, current, entries
from streams.gaps import Offsets
from streams.outbox import PACK_ITEMS, Outbox
from streams.settings import WorkerSettings
from streams.state import ResolvePart
from streams.stats import WorkerStats

log = logging.getLogger("vitals.worker")


class Resolve:
    """The stage-1 partitions this worker owns."""

    def __init__(
        self,
        settings: WorkerSettings,
        config: ResolverConfig,
        table: Any,
        outbox: Outbox,
        checkpoint: Checkpoint,
        offsets: Offsets,
        stats: WorkerStats,
        highwater: Callable[[int], int | None],
        on_restored: Callable[[ResolvePart], Any],
        generation: Callable[[], int],
    ) -> None:
        self.settings = settings
        self.config = config
        self.table = table
        self.outbox = outbox
        self.checkpoint = checkpoint
        self.offsets = offsets
        self.stats = stats
        self.highwater = highwater  # end offset of an input partition, as last fetched
        self.on_restored = on_restored  # (fixes the end offset it catches up with)
        self.generation = generation  # the consumer's (streams.checkpoint.current)
        self.parts: dict[int, ResolvePart] = {}
        self.policy = WallClock(settings.max_ahead)

    def part(self, p: int) -> ResolvePart:
        part = self.parts.get(p)
        return part if part is not None else self.restore(p)

    def restore(self, p: int) -> ResolvePart:
        """Rebuild partition *p*'s state from its checkpoint in the table."""
        t0 = time.perf_counter()
        found = entries(self.table, p)
        part = self.parts[p] = ResolvePart(p, self.config, found)
        outbox = self.outbox
        part.stage = ResolveStage(part.resolver, self.policy, lambda item: outbox.add(part, item))
        self.stats.restore_seconds["resolve"] = time.perf_counter() - t0
        self.on_restored(part)
        log.info(
            "resolve partition %d restored: %d entries, seq %d, watermark %s",
            p,
            len(found),
            part.seq,
            part.resolver.watermark,
        )
        return part

    async def on_events(self, events: list[Any]) -> None:
        """Apply a batch of input events (and any records the consumer skipped before
        one of them); flush the outbox whenever it holds a full pack."""
        events = current(events, self.generation())
        self.checkpoint.pending.extend(events)
        self.stats.events["resolve"] += len(events)
        parts, outbox, offsets = self.parts, self.outbox, self.offsets
        every = self.settings.tick_interval
        now = time.monotonic()
        for event in events:
            msg = event.message
            part = parts.get(msg.partition) or self.restore(msg.partition)
            part.last_input = now
            part.idle = False
            last = part.offset
            if last is not None and msg.offset == last + 1:
                self.apply(part, msg)
            else:
                for record in await offsets.to_apply(part, msg):
                    self.apply(part, record)
            wm = part.resolver.watermark
            if wm >= part.last_tick + every and math.isfinite(wm):
                await self.tick(part)
            if outbox.count >= PACK_ITEMS:
                await outbox.flush()

    def apply(self, part: ResolvePart, msg: Any) -> None:
        """Apply one input record (a faust message or a record read back)."""
        part.offset = msg.offset
        part.changed = True
        rejected = part.stage.feed(msg.value if msg.value is not None else b"", msg)
        for r in rejected:
            self.outbox.dead_letter(r.ref, r.reason, r.detail)

    async def tick(self, part: ResolvePart) -> None:
        """Broadcast the partition's watermark to stage 2."""
        wm = part.resolver.watermark
        if not math.isfinite(wm) or part.idle:
            return
        part.last_tick = wm
        await self.outbox.broadcast(Tick(part.partition, wm))

    def drained(self, part: ResolvePart) -> bool:
        """Whether *part* has applied every record its partition holds, as of the
        consumer's last fetch."""
        end = self.highwater(part.partition)
        return end is not None and (-1 if part.offset is None else part.offset) + 1 >= end

    async def announce_idle(self, part: ResolvePart) -> None:
        """Tell stage 2 that *part* has nothing to apply (every record it holds applied)
        and had no input for ``idle_after`` wall seconds, so its watermark no longer
        holds the others back; its next input ends that. A partition whose records are
        waiting (a busy worker) is never idle: its results would come after stage 2
        had moved past them."""
        if part.idle or time.monotonic() - part.last_input < self.settings.idle_after:
            return
        if not self.drained(part):
            return
        part.idle = True
        await self.outbox.broadcast(Idle(part.partition))
        log.info("input partition %d idle: left out of the stage-2 watermark", part.partition)

    async def on_timer(self) -> None:
        for part in list(self.parts.values()):
            await self.tick(part)
            await self.announce_idle(part)

    def revoke(self, p: int) -> None:
        if self.parts.pop(p, None) is not None:
            # never checkpointed: the new owner re-emits them (same seq)
            self.outbox.drop_source(p)
