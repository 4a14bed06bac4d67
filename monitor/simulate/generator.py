"""Draw a scenario's suggestions, outcomes and feedback as numpy arrays.

Everything is vectorized per feature over the whole scenario: volumes are
Poisson per (site, hour) cell, then every per-suggestion quantity is one numpy
draw. Nuisance variation (diurnal and weekend volume, bursts, shift-dependent
clinician mix, per-clinician acceptance propensity) comes first; injected
degradations then adjust the per-suggestion parameters inside their window.
One ``numpy.random.Generator`` seeded from the spec, consumed in a fixed
order, makes the output a pure function of the spec.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from monitor.simulate.spec import (
    BetaMean,
    BurdenShift,
    CategoricalInput,
    DecisionTimeShift,
    FeatureSpec,
    FlagSpike,
    Gradual,
    InputDrift,
    InputSpec,
    NewVersion,
    RateShift,
    ResponseDrop,
    ScenarioSpec,
    ScoreShift,
    Silence,
    VolumeLoss,
    _Degradation,
)

OUTCOMES: tuple[str, ...] = ("accepted", "edited", "rejected", "dismissed")
FEEDBACK_DELAY = (1200.0, 1.2)
"""Feedback follows the outcome (or the suggestion) by a log-normal delay: median, sigma."""
EDIT_LENGTH_SIGMA = 0.15
"""Spread of final/draft length ratio for edited drafts."""
MIN_DECISION_SECONDS = 0.5
DAY_SHIFT_HOURS = (7, 19)
"""Local hours [start, end) of the day shift; nights, weekends and holidays are off-shift."""
_EPOCH = date(1970, 1, 1)


@dataclass
class Pool:
    """One site's clinicians as drawn: acceptance propensity and activity weight of each,
    day staff and night staff, and the share of night staff on and off shift."""

    day: tuple[np.ndarray, np.ndarray]
    night: tuple[np.ndarray, np.ndarray]
    night_share: tuple[float, float]
    """(on shift, off shift)."""

    def acceptance(self, delta: float = 0.0) -> tuple[float, float]:
        """P(accept) of a suggestion on shift and off shift, its propensity moved by
        ``delta`` and clipped as the generator clips it."""
        out = []
        for share in self.night_share:
            mean = 0.0
            for (prop, w), weight in ((self.day, 1.0 - share), (self.night, share)):
                p = np.clip(prop + delta, 0.005, 0.995)
                mean += weight * float((p * w).sum() / w.sum())
            out.append(mean)
        return out[0], out[1]


@dataclass
class FeatureDraw:
    """Per-suggestion arrays for one feature, in suggestion-time order."""

    spec: FeatureSpec
    versions: list[str]
    sites: list[str]
    care_settings: list[str]
    t: np.ndarray
    site: np.ndarray
    version: np.ndarray
    care: np.ndarray
    responded: np.ndarray
    outcome: np.ndarray
    t_out: np.ndarray
    flagged: np.ndarray
    t_fb: np.ndarray
    category: np.ndarray
    reason: np.ndarray
    score: np.ndarray | None = None
    draft: np.ndarray | None = None
    final: np.ndarray | None = None
    edit_distance: np.ndarray | None = None
    inputs: dict[str, np.ndarray] = field(default_factory=dict)
    silenced: list[tuple[np.ndarray, float, float]] = field(default_factory=list)
    """(suggestion mask, start s, end s): events of these series in [start, end) are lost."""
    dropped: np.ndarray | None = None
    """Suggestions lost with their outcome and feedback (volume loss); None: none."""
    rates: np.ndarray | None = None
    """Expected suggestions per (site, hour cell), bursts and day noise included."""
    pools: list[Pool] = field(default_factory=list)
    """Per site: its clinicians (empty with nuisance off: everyone has the base rate)."""

    def __len__(self) -> int:
        return int(self.t.size)


def seconds_since_start(spec: ScenarioSpec, when: object) -> float:
    """Offset of an aware datetime from the scenario start, in seconds."""
    return (when - spec.start).total_seconds()  # type: ignore[operator]


def _hour_grid(spec: ScenarioSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per hour cell: local hour of day, weekend flag, local day index, cell length (hours)."""
    n_hours = int(np.ceil(spec.days * 24 - 1e-9))
    length = np.ones(n_hours)
    length[-1] = spec.days * 24 - (n_hours - 1)
    offset = spec.nuisance.utc_offset_hours
    if offset is None:
        delta = spec.start.utcoffset()
        offset = delta.total_seconds() / 3600 if delta is not None else 0.0
    local = spec.start.timestamp() / 3600 + offset + np.arange(n_hours)
    hod = np.floor(local).astype(np.int64) % 24
    day = np.floor(local / 24).astype(np.int64)
    weekend = ((day + 3) % 7) >= 5  # 1970-01-01 was a Thursday; Monday = 0
    if spec.nuisance.holidays:  # staffed and busy like a weekend
        weekend |= np.isin(day, [(h - _EPOCH).days for h in spec.nuisance.holidays])
    return hod, weekend, day - day[0], length


