"""Run one family scenario through Vitals, river ADWIN and the oracle, and score them.

One parse and resolve pass (:class:`FanOutReplay`, the replay engine with more than one
consumer) feeds every resolution and flag to the Vitals assessor (the scenario's config,
under an optional overlay), to an assessor running river ADWIN at defaults on every
series and signal of :data:`~monitor.baselines.RIVER_SIGNALS`, and to one
:class:`~monitor.evaluation.oracle.Oracle` per degradation; suggestion events also go to
the counting (Poisson) oracles.

Scoring follows :func:`monitor.scoring.score`: a firing on an acceptable signal on a
covering series between a degradation's start and its end plus the grace detects it,
and only before the end of the scenario; every other firing is a false alarm. False
alarms are reported per 100 series-months: every series key (all roles) that received
data counts, for (its last minus its first item time) / 30 days.
"""

from __future__ import annotations

import math
import time
from typing import Any

from monitor.baselines import RIVER_SIGNALS, ADWINDefault
from monitor.core.assessor import Assessor
from monitor.core.config import MonitorConfig
from monitor.core.contract import Feedback, Outcome, Suggestion
from monitor.core.engine import AssessStage
from monitor.core.records import Alert, Flag, Resolution, SeriesKey, rollup_names
from monitor.evaluation.oracle import Oracle, build_oracle
from monitor.replay import Replay
from monitor.scoring import GRACE, score, truth_time
from monitor.simulate import render
from monitor.simulate.family import draw_family, family_config

__all__ = ["FanOutReplay", "merge_config", "run_family_scenario"]

MONTH = 30 * 86400.0
YOUNG = 3 * 86400.0
"""A series younger than this at the onset counts as still learning (in the miss table)."""


