"""The scenario family: random scenarios from a wide space, with ground truth.

:func:`draw_family` turns a seed into a :class:`~monitor.simulate.spec.ScenarioSpec`,
deterministically (numpy's generator seeded with ``[FAMILY_TAG, seed]``). The space,
as drawn here:

* 14-28 days (``quick``: 5-7), starting at local midnight of a random day of 2026, in a
  whole-hour UTC offset from -10 to +10; 1-3 features (``quick``: 1-2).
* 3-40 sites per feature (``quick``: 3-5), each with a weekday volume log-uniform in
  20-3,000 suggestions; base acceptance 0.15-0.85 per feature and site offsets
  N(0, s) with s in [0, 0.06]; no response 2-15%; decision time, draft length, burden,
  score (most features), flag probability 0.1-1%; 1-4 inputs, numeric (normal,
  log-normal) and coded; 1-2 model versions, and in half the scenarios a phased
  rollout of a new version (2-4 phases over a growing subset of sites, in half of
  them never reaching some sites).
* Nuisance: diurnal profile (clinic or hospital shape with per-hour noise), weekend
  factor 0.2-0.7, day/night/weekend staff (off-shift acceptance delta -0.06..+0.06,
  night staff shares), clinicians per site from the site's volume (4-15 suggestions
  each a day) with concentration 15-80, 0-2 weekday holidays, bursts, duplicates
  0-1%, late arrival (jitter up to 8 minutes), malformed lines.
* Size: a scenario whose expected line count exceeds ``MAX_LINES`` (``QUICK_LINES``)
  has all its volumes scaled down to fit (``volume_scale``), keeping the sites'
  relative sizes. This biases the family towards small sites in large scenarios: over
  200 draws 82% are scaled (median factor 0.54, p10 0.24), and the realised per-site
  weekday volume has median 92 (p10 13, p90 726) instead of 245 (27, 2,000). The draw is
  never rejected (that would bias it towards few sites, features and days instead).
* Degradations (none when ``stationary``): 1-4 (``quick``: 1-2), classes from
  :data:`CLASSES`, magnitudes log-uniform from 1x to 4x the signal's minimum effect
  (flags: rate x1.9-8; inputs: scale 1.2-2 or 10-30% of the mass moved; volume loss:
  30-100% lost), onsets from day 0.5 to 5 days before the end (``quick``: 2.5), at any
  time of day. Two degradations never touch the same signal at the same site (a
  silence or volume loss touches every signal of its site).

:func:`family_config` gives the Vitals config its operator would write: the zone and
the holidays, nothing tuned.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta, timezone
from typing import Any

import numpy as np

from monitor.simulate.spec import DEFAULT_HOURLY_PROFILE, BetaMean, ScenarioSpec, parse_scenario
from monitor.simulate.truth_params import burden_moments

__all__ = ["CLASSES", "MAX_LINES", "QUICK_LINES", "draw_family", "family_config"]

FAMILY_TAG = 20261114
MAX_LINES = 400_000
QUICK_LINES = 15_000
CLASSES: tuple[str, ...] = (
    "step_site",
    "step_all",
    "step_version",
    "gradual_subset",
    "flag_site",
    "input_site",
    "score_drift",
    "silent_site",
    "volume_loss",
    "response_site",
    "burden_version",
)
MIN_EFFECT = {"acceptance": 0.03, "response": 0.05, "flag": 0.9, "burden": 0.03, "score": 0.25}
"""Vitals' minimum effects (monitor/core/signals.py; score: ScoreDrift's 0.25 SD)."""
PSI_THRESHOLD = 0.2
"""Input drift magnitudes are the J-divergence of the two distributions over this."""

_FEATURES = ("inbasket-reply", "note-draft", "order-suggest", "discharge-summary", "referral")
_HOSPITAL_PROFILE = (0.45, 0.4, 0.35, 0.35, 0.4, 0.5, 0.7, 0.9, 1.0, 1.0, 1.0, 0.95,
                     0.9, 0.95, 1.0, 0.95, 0.9, 0.85, 0.8, 0.7, 0.65, 0.6, 0.55, 0.5)  # fmt: skip
_YEAR = date(2026, 1, 5)  # a Monday


class _Draw:
    """numpy's generator with the few shapes this module draws."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng([FAMILY_TAG, seed])

    def u(self, lo: float, hi: float) -> float:
        return float(self.rng.uniform(lo, hi))

    def logu(self, lo: float, hi: float) -> float:
        return float(math.exp(self.rng.uniform(math.log(lo), math.log(hi))))

    def int(self, lo: int, hi: int) -> int:
        """Uniform in lo..hi, both included."""
        return int(self.rng.integers(lo, hi + 1))

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def pick(self, items: list[Any] | tuple[Any, ...]) -> Any:
        return items[int(self.rng.integers(len(items)))]

    def subset(self, items: list[Any], k: int) -> list[Any]:
        chosen = self.rng.choice(len(items), size=k, replace=False)
        return [items[i] for i in sorted(chosen.tolist())]


