"""The worker's failure policy (streams.app): a stage that fails stops the worker,
and no checkpoint acks anything after it. No broker: the app is built, not run.
(Run for real, an injected failure in stage 1 makes ``python -m streams worker``
exit with status 1.)"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from streams.app import Worker, create_app
from streams.settings import WorkerSettings


def test_a_failing_stage_stops_the_worker_and_no_checkpoint_follows(tmp_path: Any) -> None:
    w: Worker = create_app(WorkerSettings(data_dir=tmp_path), input_partitions=1).vitals  # type: ignore[attr-defined]
    processed = object()  # an event applied (perhaps in part) but not acked
    w.pending.append(processed)

    async def run() -> None:
        with pytest.raises(RuntimeError, match="delivery failed"):
            async with w.stopping_on_error("resolve"):
                raise RuntimeError("delivery failed")
        await w.checkpoint()  # the timer may still fire: it must not ack

    asyncio.run(run())
    assert isinstance(w.failed, RuntimeError)
    assert isinstance(w.app.crash_reason, RuntimeError)  # faust stops the worker, exit 1
    assert w.pending == [processed] and w.checkpoints == 0


def test_cancellation_at_a_rebalance_is_not_a_failure(tmp_path: Any) -> None:
    w: Worker = create_app(WorkerSettings(data_dir=tmp_path), input_partitions=1).vitals  # type: ignore[attr-defined]

    async def run() -> None:
        with pytest.raises(asyncio.CancelledError):
            async with w.stopping_on_error("assess"):
                raise asyncio.CancelledError

    asyncio.run(run())
    assert w.failed is None and w.app.crash_reason is None
