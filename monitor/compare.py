"""``vitals compare``: two monitor configs on one stream, from one parse + resolve pass.

Both configs' assessors are lanes of one :class:`~monitor.fanout.FanOut`, so the file is
parsed and resolved once (when the configs resolve alike; otherwise once per config, and
the table says so). No river yardstick is run. The table gives, for A and B: firing
alerts, the alerts B gained and lost against A, the detection delay per injected
degradation and its difference, misses and false alarms (with ``--truth``), and time.

An alert *episode* is one firing, to its resolution (or the end of the stream), of a
signal on a series (and input). B *gained* an episode when A has none of the same signal
and series that overlaps it within ``MATCH_WITHIN``; B *lost* one when the reverse holds.

Time: each lane's own assessor time is measured; the shared parse + resolve pass is the
rest of the wall time. A config's time alone is about its own plus the shared pass.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from monitor.core.config import MonitorConfig
from monitor.core.records import Alert, to_rfc3339
from monitor.evidence import series_of, spans
from monitor.fanout import Lane, fan_out_file, shared_resolver
from monitor.replay import ReplayResult
from monitor.scoring import Score, score
from monitor.trace import Trace, label

MATCH_WITHIN = 86400.0
"""Two episodes of the same signal and series match when they overlap within this."""


@dataclass
class Episode:
    alert: Alert
    end: float
    """When it resolved; the end of the stream if it did not."""

    @property
    def key(self) -> tuple[str, str]:
        return series_of(self.alert)


def episodes(alerts: list[Alert], end: float) -> list[Episode]:
    return [Episode(a, end if r is None else r) for a, r in spans(alerts)]


def unmatched(ours: list[Episode], theirs: list[Episode]) -> list[Episode]:
    """Our episodes that no episode of theirs (same signal, series) overlaps."""
    out = []
    for e in ours:
        if not any(
            o.key == e.key
            and o.alert.at <= e.end + MATCH_WITHIN
            and e.alert.at <= o.end + MATCH_WITHIN
            for o in theirs
        ):
            out.append(e)
    return out


@dataclass
class Side:
    name: str
    lane: Lane
    score: Score | None = None
    episodes: list[Episode] = field(default_factory=list)


@dataclass
class Comparison:
    a: Side
    b: Side
    shared_seconds: float
    """Parse + resolve, shared by both (or the sum of two passes when not shared)."""
    shared: bool
    result: ReplayResult
    gained: list[Episode]
    lost: list[Episode]
    truth: dict[str, Any] | None = None

    def solo_seconds(self, side: Side) -> float:
        passes = 1 if self.shared else 2
        return side.lane.seconds + self.shared_seconds / passes


def compare_file(
    events: Path,
    configs: Sequence[tuple[str, MonitorConfig]],
    truth: dict[str, Any] | None = None,
    *,
    traces: bool = False,
    on_progress: Callable[[int], None] | None = None,
) -> Comparison:
    """Replay ``events`` under two named configs (one pass when they resolve alike)."""
    (name_a, cfg_a), (name_b, cfg_b) = configs
    lanes = [Lane.of(cfg, Trace() if traces else None) for cfg in (cfg_a, cfg_b)]
    shared = shared_resolver([cfg_a, cfg_b])
    began = time.perf_counter()
    if shared:
        engine, result = fan_out_file(events, cfg_a, lanes, on_progress=on_progress)
    else:
        engine, result = fan_out_file(events, cfg_a, lanes[:1], on_progress=on_progress)
        fan_out_file(events, cfg_b, lanes[1:], on_progress=on_progress)
    wall = time.perf_counter() - began
    end = engine.resolver.clock
    sides = []
    for name, lane in zip((name_a, name_b), lanes, strict=True):
        side = Side(name, lane, episodes=episodes(lane.alerts, end))
        if truth is not None:
            side.score = score(lane.alerts, truth)
        sides.append(side)
    a, b = sides
    return Comparison(
        a,
        b,
        wall - a.lane.seconds - b.lane.seconds,
        shared,
        result,
        gained=unmatched(b.episodes, a.episodes),
        lost=unmatched(a.episodes, b.episodes),
        truth=truth,
    )


def _h(seconds: float | None) -> str:
    return "missed" if seconds is None else f"{seconds / 3600:.1f} h"


def summary_rows(c: Comparison) -> list[tuple[str, str, str, str]]:
    """(row, A, B, B - A): the one comparison table, for the terminal and the page."""
    a, b = c.a, c.b
    na = sum(x.state == "firing" for x in a.lane.alerts)
    nb = sum(x.state == "firing" for x in b.lane.alerts)
    rows = [
        ("firing alerts", str(na), str(nb), f"{nb - na:+d}"),
        ("alerts gained (B only)", "", str(len(c.gained)), ""),
        ("alerts lost (A only)", str(len(c.lost)), "", ""),
    ]
    if a.score is not None and b.score is not None:
        for da, db in zip(a.score.detections, b.score.detections, strict=True):
            diff = "-"
            if da.delay is not None and db.delay is not None:
                diff = f"{(db.delay - da.delay) / 3600:+.1f} h"
            elif da.delay is None and db.delay is not None:
                diff = "B detects"
            elif da.delay is not None:
                diff = "B misses"
            rows.append((f"delay: {da.id}", _h(da.delay), _h(db.delay), diff))
        rows.append(
            (
                "missed",
                str(a.score.missed),
                str(b.score.missed),
                f"{b.score.missed - a.score.missed:+d}",
            )
        )
        fa, fb = len(a.score.false_alarms), len(b.score.false_alarms)
        rows.append(("false alarms", str(fa), str(fb), f"{fb - fa:+d}"))
    ta, tb = c.solo_seconds(a), c.solo_seconds(b)
    rows.append(
        (
            "assess time (s)",
            f"{a.lane.seconds:.1f}",
            f"{b.lane.seconds:.1f}",
            f"{b.lane.seconds - a.lane.seconds:+.1f}",
        )
    )
    shared = "shared parse + resolve (s)" if c.shared else "parse + resolve, two passes (s)"
    rows.append((shared, f"{c.shared_seconds:.1f}", "", ""))
    rows.append(("time alone, about (s)", f"{ta:.1f}", f"{tb:.1f}", f"{tb - ta:+.1f}"))
    return rows


def episode_rows(c: Comparison) -> list[tuple[str, str, str, str, str]]:
    """(change, signal, series, fired, resolved) for every gained and lost episode."""
    rows = []
    for change, eps in (("gained", c.gained), ("lost", c.lost)):
        for e in eps:
            rows.append(
                (
                    change,
                    e.alert.signal,
                    label(e.key),
                    to_rfc3339(e.alert.at)[:16],
                    to_rfc3339(e.end)[:16],
                )
            )
    return rows


def print_comparison(out: Console, c: Comparison) -> None:
    table = Table(title=f"compare  A = {c.a.name}  B = {c.b.name}")
    for col in ("", "A", "B", "B - A"):
        table.add_column(col, justify="left" if not col else "right")
    for row in summary_rows(c):
        table.add_row(*row)
    out.print(table)
    if not c.shared:
        out.print(
            "the configs resolve differently (resolver settings): the file was parsed "
            "and resolved once for each",
            markup=False,
        )
    rows = episode_rows(c)
    if rows:
        detail = Table(title="alerts gained and lost (B against A)")
        for col in ("change", "signal", "series", "fired", "resolved or end"):
            detail.add_column(col)
        for row in rows:
            detail.add_row(*row)
        out.print(detail)


def write_html(path: Path, c: Comparison, events: Path) -> None:
    """The comparison as a self-contained page: the table, the episodes, and per series
    with a gained or lost alert both configs' statistic over time."""
    from monitor import html

    body: list[object] = [
        html.tag(
            "p", f"{events} ({c.result.lines} lines): A = {c.a.name}, B = {c.b.name}", cls="note"
        ),
        html.tag("h2", "Comparison"),
        html.table(("", "A", "B", "B − A"), summary_rows(c), numeric=(1, 2, 3)),
        html.tag("h2", "Alerts gained and lost"),
        html.table(("change", "signal", "series", "fired", "resolved or end"), episode_rows(c))
        if c.gained or c.lost
        else html.tag("p", "none: both configs raise the same alert episodes", cls="muted"),
    ]
    keys = list(dict.fromkeys(e.key for e in [*c.gained, *c.lost]))
    if keys:
        body.append(html.tag("h2", "Statistic / threshold, A and B"))
    for key in keys:
        fig = _figure(c, key)
        if fig is not None:
            body.append(
                html.Raw(
                    f'<section class="series" data-key="{html.esc(label(key))}">'
                    f"{html.tag('h3', label(key))}{fig}</section>"
                )
            )
    page = html.page(f"Vitals compare: {c.a.name} vs {c.b.name}", body, filter_box=bool(keys))
    path.write_text(page, encoding="utf-8")


def _figure(c: Comparison, key: tuple[str, str]) -> str | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    from monitor import html

    fig, ax = plt.subplots(figsize=(11, 3.4), layout="constrained")
    drawn = False
    for side, color in ((c.a, "#1f77b4"), (c.b, "#d62728")):
        trace = side.lane.trace
        points = None if trace is None else trace.series.get(key)
        if points is None or not points[0]:
            continue
        drawn = True
        ax.plot(
            [html.utc(t) for t in points[0]],
            [min(r, 3.0) for r in points[1]],
            lw=1.2,
            color=color,
            label=f"{'A' if side is c.a else 'B'}: {side.name}",
        )
        fired = [e.alert.at for e in side.episodes if e.key == key]
        if fired:
            ax.plot([html.utc(t) for t in fired], [1.0] * len(fired), "v", color=color, ms=8)
    if not drawn:
        plt.close(fig)
        return None
    ax.axhline(1.0, color="0.3", ls="--", lw=1.0, label="threshold")
    ax.set_ylim(0, 3.05)
    ax.set_ylabel("statistic / threshold", fontsize=9)
    ax.set_xlabel("event time (UTC); triangles: alert fired", fontsize=9)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%b %d"))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    return html.tag("figure", html.svg(fig))