def _r(x: float, digits: int = 4) -> float:
    return round(float(x), digits)


def _distribution(d: _Draw, n: int) -> list[float]:
    p = d.rng.dirichlet(np.full(n, 2.0))
    p = np.round(np.maximum(p, 0.02) / np.maximum(p, 0.02).sum(), 4)
    p[-1] = round(1.0 - float(p[:-1].sum()), 4)
    return p.tolist()


def _inputs(d: _Draw) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i in range(d.int(1, 4)):
        kind = d.pick(("lognormal", "normal", "categorical"))
        name = f"input-{i + 1}"
        if kind == "lognormal":
            out[name] = {"kind": kind, "median": _r(d.logu(1, 1000), 3),
                         "sigma": _r(d.u(0.3, 0.8), 3), "decimals": 2}  # fmt: skip
        elif kind == "normal":
            out[name] = {"kind": kind, "mean": _r(d.u(20, 80), 2), "sd": _r(d.u(5, 20), 2),
                         "decimals": 1}  # fmt: skip
        else:
            codes = [f"c{j}" for j in range(d.int(3, 6))]
            out[name] = {"kind": kind, "values": dict(zip(codes, _distribution(d, len(codes)),
                                                          strict=True))}  # fmt: skip
    return out


def _feature(d: _Draw, name: str, site_pool: list[str], quick: bool) -> dict[str, Any]:
    n_sites = d.int(3, 5) if quick else d.int(3, 40)
    sites = d.subset(site_pool, n_sites)
    volumes = {s: d.logu(20, 3000) for s in sites}
    total = sum(volumes.values())
    base = d.u(0.15, 0.85)
    plain = d.u(0.2, 0.8)
    refuse = d.u(0.3, 0.7)
    accepted = _r(base * plain, 6)
    edited = _r(base - accepted, 6)
    rejected = _r((1 - base) * refuse, 6)
    spread = d.u(0.0, 0.06)
    offsets = {}
    for s in sites:
        off = float(np.clip(d.rng.normal(0.0, spread), 0.05 - base, 0.95 - base)) if spread else 0
        offsets[s] = _r(off)
    prefix = name.split("-")[0]
    n_versions = d.int(1, 2)
    if n_versions == 1:
        versions = {f"{prefix}-1.0": 1.0}
    else:
        main = _r(d.u(0.5, 0.9), 3)
        versions = {f"{prefix}-1.0": main, f"{prefix}-1.1": _r(1 - main, 3)}
    feat: dict[str, Any] = {
        "name": name,
        "daily_volume": _r(total, 2),
        "model_versions": versions,
        "sites": {s: _r(v / total, 6) for s, v in volumes.items()},
        "site_acceptance": {s: v for s, v in offsets.items() if v},
        "outcomes": {
            "accepted": accepted,
            "edited": edited,
            "rejected": rejected,
            "dismissed": _r(1 - accepted - edited - rejected, 6),
        },
        "no_response": _r(d.u(0.02, 0.15)),
        "decision_time": {"median": _r(d.logu(10, 300), 2), "sigma": _r(d.u(0.6, 1.2), 3)},
        "flag_probability": _r(d.logu(0.001, 0.01), 5),
        "inputs": _inputs(d),
    }
    if d.chance(0.7):
        feat["draft_length"] = {"median": _r(d.logu(200, 2000), 1), "sigma": _r(d.u(0.3, 0.5))}
        feat["correction_burden"] = {"mean": _r(d.u(0.05, 0.25)),
                                     "concentration": _r(d.u(8, 20), 2)}  # fmt: skip
    if d.chance(0.8):
        feat["score"] = {"a": _r(d.u(2, 8), 3), "b": _r(d.u(1.5, 5), 3)}
    return feat


