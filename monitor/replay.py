"""Replay engine: the monitor core over a JSONL file, in process, no broker.

Events are parsed and validated line by line (malformed lines are counted by
reason and reported with their line numbers, never fatal), resolved by the
:class:`~monitor.core.resolver.Resolver`, and assessed by the
:class:`~monitor.core.assessor.Assessor` in event-time order. The streaming worker
runs the same two classes, so both engines produce the same counts and the
same event-time alert timeline.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from monitor.core.assessor import Assessor
from monitor.core.config import MonitorConfig
from monitor.core.contract import (
    MAX_EVENT_BYTES,
    Feedback,
    InvalidEvent,
    Outcome,
    Suggestion,
    parse_event,
)
from monitor.core.detectors.base import Detector
from monitor.core.records import Alert, Flag, Resolution
from monitor.core.resolver import Resolver
from monitor.trace import Trace

MAX_EXAMPLES = 20
BOM = b"\xef\xbb\xbf"
HOLD_AHEAD = 86400.0
"""An event more than this ahead of every event before it is held back. The first
event after a long silence is confirmed by the next one (within this of it) and
applied; a lone event from a wrong clock would move the watermark past every
later event, and they would all count as too late. (The worker judges events by
its wall clock instead: its ``max_ahead``.)"""
CONTRADICTED_AFTER = 100
"""A held event is dropped, as ``future_time``, once this many events near the
stream's clock have followed it."""
MAX_HELD = 64
"""Events held at once, at most (beyond: the oldest is dropped as ``future_time``)."""


@dataclass
class ReplayResult:
    lines: int = 0
    events: int = 0
    malformed: Counter[str] = field(default_factory=Counter)
    malformed_examples: list[tuple[int, str, str]] = field(default_factory=list)
    resolver_counters: dict[str, int] = field(default_factory=dict)
    alerts: list[Alert] = field(default_factory=list)
    first_event_at: float | None = None
    last_event_at: float | None = None


class Replay:
    """Drive resolver and assessor over an iterable of raw lines.

    ``on_alert`` is called for each alert as it happens; ``on_progress`` with
    the number of bytes consumed so far (for progress bars and live views);
    ``trace`` samples every detector's statistic as event time passes (plots).
    """

    def __init__(
        self,
        config: MonitorConfig | None = None,
        *,
        on_alert: Callable[[Alert], None] | None = None,
        override: tuple[type[Detector], frozenset[str]] | None = None,
        trace: Trace | None = None,
    ) -> None:
        self.config = config or MonitorConfig()
        self.resolver = Resolver(self.config.resolver_config)
        self.assessor = Assessor(self.config, override=override)
        self.result = ReplayResult()
        self._on_alert = on_alert
        self._lag = self.config.resolver.clock_skew
        self.trace = trace
        self._held: list[tuple[int, float, Suggestion | Outcome | Feedback]] = []
        self._strikes = 0  # events near the clock since the first held one

    def feed_line(self, lineno: int, raw: bytes) -> None:
        res = self.result
        res.lines += 1
        if not raw.strip():
            return
        try:
            event = parse_event(raw)
        except InvalidEvent as exc:
            res.malformed[exc.reason] += 1
            if len(res.malformed_examples) < MAX_EXAMPLES:
                res.malformed_examples.append((lineno, exc.reason, str(exc)))
            return
        at = event.occurred_at.timestamp()
        clock = self.resolver.clock
        if at > clock + HOLD_AHEAD and math.isfinite(clock):
            if any(abs(at - h) <= HOLD_AHEAD for _, h, _ in self._held):
                self._release()  # confirmed: the stream moved on
                self._feed(event)
                return
            self._held.append((lineno, at, event))
            if len(self._held) > MAX_HELD:
                self._drop(self._held.pop(0))
            return
        self._feed(event)
        if self._held:
            self._strikes += 1
            if min(h for _, h, _ in self._held) <= self.resolver.clock + HOLD_AHEAD:
                self._release()  # the stream caught up with them
            elif self._strikes >= CONTRADICTED_AFTER:
                for held in self._held:
                    self._drop(held)
                self._held, self._strikes = [], 0

    def _feed(self, event: Suggestion | Outcome | Feedback) -> None:
        self.result.events += 1
        self._dispatch(self.resolver.process(event))

    def _release(self) -> None:
        held, self._held, self._strikes = self._held, [], 0
        for _, _, event in held:
            self._feed(event)

    def _drop(self, held: tuple[int, float, Suggestion | Outcome | Feedback]) -> None:
        lineno, at, _ = held
        res = self.result
        res.malformed["future_time"] += 1
        if len(res.malformed_examples) < MAX_EXAMPLES:
            ahead = (at - self.resolver.clock) / 3600
            res.malformed_examples.append((lineno, "future_time", (
                f"occurred_at {ahead:.0f} h ahead of the stream, and the "
                f"{CONTRADICTED_AFTER} events after it were not: a wrong clock?")))  # fmt: skip

    def _dispatch(self, items: Iterable[Resolution | Flag]) -> None:
        assessor = self.assessor
        for item in items:
            assessor.process_rollups(item)
        wm = self.resolver.watermark - self._lag
        if wm > assessor.watermark:
            self._emit(assessor.advance(wm))
            if self.trace is not None:
                self.trace.sample(assessor.watermark, assessor)

    def _emit(self, alerts: list[Alert]) -> None:
        if not alerts:
            return
        self.result.alerts.extend(alerts)
        if self._on_alert is not None:
            for alert in alerts:
                self._on_alert(alert)

    def finish(self) -> ReplayResult:
        """End of input: finalize decided suggestions and apply everything queued.
        Events still held back are applied: nothing came after them to contradict."""
        self._release()
        self._dispatch(self.resolver.finish())
        self._emit(self.assessor.flush(self.resolver.clock))
        if self.trace is not None:
            self.trace.sample(self.assessor.watermark, self.assessor)
        self.result.resolver_counters = self.resolver.counters
        return self.result

    def run(
        self, lines: Iterable[bytes], on_progress: Callable[[int], None] | None = None
    ) -> ReplayResult:
        consumed = 0
        for lineno, raw in enumerate(lines, start=1):
            self.feed_line(lineno, raw)
            if on_progress is not None:
                consumed += len(raw)
                if lineno % 4096 == 0:
                    on_progress(consumed)
        if on_progress is not None:
            on_progress(consumed)
        return self.finish()


def read_lines(path: Path) -> Iterator[bytes]:
    """The lines of a JSONL file. A UTF-8 byte-order mark is dropped; a line longer
    than an event may be is cut to its first ``MAX_EVENT_BYTES + 1`` bytes (the
    contract rejects it as too large), so one huge line cannot exhaust memory."""
    limit = MAX_EVENT_BYTES + 1
    with Path(path).open("rb") as fh:
        first = fh.readline(limit)
        if first.startswith(BOM):
            first = first[len(BOM) :]
        line = first
        while line:
            if len(line) == limit and not line.endswith(b"\n"):
                rest = fh.readline(limit)  # skip the rest of the line
                while rest and not rest.endswith(b"\n"):
                    rest = fh.readline(limit)
            yield line
            line = fh.readline(limit)


def replay_file(
    path: Path,
    config: MonitorConfig | None = None,
    *,
    on_alert: Callable[[Alert], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
    override: tuple[type[Detector], frozenset[str]] | None = None,
    trace: Trace | None = None,
) -> tuple[Replay, ReplayResult]:
    engine = Replay(config, on_alert=on_alert, override=override, trace=trace)
    result = engine.run(read_lines(path), on_progress)
    return engine, result
