"""The engine loop, written once for replay and for the streaming worker.

::

    raw bytes ─ parse ─ admit (clock policy) ─ resolve ─ fan out to rollups   stage 1
      ─ queue in event-time order ─ advance to the watermark ─ assess ─ alerts stage 2

:class:`ResolveStage` is stage 1 over one :class:`~monitor.core.resolver.Resolver`:
it parses, admits (a :class:`ClockPolicy` decides what to do with an event from the
future), resolves, and hands every result to a *fan-out* callable. :class:`AssessStage`
is stage 2 over one :class:`~monitor.core.assessor.Assessor`: it queues what it is
given and advances the assessor to the *watermark*, the smallest watermark its
sources reported minus ``clock_skew`` (every result before it has been emitted).

:class:`Engine` joins the two in one process (replay: one source, results go
straight to the assessor for all four rollups). The worker runs one ResolveStage
per input partition and one AssessStage per assess partition, with Kafka between
them (``streams/``); each input partition is one source of every AssessStage.

Examples
--------
>>> engine = Engine()
>>> [r.reason for r in engine.feed(b'{"schema_version": 2}', ref=1)]
['unsupported_schema_version']
>>> engine.feed(b'{"schema_version": 1, "type": "suggestion", "event_id": "e1", '
...             b'"suggestion_id": "s1", "occurred_at": "2026-01-05T09:00:00Z", '
...             b'"feature": "note-draft", "model_version": "v1", "site": "a"}', ref=2)
[]
>>> engine.finish()
[]
>>> engine.resolver.counters["open"]
1
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple, Protocol

from monitor.core.assessor import Assessor
from monitor.core.config import MonitorConfig
from monitor.core.contract import Feedback, InvalidEvent, Outcome, Suggestion, parse_event
from monitor.core.records import Alert, Flag, Resolution
from monitor.core.resolver import Resolver

Event = Suggestion | Outcome | Feedback
Item = Resolution | Flag
FanOut = Callable[[Item], None]
_NONE: list[Rejected] = []  # (returned, never appended to)


class Rejected(NamedTuple):
    """An input the engine did not apply: ``reason`` is one of the contract's REASONS."""

    ref: Any
    """What the caller passed with the input (a line number, a Kafka message)."""
    reason: str
    detail: str


class ClockPolicy(Protocol):
    """What stage 1 does with an event whose time is far ahead: an event from a wrong
    clock would move the watermark past every later event, and they would all be
    dropped as too late."""

    def admit(self, stage: ResolveStage, ref: Any, event: Event, at: float) -> list[Rejected]:
        """Apply *event* (``stage.apply``), hold it, or reject it; return rejections."""

    def release(self, stage: ResolveStage) -> None:
        """End of input: apply whatever is held."""


class WallClock:
    """Kafka: reject an event more than *max_ahead* seconds ahead of this machine's clock."""

    def __init__(self, max_ahead: float, now: Callable[[], float] = time.time) -> None:
        self.max_ahead = max_ahead
        self.now = now

    def admit(self, stage: ResolveStage, ref: Any, event: Event, at: float) -> list[Rejected]:
        ahead = at - self.now()
        if ahead > self.max_ahead:
            detail = f"occurred_at {ahead:.0f} s ahead of this worker's clock"
            return [Rejected(ref, "future_time", detail)]
        stage.apply(event)
        return _NONE

    def release(self, stage: ResolveStage) -> None:
        return None