def _nuisance(d: _Draw, days: int, start: date) -> dict[str, Any]:
    shape = DEFAULT_HOURLY_PROFILE if d.chance(0.6) else _HOSPITAL_PROFILE
    profile = [_r(p * math.exp(d.rng.normal(0, 0.15))) for p in shape]
    later = [start + timedelta(days=i) for i in range(1, days)]
    weekdays = [day for day in later if day.weekday() < 5]
    holidays = d.subset(weekdays, min(d.int(0, 2), len(weekdays)))
    return {
        "hourly_profile": profile,
        "weekend_factor": _r(d.u(0.2, 0.7), 3),
        "daily_noise": _r(d.u(0.03, 0.12), 3),
        "suggestions_per_clinician": _r(d.u(4, 15), 2),
        "clinician_concentration": _r(d.u(15, 80), 2),
        "night_staff_fraction": _r(d.u(0.2, 0.4), 3),
        "off_shift_acceptance_delta": _r(d.u(-0.06, 0.06)),
        "day_shift_night_staff_share": _r(d.u(0.05, 0.25), 3),
        "off_shift_night_staff_share": _r(d.u(0.6, 0.9), 3),
        "burst_probability": _r(d.u(0.0, 0.01)),
        "burst_multiplier": _r(d.u(2, 5), 2),
        "duplicate_rate": _r(d.u(0.0, 0.01)),
        "arrival_jitter_seconds": _r(d.u(30, 480), 1),
        "late_fraction": _r(d.u(0.0, 0.1)),
        "malformed_rate": _r(d.u(0.0, 5e-5), 7),
        "holidays": [h.isoformat() for h in holidays],
    }


def _expected_lines(data: dict[str, Any]) -> float:
    nz = data["nuisance"]
    days = data["days"]
    weekend = 2 / 7 * nz["weekend_factor"] + 5 / 7
    lines = 0.0
    for f in data["features"]:
        per = 1 + (1 - f["no_response"]) + f["flag_probability"]
        lines += f["daily_volume"] * days * weekend * per
    return lines * (1 + nz["duplicate_rate"])


def _at(start: datetime, day: float) -> str:
    return (start + timedelta(seconds=round(day * 86400 / 60) * 60)).isoformat()


