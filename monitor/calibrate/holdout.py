"""The hold-out check: replay a second stationary period with the calibrated config and
compare its false alarms with the budget.

Every alert that fires on a stationary stream is a false alarm. Their count ``k`` over
the hold-out's event time ``T`` is compared with what the budget allows in ``T``
through Garwood's exact 95% Poisson interval of the mean given ``k``: the budget is
*consistent* with the hold-out when it lies inside, *exceeded* when the interval lies
above it, and met with room to spare when the interval lies below it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from monitor.calibrate.budget import Budget
from monitor.core.config import MonitorConfig
from monitor.core.records import Alert, Flag, Resolution
from monitor.fanout import Lane, fan_out_file
from monitor.stats import garwood

__all__ = ["ALPHA", "HoldoutCheck", "check_holdout"]

ALPHA = 0.05


@dataclass(frozen=True)
class HoldoutCheck:
    """False alarms of a stationary hold-out against the budget."""

    path: Path
    budget: Budget
    seconds: float
    """Event time the hold-out covers (first suggestion to last event)."""
    alerts: tuple[Alert, ...]
    """The firing alerts (all false alarms: the stream is stationary)."""

    @property
    def count(self) -> int:
        return len(self.alerts)

    @property
    def allowed(self) -> float:
        """False alarms the budget allows over the hold-out's time."""
        return self.budget.expected(self.seconds)

    @property
    def interval(self) -> tuple[float, float]:
        """Exact 95% interval of the hold-out's false-alarm mean over its time."""
        return garwood(self.count, ALPHA)

    @property
    def verdict(self) -> str:
        low, high = self.interval
        if self.allowed < low:
            return "exceeds the budget"
        if self.allowed > high:
            return "below the budget"
        return "consistent with the budget"

    def by_signal(self) -> Counter[str]:
        return Counter(a.signal for a in self.alerts)


def check_holdout(
    path: Path,
    config: MonitorConfig,
    budget: Budget,
    on_progress: Callable[[int], None] | None = None,
) -> HoldoutCheck:
    """Replay ``path`` with ``config``; its firing alerts against ``budget``."""
    first = [math.inf]

    def earliest(item: Resolution | Flag) -> None:
        at = item.shown_at if isinstance(item, Resolution) else item.at
        if at < first[0]:
            first[0] = at

    lane = Lane.of(config)
    engine, result = fan_out_file(path, config, [lane], tap=earliest, on_progress=on_progress)
    if not result.events:
        raise ValueError(f"{path}: no valid event in {result.lines} lines")
    seconds = max(engine.resolver.clock - first[0], 0.0)
    firing = tuple(a for a in lane.alerts if a.state == "firing")
    return HoldoutCheck(path, budget, seconds, firing)
