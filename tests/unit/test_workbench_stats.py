"""Intervals, hourly tallies, and the live distance to firing that the report shares."""

from __future__ import annotations

import doctest
import math
import random

import pytest
from prometheus_client.core import CollectorRegistry

import monitor.fanout
import monitor.stats
import monitor.tally
from monitor.collector import MonitorCollector
from monitor.core.assessor import Assessor
from monitor.core.records import Flag, Resolution
from monitor.stats import Moments, bonferroni, newcombe, verdict, welch, wilson
from monitor.tally import Tally, compare_windows
from monitor.trace import Trace


def test_wilson_and_newcombe_reproduce_the_published_examples() -> None:
    # Newcombe (1998), table II example (a) and table I example for 81/263
    lo, hi = wilson(81, 263, 0.05)
    assert (round(lo, 4), round(hi, 4)) == (0.2553, 0.3662)
    d = newcombe(56, 70, 48, 80, 0.05)
    assert (round(d.low, 4), round(d.high, 4)) == (0.0524, 0.3339)
    # over-dispersion widens: the effective count is n / phi
    assert newcombe(56, 70, 48, 80, 0.05, 2.0, 2.0).half_width > d.half_width


def test_welch_matches_scipy_on_unequal_variances() -> None:
    from scipy import stats as sps

    rng = random.Random(1)
    a = [rng.gauss(1.0, 1.0) for _ in range(40)]
    b = [rng.gauss(0.4, 3.0) for _ in range(25)]

    def moments(xs: list[float]) -> Moments:
        return Moments.of_sums(len(xs), sum(xs), sum(x * x for x in xs))

    iv = welch(moments(a), moments(b), 0.05)
    ref = sps.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert iv.low == pytest.approx(ref.low, rel=1e-9)
    assert iv.high == pytest.approx(ref.high, rel=1e-9)


def test_verdicts_and_the_bonferroni_level() -> None:
    assert verdict(newcombe(600, 1000, 450, 1000, 0.05), higher_is_better=True) == "better"
    assert verdict(newcombe(600, 1000, 450, 1000, 0.05), higher_is_better=False) == "worse"
    assert verdict(newcombe(50, 100, 48, 100, 0.05), True) == "no detectable difference"
    assert verdict(None, True) == "not enough data"
    assert bonferroni(0.05, 60) == pytest.approx(0.05 / 60)


@pytest.mark.parametrize("module", [monitor.stats, monitor.tally, monitor.fanout])
def test_doctests(module: object) -> None:
    assert doctest.testmod(module).failed == 0  # type: ignore[arg-type]


def _res(i: int, at: float, status: str, version: str = "v1", site: str = "a") -> Resolution:
    burden = 0.1 if status == "edited" else None
    return Resolution(f"s{i}", "f", version, site, "other", at, at + 20, status, 20.0, burden,
                      0.5, None)  # fmt: skip


def test_a_tally_window_sums_its_hours_and_rolls_up() -> None:
    tally = Tally()
    for i in range(48):  # two days, one suggestion an hour per site, accepted at site a
        tally.add(_res(i, i * 3600.0 + 10, "accepted"))
        tally.add(_res(100 + i, i * 3600.0 + 20, "rejected", site="b"))
    tally.add(Flag("s1", "f", "v1", "a", 3700.0, "unsafe", True))
    tally.add(Flag("s1", "f", "v1", "a", 3800.0, "unsafe", False))  # a second flag: not counted
    day1 = tally.window("f", "*", "*", 0.0, 86400.0)
    assert day1.shown == 48 and day1.rate("acceptance_rate") == (24, 48)
    assert day1.rate("flag_rate") == (1, 48)
    assert tally.window("f", "v1", "a", 0.0, 86400.0).rate("acceptance_rate") == (24, 24)
    assert tally.window("f", "*", "*", 0.0, 86400.0, exclude_site="a").rate("acceptance_rate") == (
        0,
        24,
    )
    assert tally.window("f", "*", "*", -math.inf, math.inf).shown == 96
    assert tally.active("f", "*", "b") == (0.0, 48 * 3600.0)
    # every hour holds one acceptance (a) and one rejection (b): no extra dispersion; at
    # site a alone a rate of 1 has no variance to scale
    assert day1.phi("acceptance_rate") == 1.0
    both = tally.window("f", "v1", "*", 0.0, 86400.0)
    assert both.moments("decision_time").mean == pytest.approx(math.log(20.0))
    iv = compare_windows(
        "acceptance_rate",
        tally.window("f", "*", "a", 0.0, 86400.0),
        tally.window("f", "*", "b", 0.0, 86400.0),
        0.05,
    )
    assert iv.estimate == 1.0 and iv.low > 0.8


def test_the_report_trace_and_metrics_agree_on_the_distance_to_firing() -> None:
    """vitals_detector_statistic_ratio on /metrics is the ratio the report draws."""
    rng = random.Random(4)
    assessor, trace = Assessor(), Trace(every=3600.0, detail=True)
    t = 1.7e9
    for i in range(9000):
        t += 60
        p = 0.6 if i < 7000 else 0.45
        res = _res(i, t, "accepted" if rng.random() < p else "rejected")
        assessor.process_rollups(res)
        assessor.advance(t - 120)
    trace.sample(math.inf, assessor)
    registry = CollectorRegistry()
    registry.register(MonitorCollector(lambda: [assessor]))
    seen = 0
    for family in registry.collect():
        if family.name != "vitals_detector_statistic_ratio":
            continue
        for sample in family.samples:
            lab = sample.labels
            key = (f"{lab['feature']}|{lab['model_version']}|{lab['site']}", lab["signal"])
            assert trace.series[key][1][-1] == pytest.approx(sample.value)
            seen += 1
    assert seen > 10
    ratios = trace.series[("f|*|a", "acceptance_rate")][1]  # the site row (one version)
    assert ratios[-1] > 0.5  # the drop is being seen
