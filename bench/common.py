"""Shared helpers for benchmarks: broker address, timing, ratio table."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any


def bootstrap() -> str:
    """The broker under test: $VITALS_KAFKA_BOOTSTRAP (``make bench`` starts one)."""
    addr = os.environ.get("VITALS_KAFKA_BOOTSTRAP")
    if not addr:
        raise SystemExit("set VITALS_KAFKA_BOOTSTRAP (or run `make bench`, which starts Kafka)")
    return addr


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def best_of(rounds: int, fn: Callable[[], Any]) -> float:
    """Fastest of *rounds* runs (seconds): the least disturbed by a noisy machine."""
    return min(timed(fn)[0] for _ in range(rounds))
