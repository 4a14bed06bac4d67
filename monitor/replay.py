"""Replay: a JSONL file through the :class:`~monitor.core.engine.Engine`, in process.

Lines are numbered and fed as they are read; a malformed line is counted by reason
and kept as an example with its line number, never fatal. The streaming worker runs
the same engine stages, so both give the same counts and event-time alert timeline.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from monitor.core.assessor import Assessor
from monitor.core.config import MonitorConfig
from monitor.core.contract import MAX_EVENT_BYTES
from monitor.core.detectors.base import ObservationDetector
from monitor.core.engine import Engine, HoldAndConfirm
from monitor.core.records import Alert
from monitor.core.resolver import Resolver
from monitor.trace import Trace

MAX_EXAMPLES = 20
BOM = b"\xef\xbb\xbf"


@dataclass
class ReplayResult:
    lines: int = 0
    events: int = 0
    malformed: Counter[str] = field(default_factory=Counter)
    malformed_examples: list[tuple[int, str, str]] = field(default_factory=list)
    resolver_counters: dict[str, int] = field(default_factory=dict)
    alerts: list[Alert] = field(default_factory=list)


class Replay:
    """The :class:`~monitor.core.engine.Engine` over numbered raw lines.

    Future times are judged by the stream's own clock
    (:class:`~monitor.core.engine.HoldAndConfirm`). ``on_alert`` is called for each
    alert as it happens; ``trace`` samples every detector's statistic as event time
    passes (plots); ``override`` runs one detector class for some signals (yardsticks).
    """

    def __init__(
        self,
        config: MonitorConfig | None = None,
        *,
        on_alert: Callable[[Alert], None] | None = None,
        override: tuple[type[ObservationDetector], frozenset[str]] | None = None,
        trace: Trace | None = None,
        resolver: Resolver | None = None,
        assessor: Assessor | None = None,
        engine: Engine | None = None,
    ) -> None:
        self.config = config = config or MonitorConfig()
        self.result = ReplayResult()
        self._on_alert = on_alert
        self.trace = trace
        self.engine = engine or Engine(
            config,
            policy=HoldAndConfirm(),
            resolver=resolver,
            assessor=assessor or Assessor(config, override=override),
            on_alerts=self._alerts,
            on_advance=None if trace is None else trace.sample,
        )

    @property
    def resolver(self) -> Resolver:
        return self.engine.resolver

    @property
    def assessor(self) -> Assessor:
        return self.engine.assessor

    def feed_line(self, lineno: int, raw: bytes) -> None:
        res = self.result
        res.lines += 1
        if not raw.strip():
            return
        for rejected in self.engine.feed(raw, lineno):  # (this line, or held ones)
            res.malformed[rejected.reason] += 1
            if len(res.malformed_examples) < MAX_EXAMPLES:
                res.malformed_examples.append(rejected)
        res.events = self.engine.resolve.applied

    def _alerts(self, alerts: list[Alert]) -> None:
        self.result.alerts.extend(alerts)
        if self._on_alert is not None:
            for alert in alerts:
                self._on_alert(alert)

    def finish(self) -> ReplayResult:
        """End of input: apply what is held (nothing came after it to contradict it),
        finalize decided suggestions and apply everything queued."""
        self.engine.finish()
        self.result.events = self.engine.resolve.applied
        self.result.resolver_counters = self.resolver.counters
        return self.result

    def run(
        self, lines: Iterable[bytes], on_progress: Callable[[int], None] | None = None
    ) -> ReplayResult:
        """Feed every line and finish; ``on_progress`` gets the bytes consumed so far."""
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
    override: tuple[type[ObservationDetector], frozenset[str]] | None = None,
    trace: Trace | None = None,
) -> tuple[Replay, ReplayResult]:
    engine = Replay(config, on_alert=on_alert, override=override, trace=trace)
    result = engine.run(read_lines(path), on_progress)
    return engine, result
