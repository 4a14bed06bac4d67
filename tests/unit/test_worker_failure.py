"""The worker's failure policy (streams.checkpoint): a stage that fails stops the worker,
and no checkpoint acks anything after it. No broker: the app is built, not run.
(Run for real, an injected failure in stage 1 makes ``python -m streams worker``
exit with status 1.)"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from streams.settings import WorkerSettings
from streams.topology import Worker, create_app


def test_a_failing_stage_stops_the_worker_and_no_checkpoint_follows(tmp_path: Any) -> None:
    w: Worker = create_app(WorkerSettings(data_dir=tmp_path), input_partitions=1).vitals
    ckpt = w.checkpoint
    processed = object()  # an event applied (perhaps in part) but not acked
    ckpt.pending.append(processed)

    async def run() -> None:
        with pytest.raises(RuntimeError, match="delivery failed"):
            async with ckpt.stopping_on_error("resolve"):
                raise RuntimeError("delivery failed")
        await ckpt.run()  # the timer may still fire: it must not ack

    asyncio.run(run())
    assert isinstance(ckpt.failed, RuntimeError)
    assert isinstance(w.app.crash_reason, RuntimeError)  # faust stops the worker, exit 1
    assert ckpt.pending == [processed] and w.stats.checkpoints == 0


def test_cancellation_at_a_rebalance_is_not_a_failure(tmp_path: Any) -> None:
    w: Worker = create_app(WorkerSettings(data_dir=tmp_path), input_partitions=1).vitals

    async def run() -> None:
        with pytest.raises(asyncio.CancelledError):
            async with w.checkpoint.stopping_on_error("assess"):
                raise asyncio.CancelledError

    asyncio.run(run())
    assert w.checkpoint.failed is None and w.app.crash_reason is None
