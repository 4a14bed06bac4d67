"""One parse + resolve pass over a file, feeding any number of assessors (lanes).

Parsing, validation and the resolver cost about half of a replay; comparing configs,
calibrating candidates, or only counting (the rollout scorecard) need not pay it once
per config. :class:`FanOut` is a :class:`~monitor.replay.Replay` whose resolved items go
to every lane's own :class:`~monitor.core.assessor.Assessor`, in the same order and
with the same watermarks a plain replay gives its one assessor, so each lane's alerts
are exactly those of ``replay_file`` with its config. A ``tap`` sees every item too
(a :class:`~monitor.tally.Tally`). With no lane it resolves and taps only.

The lanes must agree on everything the resolver and the replay clock use
(``MonitorConfig.resolver_config``); :func:`shared_resolver` says whether they do.

Examples
--------
>>> from monitor.core.config import MonitorConfig
>>> engine = FanOut(MonitorConfig(), [Lane.of(MonitorConfig()), Lane.of(MonitorConfig())])
>>> result = engine.run([])
>>> [len(lane.alerts) for lane in engine.lanes], result.lines
([0, 0], 0)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from monitor.core.assessor import Assessor
from monitor.core.config import MonitorConfig
from monitor.core.engine import AssessStage, Engine, HoldAndConfirm
from monitor.core.records import Alert, Flag, Resolution
from monitor.replay import Replay, ReplayResult, read_lines
from monitor.trace import Trace

Tap = Callable[[Resolution | Flag], None]


@dataclass
class Lane:
    """One config's assessor, its alerts, optional trace, and the time it took."""

    config: MonitorConfig
    assessor: Assessor
    trace: Trace | None = None
    alerts: list[Alert] = field(default_factory=list)
    seconds: float = 0.0
    """Wall time spent advancing this lane's assessor and in its trace (the shared pass
    and the queueing not counted)."""

    @classmethod
    def of(cls, config: MonitorConfig, trace: Trace | None = None) -> Lane:
        return cls(config, Assessor(config), trace)


def shared_resolver(configs: Sequence[MonitorConfig]) -> bool:
    """Whether one resolver pass serves all these configs."""
    return all(c.resolver_config == configs[0].resolver_config for c in configs[1:])


class LanesEngine(Engine):
    """The engine with one resolve stage and an assess stage per lane: each lane's
    assessor is queued and advanced exactly as :class:`Engine` does its one."""

    def __init__(self, config: MonitorConfig, lanes: Sequence[Lane], tap: Tap | None) -> None:
        super().__init__(
            config, policy=HoldAndConfirm(), assessor=lanes[0].assessor if lanes else None
        )
        self.lanes = list(lanes)
        self.tap = tap
        lag = config.resolver.clock_skew
        self.stages = [AssessStage(lane.assessor, sources=1, lag=lag) for lane in self.lanes]
        self.resolve.fan_out = self._fan_out

    def _fan_out(self, item: Resolution | Flag) -> None:
        if self.tap is not None:
            self.tap(item)
        for stage in self.stages:
            stage.put_rollups(item)

    def _advance(self) -> None:
        wm = self.resolve.watermark
        for lane, stage in zip(self.lanes, self.stages, strict=True):
            if not stage.report(0, wm):
                continue
            began = time.perf_counter()
            lane.alerts.extend(stage.advance())
            if lane.trace is not None:
                lane.trace.sample(stage.watermark, lane.assessor)
            lane.seconds += time.perf_counter() - began

    def finish(self) -> list[Alert]:
        self.resolve.finish()
        self._advance()
        for lane in self.lanes:
            began = time.perf_counter()
            lane.alerts.extend(lane.assessor.flush(self.resolver.clock))
            if lane.trace is not None:
                lane.trace.sample(lane.assessor.watermark, lane.assessor)
            lane.seconds += time.perf_counter() - began
        return []


class FanOut(Replay):
    """A replay whose resolved items feed several lanes; see the module docstring.

    ``config`` sets the resolver (every lane's must resolve the same). The first lane,
    if any, is also ``self.assessor`` and its alerts ``self.result.alerts``, so the
    replay tables and reports read a one-lane fan-out like a plain replay.
    """

    def __init__(
        self, config: MonitorConfig, lanes: Sequence[Lane] = (), *, tap: Tap | None = None
    ) -> None:
        if not shared_resolver([config, *(lane.config for lane in lanes)]):
            raise ValueError(
                "the configs resolve differently (resolver settings, per-feature "
                "timeouts or lateness): one resolver pass cannot serve them all"
            )
        engine = LanesEngine(config, lanes, tap)
        super().__init__(config, engine=engine)
        self.lanes = engine.lanes
        self.tap = tap
        if self.lanes:
            self.result.alerts = self.lanes[0].alerts


def fan_out_file(
    path: Path,
    config: MonitorConfig,
    lanes: Sequence[Lane] = (),
    *,
    tap: Tap | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> tuple[FanOut, ReplayResult]:
    """Run a :class:`FanOut` over a JSONL file."""
    engine = FanOut(config, lanes, tap=tap)
    return engine, engine.run(read_lines(path), on_progress)
