"""The checkpoint: the state changed since the last one → changelogs, flush, then ack.

The stages keep their state in plain dicts per partition (:mod:`streams.state`) and
iterate ``stream.noack()``: an event processed is not acknowledged, so faust cannot
commit past it. :meth:`Checkpoint.run` (every ``checkpoint_interval`` seconds, or
after ``checkpoint_events`` events) then, under the worker's lock: waits until
every record the stages sent since the last checkpoint is delivered (stage-2 packs,
dead letters); in one synchronous step takes the list of processed events and the
writes of exactly the state they produced; sends the writes and waits for them; and
only then acks the events and commits. A state written before the packs it emitted
were delivered would, after a crash in between, say they were sent: nothing would
send them again. The committed offset therefore never passes the
checkpointed state: after a crash the tables hold the last checkpoint's state, and
the events after it are re-delivered and re-applied to exactly that state (the
offset each state records makes a stage skip what it already holds).

Failure policy: bad input never stops the worker (it is dead-lettered), but anything
else that fails while an event is applied or a checkpoint is cut stops it with a
non-zero exit (:meth:`Checkpoint.stopping_on_error`): nothing after the last
checkpoint is acked, so a restart resumes from a consistent state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from streams.outbox import Outbox
from streams.state import split_key
from streams.stats import WorkerStats

log = logging.getLogger("vitals.worker")

Writes = dict[bytes, bytes | None]  # table key -> value (None: a tombstone)


def entries(table: Any, partition: int) -> list[tuple[str, str, bytes]]:
    """The ``(kind, key, value)`` entries of *partition* in a table's local store."""
    prefix = f"{partition}/".encode()
    out = []
    for raw_key, value in list(table.data.items()):
        if value is None or not bytes(raw_key).startswith(prefix):
            continue
        _, kind, key = split_key(raw_key)
        out.append((kind, key, value))
    return out


def current(events: list[Any], generation: int) -> list[Any]:
    """The *events* of the consumer's current *generation*. Events taken before a
    rebalance are acked unapplied, as faust acks those it skips itself (it waits for
    every delivered event to be acked before it completes a rebalance); their
    partition's owner re-reads them from its state's offset."""
    if all(e.message.generation_id == generation for e in events):
        return events
    for e in events:
        if e.message.generation_id != generation:
            e.ack()
    return [e for e in events if e.message.generation_id == generation]


def apply(table: Any, changes: Writes) -> None:
    """Apply *changes* to a table's local store (what its changelog will say)."""
    data = table.data
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value


class Checkpoint:
    """Processed events, and the cut that acks them (one per worker process).

    ``sources`` gives, at each cut, the ``(table, {partition: state})`` pairs to write
    (each state has ``checkpoint() -> Writes``), plus the baselines' table and writer.
    """

    def __init__(
        self,
        app: Any,
        outbox: Outbox,
        stats: WorkerStats,
        sources: Callable[[], Iterable[tuple[Any, dict[int, Any]]]],
        baselines: tuple[Any, Any],
        every_events: int,
    ) -> None:
        self.app = app
        self.outbox = outbox
        self.stats = stats
        self.sources = sources
        self.baselines = baselines  # (global table, streams.state.Baselines)
        self.every_events = every_events
        self.pending: list[Any] = []  # processed, not yet acked events
        self.lock = asyncio.Lock()
        self.failed: BaseException | None = None  # set when a stage stopped the worker

    async def run(self) -> None:
        """State changed since the last checkpoint → changelogs; flush; then ack."""
        if self.failed is not None:  # the state may hold part of a failed event: keep it out
            return
        async with self.lock:
            t0 = time.perf_counter()
            await self.outbox.flush()  # the state to cut has emitted these: they go first
            emitted = self.outbox.take_inflight()
            if emitted:  # delivered before any state that counts them as sent
                await self.app.producer.flush()
                await asyncio.gather(*emitted)
            # In one synchronous step (no restore or revoke in between): the events to
            # ack and exactly the state they produced. Then the writes go out.
            events, self.pending = self.pending, []
            out: list[tuple[str, int, Writes]] = []
            for table, parts in self.sources():
                topic = table.changelog_topic.get_topic_name()
                for p, part in list(parts.items()):  # (agents and timers add parts meanwhile)
                    out.append((topic, p, part.checkpoint()))
                    apply(table, out[-1][2])
            table, baselines = self.baselines
            out.append((table.changelog_topic.get_topic_name(), 0, baselines.checkpoint()))
            apply(table, out[-1][2])
            writes = 0
            for topic, p, changes in out:
                if changes:
                    await self.outbox.send_many(topic, p, list(changes.items()))
                    writes += len(changes)
            inflight = self.outbox.take_inflight()
            if not events and not writes and not inflight and not emitted:
                return
            await self.app.producer.flush()
            # every stage-2 message, dead letter and changelog record delivered
            # (raises, and so never acks, if any of them failed)
            await asyncio.gather(*inflight)
            for event in events:
                event.ack()
            await self.app.consumer.commit()
            stats = self.stats
            stats.checkpoints += 1
            stats.checkpoint_records += writes
            stats.checkpoint_seconds = time.perf_counter() - t0

    async def maybe_run(self) -> None:
        """Checkpoint if ``every_events`` events wait and no cut is under way."""
        if len(self.pending) >= self.every_events and not self.lock.locked():
            await self.run()

    def forget(self, gone: set[tuple[str, int]]) -> None:
        """Drop the processed events of revoked partitions: their state is gone, so their
        offsets must not be committed (the next owner re-processes them)."""
        self.pending = [
            e for e in self.pending if (e.message.topic, e.message.partition) not in gone
        ]

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

    async def while_stopping(self, every: float = 0.1) -> None:
        """Checkpoint until cancelled: run while faust stops (it waits for every event
        processed to be acked, and only a checkpoint acks them)."""
        while self.failed is None:
            try:
                await self.run()
            except Exception as exc:  # nothing acked: a restart resumes from the last one
                log.critical("final checkpoint failed: %s: %s", type(exc).__name__, exc)
                return
            await asyncio.sleep(every)