def merge_config(base: dict[str, Any], overlay: dict[str, Any] | None) -> dict[str, Any]:
    """``overlay`` on top of ``base``, mappings merged key by key (a tuning candidate over
    the scenario's own config)."""
    out = dict(base)
    for key, value in (overlay or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_config(out[key], value)
        else:
            out[key] = value
    return out


class FanOutReplay(Replay):
    """The replay engine feeding more assessors and the oracles from the same resolver.

    ``self.assessor`` (Vitals) reports into ``self.result.alerts`` as usual; each other
    assessor runs in its own :class:`~monitor.core.engine.AssessStage`, advanced to the
    same watermark, with its alerts in :attr:`alerts` by name.
    """

    def __init__(
        self,
        config: MonitorConfig,
        *,
        others: dict[str, Assessor],
        oracles: list[Oracle],
    ) -> None:
        super().__init__(config)
        lag = config.resolver.clock_skew
        self.lanes = {name: AssessStage(a, sources=1, lag=lag) for name, a in others.items()}
        self.alerts: dict[str, list[Alert]] = {name: [] for name in others}
        self.oracles = oracles
        self._counting = [o for o in oracles if o.model == "poisson"]
        self._watching = [o for o in oracles if o.model != "poisson"]
        self.spans: dict[str, list[float]] = {}
        """Series key -> [first, last] item time."""
        stage = self.engine.resolve
        self._main = stage.fan_out
        stage.fan_out = self._fan_out
        self._apply = stage.apply
        stage.apply = self._count_then_apply  # type: ignore[method-assign]

    def _count_then_apply(self, event: Suggestion | Outcome | Feedback) -> None:
        if self._counting and isinstance(event, Suggestion):
            for o in self._counting:
                if event.feature == o.entry["feature"] and event.site in o.sites:
                    o.count(event)
        self._apply(event)

    def _fan_out(self, item: Resolution | Flag) -> None:
        at = item.at
        spans = self.spans
        for key in rollup_names(item.feature, item.model_version, item.site):
            span = spans.get(key)
            if span is None:
                spans[key] = [at, at]
            elif at > span[1]:
                span[1] = at
            elif at < span[0]:
                span[0] = at
        for o in self._watching:
            o.observe(item)
        for lane in self.lanes.values():
            lane.put_rollups(item)
        self._main(item)

    def _advance_others(self) -> None:
        wm = self.engine.resolve.watermark
        for name, lane in self.lanes.items():
            if lane.report(0, wm):
                self.alerts[name].extend(lane.advance())
        for o in self._counting:
            o.close_buckets(self.resolver.clock)

    def feed_line(self, lineno: int, raw: bytes) -> None:
        super().feed_line(lineno, raw)
        self._advance_others()

    def finish(self):  # type: ignore[no-untyped-def]
        result = super().finish()
        self._advance_others()
        clock = self.resolver.clock
        for name, lane in self.lanes.items():
            self.alerts[name].extend(lane.assessor.flush(clock))
        for o in self._counting:
            o.close_buckets(clock + o.lateness)
        return result


def _series_months(spans: dict[str, list[float]]) -> float:
    return sum((last - first) / MONTH for first, last in spans.values())


def _delays(
    alerts: list[Alert], truth: dict[str, Any], end: float
) -> tuple[dict, list[dict[str, Any]]]:
    """Delay (s) or None per degradation id, detections after ``end`` dropped; and the
    false alarms, each as a JSON-ready record (where and when, and whether it fell
    inside a degradation of the same feature: collateral rather than noise)."""
    sc = score(alerts, truth)
    out = {}
    for d in sc.detections:
        ok = d.delay is not None and d.start + d.delay <= end
        out[d.id] = (d.delay if ok else None, d.by if ok else None)
    start = truth_time(truth["start"])
    windows = [
        (d["feature"], truth_time(d["start"]), truth_time(d.get("end")) + GRACE)
        for d in truth.get("degradations", [])
    ]
    false = [
        {
            "signal": a.signal,
            "detector": a.detector,
            "series": str(SeriesKey(a.feature, a.model_version, a.site)),
            "input": a.input,
            "day": round((a.at - start) / 86400, 3),
            "during": any(f == a.feature and s0 <= a.at <= s1 for f, s0, s1 in windows),
        }
        for a in sc.false_alarms
    ]
    return out, false


def run_family_scenario(
    seed: int,
    *,
    stationary: bool = False,
    quick: bool = False,
    overlay: dict[str, Any] | None = None,
    adwin: bool = True,
) -> dict[str, Any]:
    """Simulate family scenario ``seed`` and score Vitals, ADWIN and the oracle on it.

    Returns a JSON-ready dict: the run's figures and one record per degradation.
    """
    began = time.perf_counter()
    cpu = time.process_time()
    spec = draw_family(seed, stationary=stationary, quick=quick)
    stream = render(spec)
    truth = stream.truth
    simulated = time.perf_counter()
    config = MonitorConfig(**merge_config(family_config(spec), overlay))
    end = truth_time(truth["end"])
    lateness = config.resolver.allowed_lateness
    oracles: dict[str, Oracle] = {}
    unsupported: list[str] = []
    for entry in truth["degradations"]:
        if "oracle" not in entry:
            continue
        try:
            o = build_oracle(entry, grace=GRACE, end=end, lateness=lateness)
        except ValueError as exc:  # no threshold: reported with the run, not fatal
            unsupported.append(f"{entry['id']} ({exc})")
            continue
        if o is None:
            unsupported.append(entry["id"])
        else:
            oracles[entry["id"]] = o
    others = {}
    if adwin:
        others["adwin"] = Assessor(config, override=(ADWINDefault, frozenset(RIVER_SIGNALS)))
    engine = FanOutReplay(config, others=others, oracles=list(oracles.values()))
    result = engine.run(line.encode() for line in stream.lines)
    vitals, vitals_fa = _delays(result.alerts, truth, end)
    river, river_fa = _delays(engine.alerts["adwin"], truth, end) if adwin else ({}, [])
    start = truth_time(truth["start"])
    records = []
    for entry in truth["degradations"]:
        o = oracles.get(entry["id"])
        cfg = entry.get("oracle", {})
        onset = truth_time(entry["start"])
        first = None if o is None else o.first_at
        v_delay, v_by = vitals.get(entry["id"], (None, None))
        a_delay, _ = river.get(entry["id"], (None, None))
        records.append(
            {
                "seed": seed,
                "id": entry["id"],
                "class": entry.get("class"),
                "feature": entry["feature"],
                "model_version": entry["model_version"],
                "site": entry.get("sites") or entry["site"],
                "signals": entry["signals"],
                "onset_day": round((onset - start) / 86400, 3),
                "magnitude": entry.get("magnitude"),
                "volume_per_day": cfg.get("per_day"),
                "young": first is None or onset - first < YOUNG,
                "vitals_hours": None if v_delay is None else round(v_delay / 3600, 3),
                "vitals_by": v_by,
                "adwin_hours": None if a_delay is None else round(a_delay / 3600, 3),
                "oracle_hours": None
                if o is None or o.detected_at is None
                else round((o.detected_at - onset) / 3600, 3),
                "oracle": None if o is None else o.method,
                "oracle_h": None if o is None else round(o.h, 4),
                "oracle_false_alarms": None if o is None else o.false_alarms,
            }
        )
    finished = time.perf_counter()
    return {
        "seed": seed,
        "stationary": stationary,
        "quick": quick,
        "name": spec.name,
        "days": spec.days,
        "lines": truth["lines"],
        "volume_scale": spec.volume_scale,
        "feature_sites": sum(len(f.sites) for f in spec.features),
        "site_volumes": [
            round(f.daily_volume * spec.volume_scale * share / sum(f.sites.values()), 2)
            for f in spec.features
            for share in f.sites.values()
        ],
        "series": len(engine.spans),
        "series_months": round(_series_months(engine.spans), 4),
        "vitals_false_alarms": len(vitals_fa),
        "vitals_false_alarm_list": vitals_fa,
        "adwin_false_alarms": len(river_fa) if adwin else None,
        "unsupported_oracles": unsupported,
        "degradations": records,
        "seconds": round(finished - began, 2),
        "cpu_seconds": round(time.process_time() - cpu, 2),
        "simulate_seconds": round(simulated - began, 2),
        "time_span_days": round((engine.resolver.clock - start) / 86400, 3)
        if math.isfinite(engine.resolver.clock)
        else None,
    }
