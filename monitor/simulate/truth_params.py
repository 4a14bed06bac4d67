"""What an oracle needs to know about an injected degradation, from the drawn scenario.

For a degradation that carries a ``class`` (the scenario family's), ``truth.json`` adds
an ``oracle`` block: the cells it touches and the true distribution of the affected
observations before the change and at its full effect, in one of four models:

* ``bernoulli`` (acceptance, flags, responses): ``p0`` and ``p1``. For acceptance they
  are per site and per shift (``[on shift, off shift]``), from the clinicians actually
  drawn (their propensities weighted by activity, night staff share by shift, clipped as
  the generator clips them); ``off_shift_hours`` gives, per hour from the scenario
  start, whether it is off shift (night, weekend or holiday, local time), and
  ``weights`` the share of observations in each (site, shift).
* ``gaussian`` (burden, decision time, numeric inputs): ``mu0``, ``mu1`` and ``sd0`` of
  the observed value (``transform: log`` for decision times and log-normal inputs).
  Burden is the observed mixture: 0 for drafts accepted unchanged, the Beta draw for
  edited ones.
* ``beta`` (scores): ``a0, b0`` and ``a1, b1``.
* ``categorical`` (coded inputs): ``p0`` and ``p1`` per code.
* ``poisson`` (silence, volume loss): ``hourly_rate``, the expected suggestions of the
  affected cells in each hour cell from the start (bursts and day-to-day noise as
  drawn), and ``fraction``, the share lost after the change (1 for silence).

``per_day`` is the expected number of affected observations per day (the scale of the
oracle's false-alarm budget). A degradation outside these models gets ``model:
"unsupported"`` with the reason.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from monitor.simulate.generator import FeatureDraw, off_shift_hours
from monitor.simulate.spec import (
    BetaMean,
    BurdenShift,
    CategoricalInput,
    DecisionTimeShift,
    FlagSpike,
    Gradual,
    InputDrift,
    LogNormalInput,
    NewVersion,
    NormalInput,
    RateShift,
    ResponseDrop,
    ScenarioSpec,
    ScoreShift,
    Silence,
    VolumeLoss,
    _Degradation,
)

__all__ = ["burden_moments", "oracle_params"]


def _r(x: float) -> float:
    return float(f"{x:.6g}")


def burden_moments(burden: BetaMean, plain_share: float) -> tuple[float, float]:
    """Mean and SD of the observed burden: 0 for a ``plain_share`` of accepted drafts,
    Beta(``burden``) for the edited rest."""
    m, c = burden.mean, burden.concentration
    var_b = m * (1 - m) / (c + 1)
    mean = (1 - plain_share) * m
    second = (1 - plain_share) * (var_b + m * m)
    return mean, math.sqrt(max(second - mean * mean, 1e-12))


def oracle_params(spec: ScenarioSpec, draw: FeatureDraw, d: _Degradation) -> dict[str, Any]:
    """The ``oracle`` block of one degradation's truth entry (see the module docstring)."""
    feat = draw.spec
    sites = d.site_list(draw.sites)
    idx = [draw.sites.index(s) for s in sites]
    cells = np.isin(draw.site, idx)
    if d.model_version != "*":
        cells &= draw.version == draw.versions.index(d.model_version)
    days = spec.days
    out: dict[str, Any] = {
        "cells": {"sites": sites, "model_version": d.model_version},
        "start_epoch": spec.start.timestamp(),
    }
    o = feat.outcomes
    plain = o.accepted / (o.accepted + o.edited)
    if isinstance(d, RateShift | Gradual):
        off = off_shift_hours(spec)[(draw.t // 3600).astype(np.int64)]
        observed = cells & draw.responded
        p0, p1, weights = {}, {}, {}
        n = max(int(observed.sum()), 1)
        for s, name in zip(idx, sites, strict=True):
            if draw.pools:
                before, after = draw.pools[s].acceptance(0.0), draw.pools[s].acceptance(d.delta)
            else:
                base = feat.site_base_acceptance(name)
                before = (min(max(base, 0.005), 0.995),) * 2
                after = (min(max(base + d.delta, 0.005), 0.995),) * 2
            here = observed & (draw.site == s)
            p0[name] = [_r(x) for x in before]
            p1[name] = [_r(x) for x in after]
            weights[name] = [_r((here & ~off).sum() / n), _r((here & off).sum() / n)]
        flags = off_shift_hours(spec)
        out.update(
            model="bernoulli",
            signal="acceptance_rate",
            p0=p0,
            p1=p1,
            weights=weights,
            off_shift_hours="".join("1" if f else "0" for f in flags.tolist()),
            per_day=_r(observed.sum() / days),
        )
    elif isinstance(d, FlagSpike):
        out.update(
            model="bernoulli",
            signal="flag_rate",
            p0=feat.flag_probability,
            p1=d.flag_probability,
            per_day=_r(cells.sum() / days),
        )
    elif isinstance(d, ResponseDrop):
        out.update(
            model="bernoulli",
            signal="response_rate",
            p0=_r(1 - feat.no_response),
            p1=_r(1 - d.no_response),
            per_day=_r(cells.sum() / days),
        )
    elif isinstance(d, BurdenShift) or (
        isinstance(d, NewVersion) and d.correction_burden is not None
    ):
        assert feat.correction_burden is not None and d.correction_burden is not None
        mu0, sd0 = burden_moments(feat.correction_burden, plain)
        mu1, sd1 = burden_moments(d.correction_burden, plain)
        observed = cells & draw.responded & (draw.outcome < 2)
        out.update(
            model="gaussian",
            signal="correction_burden",
            transform="none",
            mu0=_r(mu0),
            mu1=_r(mu1),
            sd0=_r(sd0),
            sd1=_r(sd1),
            per_day=_r(observed.sum() / days),
        )
    elif isinstance(d, DecisionTimeShift):
        out.update(
            model="gaussian",
            signal="decision_time",
            transform="log",
            mu0=_r(math.log(feat.decision_time.median)),
            mu1=_r(math.log(d.decision_time.median)),
            sd0=feat.decision_time.sigma,
            sd1=d.decision_time.sigma,
            per_day=_r((cells & draw.responded).sum() / days),
        )
    elif isinstance(d, ScoreShift) and feat.score is not None:
        out.update(
            model="beta",
            signal="score_drift",
            a0=feat.score.a,
            b0=feat.score.b,
            a1=d.score.a,
            b1=d.score.b,
            per_day=_r(cells.sum() / days),
        )
    elif isinstance(d, InputDrift):
        out.update(_input_params(feat.inputs[d.input], d.distribution))
        out.update(signal="input_drift", input=d.input, per_day=_r(cells.sum() / days))
    elif isinstance(d, Silence | VolumeLoss) and d.model_version == "*":
        assert draw.rates is not None
        out.update(
            model="poisson",
            signal="no_data",
            fraction=1.0 if isinstance(d, Silence) else d.fraction,
            hourly_rate=[_r(x) for x in draw.rates[idx].sum(axis=0).tolist()],
            per_day=_r(cells.sum() / days),
        )
    else:
        out.update(model="unsupported", reason=f"no oracle model for {d.kind}")  # type: ignore[attr-defined]
    return out


def _input_params(before: Any, after: Any) -> dict[str, Any]:
    if isinstance(before, CategoricalInput) and isinstance(after, CategoricalInput):
        codes = sorted(set(before.values) | set(after.values))
        return {
            "model": "categorical",
            "p0": {c: before.values.get(c, 0.0) for c in codes},
            "p1": {c: after.values.get(c, 0.0) for c in codes},
        }
    if isinstance(before, LogNormalInput) and isinstance(after, LogNormalInput):
        return {
            "model": "gaussian",
            "transform": "log",
            "mu0": _r(math.log(before.median)),
            "mu1": _r(math.log(after.median)),
            "sd0": before.sigma,
            "sd1": after.sigma,
        }
    if isinstance(before, NormalInput) and isinstance(after, NormalInput):
        return {
            "model": "gaussian",
            "transform": "none",
            "mu0": before.mean,
            "mu1": after.mean,
            "sd0": before.sd,
            "sd1": after.sd,
        }
    return {"model": "unsupported", "reason": "input drift that changes the input's kind"}