class HoldAndConfirm:
    """A file: the stream's own clock is the reference, since a recording may be of any
    time. An event more than *ahead* seconds past the resolver's clock is held; the next
    event within *ahead* of it confirms it (the stream moved on: both are applied). Held
    events are dropped as ``future_time`` once *contradicted_after* events near the
    clock followed them, or when more than *max_held* are held (the oldest)."""

    def __init__(
        self, ahead: float = 86400.0, contradicted_after: int = 100, max_held: int = 64
    ) -> None:
        self.ahead = ahead
        self.contradicted_after = contradicted_after
        self.max_held = max_held
        self.held: list[tuple[Any, float, Event]] = []
        self.strikes = 0  # events near the clock since the first held one

    def admit(self, stage: ResolveStage, ref: Any, event: Event, at: float) -> list[Rejected]:
        clock = stage.resolver.clock
        held = self.held
        if at > clock + self.ahead and math.isfinite(clock):
            if any(abs(at - h) <= self.ahead for _, h, _ in held):
                self.release(stage)  # confirmed: the stream moved on
                stage.apply(event)
                return _NONE
            held.append((ref, at, event))
            if len(held) > self.max_held:
                return [self._drop(stage, held.pop(0))]
            return _NONE
        stage.apply(event)
        if not held:
            return _NONE
        self.strikes += 1
        if min(h for _, h, _ in held) <= stage.resolver.clock + self.ahead:
            self.release(stage)  # the stream caught up with them
        elif self.strikes >= self.contradicted_after:
            self.held, self.strikes = [], 0
            return [self._drop(stage, h) for h in held]
        return _NONE

    def release(self, stage: ResolveStage) -> None:
        held, self.held, self.strikes = self.held, [], 0
        for _, _, event in held:
            stage.apply(event)

    def _drop(self, stage: ResolveStage, held: tuple[Any, float, Event]) -> Rejected:
        ref, at, _ = held
        hours = (at - stage.resolver.clock) / 3600
        return Rejected(ref, "future_time", (
            f"occurred_at {hours:.0f} h ahead of the stream, and the "
            f"{self.contradicted_after} events after it were not: a wrong clock?"))  # fmt: skip


class ResolveStage:
    """Stage 1 over one resolver: parse, admit, resolve, fan out.

    ``fan_out`` receives every resolution and flag, in the resolver's order (replay:
    the assessor; the worker: the outbox to the assess topic). ``applied`` counts
    the events that reached the resolver.
    """

    def __init__(self, resolver: Resolver, policy: ClockPolicy, fan_out: FanOut) -> None:
        self.resolver = resolver
        self.policy = policy
        self.fan_out = fan_out
        self.applied = 0

    def feed(self, raw: bytes, ref: Any = None) -> list[Rejected]:
        """One raw event (JSON bytes); the inputs rejected (this one, or held ones)."""
        try:
            event = parse_event(raw)
        except InvalidEvent as exc:
            return [Rejected(ref, exc.reason, str(exc))]
        except Exception as exc:  # never stop on input: whatever the parser raised
            return [Rejected(ref, "undecodable", type(exc).__name__)]
        return self.policy.admit(self, ref, event, event.occurred_at.timestamp())

    def apply(self, event: Event) -> None:
        """Resolve one admitted event and fan its results out."""
        self.applied += 1
        items = self.resolver.process(event)
        if items:
            fan_out = self.fan_out
            for item in items:
                fan_out(item)

    def finish(self) -> None:
        """End of input: apply what the policy holds, then finalize what is decided."""
        self.policy.release(self)
        fan_out = self.fan_out
        for item in self.resolver.finish():
            fan_out(item)

    @property
    def watermark(self) -> float:
        return self.resolver.watermark


