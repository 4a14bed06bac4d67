"""The feature panel: every change detector of one feature, over one shared time grid.

A :class:`FeaturePanel` lives in the feature's ``(feature, *, *)`` series, which sees
every resolution and flag of the feature, in canonical event-time order, in replay and
in the worker alike. For each panel signal it keeps one *row* of bucket statistics per
series it watches: the feature, each site ``(feature, *, site)`` and, once the feature
has two model versions, each version ``(feature, version, *)`` and each version at
each site ``(feature, version, site)``. At every bucket boundary it runs a
likelihood-ratio change-point scan (:mod:`monitor.core.detectors.glr`) over all rows
of a signal at once.

* **References that do not depend on volume.** A row's before level is all its data
  before the split, so nothing waits for a warm-up count. A site's before level also
  borrows from its peers' (empirical Bayes: as many pseudo-observations as the spread
  between sites justifies), a new version's from the version it replaces, so a small
  site is watched from its first day and a version that is worse from its first day is
  compared with what it replaced.
* **Calendar and mix.** Night, weekend and holiday staff accept differently: the panel
  learns each calendar stratum's offset from the feature's pooled data and removes it
  from every observation. Feature and version rows also remove each site's offset, so
  a phased rollout or a quiet site changing the mix of sites is not a change.
* **Windows in time.** Buckets are ``bucket_seconds`` wide and widen with age
  (:class:`~monitor.core.timegrid.TimeGrid`); the scan's number of looks is set by the
  grid, so one threshold ``z`` means one false-alarm rate per unit of time, whatever a
  series' volume.

Signals, their statistics and defaults are in :mod:`monitor.core.signals`
(``PANEL_SPECS``). An alert carries its row's series; ``value`` is the level since the
change (the after segment), ``threshold`` the before level moved by the minimum effect
(the level of concern); for coded inputs the largest change of a code's frequency and
the minimum effect; for the volume share (``no_data``) the after/before ratio of the
site's share and ``1 - min_effect``.

Examples
--------
>>> import random
>>> from monitor.core.config import MonitorConfig
>>> from monitor.core.records import Resolution
>>> rng = random.Random(4)
>>> panel = FeaturePanel("reply", MonitorConfig())
>>> alerts = []
>>> t0 = 1767571200.0                      # Mon 2026-01-05 00:00 UTC
>>> for i in range(14 * 24 * 30):          # two weeks, 10 decisions an hour at 3 sites
...     t = t0 + i * 120.0
...     site = ("a", "b", "c")[i % 3]
...     p = 0.45 if site == "b" and i > 8 * 24 * 30 else 0.6
...     status = "accepted" if rng.random() < p else "rejected"
...     panel.observe(Resolution(str(i), "reply", "r1", site, "other", t - 60, t, status,
...                              60.0, None, None, None))
...     alerts.extend(panel.tick(t))
>>> [(a.state, a.signal, a.site) for a in alerts]
[('firing', 'acceptance_rate', 'b')]
"""

from __future__ import annotations

import base64
import heapq
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from monitor.core.config import MonitorConfig
from monitor.core.detectors.glr import binomial_scan, gaussian_scan, multinomial_scan
from monitor.core.records import ACCEPTED, ALL, DECIDED, Alert, DetectorView, Flag, Resolution
from monitor.core.signals import PANEL_SPECS, ScanParams
from monitor.core.timegrid import TimeGrid

__all__ = ["FeaturePanel"]

FEATURE, SITE, VERSION, EXACT = "feature", "site", "version", "exact"
_DIRECTION = {"down": -1, "up": 1, "both": 0}
_DAY = 86400.0
_LAST = ("z", "since", "before", "after", "n_before", "n_after", "se", "detectable")
"""What the last scan left per row (``since``: the split's event time)."""


@dataclass
class _Row:
    """One monitored (signal, input, series): its place in its family's arrays, its alarm."""

    signal: str
    input: str | None
    kind: str
    version: str
    site: str
    family: str
    idx: int
    firing: bool = False
    since: float | None = None
    """While firing: where the change began (the scan's split)."""
    fired: float | None = None
    """While firing: when the alert fired (the alert log's ``at``)."""

    @property
    def key(self) -> str:
        """The row's calendar and range key: the signal, or ``input_drift:<name>``."""
        return self.signal if self.input is None else f"{self.signal}:{self.input}"


class _Calendar:
    """Local-time stratum of a bucket: weekday day (07-19 h), weekday night, and the
    same two on weekends and holidays."""

    def __init__(self, zone: str, holidays: tuple[Any, ...]) -> None:
        self._zone = ZoneInfo(zone)
        self._holidays = frozenset(holidays)

    def stratum(self, t: float) -> int:
        local = datetime.fromtimestamp(t, UTC).astimezone(self._zone)
        day = local.date()
        off = 2 if day.weekday() >= 5 or day in self._holidays else 0
        return off + (0 if 7 <= local.hour < 19 else 1)


def _pack(a: np.ndarray) -> list[Any]:
    return [list(a.shape), base64.b64encode(np.ascontiguousarray(a, "<f8").tobytes()).decode()]


def _unpack(v: list[Any]) -> np.ndarray:
    shape, data = v
    return np.frombuffer(base64.b64decode(data), dtype="<f8").reshape(shape).copy()


