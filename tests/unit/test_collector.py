"""The /metrics rules: leaf counters, one unit per name, labels only where they apply,
and the detector state a dashboard needs to draw now against baseline."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from monitor.collector import MonitorCollector
from monitor.core.config import MonitorConfig
from monitor.core.records import ALL, Alert
from monitor.replay import Replay, replay_file
from monitor.simulate import load_scenario, simulate

SEED = Path(__file__).resolve().parents[2] / "seeds" / "quick" / "scenario.yaml"


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Replay, list[Alert], dict]:
    sim = simulate(load_scenario(SEED), tmp_path_factory.mktemp("qcb"))
    engine, result = replay_file(sim.events_path, MonitorConfig())
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MonitorCollector(lambda: [engine.assessor]))
    text = generate_latest(registry).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    return engine, result.alerts, families


def _key(s) -> tuple[str, str, str, str]:  # type: ignore[no-untyped-def]
    return (s.labels["feature"], s.labels["model_version"], s.labels["site"], s.labels["signal"])


def _samples(families: dict, name: str) -> list:
    family = families[name.removesuffix("_total")]
    return [s for s in family.samples if s.name == name]


def test_counters_are_leaf_only_so_sum_is_the_truth(replayed) -> None:
    engine, _, families = replayed
    counts = _samples(families, "vitals_suggestions_total")
    assert counts and all(ALL not in (s.labels["model_version"], s.labels["site"]) for s in counts)
    feature = engine.assessor.series["inbasket-reply|*|*"]
    assert sum(s.value for s in counts) == feature.count("shown")
    flags = _samples(families, "vitals_flags_total")
    assert sum(s.value for s in flags) == feature.count("flags") > 0
    flagged = _samples(families, "vitals_flagged_suggestions_total")
    assert sum(s.value for s in flagged) == feature.count("flagged")
    burden = families["vitals_correction_burden_ratio"]
    count = sum(s.value for s in burden.samples if s.name.endswith("_count"))
    total = sum(s.value for s in burden.samples if s.name.endswith("_sum"))
    assert count == feature.count("burden_n")
    assert math.isclose(total / count, feature.rates()["correction_burden"])


def test_one_unit_per_metric_name_and_input_only_on_input_drift(replayed) -> None:
    _, _, families = replayed
    units = {"vitals_signal_ratio", "vitals_signal_seconds"}
    seen: dict[str, set[str]] = defaultdict(set)
    for name in units:
        for s in families[name].samples:
            seen[name].add(s.labels["signal"])
    assert "decision_time" not in seen["vitals_signal_ratio"]
    assert seen["vitals_signal_seconds"] == {"decision_time"}
    assert {"acceptance_rate", "response_rate", "correction_burden"} <= seen["vitals_signal_ratio"]
    for family in families.values():
        for s in family.samples:
            if "input" in s.labels:
                assert s.labels["signal"] == "input_drift" and s.labels["input"], s
            elif s.labels.get("signal") == "input_drift":
                pytest.fail(f"input_drift sample without its input: {s}")
    assert "cumulative" not in families["vitals_decision_time_seconds"].documentation.lower()


def test_gauges_carry_their_role_so_one_level_is_picked(replayed) -> None:
    engine, _, families = replayed
    for s in families["vitals_alert_firing"].samples:
        key = engine.assessor.series.get(
            f"{s.labels['feature']}|{s.labels['model_version']}|{s.labels['site']}"
        )
        assert key is not None and key.role == s.labels["role"], s


def test_reference_and_level_of_concern_are_the_alert_logs_figures(replayed) -> None:
    engine, _, families = replayed

    def by_series(name: str) -> dict[tuple, float]:
        return {_key(s): s.value for s in families[name].samples}

    concern = by_series("vitals_signal_concern_ratio")
    reference = by_series("vitals_signal_reference_ratio")
    level = by_series("vitals_signal_ratio")
    views = engine.assessor.series["inbasket-reply|*|*"].views()
    view = next(
        v
        for v in views
        if (v.signal, v.model_version, v.site) == ("acceptance_rate", ALL, "riverside")
    )
    key = ("inbasket-reply", "*", "riverside", "acceptance_rate")
    assert concern[key] == pytest.approx(view.concern)
    assert reference[key] == pytest.approx(view.reference)
    assert level[key] == pytest.approx(view.value)
    # a drop: the level of concern lies the minimum effect below the baseline
    assert reference[key] - concern[key] == pytest.approx(view.min_effect)


def test_firing_since_is_the_alert_logs_time(replayed) -> None:
    _, alerts, families = replayed
    since = {
        _key(s): s.value for s in families["vitals_alert_firing_since_timestamp_seconds"].samples
    }
    last: dict[tuple, Alert] = {}
    for a in alerts:
        last[(a.feature, a.model_version, a.site, a.signal)] = a
    firing = {k: a.at for k, a in last.items() if a.state == "firing"}
    assert firing, "the seed's degradation must fire"
    assert since == pytest.approx(firing)
    onset = {_key(s): s.value for s in families["vitals_change_start_timestamp_seconds"].samples}
    assert onset and onset.keys() <= firing.keys()  # the scans' alerts (not the funnel's)
    assert all(onset[k] <= firing[k] for k in onset)  # the change began before it fired


def test_model_version_establishment_is_exported(replayed) -> None:
    engine, _, families = replayed
    established = {
        s.labels["model_version"]: s.value
        for s in families["vitals_model_version_established_timestamp_seconds"].samples
    }
    assert set(established) == {"reply-2.0", "reply-2.1"}
    start = load_scenario(SEED).start.timestamp()
    # once a version has panel.version_established resolutions: within the stream, and
    # the version rolled out later is established later
    assert all(start < at <= engine.resolver.clock for at in established.values())
    assert established["reply-2.0"] < established["reply-2.1"]