class AssessStage:
    """Stage 2 over one assessor: queue items, advance to the sources' watermark.

    ``sources`` is the number of stage-1 resolvers that feed it, ``lag`` the resolver's
    ``clock_skew``. The watermark is ``min(reported by each source) - lag``, -inf
    until every source has reported: a source not heard from may still send results
    from before the others' watermarks, and a result applied after a later one (or
    after a later clock tick) changes the detectors' sequence. A source marked
    :meth:`idle` is left out of the minimum until it reports progress again.
    """

    def __init__(
        self,
        assessor: Assessor,
        *,
        sources: int = 1,
        lag: float = 0.0,
        ticks: dict[int, float] | None = None,
        idle: Iterable[int] = (),
        advanced: float = -math.inf,
        has_items: bool = False,
    ) -> None:
        self.assessor = assessor
        self.sources = sources
        self.lag = lag
        self.ticks: dict[int, float] = {} if ticks is None else ticks
        """Latest watermark reported per source."""
        self.idle: set[int] = set(idle)
        self.advanced = advanced
        """The watermark the assessor was last advanced to."""
        self.has_items = has_items
        """Whether any item was queued (the assessor's clock starts at its first item)."""

    def put(self, item: Item, key: str | tuple[str, ...]) -> None:
        """Queue *item* for the series *key* (``str`` of a SeriesKey), or for several
        (a tuple of names, applied in that order, as one queue entry)."""
        self.has_items = True
        self.assessor.process(item, key)

    def put_rollups(self, item: Item) -> None:
        """Queue *item* for every series it rolls up to (one queue entry for all four)."""
        self.has_items = True
        self.assessor.process_rollups(item)

    def report(self, source: int, watermark: float) -> bool:
        """Source *source* reached *watermark*; True when that is progress."""
        if watermark > self.ticks.get(source, -math.inf):
            self.ticks[source] = watermark
            self.idle.discard(source)
            return True
        return False

    def mark_idle(self, source: int) -> None:
        """Leave *source* out of the watermark until it reports again."""
        self.idle.add(source)

    @property
    def watermark(self) -> float:
        """``min`` of the active sources' watermarks minus ``lag`` (see the class)."""
        ticks = self.ticks
        if self.sources == 1 and not self.idle:
            wm = ticks.get(0)
            return -math.inf if wm is None else wm - self.lag
        if len(ticks.keys() | self.idle) < self.sources:
            return -math.inf
        active = [t for s, t in ticks.items() if s not in self.idle]
        if not active:  # every source idle: nothing new to apply
            return -math.inf
        return min(active) - self.lag

    def advance(self) -> list[Alert]:
        """Apply what the watermark passed; the alerts it raised."""
        wm = self.watermark
        if wm > self.advanced and self.has_items:
            self.advanced = wm
            return self.assessor.advance(wm)
        return []


class Engine:
    """Both stages in one process, over one stream of raw events (replay).

    Every result goes to the assessor for all its rollups at once; after each input the
    assessor is advanced to the resolver's watermark minus ``clock_skew``.
    ``on_alerts`` is called with the alerts of each advance (not with empty lists),
    ``on_advance`` with the watermark and the assessor whenever the watermark moved
    (samplers such as a trace).
    """

    def __init__(
        self,
        config: MonitorConfig | None = None,
        *,
        policy: ClockPolicy | None = None,
        resolver: Resolver | None = None,
        assessor: Assessor | None = None,
        on_alerts: Callable[[list[Alert]], None] | None = None,
        on_advance: Callable[[float, Assessor], None] | None = None,
    ) -> None:
        self.config = config = config or MonitorConfig()
        self.assess = AssessStage(
            assessor or Assessor(config), sources=1, lag=config.resolver.clock_skew
        )
        self.resolve = ResolveStage(
            resolver or Resolver(config.resolver_config),
            policy or HoldAndConfirm(),
            self.assess.put_rollups,
        )
        self.on_alerts = on_alerts
        self.on_advance = on_advance

    @property
    def resolver(self) -> Resolver:
        return self.resolve.resolver

    @property
    def assessor(self) -> Assessor:
        return self.assess.assessor

    def feed(self, raw: bytes, ref: Any = None) -> list[Rejected]:
        """One raw event; the inputs rejected. Alerts go to ``on_alerts``."""
        rejected = self.resolve.feed(raw, ref)
        self._advance()
        return rejected

    def _advance(self) -> None:
        assess = self.assess
        if assess.report(0, self.resolve.watermark):
            self._emit(assess.advance(), assess.watermark)

    def _emit(self, alerts: list[Alert], watermark: float) -> None:
        if alerts and self.on_alerts is not None:
            self.on_alerts(alerts)
        if self.on_advance is not None:
            self.on_advance(watermark, self.assessor)

    def finish(self) -> list[Alert]:
        """End of input: apply what is held, finalize what is decided, apply every queued
        item (no clock tick past the last event); the alerts of that last step."""
        self.resolve.finish()
        self._advance()
        alerts = self.assessor.flush(self.resolver.clock)
        self._emit(alerts, self.assessor.watermark)
        return alerts