def _rollout(d: _Draw, feat: dict[str, Any], start: datetime, days: int, quick: bool) -> dict:
    sites = list(feat["sites"])
    replaces = next(iter(feat["model_versions"]))
    n_phases = d.int(2, 4)
    first = d.u(0.5, days - (2.5 if quick else 5))
    times = sorted([first, *(d.u(first + 0.25, days - 0.5) for _ in range(n_phases - 1))])
    reach = len(sites) - (d.int(1, max(1, len(sites) // 3)) if d.chance(0.5) else 0)
    order = d.subset(sites, len(sites))
    d.rng.shuffle(order)
    phases = []
    for j, t in enumerate(times):
        k = max(1, round(reach * (j + 1) / n_phases))
        traffic = 1.0 if j == n_phases - 1 else _r(d.u(0.2, 0.8), 3)
        phases.append({"at": _at(start, t), "traffic": traffic, "sites": sorted(order[:k])})
    return {
        "kind": "new_version",
        "id": f"rollout-{feat['name']}",
        "feature": feat["name"],
        "model_version": f"{feat['name'].split('-')[0]}-2.0",
        "replaces": replaces,
        "phases": phases,
    }


def _occupies(kind: str, feat: dict[str, Any], deg: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(feature, site, signal group) cells a degradation touches; group "*" is all."""
    groups = {"flag_site": "flag", "input_site": f"input:{deg.get('input')}",
              "score_drift": "score", "silent_site": "*", "volume_loss": "*",
              "response_site": "response", "burden_version": "burden"}  # fmt: skip
    group = groups.get(kind, "acceptance")
    if deg.get("sites"):
        sites = deg["sites"]
    elif deg.get("site", "*") != "*":
        sites = [deg["site"]]
    else:
        sites = list(feat["sites"])
    return {(feat["name"], s, group) for s in sites}


def _conflict(taken: set[tuple[str, str, str]], cells: set[tuple[str, str, str]]) -> bool:
    for f, s, g in cells:
        for f2, s2, g2 in taken:
            if f == f2 and s == s2 and (g == g2 or "*" in (g, g2)):
                return True
    return False


def _degradation(
    d: _Draw,
    kind: str,
    feat: dict[str, Any],
    versions: list[str],
    rollout: dict[str, Any] | None,
    start: datetime,
    days: int,
    quick: bool,
    serial: int,
) -> dict[str, Any] | None:
    """One degradation of class ``kind`` on ``feat``, or None when the feature lacks it."""
    mult = d.logu(1.0, 4.0)
    onset = d.u(0.5, days - (2.5 if quick else 5))
    sites = list(feat["sites"])
    base: dict[str, Any] = {"id": f"{kind.replace('_', '-')}-{serial}", "class": kind,
                            "feature": feat["name"], "start": _at(start, onset)}  # fmt: skip
    acc = MIN_EFFECT["acceptance"]
    if kind in ("step_site", "step_all", "step_version"):
        base.update(kind="rate_shift", delta=-_r(mult * acc), magnitude=_r(mult, 3))
        if kind == "step_site":
            base["site"] = d.pick(sites)
        elif kind == "step_version":
            base["model_version"] = d.pick(versions)
        return base
    if kind == "gradual_subset":
        k = d.int(2, max(2, len(sites) // 2))
        base.update(kind="gradual", delta=-_r(mult * acc), over_days=_r(d.u(1, 4), 3),
                    magnitude=_r(mult, 3), sites=d.subset(sites, min(k, len(sites))))  # fmt: skip
        if d.chance(0.5) and len(versions) > 1:
            base["model_version"] = d.pick(versions)
        return base
    if kind == "flag_site":
        ratio = d.logu(1.9, 8.0)
        p1 = min(feat["flag_probability"] * ratio, 1.0)
        base.update(kind="flag_spike", site=d.pick(sites), flag_probability=_r(p1, 6),
                    magnitude=_r((ratio - 1) / MIN_EFFECT["flag"], 3))  # fmt: skip
        return base
    if kind == "response_site":
        nr1 = min(feat["no_response"] + mult * MIN_EFFECT["response"], 0.95)
        drop = (nr1 - feat["no_response"]) / MIN_EFFECT["response"]
        base.update(kind="response_drop", site=d.pick(sites), no_response=_r(nr1),
                    magnitude=_r(drop, 3))  # fmt: skip
        return base
    if kind == "input_site":
        name = d.pick(sorted(feat["inputs"]))
        spec = dict(feat["inputs"][name])
        if spec["kind"] == "categorical":
            shift = d.u(0.1, 0.3)
            codes = list(spec["values"])
            target = d.pick(codes)
            p0 = np.array([spec["values"][c] for c in codes])
            p1 = (1 - shift) * p0 + shift * np.array([c == target for c in codes])
            p1 = np.round(p1, 4)
            p1[-1] = round(1 - float(p1[:-1].sum()), 4)
            spec["values"] = dict(zip(codes, p1.tolist(), strict=True))
            j = float(((p1 - p0) * np.log(np.maximum(p1, 1e-9) / p0)).sum())
        else:
            scale = d.u(1.2, 2.0)
            if spec["kind"] == "lognormal":
                spec["median"] = _r(spec["median"] * scale, 4)
                j = (math.log(scale) / spec["sigma"]) ** 2
            else:
                j = ((scale - 1) * spec["mean"] / spec["sd"]) ** 2
                spec["mean"] = _r(spec["mean"] * scale, 4)
        base.update(kind="input_drift", site=d.pick(sites), input=name, distribution=spec,
                    magnitude=_r(j / PSI_THRESHOLD, 3))  # fmt: skip
        return base
    if kind == "score_drift":
        if "score" not in feat:
            return None
        a, b = feat["score"]["a"], feat["score"]["b"]
        m, c = a / (a + b), a + b
        sd = math.sqrt(m * (1 - m) / (c + 1))
        m1 = min(max(m - mult * MIN_EFFECT["score"] * sd * d.pick((1, -1)), 0.05), 0.95)
        base.update(kind="score_shift", score={"a": _r(m1 * c), "b": _r((1 - m1) * c)},
                    magnitude=_r(abs(m1 - m) / sd / MIN_EFFECT["score"], 3))  # fmt: skip
        if d.chance(0.5):
            base["model_version"] = d.pick(versions)
        return base
    if kind == "silent_site":
        base.update(kind="silence", site=d.pick(sites), magnitude=1.0)
        if d.chance(0.5):
            base["end"] = _at(start, min(onset + d.logu(4, 48) / 24, days))
        return base
    if kind == "volume_loss":
        fraction = _r(d.u(0.3, 1.0), 3)
        base.update(kind="volume_loss", site=d.pick(sites), fraction=fraction, magnitude=fraction)
        return base
    assert kind == "burden_version"
    if "correction_burden" not in feat:
        return None
    o = feat["outcomes"]
    plain = o["accepted"] / (o["accepted"] + o["edited"])
    b0 = feat["correction_burden"]
    m1 = min(b0["mean"] + mult * MIN_EFFECT["burden"] / (1 - plain), 0.9)
    burden = {"mean": _r(m1, 5), "concentration": b0["concentration"]}
    shift = burden_moments(BetaMean(**burden), plain)[0] - burden_moments(BetaMean(**b0), plain)[0]
    magnitude = _r(shift / MIN_EFFECT["burden"], 3)
    if rollout is not None and rollout["feature"] == feat["name"] and "class" not in rollout:
        # the new version is the degradation: worse from its first phase on
        return {**rollout, "class": kind, "correction_burden": burden, "magnitude": magnitude}
    base.update(kind="burden_shift", model_version=d.pick(versions), correction_burden=burden,
                magnitude=magnitude)  # fmt: skip
    return base


def draw_family(seed: int, *, stationary: bool = False, quick: bool = False) -> ScenarioSpec:
    """One scenario of the family, a pure function of its arguments (module docstring)."""
    d = _Draw(seed)
    days = d.int(5, 7) if quick else d.int(14, 28)
    offset = d.int(-10, 10)
    day0 = _YEAR + timedelta(days=d.int(0, 300))
    start = datetime(day0.year, day0.month, day0.day, tzinfo=timezone(timedelta(hours=offset)))
    n_features = d.int(1, 2) if quick else d.int(1, 3)
    names = d.subset(list(_FEATURES), n_features)
    site_pool = [f"site-{i:02d}" for i in range(1, 61)]
    features = [_feature(d, name, site_pool, quick) for name in names]
    data: dict[str, Any] = {
        "name": f"family-{seed}"
        + ("-stationary" if stationary else "")
        + ("-quick" if quick else ""),
        "seed": seed,
        "start": start.isoformat(),
        "days": days,
        "nuisance": {"utc_offset_hours": offset, **_nuisance(d, days, day0)},
        "features": features,
    }
    cap = QUICK_LINES if quick else MAX_LINES
    expected = _expected_lines(data)
    if expected > cap:
        data["volume_scale"] = _r(cap / expected, 6)
    rollout = None
    if d.chance(0.5):
        rollout = _rollout(d, d.pick(features), start, days, quick)
    degradations: list[dict[str, Any]] = [] if rollout is None else [rollout]
    if not stationary:
        taken: set[tuple[str, str, str]] = set()
        want = d.int(1, 2) if quick else d.int(1, 4)
        serial = 0
        for _ in range(40 * want):
            if serial >= want:
                break
            kind = d.pick(CLASSES)
            feat = d.pick(features)
            versions = list(feat["model_versions"])
            deg = _degradation(d, kind, feat, versions, rollout, start, days, quick, serial + 1)
            if deg is None:
                continue
            cells = _occupies(kind, feat, deg)
            if _conflict(taken, cells):
                continue
            taken |= cells
            serial += 1
            if deg["kind"] == "new_version":
                degradations[0] = rollout = deg
            else:
                degradations.append(deg)
    data["degradations"] = degradations
    data["description"] = (
        f"Scenario family draw {seed}: {days} days, {n_features} features, "
        f"{sum(len(f['sites']) for f in features)} feature-sites, "
        f"{len([x for x in degradations if 'class' in x])} degradations"
        + (
            f"; volumes scaled by {data['volume_scale']:g} to fit {cap} lines"
            if "volume_scale" in data
            else ""
        )
    )
    return parse_scenario(data, f"family seed {seed}")


def family_config(spec: ScenarioSpec) -> dict[str, Any]:
    """The Vitals config an operator of this deployment would write: zone and holidays."""
    offset = spec.nuisance.utc_offset_hours
    if offset is None:
        delta = spec.start.utcoffset()
        offset = delta.total_seconds() / 3600 if delta is not None else 0.0
    if offset != int(offset):
        raise ValueError("family scenarios use whole-hour offsets (Etc/GMT zones)")
    # POSIX sign: Etc/GMT+5 is five hours *behind* UTC
    zone = "UTC" if offset == 0 else f"Etc/GMT{-int(offset):+d}"
    config: dict[str, Any] = {"timezone": zone}
    if spec.nuisance.holidays:
        config["holidays"] = [h.isoformat() for h in spec.nuisance.holidays]
    return config


def scenario_document(spec: ScenarioSpec) -> dict[str, Any]:
    """The scenario as YAML-ready data that :func:`parse_scenario` reads back unchanged."""
    return spec.model_dump(mode="json", by_alias=True, exclude_none=True)