def off_shift_hours(spec: ScenarioSpec) -> np.ndarray:
    """Per hour cell of the scenario: off shift (night, weekend or holiday, local time)."""
    hod, weekend, _, _ = _hour_grid(spec)
    lo, hi = DAY_SHIFT_HOURS
    return (hod < lo) | (hod >= hi) | weekend


def _beta_mean(rng: np.random.Generator, mean: np.ndarray, conc: float | np.ndarray, size=None):
    mean = np.clip(mean, 1e-4, 1 - 1e-4)
    return rng.beta(mean * conc, (1 - mean) * conc, size=size)


def _draw_input(rng: np.random.Generator, spec: InputSpec, n: int) -> np.ndarray:
    if isinstance(spec, CategoricalInput):
        codes = np.array(list(spec.values), dtype=object)
        p = np.array(list(spec.values.values()))
        return codes[rng.choice(len(codes), size=n, p=p / p.sum())]
    if spec.kind == "normal":
        x = rng.normal(spec.mean, spec.sd, size=n)
        lo = -np.inf if spec.min is None else spec.min
        hi = np.inf if spec.max is None else spec.max
        x = np.clip(x, lo, hi)
    else:
        x = spec.median * np.exp(spec.sigma * rng.standard_normal(n))
    x = np.round(x, spec.decimals)
    return x.astype(np.int64) if spec.decimals == 0 else x


def _window(spec: ScenarioSpec, d: _Degradation, t: np.ndarray) -> np.ndarray:
    start = seconds_since_start(spec, d.start)
    mask = t >= start
    if d.end is not None:
        mask &= t < seconds_since_start(spec, d.end)
    return mask