def pearson_dispersion(n: np.ndarray, x: np.ndarray, min_buckets: int = 8) -> np.ndarray:
    """Per row, the Pearson over-dispersion of bucket counts ``x`` of ``n`` trials about
    the row's pooled rate: ``X^2 / (buckets - 1)``, at least 1 (1 with fewer than
    ``min_buckets`` buckets holding trials).

    >>> n = np.full((1, 40), 50.0)
    >>> x = np.tile([5.0, 15.0], 20)[None, :]  # far more spread than Binomial(50, 0.2)
    >>> round(float(pearson_dispersion(n, x)[0]), 2)  # (5 - 10)^2 / 8, times 40 / 39
    3.21
    """
    tot_n, tot_x = n.sum(axis=1), x.sum(axis=1)
    p = np.divide(tot_x, tot_n, out=np.zeros_like(tot_n), where=tot_n > 0)[:, None]
    var = n * p * (1.0 - p)
    used = (n > 0) & (var > 0)
    dev = np.divide((x - n * p) ** 2, var, out=np.zeros_like(n), where=used)
    df = used.sum(axis=1) - 1
    phi = np.divide(dev.sum(axis=1), df, out=np.ones(len(n)), where=df > 0)
    return np.where(df + 1 >= min_buckets, np.maximum(phi, 1.0), 1.0)


def _skewness(xs: list[float]) -> float:
    """Sample skewness (0 for a constant sample)."""
    n = len(xs)
    m = sum(xs) / n
    m2 = sum((x - m) ** 2 for x in xs) / n
    if m2 <= 0.0:
        return 0.0
    return sum((x - m) ** 3 for x in xs) / n / m2**1.5


def _finite(x: float) -> float:
    return round(x, 6) if math.isfinite(x) else 0.0


_Target = tuple[list[float], bool, int]
"""An observation's destination: the row's open-bucket sums, whether the row removes
site offsets (feature and version rows), and the row's index in its family."""


