"""The evidence behind each alert: since when, counts before and after, the effect.

For a firing alert of a replay, from the detector's hourly trace
(:class:`~monitor.trace.Trace`) and the hourly counts (:class:`~monitor.tally.Tally`):

* **since** - the estimated onset: the last trace sample, before the alert, at which the
  detector's statistic was at its floor (under ``FLOOR`` of its threshold). For a CUSUM
  that is Page's change-point estimate (where the evidence began to accumulate), at the
  trace's hourly resolution.
* **before / after** - the series' observations in the ``BEFORE`` preceding the onset,
  and from the onset to the alert. A new model version has no traffic of its own before
  its onset: it is compared with the versions at the same site, as its detector is (it
  starts from the baseline of the version it replaces).
* **effect** - after minus before, with a 95% interval (:func:`~monitor.tally.compare_windows`:
  Newcombe for rates, Welch for burden and score, Welch on log seconds for decision time).
  A site outlier compares the site with the rest of its feature over the same hours. Input
  drift (a histogram distance) and silence have counts and no interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from monitor.core.records import ALL, Alert
from monitor.stats import Interval
from monitor.tally import MEANS, RATES, Tally, Window, compare_windows
from monitor.trace import Trace

FLOOR = 0.05
"""Statistic / threshold below which a detector counts as having no evidence."""
BEFORE = 7 * 86400.0
MIN_N = 30
ALPHA = 0.05


@dataclass
class Evidence:
    alert: Alert
    since: float
    resolved: float | None
    """When the alert resolved (None: still firing at the end of the stream)."""
    before: Window
    after: Window
    measure: str | None
    """The signal whose counts and effect are shown (site_outlier: acceptance_rate)."""
    effect: Interval | None
    compared_with: str
    """What 'before' is: the series itself, other versions at the site, the other sites."""
    span: Window | None = None
    """From the onset to when the alert resolved (or the stream ended)."""
    span_effect: Interval | None = None
    """The effect over ``span``: an alert fires on the first convincing hours, and the
    span shows what it was."""

    def n(self, side: str) -> float:
        w = self.before if side == "before" else self.after
        if self.measure is None:
            return w.shown
        return w.n(self.measure)


def spans(alerts: list[Alert]) -> list[tuple[Alert, float | None]]:
    """Each firing alert with the time it resolved (None if it did not)."""
    open_: dict[tuple[object, ...], int] = {}
    out: list[tuple[Alert, float | None]] = []
    for a in alerts:
        key = (a.signal, a.feature, a.model_version, a.site, a.input)
        if a.state == "firing":
            open_[key] = len(out)
            out.append((a, None))
        elif key in open_:
            i = open_.pop(key)
            out[i] = (out[i][0], a.at)
    return out


def series_of(alert: Alert) -> tuple[str, str]:
    """(series key, detector slot) of an alert, as the trace keys them."""
    slot = alert.signal if alert.input is None else f"{alert.signal}:{alert.input}"
    return f"{alert.feature}|{alert.model_version}|{alert.site}", slot


def onset(trace: Trace, alert: Alert, after: float = -math.inf) -> float:
    """The last sample before ``alert`` (and after ``after``) with the statistic at its floor."""
    points = trace.series.get(series_of(alert))
    if points is None or not points[0]:
        return alert.at
    times, ratios = points
    since = None
    for t, r in zip(times, ratios, strict=True):
        if t > alert.at:
            break
        if t > after and r < FLOOR:
            since = t
    return times[0] if since is None else since


def gather(trace: Trace, tally: Tally, alerts: list[Alert]) -> list[Evidence]:
    """Evidence for every firing alert, in alert order (counts and effect at the time it
    fired, and over its whole span)."""
    out = []
    last_resolved: dict[tuple[str, str], float] = {}
    for alert, resolved in spans(alerts):
        key = series_of(alert)
        since = onset(trace, alert, last_resolved.get(key, -math.inf))
        if resolved is not None:
            last_resolved[key] = resolved
        ev = _evidence(tally, alert, since, resolved, alert.at)
        last = _evidence(tally, alert, since, resolved, resolved or _end(trace))
        ev.span, ev.span_effect = last.after, last.effect
        out.append(ev)
    return out


def _end(trace: Trace) -> float:
    return max((p[0][-1] for p in trace.series.values() if p[0]), default=0.0) + 1.0


def _evidence(
    tally: Tally, alert: Alert, since: float, resolved: float | None, end: float
) -> Evidence:
    f, v, s = alert.feature, alert.model_version, alert.site
    after = tally.window(f, v, s, since, end)
    if alert.signal == "site_outlier":
        rest = tally.window(f, ALL, ALL, since, end, exclude_site=s)
        measure = "acceptance_rate"
        return Evidence(alert, since, resolved, rest, after, measure,
                        _effect(measure, after, rest), "the other sites, same hours")  # fmt: skip
    before = tally.window(f, v, s, since - BEFORE, since)
    compared = "the series, the week before"
    measure = alert.signal if alert.signal in RATES or alert.signal in MEANS else None
    if measure is not None and before.n(measure) < MIN_N and v != ALL:
        before = tally.window(f, ALL, s, since - BEFORE, since)
        compared = "all versions at the site, the week before"
    effect = None if measure is None else _effect(measure, after, before)
    return Evidence(alert, since, resolved, before, after, measure, effect, compared)


def _effect(measure: str, after: Window, before: Window) -> Interval | None:
    if after.n(measure) < MIN_N or before.n(measure) < MIN_N:
        return None
    return compare_windows(measure, after, before, ALPHA)
