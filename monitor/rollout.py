"""The phased-rollout scorecard: did the new model version help, and at which sites?

Two comparisons per site, and overall, for acceptance, response, correction burden,
decision time and flags (:data:`METRICS`):

* **concurrent**: the new version at the site vs the old version at the *other* sites,
  over the same hours (from the site's first new-version suggestion to the last hour
  the old version ran elsewhere); overall, all new vs all old traffic over the hours
  both ran. Same calendar, so weekday and season cancel; different sites, so a site's
  own level does not.
* **before / after**: the site's old-version traffic before the hour of its first
  new-version suggestion vs its new-version traffic; overall, those windows pooled over
  the sites that received the new version. Same site; different calendar.

Each cell is an interval (:mod:`monitor.stats`): Newcombe's for a difference of rates,
Welch's for burden, Welch's on log seconds for decision time (shown as a ratio of
geometric means). Counts are scaled by each side's hourly dispersion factor. The
intervals are simultaneous: with ``m`` cells that have data, each is at level
``1 - alpha / m`` (Bonferroni), so the chance that *any* verdict of the card is a false
"better" or "worse" is at most ``alpha``. A cell whose interval contains no difference
says what the data could have seen: the interval's half-width.

Needs only parse + resolve (no detectors): see :func:`rollout_file`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from monitor.core.config import MonitorConfig
from monitor.core.records import ALL
from monitor.fanout import fan_out_file
from monitor.replay import ReplayResult
from monitor.stats import Interval, Verdict, bonferroni, verdict
from monitor.tally import (
    Tally,
    Window,
    compare_windows,
    format_change,
    format_detectable,
    format_level,
)

ALPHA = 0.05
MIN_N = 30
"""A side with fewer observations of a metric gets no interval ("not enough data")."""
OVERALL = "overall"


@dataclass(frozen=True)
class Metric:
    signal: str
    label: str
    higher_is_better: bool


METRICS = (
    Metric("acceptance_rate", "acceptance", True),
    Metric("response_rate", "response", True),
    Metric("correction_burden", "correction burden", False),
    Metric("decision_time", "decision time", False),
    Metric("flag_rate", "flags", False),
)
COMPARISONS = ("concurrent", "before_after")


@dataclass
class Cell:
    """One comparison of one metric at one site (or overall)."""

    new: Window | None
    old: Window | None
    interval: Interval | None = None
    verdict: Verdict = "not enough data"

    def level(self, signal: str, side: str) -> float | None:
        """The metric on one side ('new' or 'old'), in display units."""
        w = self.new if side == "new" else self.old
        return None if w is None else w.level(signal)


@dataclass
class Scorecard:
    feature: str
    old: str
    new: str
    alpha: float
    sites: list[str]
    cells: dict[tuple[str, str, str], Cell] = field(default_factory=dict)
    """(comparison, site or "overall", signal) -> cell."""

    @property
    def tested(self) -> int:
        """Cells with an interval: the Bonferroni family."""
        return sum(c.interval is not None for c in self.cells.values())

    @property
    def level(self) -> float:
        """Per-cell confidence level."""
        return 1.0 - bonferroni(self.alpha, self.tested)

    def findings(self) -> list[str]:
        """Every better or worse cell as a sentence."""
        out = []
        for (comp, site, signal), cell in self.cells.items():
            if cell.verdict not in ("better", "worse") or cell.interval is None:
                continue
            metric = next(m for m in METRICS if m.signal == signal)
            where = "overall" if site == OVERALL else f"at {site}"
            against = (
                f"vs {self.old} concurrently at other sites"
                if comp == "concurrent"
                else f"vs {self.old} before"
            )
            out.append(
                f"{metric.label} {cell.verdict} {where}: {self.new} {against}: "
                f"{format_change(signal, cell.interval)}"
            )
        return out


def _floor(t: float, step: float) -> float:
    return math.floor(t / step) * step


def _pool(windows: list[Window]) -> Window:
    out = Window()
    for w in windows:
        out.bins.extend(w.bins)
        for j, v in enumerate(w.sums):
            out.sums[j] += v
    return out


def scorecard(tally: Tally, feature: str, old: str, new: str, alpha: float = ALPHA) -> Scorecard:
    """Both comparisons for every site of ``feature`` and overall; see the module docstring."""
    step = tally.bin
    sites = sorted({s for (f, v, s) in tally.leaves if f == feature and v in (old, new)})
    card = Scorecard(feature, old, new, alpha, sites)
    inf = math.inf
    starts = {
        s: _floor(tally.first_seen[(feature, new, s)], step)
        for s in sites
        if (feature, new, s) in tally.first_seen
    }
    windows: dict[tuple[str, str], tuple[Window | None, Window | None]] = {}
    for site in sites:
        if site not in starts:
            windows["concurrent", site] = windows["before_after", site] = (None, None)
            continue
        start = starts[site]
        others = [s for s in sites if s != site]
        end = max((a[1] for s in others if (a := tally.active(feature, old, s))), default=start)
        windows["concurrent", site] = (
            (
                tally.window(feature, new, site, start, end),
                tally.window(feature, old, ALL, start, end, exclude_site=site),
            )
            if end > start
            else (None, None)
        )
        windows["before_after", site] = (
            tally.window(feature, new, site, start, inf),
            tally.window(feature, old, site, -inf, start),
        )
    if starts:
        start = min(starts.values())
        span = tally.active(feature, old, ALL)
        end = span[1] if span else start
        windows["concurrent", OVERALL] = (
            (
                tally.window(feature, new, ALL, start, end),
                tally.window(feature, old, ALL, start, end),
            )
            if end > start
            else (None, None)
        )
        pairs = [windows["before_after", s] for s in starts]
        windows["before_after", OVERALL] = (
            _pool([p[0] for p in pairs if p[0] is not None]),
            _pool([p[1] for p in pairs if p[1] is not None]),
        )
    else:
        windows["concurrent", OVERALL] = windows["before_after", OVERALL] = (None, None)
    testable = [
        (comp, site, m.signal)
        for (comp, site), (w_new, w_old) in windows.items()
        for m in METRICS
        if w_new is not None
        and w_old is not None
        and w_new.n(m.signal) >= MIN_N
        and w_old.n(m.signal) >= MIN_N
    ]
    per_cell = bonferroni(alpha, len(testable))
    for (comp, site), (w_new, w_old) in windows.items():
        for m in METRICS:
            cell = Cell(w_new, w_old)
            if (comp, site, m.signal) in testable:
                assert w_new is not None and w_old is not None
                cell.interval = compare_windows(m.signal, w_new, w_old, per_cell)
            cell.verdict = verdict(cell.interval, m.higher_is_better)
            card.cells[comp, site, m.signal] = cell
    return card


def rollout_file(
    path: Path,
    feature: str,
    old: str,
    new: str,
    config: MonitorConfig | None = None,
    *,
    alpha: float = ALPHA,
    on_progress: Callable[[int], None] | None = None,
) -> tuple[Scorecard, ReplayResult, Tally]:
    """Parse and resolve ``path`` once (no detectors) and score the rollout."""
    tally = Tally()
    _, result = fan_out_file(
        path, config or MonitorConfig(), tap=tally.add, on_progress=on_progress
    )
    return scorecard(tally, feature, old, new, alpha), result, tally


def verdict_text(signal: str, cell: Cell) -> str:
    if cell.verdict == "no detectable difference" and cell.interval is not None:
        return (
            f"no detectable difference at this volume ({format_detectable(signal, cell.interval)})"
        )
    return cell.verdict


COMPARISON_TITLES = {
    "concurrent": "new at the site vs old at the other sites, same hours",
    "before_after": "the site before (old) vs after (new)",
}


def method_note(card: Scorecard) -> str:
    return (
        f"{card.tested} intervals, simultaneous at {100 * (1 - card.alpha):.0f}% "
        f"(Bonferroni: each at {100 * card.level:.3f}%). Rates: Newcombe hybrid score "
        f"interval of the difference (points); burden: Welch; decision time: Welch on log "
        f"seconds, shown as the ratio of geometric means. Counts scaled by each side's "
        f"hourly dispersion factor. Fewer than {MIN_N} observations on a side: not enough data."
    )


_STYLE = {"better": "green", "worse": "bold red"}


def print_scorecard(out: Console, card: Scorecard) -> None:
    """The scorecard as one Rich table (a row per site and metric), then its findings."""
    table = Table(title=f"rollout {card.feature}: {card.old} -> {card.new}")
    table.add_column("site")
    table.add_column("metric")
    for comp in COMPARISONS:
        head = "concurrent" if comp == "concurrent" else "before/after"
        table.add_column(f"{head}: old -> new", justify="right")
        table.add_column(f"{head}: change [interval]", justify="right")
        table.add_column(f"{head}: verdict")
    for site in [*card.sites, OVERALL]:
        for i, m in enumerate(METRICS):
            row = [site if i == 0 else "", m.label]
            for comp in COMPARISONS:
                cell = card.cells[comp, site, m.signal]
                levels = (
                    f"{format_level(m.signal, cell.level(m.signal, 'old'))} -> "
                    f"{format_level(m.signal, cell.level(m.signal, 'new'))}"
                )
                change = "-" if cell.interval is None else format_change(m.signal, cell.interval)
                style = _STYLE.get(cell.verdict, "")
                row += [
                    levels,
                    change,
                    f"[{style}]{verdict_text(m.signal, cell)}[/]"
                    if style
                    else verdict_text(m.signal, cell),
                ]
            table.add_row(*row, end_section=i == len(METRICS) - 1)
    out.print(table)
    out.print(
        "concurrent: "
        + COMPARISON_TITLES["concurrent"]
        + "; before/after: "
        + COMPARISON_TITLES["before_after"]
        + ".",
        markup=False,
    )
    out.print(method_note(card), markup=False)
    findings = card.findings()
    if not findings:
        out.print(
            f"no detectable difference between {card.new} and {card.old} in any cell", markup=False
        )
    for line in findings:
        out.print(line, markup=False)


def write_html(path: Path, card: Scorecard, events: Path) -> None:
    """The scorecard as a self-contained HTML page."""
    from monitor import html

    rows = []
    for site in [*card.sites, OVERALL]:
        for m in METRICS:
            row: list[object] = [site, m.label]
            for comp in COMPARISONS:
                cell = card.cells[comp, site, m.signal]
                row.append(
                    f"{format_level(m.signal, cell.level(m.signal, 'old'))} → "
                    f"{format_level(m.signal, cell.level(m.signal, 'new'))}"
                )
                row.append("-" if cell.interval is None else format_change(m.signal, cell.interval))
                cls = cell.verdict if cell.verdict in _STYLE else "muted"
                row.append(html.tag("span", verdict_text(m.signal, cell), cls=cls))
            rows.append(row)
    heads: list[object] = ["site", "metric"]
    for comp in COMPARISONS:
        heads += [f"{comp.replace('_', '/')}: old → new", "change [interval]", "verdict"]
    findings = card.findings() or ["no detectable difference in any cell"]
    body = [
        html.tag(
            "p", f"{events.name}: feature {card.feature}, {card.old} → {card.new}", cls="note"
        ),
        html.tag("h2", "Findings"),
        html.Raw("<ul>" + "".join(html.tag("li", f) for f in findings) + "</ul>"),
        html.tag("h2", "Scorecard"),
        html.tag(
            "p",
            "concurrent: "
            + COMPARISON_TITLES["concurrent"]
            + "; before/after: "
            + COMPARISON_TITLES["before_after"]
            + ".",
            cls="note",
        ),
        html.tag("p", method_note(card), cls="note"),
        html.table(heads, rows, numeric=(2, 3, 5, 6)),
    ]
    title = f"Rollout scorecard: {card.feature} {card.old} → {card.new}"
    path.write_text(html.page(title, body), encoding="utf-8")
