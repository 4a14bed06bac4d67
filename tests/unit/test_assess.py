"""Monitor core end to end: replay, restore, baselines, config, collector."""

from __future__ import annotations

import copy
import json
import math
import random
from datetime import datetime
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from monitor.collector import MonitorCollector
from monitor.core.assessor import Assessor
from monitor.core.config import MonitorConfig, load_config
from monitor.core.records import Resolution, SeriesKey
from monitor.core.resolver import Resolver
from monitor.replay import Replay, read_lines, replay_file
from monitor.simulate import load_scenario, parse_scenario, simulate

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "seeds" / "sample"


def test_replay_counts_match_the_sample_truth() -> None:
    truth = json.loads((SAMPLE / "truth.json").read_text())
    engine, result = replay_file(SAMPLE / "events.jsonl")
    assert result.events == truth["events"]
    assert sum(result.malformed.values()) == len(truth["malformed_lines"])
    assert [ln for ln, _, _ in result.malformed_examples] == truth["malformed_lines"]
    assert result.resolver_counters["duplicates"] == truth["duplicates"]
    feature_totals = sum(
        s.counts[0] for k, s in engine.assessor.series.items() if k.endswith("|*|*")
    )
    assert feature_totals == result.resolver_counters["resolved"]


@pytest.fixture(scope="module")
def small_break(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = load_scenario(ROOT / "seeds" / "config-break.yaml")
    data = spec.model_dump(mode="json")
    data["volume_scale"] = 0.5
    data["days"] = 21  # the break begins on day 15.6
    out = tmp_path_factory.mktemp("break")
    simulate(parse_scenario(data, "test"), out)
    return out


def _run_split(events: Path, cut: int) -> list:
    """Replay to line *cut*, serialize every piece of state to JSON, restore, finish."""
    lines = list(read_lines(events))
    first = Replay()
    for i, raw in enumerate(lines[:cut], start=1):
        first.feed_line(i, raw)
    mappings = json.loads(json.dumps(first.resolver.export()))
    blobs = first.assessor.export()
    clock = json.loads(json.dumps(first.assessor.clock_state()))
    baselines = json.loads(json.dumps(dict(first.assessor.baselines)))
    config = first.config
    assessor = Assessor(config, baselines=baselines)
    second = Replay(
        config, resolver=Resolver(config.resolver_config, **mappings), assessor=assessor
    )
    second.assessor.load(blobs)
    second.assessor.load_clock_state(clock)
    second.result = copy.deepcopy(first.result)
    for i, raw in enumerate(lines[cut:], start=cut + 1):
        second.feed_line(i, raw)
    return second.finish().alerts


def test_snapshot_restore_gives_identical_alerts(small_break: Path) -> None:
    events = small_break / "events.jsonl"
    _, straight = replay_file(events)
    firing = [a for a in straight.alerts if a.state == "firing"]
    assert any(a.signal == "acceptance_rate" and a.site == "riverside" for a in firing)
    n = sum(1 for _ in read_lines(events))
    for cut in (n // 2, (9 * n) // 10):  # before the break, and after it began
        assert _run_split(events, cut) == straight.alerts


def test_alert_log_lines_have_exactly_the_design_fields(small_break: Path) -> None:
    _, result = replay_file(small_break / "events.jsonl")
    assert result.alerts
    for alert in result.alerts:
        log = alert.to_log()
        keys = {"at", "state", "signal", "feature", "model_version", "site", "value",
                "threshold", "detector"}  # fmt: skip
        assert set(log) - {"input"} == keys
        assert ("input" in log) == (alert.signal == "input_drift")
        assert log["at"].endswith("Z") and log["state"] in ("firing", "resolved")


def _resolution(i: int, version: str, accepted: bool, t: float) -> Resolution:
    status = "accepted" if accepted else "rejected"
    return Resolution(f"s{i}", "f", version, "a", "other", t, t + 30, status, 30.0, None, None,
                      None)  # fmt: skip


def test_new_version_is_compared_with_the_version_it_replaces() -> None:
    """v2 is 15 points worse from its first event: caught only through v1's level."""
    rng = random.Random(3)
    assessor = Assessor(MonitorConfig())
    t, alerts = 1.7e9, []
    for i in range(12_000):  # v1 establishes itself over 5 days
        t += 40
        res = _resolution(i, "v1", rng.random() < 0.60, t)
        for key in res.key.rollups():
            assessor.process(res, key)
        alerts += assessor.advance(t - 120)
    for i in range(12_000, 15_000):
        t += 40
        res = _resolution(i, "v2", rng.random() < 0.45, t)
        for key in res.key.rollups():
            assessor.process(res, key)
        alerts += assessor.advance(t - 120)
    alerts += assessor.flush()
    panel = assessor.series["f|*|*"].panel
    assert panel is not None and panel.predecessors == {"v2": "v1"}
    v2 = [a for a in alerts if a.model_version == "v2" and a.signal == "acceptance_rate"]
    assert v2 and v2[0].state == "firing" and v2[0].site == "*"
    assert v2[0].threshold == pytest.approx(0.57, abs=0.03)  # v1's level minus min effect
    assert not [a for a in alerts if a.model_version == "v1" and a.state == "firing"]


def test_config_errors_name_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("signals:\n  acceptance_rate: {min_efect: 0.05}\n")
    with pytest.raises(ValueError, match=r"signals.acceptance_rate.min_efect"):
        load_config(bad)
    bad.write_text("features:\n  note-draft:\n    decision_timeout: soon\n")
    with pytest.raises(ValueError, match=r"features.note-draft.decision_timeout"):
        load_config(bad)
    bad.write_text("signals:\n  flag_rate: {z: 4, z_resolve: 5}\n")
    with pytest.raises(ValueError, match=r"signals.flag_rate.*z_resolve must be <= z"):
        load_config(bad)
    bad.write_text("signals:\n  acceptance_rate: {warmup: 2000}\n")  # the old CUSUM's
    with pytest.raises(ValueError, match=r"signals.acceptance_rate.warmup: Extra inputs"):
        load_config(bad)
    bad.write_text("timezone: Mars/Olympus\n")
    with pytest.raises(ValueError, match=r"timezone: .*unknown time zone 'Mars/Olympus'"):
        load_config(bad)
    bad.write_text("signals:\n  acceptance: {}\n")
    with pytest.raises(ValueError, match="unknown signal 'acceptance'"):
        load_config(bad)
    # values that validated but did the wrong thing, or hung a replay
    for text, match in (
        ('signals: {acceptance_rate: {enabled: "false"}}', r"enabled: expected true or false"),
        ("tick_interval: 0.000001", r"tick_interval: Input should be greater than or equal to 1"),
        ("signals: {acceptance_rate: {min_effect: .nan}}", r"min_effect: .*finite number"),
        ("signals: {acceptance_rate: {z: .inf}}", r"z: .*finite number"),
        ("holidays: [2026-02-30]", r"bad.yaml: not valid YAML: day is out of range"),
        (
            "features: {a: {allowed_lateness: 630s}}",
            r"features.a.allowed_lateness must differ .* by a multiple of tick_interval \(60 s\)",
        ),
        (
            "features: {a: {allowed_lateness: 2d}}",
            r"dedup_retention must be >= allowed_lateness \(of every feature\)",
        ),
    ):
        bad.write_text(text + "\n")
        with pytest.raises(ValueError, match=match) as info:
            load_config(bad)
        assert "Value error, " not in str(info.value)
    good = tmp_path / "good.yaml"
    good.write_text(
        "resolver: {decision_timeout: 2h}\n"
        "signals: {acceptance_rate: {min_effect: 0.05}}\n"
        "features:\n  note-draft:\n    signals: {acceptance_rate: {min_effect: 0.08}}\n"
        "    versions: {v3: {signals: {acceptance_rate: {enabled: false}}}}\n"
    )
    cfg = load_config(good)
    assert cfg.resolver_config.decision_timeout == 7200
    assert cfg.resolver_config.shift("note-draft") == 0
    assert cfg.signal("acceptance_rate", "other", "v1")[1].min_effect == 0.05
    assert cfg.signal("acceptance_rate", "note-draft", "v1")[1].min_effect == 0.08
    assert cfg.signal("acceptance_rate", "note-draft", "v3")[0] is False


def test_detector_durations_accept_units(tmp_path: Path) -> None:
    """The seconds of detector parameters read like the config's other durations."""
    path = tmp_path / "units.yaml"
    path.write_text(
        "signals:\n"
        "  acceptance_rate: {min_after_seconds: 2h}\n"
        "  volume_share: {min_after_seconds: 6h}\n"
        "  no_data: {min_gap: 45m}\n"
        "panel: {bucket_seconds: 30m, horizon: 21d}\n"
    )
    cfg = load_config(path)
    assert cfg.signal("acceptance_rate", "f", "v")[1].min_after_seconds == 2 * 3600
    assert cfg.signal("volume_share", "f", "*")[1].min_after_seconds == 6 * 3600
    assert cfg.signal("no_data", "f", "v")[1].min_gap == 45 * 60
    assert (cfg.panel.bucket_seconds, cfg.panel.horizon) == (1800, 21 * 86400)
    path.write_text("signals:\n  acceptance_rate: {min_after_seconds: a week}\n")
    with pytest.raises(ValueError, match=r"signals.acceptance_rate.min_after_seconds"):
        load_config(path)


def test_collector_renders_owned_series_only() -> None:
    engine, _ = replay_file(SAMPLE / "events.jsonl")
    registry = CollectorRegistry()
    registry.register(MonitorCollector(lambda: [engine.assessor]))
    text = generate_latest(registry).decode()
    leaf = 'feature="note-draft",model_version="note-2.1",site="main-campus"'
    rollup = 'feature="note-draft",model_version="*",role="feature",signal="acceptance_rate"'
    assert f"vitals_suggestions_total{{{leaf}" in text
    assert f"vitals_alert_firing{{{rollup}" in text
    engine.assessor.drop([SeriesKey("note-draft", "note-2.1", "main-campus")])
    engine.assessor.drop([SeriesKey("note-draft", "*", "*")])
    text = generate_latest(registry).decode()
    assert leaf not in text
    assert rollup not in text


def test_alert_threshold_is_the_level_of_concern_in_signal_units() -> None:
    """Decision time is scanned on a log scale; its levels are reported in seconds."""
    rng = random.Random(1)
    assessor = Assessor(MonitorConfig())
    t, alerts = 1.7e9, []
    for i in range(8000):
        t += 60
        slow = 1.6 if i > 6000 else 1.0  # 60% longer from the 6,000th decision
        seconds = math.exp(rng.gauss(math.log(60 * slow), 0.5))
        res = Resolution(f"s{i}", "f", "v1", "a", "other", t - seconds, t, "accepted", seconds,
                         None, None, None)  # fmt: skip
        for key in res.key.rollups():
            assessor.process(res, key)
        alerts += assessor.advance(t - 120)
    fired = [a for a in alerts if a.signal == "decision_time" and a.state == "firing"]
    assert fired
    # the level since the change (geometric mean, s) and the level before moved by 0.25 log-s
    assert 75 < fired[0].value < 110
    assert fired[0].threshold == pytest.approx(60 * math.exp(0.25), rel=0.08)


def test_an_input_that_changes_kind_is_skipped_not_a_crash() -> None:
    """The contract lets an input be a number in one event and a code in the next; its
    kind is set by the first value, and values of the other kind are skipped."""
    for first, other in ((1.0, "abc"), ("abc", 1.0)):
        assessor = Assessor(MonitorConfig())
        t = 1.7e9
        for i in range(300):
            t += 30
            value = other if i % 3 == 2 else first
            res = Resolution(f"s{i}", "f", "v1", "a", "other", t, t + 30, "accepted", 30.0,
                             None, 0.5, {"x": value})  # fmt: skip
            for key in res.key.rollups():
                assessor.process(res, key)
            assessor.advance(t - 120)
        assessor.flush()
        panel = assessor.series["f|*|*"].panel
        assert panel is not None
        assert panel.observed("input_drift:x", "*", "*")[0] == 200  # two in three


def test_a_jump_of_decades_in_event_time_ticks_at_most_a_week() -> None:
    """One bad timestamp (2099) used to tick every series every minute of the gap."""
    from monitor.core.assessor import MAX_TICK_GAP

    assessor = Assessor(MonitorConfig())
    ticks: list[float] = []
    on_tick = assessor._on_tick
    assessor._on_tick = lambda at: ticks.append(at) or on_tick(at)  # type: ignore[method-assign]
    t0 = 1.7e9
    res = _resolution(0, "v1", True, t0)
    for key in res.key.rollups():
        assessor.process(res, key)
    assessor.advance(t0 + 600)
    assessor.advance(4.1e9)  # 2099
    assert len(ticks) <= 10 + MAX_TICK_GAP / 60 + 1
    assert ticks[-1] > 4.1e9 - 120 and ticks == sorted(ticks)
    assert all(t % 60 == 0 for t in ticks)  # still on the grid


def test_input_names_per_feature_are_capped() -> None:
    """A bridge that sends a new input name in every event (an identifier as a name)
    gets its first ``max_inputs`` names monitored, and no more."""
    cfg = MonitorConfig()
    assessor = Assessor(cfg)
    t = 1.7e9
    for i in range(40):  # 1,280 distinct names
        t += 30
        inputs = {f"n{i}-{j}": float(j) for j in range(32)}
        res = Resolution(f"s{i}", "f", "v1", "a", "other", t, t + 30, "accepted", 30.0, None,
                         0.5, inputs)  # fmt: skip
        for key in res.key.rollups():
            assessor.process(res, key)
        assessor.advance(t - 120)
    assessor.flush()
    panel = assessor.series["f|*|*"].panel
    assert panel is not None
    # each name is seen once: held in its learning sample, no row yet, but tracked
    assert len(panel._kinds) == cfg.panel.max_inputs
    assert {k[len("input_drift:") :] for k in panel._ranges if k.startswith("input_drift:")} == set(
        panel._kinds
    )
    assert panel.skipped == 40 * 32 - cfg.panel.max_inputs
    assert all(set(s.detectors) <= {"no_data", "site_outlier"} for s in assessor.series.values())


def _responses_seen(assessor: Assessor, key: str) -> int:
    """Suggestions the panel's response_rate has seen for the series ``key``."""
    f, v, s = key.split("|")
    panel = assessor.series[f"{f}|*|*"].panel
    assert panel is not None
    return int(panel.observed("response_rate", v, s)[0])


def test_response_rate_sees_an_answer_at_its_decision_timeout() -> None:
    """An answer 30 s after its suggestion enters response_rate 4 h after the suggestion,
    as an expiry of a suggestion shown at the same time would; it survives a restore."""
    assessor = Assessor(MonitorConfig())
    t0 = 1_700_000_040.0  # on the 60 s tick grid
    answered = _resolution(0, "v1", True, t0)
    expired = Resolution("s1", "f", "v1", "a", "other", t0 + 60, t0 + 60 + 4 * 3600, "expired",
                         None, None, None, None)  # fmt: skip
    for res in (answered, expired):
        for key in res.key.rollups():
            assessor.process(res, key)
    assessor.advance(t0 + 3600)
    assert assessor.series["f|v1|a"].count("accepted") == 1  # counted at once
    assert _responses_seen(assessor, "f|*|a") == 0  # not yet seen by response_rate
    blobs, clock = assessor.export(), assessor.clock_state()
    restored = Assessor(MonitorConfig())
    restored.load(json.loads(json.dumps({k: v.decode() for k, v in blobs.items()})))
    restored.load_clock_state(json.loads(json.dumps(clock)))
    for a in (assessor, restored):
        a.advance(t0 + 4 * 3600 - 1)
        assert _responses_seen(a, "f|*|a") == 0
        a.advance(t0 + 4 * 3600)  # the tick at the timeout (the expiry is a minute later)
        assert all(_responses_seen(a, k) == 1 for k in ("f|*|a", "f|*|*"))
        a.advance(t0 + 5 * 3600)
        assert all(_responses_seen(a, k) == 2 for k in ("f|*|a", "f|*|*"))  # + the expiry


def _clinic_day(timeout_s: float, drop: float = 0.0, from_day: int = 99) -> list[Resolution]:
    """Four weeks of a clinic's day (busy 8-18 h, quiet nights and weekends) with a 90%
    response rate, lowered by *drop* from *from_day* on; sorted by resolution time."""
    rng = random.Random(11)
    t0 = 1_769_990_400.0  # Monday 2026-02-02 00:00 UTC
    items: list[Resolution] = []
    for hour in range(28 * 24):
        day, h = divmod(hour, 24)
        rate = (120 if 8 <= h < 18 else 6) * (0.25 if day % 7 >= 5 else 1.0)
        for _ in range(int(rate)):
            shown = t0 + hour * 3600 + rng.uniform(0, 3600)
            answered = rng.random() < 0.9 - (drop if day >= from_day else 0.0)
            at = shown + rng.uniform(10, 600) if answered else shown + timeout_s
            status = ("accepted" if rng.random() < 0.6 else "rejected") if answered else "expired"
            seconds = at - shown if answered else None
            items.append(Resolution(f"s{len(items)}", "f", "v1", "a", "other", shown, at, status,
                                    seconds, None, None, None))  # fmt: skip
    items.sort(key=lambda r: r.at)
    return items


def _assess(cfg: MonitorConfig, items: list[Resolution]) -> tuple[Assessor, list]:
    assessor = Assessor(cfg)
    alerts = []
    for res in items:
        for key in res.key.rollups():
            assessor.process(res, key)
        alerts += assessor.advance(res.at - 60)
    alerts += assessor.flush()
    return assessor, alerts


@pytest.mark.parametrize("timeout", ["8h", "24h"])
def test_long_decision_timeouts_keep_response_rate_quiet_on_a_diurnal_stream(
    timeout: str,
) -> None:
    """Stationary. Observed at the answer's time, the day's answers and the expiries of
    the suggestions shown a timeout before mixed by hour, and response_rate fired."""
    cfg = MonitorConfig.model_validate({"resolver": {"decision_timeout": timeout}})
    timeout_s = cfg.resolver_config.timeout("f")
    items = _clinic_day(timeout_s)
    assessor, alerts = _assess(cfg, items)
    # answers whose timeout is after the last item stay held, like open suggestions
    panel = assessor.series["f|*|*"].panel
    assert panel is not None
    held = sum(sum(h.values()) for h in panel._held.values())
    last = items[-1].at
    due = [math.ceil((r.shown_at + timeout_s) / 60) * 60 for r in items if r.status != "expired"]
    assert held == sum(tick > last for tick in due)
    assert _responses_seen(assessor, "f|*|*") + held == len(items)
    assert [a for a in alerts if a.signal == "response_rate"] == []


def test_an_eight_point_drop_in_responses_is_caught() -> None:
    """A site where suggestions stop reaching some clinicians: 90% -> 82% from day 17
    (below the 10-point minimum effect response_rate needed before answers were held)."""
    cfg = MonitorConfig()
    start = 1_769_990_400.0 + 17 * 86400
    _, alerts = _assess(cfg, _clinic_day(cfg.resolver_config.timeout("f"), drop=0.08, from_day=17))
    fired = [a for a in alerts if a.signal == "response_rate" and a.state == "firing"]
    assert fired and min(a.at for a in fired) - start < 4 * 86400
    assert {(a.model_version, a.site) for a in fired} >= {("*", "*")}


def _delayed(lines: list[bytes], feature: str, delay: float) -> list[bytes]:
    """The same lines, with *feature*'s events arriving *delay* seconds after their time."""
    feature_of: dict[str, str] = {}
    keyed = []
    for i, raw in enumerate(lines):
        try:
            doc = json.loads(raw)
            t = datetime.fromisoformat(doc["occurred_at"]).timestamp()
        except (ValueError, KeyError, TypeError):
            continue  # the malformed lines
        if doc.get("type") == "suggestion":
            feature_of[doc["suggestion_id"]] = doc["feature"]
        late = feature_of.get(doc.get("suggestion_id")) == feature
        keyed.append((t + (delay if late else 0.0), i, raw))
    return [raw for _, _, raw in sorted(keyed)]


def _replay(lines: list[bytes], config: MonitorConfig) -> tuple[list, dict, dict]:
    engine = Replay(config)
    for i, raw in enumerate(lines, start=1):
        engine.feed_line(i, raw)
    result = engine.finish()
    return result.alerts, engine.assessor.export(), result.resolver_counters


def test_a_feature_allowed_more_lateness_gives_the_same_state_as_on_time(tmp_path: Path) -> None:
    """note-draft's bridge delivers an hour late. With that feature allowed 2 h, replay ends
    in the same state (every series, byte for byte) and the same alerts as on time at the
    default 10 min; the other features' alerts are not held back meanwhile."""
    spec = load_scenario(ROOT / "seeds" / "silent-site.yaml")
    data = spec.model_dump(mode="json") | {"days": 12, "volume_scale": 0.4}
    data["degradations"] = data["degradations"][:1]  # the lakeview outage, Feb 11
    simulate(parse_scenario(data, "test"), tmp_path)
    lines = list(read_lines(tmp_path / "events.jsonl"))
    on_time = [raw for _, _, raw in sorted(
        (datetime.fromisoformat(json.loads(raw)["occurred_at"]).timestamp(), i, raw)
        for i, raw in enumerate(_delayed(lines, "none", 0.0)))]  # fmt: skip
    late = _delayed(lines, "note-draft", 3600.0)
    slow = MonitorConfig.model_validate({"features": {"note-draft": {"allowed_lateness": "2h"}}})
    expected = _replay(on_time, MonitorConfig())
    assert any(a.signal == "no_data" for a in expected[0])  # ticks matter in this stream
    got = _replay(late, slow)
    assert got[0] == expected[0] and got[1] == expected[1]
    assert got[2]["too_late"] == 0
    dropped = _replay(late, MonitorConfig())  # at the default allowance: too late
    assert dropped[2]["too_late"] > 1000