def _volumes(
    spec: ScenarioSpec, feat: FeatureSpec, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Suggestion times (s since start), site index and off-shift flag, time-ordered; and
    the expected count of each (site, hour cell)."""
    nz = spec.nuisance
    hod, weekend, day, length = _hour_grid(spec)
    shares = np.array(list(feat.sites.values()))
    shares = shares / shares.sum()
    if nz.enabled:
        profile = np.array(feat.hourly_profile or nz.hourly_profile, dtype=float)
        if profile.sum() <= 0:
            profile = np.ones(24)
        hourly = profile[hod] / profile.sum()
        hourly = hourly * np.where(weekend, nz.weekend_factor, 1.0)
        sd = nz.daily_noise
        day_factor = np.exp(sd * rng.standard_normal(int(day.max()) + 1) - sd * sd / 2)
        hourly = hourly * day_factor[day]
        bursts = rng.random((shares.size, hod.size)) < nz.burst_probability
        burst = np.where(bursts, nz.burst_multiplier, 1.0)
    else:
        hourly = np.full(hod.size, 1 / 24)
        burst = np.ones((shares.size, hod.size))
    lam = feat.daily_volume * spec.volume_scale * shares[:, None] * (hourly * length)[None, :]
    rates = lam * burst
    counts = rng.poisson(rates)
    cells_site = np.repeat(np.arange(shares.size), hod.size)
    cells_hour = np.tile(np.arange(hod.size), shares.size)
    site = np.repeat(cells_site, counts.ravel())
    hour = np.repeat(cells_hour, counts.ravel())
    t = (hour + rng.random(hour.size) * length[hour]) * 3600.0
    order = np.argsort(t, kind="stable")
    t, site, hour = t[order], site[order], hour[order]
    lo, hi = DAY_SHIFT_HOURS
    off_shift = (hod[hour] < lo) | (hod[hour] >= hi) | weekend[hour]
    return t, site, off_shift, rates


def _clinician_propensity(
    spec: ScenarioSpec,
    feat: FeatureSpec,
    rng: np.random.Generator,
    site: np.ndarray,
    off_shift: np.ndarray,
    pools: list[Pool],
) -> np.ndarray:
    """Acceptance propensity of the clinician who saw each suggestion (``pools`` receives
    each site's clinicians)."""
    nz = spec.nuisance
    base = feat.base_acceptance
    n = site.size
    if not nz.enabled:  # no clinician mix; sites still differ by their offsets
        if not feat.site_acceptance:
            return np.full(n, base)
        return np.array([feat.site_base_acceptance(s) for s in feat.sites])[site]
    share = np.where(off_shift, nz.off_shift_night_staff_share, nz.day_shift_night_staff_share)
    night = rng.random(n) < share
    shares = np.array(list(feat.sites.values()))
    shares = shares / shares.sum()
    out = np.empty(n)
    for s, name in enumerate(feat.sites):
        pool = nz.clinicians_per_site
        if nz.suggestions_per_clinician is not None:
            weekday = feat.daily_volume * spec.volume_scale * shares[s]
            pool = max(2, round(weekday / nz.suggestions_per_clinician))
        n_night = min(max(1, round(pool * nz.night_staff_fraction)), max(pool - 1, 1))
        n_day = max(pool - n_night, 1)
        site_base = feat.site_base_acceptance(name)
        drawn = []
        for is_night, size, mean in (
            (False, n_day, site_base),
            (True, n_night, site_base + nz.off_shift_acceptance_delta),
        ):
            propensity = _beta_mean(rng, np.full(size, mean), nz.clinician_concentration)
            activity = np.exp(0.5 * rng.standard_normal(size))
            mask = (site == s) & (night == is_night)
            picks = rng.choice(size, size=int(mask.sum()), p=activity / activity.sum())
            out[mask] = propensity[picks]
            drawn.append((propensity, activity))
        night_share = (nz.day_shift_night_staff_share, nz.off_shift_night_staff_share)
        pools.append(Pool(drawn[0], drawn[1], night_share))
    return out


def draw_feature(spec: ScenarioSpec, feat: FeatureSpec, rng: np.random.Generator) -> FeatureDraw:
    """Draw every suggestion of one feature with its outcome and feedback."""
    t, site, off_shift, rates = _volumes(spec, feat, rng)
    n = t.size
    sites = list(feat.sites)
    versions = list(feat.model_versions)
    vshare = np.array(list(feat.model_versions.values()))
    version = rng.choice(len(versions), size=n, p=vshare / vshare.sum())
    pools: list[Pool] = []
    acc = _clinician_propensity(spec, feat, rng, site, off_shift, pools)
    care_names = list(feat.care_settings)
    cp = np.array(list(feat.care_settings.values()))
    care = rng.choice(len(care_names), size=n, p=cp / cp.sum())

    no_resp = np.full(n, feat.no_response)
    dt_med = np.full(n, feat.decision_time.median)
    dt_sig = np.full(n, feat.decision_time.sigma)
    flag_p = np.full(n, feat.flag_probability)
    burden = feat.correction_burden or BetaMean(mean=0.1)
    b_mean = np.full(n, burden.mean)
    b_conc = np.full(n, burden.concentration)
    score_a = np.full(n, feat.score.a if feat.score else 1.0)
    score_b = np.full(n, feat.score.b if feat.score else 1.0)
    drifts: list[tuple[InputDrift, np.ndarray]] = []
    silenced: list[tuple[np.ndarray, float, float]] = []
    dropped: np.ndarray | None = None
    horizon = spec.days * 86400.0

    degradations = [d for d in spec.degradations if d.feature == feat.name]
    for d in degradations:  # rollouts first: later kinds may target the new version
        if not isinstance(d, NewVersion):
            continue
        versions.append(d.model_version)
        new = len(versions) - 1
        phase_at = np.array([seconds_since_start(spec, p.at) for p in d.phases])
        phase = np.searchsorted(phase_at, t, side="right") - 1
        in_site = np.zeros(n, dtype=bool)
        traffic = np.zeros(n)
        for j, p in enumerate(d.phases):
            here = phase == j
            if p.sites == "*":
                in_site |= here
            else:
                idx = [sites.index(s) for s in p.sites]
                in_site |= here & np.isin(site, idx)
            traffic[here] = p.traffic
        u = rng.random(n)
        mask = in_site & (version == versions.index(d.replaces)) & (u < traffic)
        version[mask] = new
        acc[mask] += d.acceptance_delta
        if d.correction_burden is not None:
            b_mean[mask] = d.correction_burden.mean
            b_conc[mask] = d.correction_burden.concentration
        if d.decision_time is not None:
            dt_med[mask] = d.decision_time.median
            dt_sig[mask] = d.decision_time.sigma
        if d.score is not None:
            score_a[mask], score_b[mask] = d.score.a, d.score.b
        if d.flag_probability is not None:
            flag_p[mask] = d.flag_probability
        if d.no_response is not None:
            no_resp[mask] = d.no_response

    for d in degradations:
        if isinstance(d, NewVersion):
            continue
        mask = _window(spec, d, t)
        if d.site != "*":
            mask &= site == sites.index(d.site)
        if d.sites is not None:
            mask &= np.isin(site, [sites.index(s) for s in d.sites])
        if d.model_version != "*":
            mask &= version == versions.index(d.model_version)
        if isinstance(d, RateShift):
            acc[mask] += d.delta
        elif isinstance(d, Gradual):
            ramp = (t - seconds_since_start(spec, d.start)) / (d.over_days * 86400.0)
            acc[mask] += d.delta * np.clip(ramp[mask], 0.0, 1.0)
        elif isinstance(d, ScoreShift):
            score_a[mask], score_b[mask] = d.score.a, d.score.b
        elif isinstance(d, InputDrift):
            drifts.append((d, mask))
        elif isinstance(d, FlagSpike):
            flag_p[mask] = d.flag_probability
        elif isinstance(d, ResponseDrop):
            no_resp[mask] = d.no_response
        elif isinstance(d, BurdenShift):
            b_mean[mask] = d.correction_burden.mean
            b_conc[mask] = d.correction_burden.concentration
        elif isinstance(d, DecisionTimeShift):
            dt_med[mask] = d.decision_time.median
            dt_sig[mask] = d.decision_time.sigma
        elif isinstance(d, VolumeLoss):
            # its own generator: the main one's sequence stays what it was without it
            lost = np.random.default_rng([spec.seed, 3, zlib.crc32(d.id.encode())]).random(n)
            lost = mask & (lost < d.fraction)
            dropped = lost if dropped is None else dropped | lost
        elif isinstance(d, Silence):
            series = np.ones(n, dtype=bool)
            if d.site != "*":
                series &= site == sites.index(d.site)
            if d.sites is not None:
                series &= np.isin(site, [sites.index(s) for s in d.sites])
            if d.model_version != "*":
                series &= version == versions.index(d.model_version)
            end = horizon if d.end is None else seconds_since_start(spec, d.end)
            silenced.append((series, seconds_since_start(spec, d.start), end))

    # Outcomes.
    o = feat.outcomes
    responded = rng.random(n) >= no_resp
    accept = rng.random(n) < np.clip(acc, 0.005, 0.995)
    u = rng.random(n)
    p_plain = o.accepted / (o.accepted + o.edited)
    p_reject = o.rejected / (o.rejected + o.dismissed)
    outcome = np.where(accept, np.where(u < p_plain, 0, 1), np.where(u < p_reject, 2, 3))
    dt = np.exp(np.log(dt_med) + dt_sig * rng.standard_normal(n))
    t_out = t + np.maximum(dt, MIN_DECISION_SECONDS)
    reasons = list(feat.override_reasons)
    rp = np.array([*feat.override_reasons.values(), 0.0])
    rp[-1] = max(0.0, 1.0 - rp[:-1].sum())
    reason = rng.choice(len(rp), size=n, p=rp / rp.sum())
    reason = np.where(outcome == 2, reason, len(reasons))

    draw = FeatureDraw(
        spec=feat,
        versions=versions,
        sites=sites,
        care_settings=care_names,
        t=t,
        site=site,
        version=version,
        care=care,
        responded=responded,
        outcome=outcome,
        t_out=t_out,
        flagged=np.zeros(n, dtype=bool),
        t_fb=np.zeros(n),
        category=np.zeros(n, dtype=np.int64),
        reason=reason,
        silenced=silenced,
        dropped=dropped,
        rates=rates,
        pools=pools,
    )
    if feat.draft_length is not None:
        dl = feat.draft_length
        draft = np.maximum(1, np.round(dl.median * np.exp(dl.sigma * rng.standard_normal(n))))
        ratio = np.exp(EDIT_LENGTH_SIGMA * rng.standard_normal(n))
        final = np.where(outcome == 1, np.maximum(1, np.round(draft * ratio)), draft)
        draw.draft = draft.astype(np.int64)
        draw.final = final.astype(np.int64)
        if feat.correction_burden is not None:
            b = _beta_mean(rng, b_mean, b_conc)
            dist = np.round(b * np.maximum(draft, final))
            draw.edit_distance = np.where(outcome == 1, dist, 0).astype(np.int64)
    if feat.score is not None:
        draw.score = np.round(rng.beta(score_a, score_b), 4)
    for name, ispec in feat.inputs.items():
        values = _draw_input(rng, ispec, n)
        for d, mask in drifts:
            if d.input == name and mask.any():
                drifted = _draw_input(rng, d.distribution, int(mask.sum()))
                if values.dtype != drifted.dtype:  # int vs float decimals: widen both
                    values = values.astype(float)
                    drifted = drifted.astype(float)
                values[mask] = drifted
        draw.inputs[name] = values

    # Feedback.
    draw.flagged = rng.random(n) < flag_p
    median, sigma = FEEDBACK_DELAY
    after = np.where(responded, t_out, t)
    draw.t_fb = after + median * np.exp(sigma * rng.standard_normal(n))
    cats = np.array(list(feat.feedback_categories.values()))
    draw.category = rng.choice(cats.size, size=n, p=cats / cats.sum())
    return draw


def draw_scenario(spec: ScenarioSpec) -> list[FeatureDraw]:
    """Draw every feature of the scenario, in spec order, from one seeded generator."""
    rng = np.random.default_rng(spec.seed)
    return [draw_feature(spec, feat, rng) for feat in spec.features]
