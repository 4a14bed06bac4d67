"""The series cap: a bridge that sends a new site (or version, or feature) per event
cannot grow an engine's memory or /metrics without bound."""

from __future__ import annotations

import json
import logging
import re

from prometheus_client import CollectorRegistry, generate_latest

from monitor.collector import MonitorCollector
from monitor.core.assessor import OVERFLOW, OVERFLOW_KEY, Assessor
from monitor.core.config import MonitorConfig
from monitor.core.contract import SLUG_PATTERN
from monitor.core.records import Resolution

T0 = 1_767_600_000.0


def _resolution(i: int, feature: str, version: str, site: str) -> Resolution:
    t = T0 + 60 * i
    return Resolution(f"s{i}", feature, version, site, "other", t, t + 30, "accepted", 30.0,
                      None, None, None)  # fmt: skip


def _feed(assessor: Assessor, items: list[Resolution]) -> None:
    for item in items:
        assessor.process_rollups(item)
        assessor.advance(item.at - 600)
    assessor.flush()


def _hostile(n: int) -> list[Resolution]:
    """Known series first, then a new site, version or feature per event."""
    items = [_resolution(i, "note-draft", "v1", f"site-{i % 3}") for i in range(300)]
    for i in range(300, 300 + n):
        kind = i % 3
        items.append(_resolution(
            i,
            f"feat-{i}" if kind == 2 else "note-draft",
            f"v-{i}" if kind == 1 else "v1",
            f"site-x{i}" if kind == 0 else "site-0",
        ))  # fmt: skip
    return items


def test_new_series_past_the_cap_fold_into_one_overflow_series(caplog) -> None:
    assessor = Assessor(MonitorConfig(max_series=40))
    items = _hostile(3000)
    with caplog.at_level(logging.WARNING, logger="vitals.assessor"):
        _feed(assessor, items)
    assert len(assessor.series) <= 40 + 1  # the overflow series on top
    assert OVERFLOW_KEY in assessor.series
    overflow = assessor.series[OVERFLOW_KEY]
    assert not any(overflow.detectors.values())  # counted, never alerting
    # Every delivery landed somewhere: 4 per event, none lost.
    shown = sum(s.count("shown") for s in assessor.series.values())
    assert shown == 4 * len(items)
    assert overflow.count("shown") == assessor.overflowed > 0
    # A series held before the cap keeps counting everything that rolls up to it.
    assert assessor.series["note-draft|*|*"].count("shown") == sum(
        1 for r in items if r.feature == "note-draft"
    )
    warnings = [r for r in caplog.records if "series cap reached" in r.getMessage()]
    assert len(warnings) == 1 and "max_series=40" in warnings[0].getMessage()


def _series_on(text: str, prefix: str) -> set[tuple[str, str, str]]:
    """(feature, model_version, site) of the samples whose name starts with *prefix* (site
    outlier's per-site samples left out: at most MAX_SITES a feature, tested below)."""
    found = set()
    for line in text.splitlines():
        if line.startswith(prefix) and 'signal="site_outlier"' not in line:
            labels = dict(re.findall(r'(feature|model_version|site)="([^"]*)"', line))
            if len(labels) == 3:
                found.add((labels["feature"], labels["model_version"], labels["site"]))
    return found


def test_the_cap_is_on_metrics_and_every_label_stays_a_slug() -> None:
    assessor = Assessor(MonitorConfig(max_series=40))
    _feed(assessor, _hostile(600))
    registry = CollectorRegistry()
    registry.register(MonitorCollector(lambda: [assessor]))
    text = generate_latest(registry).decode()
    assert f"vitals_series_overflow_total {float(assessor.overflowed)}" in text
    assert f"vitals_series {float(len(assessor.series))}" in text
    values = re.findall(r'(?:feature|model_version|site)="([^"]*)"', text)
    assert values and all(v == "*" or re.fullmatch(SLUG_PATTERN, v) for v in values)
    assert f'feature="{OVERFLOW}"' in text
    # Every series on /metrics is one the engine holds, or a row of a held feature's
    # panel (or funnel), which its own caps bound: the cap bounds them all.
    held = {tuple(state.key) for state in assessor.series.values()}
    assert len(held) == len(assessor.series) <= 41
    features = [st for st in assessor.series.values() if st.role == "feature"]
    rows = {(v.feature, v.model_version, v.site) for st in features for v in st.views()}
    rows |= {(st.key.feature, "*", site) for st in features for site in st.sites}
    caps = assessor.config.panel
    assert len(rows) <= len(features) * (caps.max_sites + 1) * (caps.max_versions + 1)
    assert _series_on(text, "vitals_") <= held | rows
    # Counters are exported for leaf series only (docs/decisions/0012): exactly the
    # held series with every label named, the overflow series among them.
    leaves = {tuple(s.key) for s in assessor.series.values() if s.role == "exact"}
    assert (OVERFLOW, OVERFLOW, OVERFLOW) in leaves
    assert _series_on(text, "vitals_suggestions_total") == leaves
    # The rollups the engine holds and watches are still on /metrics, as gauges with a
    # role (a version rollup has panel rows only once a feature has two versions).
    watched = (held - leaves) & rows
    assert watched and _series_on(text, "vitals_detector_statistic_ratio") >= watched


def test_the_overflow_count_survives_a_checkpoint() -> None:
    first = Assessor(MonitorConfig(max_series=40))
    _feed(first, _hostile(600))
    second = Assessor(MonitorConfig(max_series=40))
    second.load(first.export())
    second.load_clock_state(json.loads(json.dumps(first.clock_state())))
    assert second.overflowed == first.overflowed > 0
    assert second.series[OVERFLOW_KEY].count("shown") == first.overflowed


def test_below_the_cap_nothing_changes() -> None:
    items = _hostile(200)
    capped, free = Assessor(MonitorConfig(max_series=10_000)), Assessor(MonitorConfig())
    _feed(capped, items)
    _feed(free, items)
    assert capped.overflowed == 0 and OVERFLOW_KEY not in capped.series
    assert capped.export() == free.export()


def test_a_feature_compares_a_bounded_number_of_sites() -> None:
    from monitor.core.series import MAX_SITES

    assessor = Assessor(MonitorConfig(max_series=100_000))
    n = MAX_SITES + 500
    _feed(assessor, [_resolution(i, "note-draft", "v1", f"site-{i}") for i in range(n)])
    feature = assessor.series["note-draft|*|*"]
    assert len(feature.sites) == MAX_SITES
    assert feature.count("shown") == n  # every event still counted
