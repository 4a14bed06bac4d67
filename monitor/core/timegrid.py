"""A time grid of buckets that widen with age: recent hours in detail, weeks in summary.

Every bucket starts at ``width`` seconds (level 0). The grid keeps at most
``per_level`` buckets of each level; when a level overflows, its two oldest buckets
merge into one of the next level (twice as wide), as in an exponential histogram. So
the grid covers ``horizon`` seconds with about ``per_level * log2(horizon / width)``
buckets, and a boundary ``a`` seconds back is placed to within about ``a / per_level``.
Buckets older than ``horizon`` are dropped.

The grid holds only boundaries. Callers keep per-bucket statistics in arrays whose
last axis-1 index follows the grid, and apply the same :class:`Change` to them: all
series of a panel then share one grid, so one numpy operation updates them all.

Examples
--------
>>> grid = TimeGrid(width=900.0, per_level=2, horizon=86400.0)
>>> grid.start(0.0)
>>> changes = [grid.close() for _ in range(7)]
>>> grid.levels, grid.starts
([2, 1, 0], [0.0, 3600.0, 5400.0])
>>> changes[-1]
Change(merges=[2, 0], dropped=0)
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["Change", "TimeGrid"]


class Change(NamedTuple):
    """What one :meth:`TimeGrid.close` did, in order: a new newest bucket was appended,
    then for each index ``i`` in ``merges`` buckets ``i`` and ``i + 1`` became one (at
    ``i``), then the ``dropped`` oldest buckets went."""

    merges: list[int]
    dropped: int


class TimeGrid:
    """Boundaries of a widening bucket grid (see the module docstring)."""

    __slots__ = ("horizon", "levels", "open_at", "per_level", "starts", "width")

    def __init__(self, width: float, per_level: int, horizon: float) -> None:
        if width <= 0 or per_level < 1 or horizon < width:
            raise ValueError("need width > 0, per_level >= 1 and horizon >= width")
        self.width = float(width)
        self.per_level = int(per_level)
        self.horizon = float(horizon)
        self.levels: list[int] = []
        self.starts: list[float] = []
        self.open_at: float | None = None
        """Start of the bucket being filled (None before :meth:`start`)."""

    def start(self, at: float) -> None:
        """Open the first bucket at ``at`` (a multiple of ``width``)."""
        self.open_at = float(at)

    @property
    def open_until(self) -> float:
        """End of the bucket being filled."""
        if self.open_at is None:
            raise ValueError("the grid has not started")
        return self.open_at + self.width

    def close(self) -> Change:
        """Close the open bucket into the grid and open the next one."""
        if self.open_at is None:
            raise ValueError("the grid has not started")
        self.levels.append(0)
        self.starts.append(self.open_at)
        self.open_at += self.width
        merges = []
        level = 0
        while self.levels.count(level) > self.per_level:
            first = self.levels.index(level)  # levels never rise towards the newest
            del self.levels[first + 1]
            del self.starts[first + 1]
            self.levels[first] = level + 1
            merges.append(first)
            level += 1
        dropped = 0
        limit = self.open_at - self.horizon
        while len(self.starts) > 1 and self.starts[1] <= limit:
            del self.starts[0]
            del self.levels[0]
            dropped += 1
        return Change(merges, dropped)

    def ends(self) -> list[float]:
        """End time of each bucket (the next one's start; the open bucket's for the last)."""
        return [*self.starts[1:], self.open_at] if self.starts else []

    def to_state(self) -> list[object]:
        return [self.open_at, self.levels, self.starts]

    def load_state(self, state: list[object]) -> None:
        open_at, levels, starts = state
        self.open_at = None if open_at is None else float(open_at)  # type: ignore[arg-type]
        self.levels = [int(v) for v in levels]  # type: ignore[union-attr]
        self.starts = [float(v) for v in starts]  # type: ignore[union-attr]