class FeaturePanel:
    """Rows, grid, calendar and site offsets of one feature (see the module docstring).

    Feed it with :meth:`observe` (each resolution), :meth:`observe_flag` (each flag) and
    :meth:`tick` (the event-time clock, at least once per bucket); :meth:`tick` returns
    the alerts that start or resolve at the bucket boundaries it crosses.
    """

    def __init__(self, feature: str, config: MonitorConfig) -> None:
        self.feature = feature
        self.config = config
        ps = self.settings = config.panel
        self.grid = TimeGrid(ps.bucket_seconds, ps.per_level, ps.horizon)
        self._calendar = _Calendar(config.timezone, tuple(config.holidays))
        self._decay = 0.5 ** (ps.bucket_seconds / ps.calendar_half_life)
        self._timeout = config.resolver_config.timeout(feature)
        self._tick = config.tick_interval
        self._width = {"rate": 2, "mean": 3, "mix": 2 + ps.max_codes}  # mix: n, codes, rest
        self.params: dict[str, ScanParams] = {}
        self.enabled: dict[str, bool] = {}
        for name in PANEL_SPECS:
            on, params = config.signal(name, feature, ALL)
            self.enabled[name] = on
            self.params[name] = params  # type: ignore[assignment]
        self.rows: list[_Row] = []
        self._index: dict[tuple[str, str | None, str, str, str], _Row] = {}
        self._by_family: dict[str, list[_Row]] = {f: [] for f in self._width}
        self._data = {f: np.zeros((0, 0, w)) for f, w in self._width.items()}
        """Per family: (rows, buckets, stats) sums, oldest bucket first."""
        self._acc: dict[str, list[list[float]]] = {f: [] for f in self._width}
        """Per family and row: the open bucket's sums."""
        self._touched: dict[str, set[int]] = {f: set() for f in self._width}
        self._targets_of: dict[tuple[str, str | None, str, str], list[_Target]] = {}
        self._last = {f: {k: np.zeros(0) for k in _LAST} for f in self._width}
        """Per family: the last scan's figures per row (see ``_LAST``)."""
        self._stratum = 0
        self._strata: dict[str, list[list[float]]] = {}
        """Calendar learners: row key -> per stratum [n, sum] (raw values, decayed)."""
        self._offsets: dict[str, dict[str, float]] = {}
        """Site offsets removed from feature and version rows: row key -> site -> offset."""
        self._peer: dict[str, dict[str, np.ndarray]] = {}
        """Per family: what site rows borrow from their peers (:meth:`_peers`, hourly)."""
        self._ranges: dict[str, list[Any]] = {}
        """Robust range of a measurement: key -> [lo, hi, sd, first values or None]."""
        self._codes: dict[str, list[str]] = {}
        """Codes of a coded input tracked one by one (later ones count as one)."""
        self._kinds: dict[str, str] = {}
        """Input name -> "number" or "code" (set by its first value)."""
        self.versions: dict[str, float] = {}
        """Model version -> event time first seen, in order of arrival."""
        self.established: dict[str, float] = {}
        """Model version -> event time it reached ``version_established`` resolutions."""
        self._vcount: dict[str, int] = {}
        self.predecessors: dict[str, str] = {}
        """New version -> the version it is compared with (lineage, else the version
        established most recently before it appeared)."""
        self._sites: list[str] = []
        self._site_set: set[str] = set()
        self._held: dict[float, dict[tuple[str, str], int]] = {}
        """Answered suggestions waiting for their decision timeout (``response_rate``)."""
        self._due: list[float] = []
        """Heap of the ticks in ``_held``."""
        self._shown: dict[str, float] = {}
        """Resolutions per site in the open bucket (``volume_share``)."""
        self.skipped = 0
        """Observations not monitored: a site, version or input beyond the caps."""
        self._tables: dict[str, dict[str, np.ndarray]] = {}

    # -- rows ----------------------------------------------------------------------------

    def _row(
        self, signal: str, inp: str | None, kind: str, version: str, site: str, family: str
    ) -> _Row:
        key = (signal, inp, kind, version, site)
        row = self._index.get(key)
        if row is None:
            arr = self._data[family]
            row = _Row(signal, inp, kind, version, site, family, arr.shape[0])
            width = self._width[family]
            self._data[family] = np.concatenate([arr, np.zeros((1, arr.shape[1], width))])
            self._acc[family].append([0.0] * width)
            last = self._last[family]
            for k in _LAST:
                last[k] = np.append(last[k], math.inf if k == "detectable" else math.nan)
            self.rows.append(row)
            self._by_family[family].append(row)
            self._index[key] = row
            self._tables.pop(family, None)
        return row

    def _targets(
        self, signal: str, inp: str | None, version: str, site: str, family: str
    ) -> list[_Target]:
        """Where an observation at (version, site) goes, for one signal."""
        cached = self._targets_of.get((signal, inp, version, site))
        if cached is not None:
            return cached
        kinds = PANEL_SPECS[signal].kinds
        multi = len(self.versions) > 1
        rows = []
        if FEATURE in kinds:
            rows.append(self._row(signal, inp, FEATURE, ALL, ALL, family))
        if SITE in kinds:
            rows.append(self._row(signal, inp, SITE, ALL, site, family))
        if multi and VERSION in kinds:
            rows.append(self._row(signal, inp, VERSION, version, ALL, family))
        if multi and EXACT in kinds:
            rows.append(self._row(signal, inp, EXACT, version, site, family))
        acc = self._acc[family]
        out = [(acc[r.idx], r.kind in (FEATURE, VERSION), r.idx) for r in rows]
        self._targets_of[signal, inp, version, site] = out
        return out

    # -- versions and sites --------------------------------------------------------------

    def _see_version(self, version: str, at: float) -> bool:
        """Note a resolution of ``version``; False when it is beyond the cap."""
        n = self._vcount.get(version)
        if n is not None:
            self._vcount[version] = n + 1
            if n + 1 == self.settings.version_established:
                self.established.setdefault(version, at)
            return True
        if len(self.versions) >= self.settings.max_versions:
            return False
        pred = self.config.predecessor(self.feature, version)
        if pred is None and self.established:
            pred = max(self.established, key=lambda v: self.established[v])
        if pred is not None:
            self.predecessors[version] = pred
            self._tables.clear()
        self.versions[version] = at
        self._vcount[version] = 1
        if self.settings.version_established <= 1:
            self.established.setdefault(version, at)
        if len(self.versions) == 2:
            self._split_versions(next(iter(self.versions)))
        return True

    def _split_versions(self, old: str) -> None:
        """A second version appeared: the first one's version and exact rows start as
        copies of the feature and site rows, which so far held only its data."""
        self._targets_of.clear()
        for row in list(self.rows):
            kinds = PANEL_SPECS[row.signal].kinds
            if row.kind == FEATURE and VERSION in kinds:
                clone = self._row(row.signal, row.input, VERSION, old, ALL, row.family)
            elif row.kind == SITE and EXACT in kinds:
                clone = self._row(row.signal, row.input, EXACT, old, row.site, row.family)
            else:
                continue
            f = row.family
            self._data[f][clone.idx] = self._data[f][row.idx]
            self._acc[f][clone.idx][:] = self._acc[f][row.idx]
            if row.idx in self._touched[f]:
                self._touched[f].add(clone.idx)

    def _see_site(self, site: str) -> bool:
        if site in self._site_set:
            return True
        if len(self._sites) >= self.settings.max_sites:
            return False
        self._sites.append(site)
        self._site_set.add(site)
        if self.enabled["volume_share"]:
            self._row("volume_share", None, SITE, ALL, site, "rate")
        return True

    # -- observations --------------------------------------------------------------------

    def observe(self, res: Resolution) -> None:
        """Account one resolution (an answer or an expiry) in the open bucket."""
        v, s = res.model_version, res.site
        if self.grid.open_at is None:
            self._start(res.at)
        if not self._see_version(v, res.at) or not self._see_site(s):
            self.skipped += 1
            return
        self._shown[s] = self._shown.get(s, 0.0) + 1.0
        on = self.enabled
        if res.status in DECIDED:
            if on["acceptance_rate"]:
                self._rate("acceptance_rate", v, s, 1.0 if res.status in ACCEPTED else 0.0)
            tick = math.ceil((res.shown_at + self._timeout) / self._tick) * self._tick
            held = self._held.get(tick)
            if held is None:
                held = self._held[tick] = {}
                heapq.heappush(self._due, tick)
            held[v, s] = held.get((v, s), 0) + 1
        elif on["response_rate"]:
            self._rate("response_rate", v, s, 0.0)
        if on["flag_rate"]:
            touched = self._touched["rate"]
            for acc, _, idx in self._targets("flag_rate", None, v, s, "rate"):
                acc[0] += 1.0
                touched.add(idx)
        if res.burden is not None and on["correction_burden"]:
            self._mean("correction_burden", None, v, s, res.burden)
        if res.decision_seconds is not None and on["decision_time"]:
            self._mean("decision_time", None, v, s, math.log(max(res.decision_seconds, 1e-3)))
        if res.score is not None and on["score_drift"]:
            self._mean("score_drift", None, v, s, res.score)
        if res.inputs and on["input_drift"]:
            for name, value in res.inputs.items():
                self._input(name, v, s, value)

    def observe_flag(self, flag: Flag) -> None:
        """A clinician's first flag on a suggestion is one success of the flag rate."""
        if not flag.first or not self.enabled["flag_rate"]:
            return
        if flag.model_version not in self._vcount or flag.site not in self._site_set:
            return  # its resolution was not monitored (beyond a cap)
        touched = self._touched["rate"]
        for acc, _, idx in self._targets("flag_rate", None, flag.model_version, flag.site, "rate"):
            acc[1] += 1.0
            touched.add(idx)

    def _calendar_offset(self, key: str, y: float) -> float:
        """Learn raw ``y`` in the open bucket's stratum; return that stratum's offset from
        the all-strata level, shrunk while the stratum has few observations."""
        strata = self._strata.get(key)
        if strata is None:
            strata = self._strata[key] = [[0.0, 0.0] for _ in range(4)]
        cell = strata[self._stratum]
        cell[0] += 1.0
        cell[1] += y
        if cell[0] <= 1.0:
            return 0.0
        a, b, c, d = strata
        overall = (a[1] + b[1] + c[1] + d[1]) / (a[0] + b[0] + c[0] + d[0])
        return cell[0] / (cell[0] + self.settings.stratum_prior) * (cell[1] / cell[0] - overall)

    def _rate(self, signal: str, v: str, s: str, y: float) -> None:
        beta = self._calendar_offset(signal, y) if PANEL_SPECS[signal].calendar else 0.0
        ab = beta + self._offsets.get(signal, {}).get(s, 0.0)
        touched = self._touched["rate"]
        for acc, site_adjusted, idx in self._targets(signal, None, v, s, "rate"):
            acc[0] += 1.0
            acc[1] += y - (ab if site_adjusted else beta)
            touched.add(idx)

    def _mean(self, signal: str, inp: str | None, v: str, s: str, y: float) -> None:
        """A measurement: held in its learning sample until that fixes its scale and
        robust range, then winsorized, calendar- and site-adjusted into its rows."""
        key = signal if inp is None else f"{signal}:{inp}"
        rng = self._ranges.get(key)
        if rng is None:
            rng = self._ranges[key] = [-math.inf, math.inf, 0.0, [], None]
        if rng[3] is not None:
            rng[3].append([v, s, y])
            if len(rng[3]) < self.settings.robust_sample:
                return
            held = self._fix_range(key, rng)
            for hv, hs, hy in held:
                self._add_mean(signal, inp, key, hv, hs, self._scaled(rng, hy))
            return
        self._add_mean(signal, inp, key, v, s, self._scaled(rng, y))

    def _add_mean(self, signal: str, inp: str | None, key: str, v: str, s: str, y: float) -> None:
        beta = self._calendar_offset(key, y) if PANEL_SPECS[signal].calendar else 0.0
        ab = beta + self._offsets.get(key, {}).get(s, 0.0)
        touched = self._touched["mean"]
        for acc, site_adjusted, idx in self._targets(signal, inp, v, s, "mean"):
            yy = y - (ab if site_adjusted else beta)
            acc[0] += 1.0
            acc[1] += yy
            acc[2] += yy * yy
            touched.add(idx)

    @staticmethod
    def _scaled(rng: list[Any], y: float) -> float:
        """A value on its measurement's scale (log1p for a skewed input of values >= 0),
        winsorized at its robust range."""
        if rng[4] == "log":
            y = math.log1p(max(y, 0.0))
        return min(max(y, rng[0]), rng[1])

    def _fix_range(self, key: str, rng: list[Any]) -> list[list[Any]]:
        """Fix a measurement's scale and robust range from its first ``robust_sample``
        values, all on one scale and one range (values seen while the range was still
        moving would differ from later ones by how they were clipped: a change no
        series had). A numeric input of values >= 0 whose log1p is less skewed is
        compared on log1p (sizes, counts, lab values); any other on its own scale.
        Returns the held values, to be added now."""
        held = rng[3]
        ys = [y for _, _, y in held]
        rng[4] = "linear"
        if key.startswith("input_drift:") and min(ys) >= 0.0:
            logs = [math.log1p(y) for y in ys]
            if abs(_skewness(logs)) < abs(_skewness(ys)):
                rng[4], ys = "log", logs
        srt = sorted(ys)
        n = len(srt)
        med = srt[n // 2]
        mad = 1.4826 * sorted(abs(u - med) for u in srt)[n // 2]
        sd = max(mad, 1.2533 * sum(abs(u - med) for u in srt) / n)
        if sd > 0:
            c = self.settings.winsor_sd
            rng[0], rng[1], rng[2] = med - c * sd, med + c * sd, sd
        rng[3] = None
        return held

    def _input(self, name: str, v: str, s: str, value: float | str) -> None:
        kind = "code" if isinstance(value, str) else "number"
        known = self._kinds.get(name)
        if known is None:
            if len(self._kinds) >= self.settings.max_inputs:
                self.skipped += 1
                return
            known = self._kinds[name] = kind
        if known != kind:
            return  # an input that changes kind cannot be compared with its reference
        if kind == "number":
            x = float(value)
            if math.isfinite(x):
                self._mean("input_drift", name, v, s, x)
            return
        codes = self._codes.setdefault(name, [])
        if value not in codes and len(codes) < self.settings.max_codes:
            codes.append(value)  # type: ignore[arg-type]
        slot = 1 + codes.index(value) if value in codes else len(self._acc["mix"][0]) - 1  # type: ignore[arg-type]
        touched = self._touched["mix"]
        for acc, _, idx in self._targets("input_drift", name, v, s, "mix"):
            acc[0] += 1.0
            acc[slot] += 1.0
            touched.add(idx)

    # -- the clock -----------------------------------------------------------------------

    def _start(self, at: float) -> None:
        w = self.grid.width
        self.grid.start(math.floor(at / w) * w)
        self._stratum = self._calendar.stratum(self.grid.open_at)  # type: ignore[arg-type]

    def tick(self, at: float) -> list[Alert]:
        """Event time reached ``at``: release answers whose timeout passed, close every
        bucket that ended, scanning at each boundary."""
        alerts: list[Alert] = []
        if self.grid.open_at is None:
            return alerts
        if self.grid.open_until + self.grid.horizon < at:  # a jump beyond the history
            self._release(self.grid.open_until)
            self._reset(at)
        while self.grid.open_until <= at:
            end = self.grid.open_until
            self._release(end - 1e-9)
            fresh = self._close()
            alerts.extend(self._scan(end, fresh))
            self._stratum = self._calendar.stratum(self.grid.open_at)  # type: ignore[arg-type]
        self._release(at)
        return alerts

    def _release(self, upto: float) -> None:
        """Answers due by ``upto`` count for ``response_rate`` in the open bucket."""
        due = self._due
        while due and due[0] <= upto:
            for (v, s), n in self._held.pop(heapq.heappop(due)).items():
                if self.enabled["response_rate"]:
                    for _ in range(n):
                        self._rate("response_rate", v, s, 1.0)

    def _reset(self, at: float) -> None:
        """Event time jumped further than the history reaches: forget the buckets."""
        for family, arr in self._data.items():
            self._data[family] = np.zeros((arr.shape[0], 0, arr.shape[2]))
            for i in self._touched[family]:
                self._acc[family][i][:] = [0.0] * self._width[family]
            self._touched[family] = set()
        self._shown = {}
        self.grid = TimeGrid(self.grid.width, self.grid.per_level, self.grid.horizon)
        self._start(at)

    def _close(self) -> dict[str, list[int]]:
        """Close the open bucket into every row; return the rows that got data."""
        change = self.grid.close()
        fresh: dict[str, list[int]] = {}
        for family, arr in self._data.items():
            col = np.zeros((arr.shape[0], 1, arr.shape[2]))
            touched = sorted(self._touched[family])
            acc = self._acc[family]
            zero = [0.0] * self._width[family]
            for i in touched:
                col[i, 0] = acc[i]
                acc[i][:] = zero
            if family == "rate" and self.enabled["volume_share"] and len(self._sites) > 1:
                total = sum(self._shown.values())
                for s in self._sites:
                    i = self._index["volume_share", None, SITE, ALL, s].idx
                    col[i, 0, 0], col[i, 0, 1] = total, self._shown.get(s, 0.0)
                    touched.append(i)
            self._touched[family] = set()
            arr = np.concatenate([arr, col], axis=1)
            for m in change.merges:
                arr[:, m] += arr[:, m + 1]
                arr = np.delete(arr, m + 1, axis=1)
            if change.dropped:
                arr = arr[:, change.dropped :]
            self._data[family] = arr
            fresh[family] = touched
        self._shown = {}
        d = self._decay
        for strata in self._strata.values():
            for cell in strata:
                cell[0] *= d
                cell[1] *= d
        return fresh

    # -- scanning ------------------------------------------------------------------------

    def _table(self, family: str) -> dict[str, np.ndarray]:
        """Per-row scan parameters of a family, rebuilt when rows or lineage change."""
        tab = self._tables.get(family)
        if tab is not None:
            return tab
        rows = self._by_family[family]
        where = {(r.signal, r.input, r.kind, r.version, r.site): r.idx for r in rows}
        src = np.full(len(rows), -1)
        version_prior = np.zeros(len(rows), bool)
        for r in rows:
            if r.kind == SITE and r.signal != "volume_share":
                src[r.idx] = where.get((r.signal, r.input, FEATURE, ALL, ALL), -1)
            elif r.kind in (VERSION, EXACT) and r.version in self.predecessors:
                pred = self.predecessors[r.version]
                src[r.idx] = where.get((r.signal, r.input, r.kind, pred, r.site), -1)
                version_prior[r.idx] = True
        settings = [self._params_of(r) for r in rows]
        ps = [p for _, p in settings]
        effect = [p.code_effect if family == "mix" else p.min_effect for p in ps]
        tab = {
            "direction": np.array([_DIRECTION[p.direction] for p in ps], float),
            "gate": np.array([p.gate * m for p, m in zip(ps, effect, strict=True)]),
            "sd_unit": np.array([p.unit == "sd" and family == "mean" for p in ps], bool),
            "relative": np.array([p.relative for p in ps], float),
            "min_after": np.array([p.min_after for p in ps], float),
            "min_after_seconds": np.array([p.min_after_seconds for p in ps]),
            "z": np.array([p.z for p in ps]),
            "z_resolve": np.array([p.z_resolve for p in ps]),
            "overdispersed": np.array([p.overdispersed for p in ps], bool),
            "on": np.array([on for on, _ in settings], bool),
            "src": src,
            "version_prior": version_prior,
            "version_weight": np.array([p.prior_max_version for p in ps]),
        }
        self._tables[family] = tab
        return tab

    def _params_of(self, row: _Row) -> tuple[bool, ScanParams]:
        """A row's (enabled, parameters): the feature's, or its version's overrides."""
        if row.version == ALL:
            return self.enabled[row.signal], self.params[row.signal]
        on, params = self.config.signal(row.signal, self.feature, row.version)
        return on, params  # type: ignore[return-value]

    def _scan(self, now: float, fresh: dict[str, list[int]]) -> list[Alert]:
        """Scan the rows with new data, the firing ones, and every hour all of them."""
        alerts: list[Alert] = []
        starts = np.asarray(self.grid.starts)
        hourly = now % 3600.0 == 0.0
        for family, data in self._data.items():
            rows = self._by_family[family]
            if not rows:
                continue
            tab = self._table(family)
            tot = data.sum(axis=1)
            if hourly or len(self._peer.get(family, {}).get("weight", ())) != len(rows):
                self._peer[family] = self._peers(family, tot)
                self._learn_offsets(family, tot)
            if hourly:
                sel = np.arange(len(rows))
            else:
                picked = set(fresh[family]) | {r.idx for r in rows if r.firing}
                if not picked:
                    continue
                sel = np.array(sorted(picked))
            alerts.extend(self._scan_rows(family, rows, tab, data, tot, sel, starts, now))
        return alerts

    def _scan_rows(
        self,
        family: str,
        rows: list[_Row],
        tab: dict[str, np.ndarray],
        data: np.ndarray,
        tot: np.ndarray,
        sel: np.ndarray,
        starts: np.ndarray,
        now: float,
    ) -> list[Alert]:
        t = {k: v[sel] for k, v in tab.items()}
        prior_n, prior_mean, prior_freq = self._priors(family, tab, tot)
        prior_n, prior_mean = prior_n[sel], prior_mean[sel]
        d = data[sel]
        sd = np.array([self._sd(rows[i].key) for i in sel.tolist()])
        gate = np.where(t["sd_unit"], t["gate"] * sd, t["gate"])
        # a split must leave at least min_after_seconds of event time after it
        last = np.searchsorted(starts, now - t["min_after_seconds"], side="right") - 1
        common = {"prior_n": prior_n, "min_after": t["min_after"], "last": last}
        if family == "rate":
            over = np.flatnonzero(t["overdispersed"])
            if over.size:  # quasi-binomial: those rows' counts scaled by 1 / phi
                d = d.copy()
                d[over] /= pearson_dispersion(d[over, :, 0], d[over, :, 1])[:, None, None]
            scan = binomial_scan(
                d[:, :, 0], d[:, :, 1], direction=np.where(t["direction"] == 0, -1.0,
                t["direction"]), gate=gate, relative=t["relative"], prior_mean=prior_mean,
                **common,
            )  # fmt: skip
        elif family == "mean":
            scan = gaussian_scan(
                d[:, :, 0], d[:, :, 1], d[:, :, 2], direction=t["direction"], gate=gate,
                prior_mean=prior_mean, **common,
            )  # fmt: skip
        else:
            pf = None if prior_freq is None else prior_freq[sel]
            scan = multinomial_scan(d[:, :, 1:], gate=gate, prior_freq=pf, **common)
        day = int(np.searchsorted(starts, now - _DAY, side="left"))
        det = self._detectable(family, t, d, tot[sel], day, prior_n, prior_mean, sd)
        z = np.where(t["on"], scan.z, 0.0)
        since = np.where(scan.split >= 0, starts[np.maximum(scan.split, 0)], np.nan)
        last_figs = self._last[family]
        for k, v in zip(_LAST, (z, since, scan.before, scan.after, scan.n_before,
                                scan.n_after, scan.se, det), strict=True):  # fmt: skip
            last_figs[k][sel] = v
        alerts = []
        firing = np.array([rows[i].firing for i in sel.tolist()], bool)
        for j in np.nonzero((z >= t["z"]) | firing)[0].tolist():
            row = rows[int(sel[j])]
            if not row.firing and z[j] >= t["z"][j]:
                row.firing, row.since, row.fired = True, float(since[j]), now
                alerts.append(self._alert(row, now, "firing"))
            elif row.firing and z[j] < t["z_resolve"][j]:
                alerts.append(self._alert(row, now, "resolved"))
                row.firing, row.since, row.fired = False, None, None
        return alerts

    def _sd(self, key: str) -> float:
        """The robust standard deviation of a measurement (1 until known)."""
        rng = self._ranges.get(key)
        return rng[2] if rng is not None and rng[2] > 0 else 1.0

    def _peers(self, family: str, tot: np.ndarray) -> dict[str, np.ndarray]:
        """Per row: what a site row's before level borrows from the *other* sites of its
        signal (leaving the site out, so an outlying site does not weaken its own prior):
        their pooled level (``mean``; code frequencies ``freq``) and a weight of
        pseudo-observations (``weight``), the within-site variance over the between-site
        variance (DerSimonian-Laird, at least ``tau_floor``, at most ``prior_max``)."""
        rows = self._by_family[family]
        k = len(rows)
        weight, mean = np.zeros(k), np.zeros(k)
        freq = np.zeros((k, tot.shape[1] - 1)) if family == "mix" else None
        groups: dict[str, list[int]] = {}
        for r in rows:
            if r.kind == SITE and r.signal != "volume_share":
                groups.setdefault(r.key, []).append(r.idx)
        for key, idx in groups.items():
            p = self.params[key.partition(":")[0]]
            sel = np.array(idx)
            t = tot[sel]
            n = t[:, 0]
            has = n > 0
            others_n = n[has].sum() - np.where(has, n, 0.0)
            peers = (has.sum() - has) >= 1
            if family == "mix":
                cnt = t[:, 1:]
                rest = cnt[has].sum(axis=0)[None, :] - np.where(has[:, None], cnt, 0.0)
                freq[sel] = rest / np.maximum(others_n, 1e-12)[:, None]
                # never more pseudo-observations than the peers observed
                weight[sel] = np.where(peers, np.minimum(min(100.0, p.prior_max), others_n), 0.0)
                continue
            a1 = t[:, 1]
            rest_a = a1[has].sum() - np.where(has, a1, 0.0)
            centre = rest_a / np.maximum(others_n, 1e-12)
            m = np.divide(a1, n, out=np.zeros_like(a1), where=has)
            if family == "rate":
                var = np.clip(centre * (1.0 - centre), 1e-9, None)
                floor = p.tau_floor * (centre if p.relative else 1.0)
            else:
                ss = np.where(has, t[:, 2] - a1 * m, 0.0)
                dof = np.where(has, n - 1.0, 0.0)
                rest_ss, rest_dof = ss.sum() - ss, dof.sum() - dof
                var = np.clip(rest_ss / np.maximum(rest_dof, 1.0), 1e-12, None)
                floor = p.tau_floor * (self._sd(key) if p.unit == "sd" else 1.0)
            # DerSimonian-Laird on the other sites (weights n / var)
            nn = np.where(has, n, 0.0)
            sa, sb, sc, sd = nn.sum(), (nn * m).sum(), (nn * m * m).sum(), (nn * nn).sum()
            A, B, C, D = sa - nn, sb - nn * m, sc - nn * m * m, sd - nn * nn
            count = has.sum() - has
            with np.errstate(divide="ignore", invalid="ignore"):
                q = (C - B * B / A) / var
                denom = (A - D / A) / var
                tau2 = np.where((count >= 2) & (denom > 0), (q - (count - 1)) / denom, 0.0)
            tau2 = np.maximum(np.nan_to_num(tau2), np.maximum(np.asarray(floor) ** 2, 1e-18))
            cap = p.prior_max / np.maximum(centre, 1e-9) if p.relative else p.prior_max
            # never more pseudo-observations than the peers observed; a relative rate
            # (flags) borrows nothing until the peers have seen at least one event
            usable = peers & (~np.asarray(p.relative) | (rest_a > 0))
            weight[sel] = np.where(usable, np.minimum(np.minimum(var / tau2, cap), others_n), 0.0)
            mean[sel] = centre
        out = {"weight": weight, "mean": mean}
        if freq is not None:
            out["freq"] = freq
        return out

    def _priors(
        self, family: str, tab: dict[str, np.ndarray], tot: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Pseudo-observations for each row's before segment: a site's from its peers
        (hourly, :meth:`_peers`), a new version's, and a new version's at a site, from the
        version it replaces (up to ``prior_max_version``)."""
        peers = self._peer.get(family)
        n = tot[:, 0]
        src = tab["src"]
        vp = tab["version_prior"] & (src >= 0)
        s = np.maximum(src, 0)
        site_w = peers["weight"] if peers is not None else np.zeros_like(n)
        prior_n = np.where(vp, np.minimum(tab["version_weight"], n[s]), site_w)
        prior_n[prior_n < 1.0] = 0.0  # less than one pseudo-observation is no prior
        if family == "mix":
            freq = tot[:, 1:] / np.maximum(n, 1e-12)[:, None]
            site_f = peers["freq"] if peers is not None else np.zeros_like(freq)
            return prior_n, np.zeros_like(prior_n), np.where(vp[:, None], freq[s], site_f)
        mean = tot[:, 1] / np.maximum(n, 1e-12)
        site_m = peers["mean"] if peers is not None else np.zeros_like(n)
        return prior_n, np.where(vp, mean[s], site_m), None

    def _learn_offsets(self, family: str, tot: np.ndarray) -> None:
        """Site offsets (removed from feature and version rows) from the site rows'
        histories against all sites pooled, shrunk by the site priors' weight.

        Against the pool, not the site's peers: a site that carries most of a feature's
        volume is the feature, and its offset from two small peers would be their
        noise, removed from most of the feature's observations."""
        if family == "mix":
            return
        peers = self._peer[family]
        pooled: dict[str, list[float]] = {}
        rows = [
            r
            for r in self._by_family[family]
            if r.kind == SITE and r.signal not in ("flag_rate", "volume_share")
        ]
        for r in rows:
            acc = pooled.setdefault(r.key, [0.0, 0.0])
            acc[0] += tot[r.idx, 0]
            acc[1] += tot[r.idx, 1]
        for r in rows:
            n = tot[r.idx, 0]
            if n <= 0 or peers["weight"][r.idx] <= 0:
                continue
            w = peers["weight"][r.idx]
            n_all, a_all = pooled[r.key]
            off = n / (n + w) * (tot[r.idx, 1] / n - a_all / n_all)
            self._offsets.setdefault(r.key, {})[r.site] = float(off)

    def _detectable(
        self,
        family: str,
        t: dict[str, np.ndarray],
        data: np.ndarray,
        tot: np.ndarray,
        day: int,
        prior_n: np.ndarray,
        prior_mean: np.ndarray,
        sd: np.ndarray,
    ) -> np.ndarray:
        """Per row, the smallest change that would reach ``z`` had it begun a day ago, in
        ``min_effect``'s units (normal approximation)."""
        n2 = data[:, day:, 0].sum(axis=1)
        n1 = tot[:, 0] - n2 + prior_n
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = 1.0 / n1 + 1.0 / n2
            if family == "rate":
                m = (tot[:, 1] + prior_n * prior_mean) / (tot[:, 0] + prior_n)
                m = np.clip(m, 1e-6, 1 - 1e-6)
                eff = t["z"] * np.sqrt(m * (1.0 - m) * scale)
                eff = np.where(t["relative"] > 0, eff / m, eff)
            elif family == "mean":
                mu = tot[:, 1] / tot[:, 0]
                var = np.maximum(tot[:, 2] / tot[:, 0] - mu * mu, 0.0)
                eff = t["z"] * np.sqrt(var * scale)
                eff = np.where(t["sd_unit"], eff / sd, eff)
            else:
                eff = t["z"] * np.sqrt(0.25 * scale)
        return np.where((n1 > 0) & (n2 > 0) & np.isfinite(eff), eff, np.inf)

    # -- alerts and read-outs ------------------------------------------------------------

    def _alert(self, row: _Row, at: float, state: str) -> Alert:
        view = self._view(row)
        value, threshold = view.value, view.concern
        if row.family == "mix":
            value, threshold = abs(view.value - view.reference), view.min_effect
        elif row.signal == "volume_share":
            value = view.value / view.reference if view.reference > 0 else 0.0
            threshold = 1.0 - view.min_effect
        spec = PANEL_SPECS[row.signal]
        return Alert(
            at, state, spec.signal, self.feature, row.version, row.site,  # type: ignore[arg-type]
            _finite(value), _finite(threshold), spec.detector, row.input,
        )  # fmt: skip

    def _user(self, row: _Row, y: float) -> float:
        """A level in the signal's own units."""
        if row.signal == "decision_time":
            return math.exp(y)
        if row.family == "mean" and self._ranges[row.key][4] == "log":
            return math.expm1(y)  # an input compared on log1p
        return y

    def _view(self, row: _Row) -> DetectorView:
        p = self._params_of(row)[1]
        f = self._last[row.family]
        j = row.idx
        z, before, after = float(f["z"][j]), float(f["before"][j]), float(f["after"][j])
        z = z if z == z else 0.0
        n1, n2, se, det = (float(f["n_before"][j]), float(f["n_after"][j]), float(f["se"][j]),
                           float(f["detectable"][j]))  # fmt: skip
        side = _DIRECTION[p.direction] or (1 if after >= before else -1)
        m = p.code_effect if row.family == "mix" else p.min_effect
        step = m * (self._sd(row.key) if p.unit == "sd" and row.family == "mean" else 1.0)
        concern = before * (1 + side * m) if p.relative else before + side * step
        spec = PANEL_SPECS[row.signal]
        return DetectorView(
            row.key, spec.signal, row.input, self.feature, row.version, row.site, spec.detector,
            row.firing, z, p.z, self._user(row, after), self._user(row, before),
            self._user(row, concern), row.since, n1, n2, se, det, m, not det <= 2.0 * m,
            row.fired,
        )  # fmt: skip

    def views(self) -> list[DetectorView]:
        """Every enabled row as of the last scan."""
        return [self._view(r) for r in self.rows if self._params_of(r)[0]]

    def firing(self) -> list[DetectorView]:
        return [self._view(r) for r in self.rows if r.firing]

    def observed(self, slot: str, model_version: str, site: str) -> tuple[float, float]:
        """(observations, their sum) a row holds, the open bucket included (0, 0 for a
        row that does not exist); ``slot`` is a signal or ``input_drift:<name>``."""
        signal, _, inp = slot.partition(":")
        kind = {(True, True): FEATURE, (True, False): SITE, (False, True): VERSION}.get(
            (model_version == ALL, site == ALL), EXACT
        )
        row = self._index.get((signal, inp or None, kind, model_version, site))
        if row is None:
            return 0.0, 0.0
        tot = self._data[row.family][row.idx].sum(axis=0)
        acc = self._acc[row.family][row.idx]
        return float(tot[0] + acc[0]), float(tot[1] + acc[1])

    # -- state ---------------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        """Compact JSON-native snapshot; :meth:`from_state` restores it exactly."""
        return {
            "grid": self.grid.to_state(),
            "rows": [
                [
                    r.signal,
                    r.input,
                    r.kind,
                    r.version,
                    r.site,
                    r.family,
                    r.idx,
                    r.firing,
                    r.since,
                    r.fired,
                ]
                for r in self.rows
            ],
            "data": {f: _pack(a) for f, a in self._data.items()},
            "acc": {f: [[i, self._acc[f][i]] for i in sorted(t)] for f, t in self._touched.items()},
            "last": {f: _pack(np.stack([v[k] for k in _LAST])) for f, v in self._last.items()},
            "stratum": self._stratum,
            "strata": self._strata,
            "offsets": self._offsets,
            "peer": {f: {k: _pack(v) for k, v in d.items()} for f, d in self._peer.items()},
            "ranges": {
                k: [
                    None if math.isinf(v[0]) else v[0],
                    None if math.isinf(v[1]) else v[1],
                    v[2],
                    v[3],
                    v[4],
                ]
                for k, v in self._ranges.items()
            },
            "codes": self._codes,
            "kinds": self._kinds,
            "versions": self.versions,
            "established": self.established,
            "vcount": self._vcount,
            "pred": self.predecessors,
            "sites": self._sites,
            "held": [
                [t, [[v, s, n] for (v, s), n in sorted(h.items())]]
                for t, h in sorted(self._held.items())
            ],
            "shown": self._shown,
            "skipped": self.skipped,
        }

    @classmethod
    def from_state(cls, feature: str, config: MonitorConfig, state: dict[str, Any]) -> FeaturePanel:
        obj = cls(feature, config)
        obj.grid.load_state(state["grid"])
        for sig, inp, kind, ver, site, fam, idx, firing, since, fired in state["rows"]:
            row = _Row(sig, inp, kind, ver, site, fam, idx, firing, since, fired)
            obj.rows.append(row)
            obj._by_family[fam].append(row)
            obj._index[sig, inp, kind, ver, site] = row
        for fam, rows in obj._by_family.items():
            rows.sort(key=lambda r: r.idx)
            obj._acc[fam] = [[0.0] * obj._width[fam] for _ in rows]
        obj._data = {f: _unpack(v) for f, v in state["data"].items()}
        for f, items in state["acc"].items():
            for i, acc in items:
                obj._acc[f][i][:] = acc
                obj._touched[f].add(i)
        for f, packed in state["last"].items():
            arr = _unpack(packed)
            obj._last[f] = {k: arr[n].copy() for n, k in enumerate(_LAST)}
        obj._stratum = state["stratum"]
        obj._strata = {k: [list(c) for c in v] for k, v in state["strata"].items()}
        obj._offsets = {k: dict(v) for k, v in state["offsets"].items()}
        obj._peer = {f: {k: _unpack(v) for k, v in d.items()} for f, d in state["peer"].items()}
        obj._ranges = {
            k: [-math.inf if v[0] is None else v[0], math.inf if v[1] is None else v[1], v[2],
                None if v[3] is None else [list(h) for h in v[3]], v[4]]
            for k, v in state["ranges"].items()
        }  # fmt: skip
        obj._codes = {k: list(v) for k, v in state["codes"].items()}
        obj._kinds = dict(state["kinds"])
        obj.versions = dict(state["versions"])
        obj.established = dict(state["established"])
        obj._vcount = dict(state["vcount"])
        obj.predecessors = dict(state["pred"])
        obj._sites = list(state["sites"])
        obj._site_set = set(obj._sites)
        obj._held = {t: {(v, s): n for v, s, n in h} for t, h in state["held"]}
        obj._due = sorted(obj._held)
        obj._shown = dict(state["shown"])
        obj.skipped = state["skipped"]
        return obj
