"""The feature panel on small synthetic streams: what it detects, where, and from when."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from monitor.core.config import MonitorConfig
from monitor.core.panel import FeaturePanel
from monitor.core.records import Alert, Flag, Resolution

T0 = 1767571200.0  # Monday 2026-01-05 00:00 UTC
DAY = 86400.0

Rate = Callable[[str, str, float], float]


def _stream(
    seed: int,
    days: float,
    sites: dict[str, float],
    accept: Rate,
    *,
    versions: Callable[[str, float], str] = lambda s, t: "v1",
    flag: Callable[[str, float], float] = lambda s, t: 0.0,
    inputs: Callable[[str, float, random.Random], dict[str, float | str]] | None = None,
) -> Iterator[tuple[float, Resolution | Flag]]:
    """Resolutions (and flags) in time order: ``sites`` maps a site to suggestions a day;
    day hours carry three times the night volume; ``accept(site, version, t)`` is the
    acceptance probability."""
    rng = random.Random(seed)
    out: list[tuple[float, Resolution | Flag]] = []
    i = 0
    for site, per_day in sites.items():
        t = T0
        while t < T0 + days * DAY:
            hour = (t - T0) % DAY / 3600
            rate = per_day / DAY * (1.5 if 7 <= hour < 19 else 0.5)
            t += rng.expovariate(rate)
            v = versions(site, t)
            status = "accepted" if rng.random() < accept(site, v, t) else "rejected"
            ins = inputs(site, t, rng) if inputs else None
            sid = f"{site}-{i}"
            i += 1
            out.append((t, Resolution(sid, "f", v, site, "other", t - 30, t, status, 30.0,
                                      None, None, ins)))  # fmt: skip
            if rng.random() < flag(site, t):
                out.append((t + 60, Flag(sid, "f", v, site, t + 60, "unsafe", True)))
    out.sort(key=lambda p: p[0])
    yield from out


def _run(panel: FeaturePanel, events, until: float | None = None) -> list[Alert]:
    alerts: list[Alert] = []
    for t, item in events:
        alerts.extend(panel.tick(t))
        if isinstance(item, Resolution):
            panel.observe(item)
        else:
            panel.observe_flag(item)
    if until is not None:
        alerts.extend(panel.tick(until))
    return alerts


def _firing(alerts: list[Alert], signal: str | None = None) -> list[Alert]:
    return [a for a in alerts if a.state == "firing" and (signal is None or a.signal == signal)]


def test_a_small_site_drop_is_found_at_that_site_only() -> None:
    sites = {"big": 2000.0, "mid": 400.0, "small": 150.0, "tiny": 40.0}
    onset = T0 + 9 * DAY
    events = _stream(1, 20, sites, lambda s, v, t: 0.45 if s == "small" and t > onset else 0.57)
    alerts = _run(FeaturePanel("f", MonitorConfig()), events)
    fired = _firing(alerts)
    assert {(a.signal, a.site) for a in fired} == {("acceptance_rate", "small")}
    delay = (fired[0].at - onset) / 3600
    # at 150 a day a CUSUM that knew both rates would need about 450 decisions (3 days)
    assert 0 < delay < 5 * 24, delay


def test_a_stationary_month_with_a_night_and_weekend_mix_stays_quiet() -> None:
    def accept(site: str, v: str, t: float) -> float:
        hour = (t - T0) % DAY / 3600
        weekend = ((t - T0) // DAY) % 7 >= 5
        base = {"a": 0.30, "b": 0.22, "c": 0.18, "d": 0.25}[site]
        return base + (0.05 if not 7 <= hour < 19 else 0.0) + (0.04 if weekend else 0.0)

    sites = {"a": 1500.0, "b": 300.0, "c": 60.0, "d": 25.0}
    alerts = _run(FeaturePanel("f", MonitorConfig()), _stream(2, 28, sites, accept))
    assert _firing(alerts) == []


def test_a_new_version_worse_from_its_first_day_is_compared_with_the_one_it_replaces() -> None:
    rollout = T0 + 10 * DAY

    def version(site: str, t: float) -> str:
        return "v2" if t > rollout and site in ("a", "b") else "v1"

    def accept(site: str, v: str, t: float) -> float:
        return 0.50 if v == "v2" else 0.60

    sites = {"a": 600.0, "b": 600.0, "c": 600.0}
    alerts = _run(
        FeaturePanel("f", MonitorConfig()), _stream(3, 16, sites, accept, versions=version)
    )
    series = {(a.model_version, a.site) for a in _firing(alerts, "acceptance_rate")}
    assert ("v2", "*") in series
    assert not any(v == "v1" for v, _ in series)


def test_a_site_losing_most_of_its_volume_is_no_data() -> None:
    loss = T0 + 8 * DAY
    rng = random.Random(5)

    def events():
        for t, item in _stream(4, 14, {"a": 800.0, "b": 800.0, "c": 300.0}, lambda s, v, t: 0.5):
            if item.site == "c" and t > loss and rng.random() < 0.6:
                continue  # 60% of c's events never arrive
            yield t, item

    alerts = _run(FeaturePanel("f", MonitorConfig()), events())
    fired = _firing(alerts, "no_data")
    assert [a.site for a in fired] == ["c"]
    assert fired[0].detector == "glr-share"
    assert 0 < fired[0].at - loss < 1.5 * DAY
    assert fired[0].value == pytest.approx(0.4, abs=0.15)  # share after / before


def test_flags_rising_at_a_small_site_are_seen_there() -> None:
    onset = T0 + 7 * DAY

    def flag(site: str, t: float) -> float:
        return 0.04 if site == "s" and t > onset else 0.005

    sites = {"big": 1500.0, "m": 500.0, "s": 90.0}
    alerts = _run(
        FeaturePanel("f", MonitorConfig()), _stream(6, 18, sites, lambda *a: 0.5, flag=flag)
    )
    fired = _firing(alerts, "flag_rate")
    assert {a.site for a in fired} == {"s"}
    # a CUSUM that knew both rates would need about 270 suggestions (3 days); this one
    # also has to learn the site's own rate from a handful of flags
    assert fired[0].at - onset < 6 * DAY


def test_an_input_scaled_at_one_site_is_input_drift_there() -> None:
    onset = T0 + 6 * DAY

    def inputs(site: str, t: float, rng: random.Random) -> dict[str, float | str]:
        scale = 1.6 if site == "b" and t > onset else 1.0
        return {"length": round(350 * scale * math.exp(0.7 * rng.gauss(0, 1))), "kind": "x"}

    sites = {"a": 700.0, "b": 150.0, "c": 300.0}
    alerts = _run(FeaturePanel("f", MonitorConfig()),
                  _stream(7, 12, sites, lambda *a: 0.5, inputs=inputs))  # fmt: skip
    fired = _firing(alerts, "input_drift")
    assert {(a.site, a.input) for a in fired} == {("b", "length")}
    assert fired[0].at - onset < DAY
    assert fired[0].value > fired[0].threshold  # the level since the change, in characters


def test_snapshot_and_restore_continue_identically() -> None:
    onset = T0 + 5 * DAY
    events = list(_stream(8, 9, {"a": 500.0, "b": 200.0, "c": 100.0},
                          lambda s, v, t: 0.4 if s == "b" and t > onset else 0.55,
                          flag=lambda s, t: 0.01))  # fmt: skip
    whole = FeaturePanel("f", MonitorConfig())
    expected = _run(whole, events)
    cut = len(events) // 2
    first = FeaturePanel("f", MonitorConfig())
    got = _run(first, events[:cut])
    blob = json.loads(json.dumps(first.to_state()))
    second = FeaturePanel.from_state("f", MonitorConfig(), blob)
    got += _run(second, events[cut:])
    assert got == expected
    assert json.dumps(second.to_state(), sort_keys=True) == json.dumps(
        whole.to_state(), sort_keys=True
    )
    assert _firing(expected, "acceptance_rate")


def test_what_a_small_series_can_detect_is_said() -> None:
    panel = FeaturePanel("f", MonitorConfig())
    _run(panel, _stream(9, 5, {"big": 3000.0, "tiny": 20.0}, lambda *a: 0.5), until=T0 + 5 * DAY)
    views = {(v.slot, v.site): v for v in panel.views()}
    big, tiny = views["acceptance_rate", "big"], views["acceptance_rate", "tiny"]
    assert big.detectable < 0.06 and not big.learning
    assert tiny.detectable > 0.2 and tiny.learning


def test_pearson_dispersion_is_one_for_binomial_counts_and_grows_with_extra_spread() -> None:
    from monitor.core.panel import pearson_dispersion

    rng = np.random.default_rng(7)
    n = rng.integers(20, 200, size=(4, 96)).astype(float)
    binomial = rng.binomial(n.astype(int), 0.15).astype(float)
    assert np.all(np.abs(pearson_dispersion(n, binomial) - 1.0) < 0.35)
    # a share that wanders from day to day (beta-binomial): the evidence must shrink
    p = rng.beta(6.0, 34.0, size=n.shape)
    wandering = rng.binomial(n.astype(int), p).astype(float)
    assert np.all(pearson_dispersion(n, wandering) > 2.0)
    assert pearson_dispersion(n[:, :5], binomial[:, :5]).tolist() == [1.0] * 4  # too few


def _normal_input(site: str, t: float, rng: random.Random) -> dict[str, float | str]:
    # a symmetric measurement that reaches 0 now and then: its log1p has a long left
    # tail, so it is compared on its own scale
    return {"weight": round(max(0.0, rng.gauss(28.0, 15.0)), 1)}


def test_a_stationary_normal_input_that_touches_zero_raises_nothing() -> None:
    # the early alarms of issue 14's family: per-value log scale (values near 0 far
    # below the rest) and a range still moving while the first values were clipped
    sites = {"a": 900.0, "b": 120.0, "c": 60.0, "d": 30.0, "e": 300.0}
    panel = FeaturePanel("f", MonitorConfig())
    alerts = _run(panel, _stream(11, 4, sites, lambda *a: 0.5, inputs=_normal_input))
    assert _firing(alerts, "input_drift") == []
    assert panel._ranges["input_drift:weight"][4] == "linear"


def test_a_dominant_site_does_not_move_the_feature_row_with_its_offset() -> None:
    # one site carries almost all the volume; its offset from two tiny peers is their
    # noise, and removed hourly from the feature row it would look like a change
    sites = {"big": 3000.0, "s1": 15.0, "s2": 15.0}
    rates = {"big": 0.5, "s1": 0.35, "s2": 0.65}
    panel = FeaturePanel("f", MonitorConfig())
    _run(panel, _stream(12, 6, sites, lambda s, v, t: rates[s]), until=T0 + 6 * DAY)
    assert abs(panel._offsets["acceptance_rate"]["big"]) < 0.01
    views = {(v.slot, v.site): v for v in panel.views()}
    assert views["acceptance_rate", "*"].statistic < 3.0
