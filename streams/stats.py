"""What the worker counts, for /metrics (:mod:`streams.metrics` renders it).

The stages and the checkpoint update a :class:`WorkerStats`; the collector reads only
it. Per-partition figures are taken at scrape time through :attr:`WorkerStats.partitions`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class PartitionStats:
    """One owned partition as a scrape sees it."""

    stage: str  # "resolve" | "assess"
    topic: str
    partition: int
    lag: int | None  # records not yet applied (None: the end offset is not known yet)
    watermark: float  # the stage's event-time watermark (-inf before any)
    caught_up: bool  # rebuilt from a checkpoint and re-applied what its topic held
    counters: dict[str, int] | None = None  # stage 1: the resolver's counters
    open_suggestions: int = 0  # stage 1: suggestions waiting for an outcome


@dataclass
class WorkerStats:
    events: Counter[str] = field(default_factory=Counter)  # messages per stage
    dead: Counter[str] = field(default_factory=Counter)  # dead letters per reason
    dead_truncated: int = 0  # dead letters cut to fit a producer request
    alerts: Counter[tuple[str, str]] = field(default_factory=Counter)  # (signal, state)
    redelivered: int = 0  # input already in the checkpointed state, skipped
    redelivered_dropped: int = 0  # stage-2 deliveries re-sent by a restarted stage 1
    gaps: int = 0  # offset ranges the consumer did not deliver, checked
    gap_records: int = 0  # records read back from them
    gap_records_lost: Callable[[], int] = lambda: 0  # deleted by retention before the read
    rebalances: int = 0
    restore_seconds: dict[str, float] = field(
        default_factory=lambda: {"resolve": 0.0, "assess": 0.0}
    )
    checkpoints: int = 0
    checkpoint_records: int = 0
    checkpoint_seconds: float = 0.0
    ready: Callable[[], bool] = lambda: False
    partitions: Callable[[], list[PartitionStats]] = list
