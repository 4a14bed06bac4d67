"""Scenario simulator: determinism, contract validity, nuisance and injected degradations."""

from __future__ import annotations

import copy
import json
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from monitor.core.contract import InvalidEvent, parse_event
from monitor.core.signals import SIGNAL_NAMES
from monitor.simulate import (
    ScenarioError,
    iter_events,
    load_scenario,
    parse_scenario,
    render,
    simulate,
)

SEEDS = Path(__file__).resolve().parents[2] / "seeds"
START = datetime.fromisoformat("2026-01-05T00:00:00+00:00")  # a Monday
DAY = 86400.0

FEATURE: dict[str, Any] = {
    "name": "inbasket-reply",
    "daily_volume": 6000,
    "model_versions": {"reply-2.0": 1.0},
    "sites": {"site-a": 1.0, "site-b": 1.0},
    "outcomes": {"accepted": 0.30, "edited": 0.30, "rejected": 0.15, "dismissed": 0.25},
    "no_response": 0.08,
    "decision_time": {"median": 45, "sigma": 0.8},
    "draft_length": {"median": 400, "sigma": 0.4},
    "correction_burden": {"mean": 0.12, "concentration": 15},
    "score": {"a": 5, "b": 3},
    "flag_probability": 0.01,
    "inputs": {
        "message-length": {"kind": "lognormal", "median": 300, "sigma": 0.5, "decimals": 0},
        "category": {"kind": "categorical", "values": {"refill": 0.6, "results": 0.4}},
    },
}


def scenario(degradations: list[dict] | None = None, **overrides: Any) -> dict[str, Any]:
    """A four-weekday, two-site scenario as a plain dict (tests tweak it)."""
    data: dict[str, Any] = {
        "name": "unit",
        "seed": 11,
        "start": START.isoformat(),
        "days": 4,
        "features": [copy.deepcopy(FEATURE)],
        "degradations": degradations or [],
    }
    data.update(overrides)
    return data


def resolve(spec_data: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Render a scenario and join its valid events into one record per suggestion."""
    stream = render(parse_scenario(spec_data))
    bad = set(stream.truth["malformed_lines"])
    rows: dict[str, dict[str, Any]] = {}
    seen: set[str] = set()
    for number, line in enumerate(stream.lines, start=1):
        if number in bad:
            continue
        ev = json.loads(line)
        if ev["event_id"] in seen:
            continue
        seen.add(ev["event_id"])
        at = (datetime.fromisoformat(ev["occurred_at"]) - START).total_seconds()
        row = rows.setdefault(ev["suggestion_id"], {"outcome": None, "flagged": False})
        if ev["type"] == "suggestion":
            row.update(ev, t=at)
        elif ev["type"] == "outcome":
            row.update(outcome=ev["outcome"], t_out=at, final=ev.get("final_length"))
            row["edit_distance"] = ev.get("edit_distance")
        else:
            row["flagged"] = True
    return [r for r in rows.values() if "t" in r], stream.truth


def acceptance(rows: list[dict[str, Any]]) -> float:
    decided = [r for r in rows if r["outcome"] is not None]
    return sum(r["outcome"] in ("accepted", "edited") for r in decided) / len(decided)


def select(rows: list[dict[str, Any]], lo: float, hi: float, **match: str) -> list[dict]:
    return [
        r
        for r in rows
        if lo * DAY <= r["t"] < hi * DAY and all(r[k] == v for k, v in match.items())
    ]


def at(day: float) -> str:
    return datetime.fromtimestamp(START.timestamp() + day * DAY, START.tzinfo).isoformat()


# --- seeds ---------------------------------------------------------------------------------


SEED_FILES = sorted(SEEDS.glob("*.yaml"))


def test_seed_directory_is_complete() -> None:
    names = {p.stem for p in SEED_FILES}
    assert names >= {
        "control",
        "config-break",
        "new-version-burden",
        "score-shift",
        "input-drift",
        "flag-spike",
        "gradual-decline",
        "silent-site",
    }
    assert (SEEDS / "README.md").is_file()


@pytest.mark.parametrize("path", SEED_FILES, ids=lambda p: p.stem)
def test_seed_scenarios_load_and_run_small(path: Path) -> None:
    spec = load_scenario(path)
    assert spec.name == path.stem
    assert spec.days == 30 and 2 <= len(spec.features) <= 3
    assert (spec.name == "control") == (not spec.degradations)
    small = spec.model_copy(update={"volume_scale": 0.01})
    stream = render(small)
    assert stream.truth["suggestions"] > 500
    for d in stream.truth["degradations"]:
        assert set(d["signals"]) <= set(SIGNAL_NAMES) and d["signals"]


def test_sample_stream_is_current(tmp_path: Path) -> None:
    """seeds/sample/ is exactly what its scenario generates (regenerate it if this fails)."""
    simulate(load_scenario(SEEDS / "sample" / "scenario.yaml"), tmp_path)
    for name in ("events.jsonl", "truth.json"):
        assert (tmp_path / name).read_bytes() == (SEEDS / "sample" / name).read_bytes(), name


# --- output ----------------------------------------------------------------------------------


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    spec = parse_scenario(scenario(days=1))
    a = simulate(spec, tmp_path / "a")
    b = simulate(spec, tmp_path / "b")
    assert a.events_path.read_bytes() == b.events_path.read_bytes()
    assert a.truth_path.read_bytes() == b.truth_path.read_bytes()
    other = simulate(parse_scenario(scenario(days=1, seed=12)), tmp_path / "c")
    assert other.events_path.read_bytes() != a.events_path.read_bytes()


def test_every_line_parses_except_the_listed_malformed_ones(tmp_path: Path) -> None:
    result = simulate(parse_scenario(scenario(days=2)), tmp_path)
    truth = json.loads(result.truth_path.read_text())
    failing, reasons = [], Counter()
    lines = result.events_path.read_bytes().splitlines()
    for number, line in enumerate(lines, start=1):
        try:
            parse_event(line)
        except InvalidEvent as exc:
            failing.append(number)
            reasons[exc.reason] += 1
    assert failing == truth["malformed_lines"]
    assert len(failing) >= 3
    assert result.lines == len(lines) == truth["events"] + len(failing)
    assert reasons["contract_violation"] + reasons["invalid_json"] >= 2


def test_truth_document_shape() -> None:
    data = scenario(
        [{"id": "a-drop", "kind": "rate_shift", "feature": "inbasket-reply", "site": "site-a",
          "start": at(2), "delta": -0.1}]
    )  # fmt: skip
    _, truth = resolve(data)
    assert truth["scenario"] == "unit"
    assert truth["start"] == "2026-01-05T00:00:00Z" and truth["end"] == "2026-01-09T00:00:00Z"
    (d,) = truth["degradations"]
    assert d["signals"] == ["acceptance_rate", "site_outlier"]
    assert (d["feature"], d["model_version"], d["site"]) == ("inbasket-reply", "*", "site-a")
    assert d["start"] == "2026-01-07T00:00:00Z" and d["end"] is None
    assert d["description"] and d["params"] == {"delta": -0.1}


def test_duplicates_are_identical_resends_within_the_window() -> None:
    stream = render(parse_scenario(scenario(days=3)))
    bad = set(stream.truth["malformed_lines"])
    first: dict[str, str] = {}
    dups = 0
    for number, line in enumerate(stream.lines, start=1):
        if number in bad:
            continue
        ev_id = json.loads(line)["event_id"]
        if ev_id in first:
            assert first[ev_id] == line
            dups += 1
        first.setdefault(ev_id, line)
    assert dups == stream.truth["duplicates"]
    assert 0.003 < dups / len(first) < 0.007


def test_file_is_roughly_event_time_ordered_and_causal() -> None:
    stream = render(parse_scenario(scenario(days=2)))
    bad = set(stream.truth["malformed_lines"])
    seen: set[str] = set()
    shown: set[str] = set()
    latest = -np.inf
    worst = 0.0
    for number, line in enumerate(stream.lines, start=1):
        if number in bad:
            continue
        ev = json.loads(line)
        if ev["event_id"] in seen:
            continue
        seen.add(ev["event_id"])
        t = datetime.fromisoformat(ev["occurred_at"]).timestamp()
        worst = max(worst, latest - t)
        latest = max(latest, t)
        if ev["type"] == "suggestion":
            shown.add(ev["suggestion_id"])
        else:
            assert ev["suggestion_id"] in shown  # follow-ups never precede their suggestion
    assert 30 < worst <= 300  # late arrival exists, bounded by the jitter


def test_diurnal_and_weekend_volume() -> None:
    rows, _ = resolve(scenario(days=7))
    hours = Counter(int(r["t"] // 3600) % 24 for r in rows)
    assert hours[10] > 5 * hours[3]
    per_day = Counter(int(r["t"] // DAY) for r in rows)
    weekday = np.mean([per_day[d] for d in range(5)])
    weekend = np.mean([per_day[d] for d in (5, 6)])
    assert weekend < 0.6 * weekday


def test_off_shift_clinicians_accept_less() -> None:
    rows, _ = resolve(scenario(days=7, seed=3))

    def off_shift(r: dict[str, Any]) -> bool:
        hour = (r["t"] // 3600) % 24
        return hour < 7 or hour >= 19 or r["t"] >= 5 * DAY  # nights and the weekend

    off = [r for r in rows if off_shift(r)]
    day = [r for r in rows if not off_shift(r)]
    gap = acceptance(day) - acceptance(off)
    assert 0.015 < gap < 0.09


def test_nuisance_can_be_disabled() -> None:
    rows, truth = resolve(scenario(days=2, nuisance={"enabled": False}))
    assert truth["duplicates"] == 0 and truth["malformed_lines"] == []
    hours = Counter(int(r["t"] // 3600) % 24 for r in rows)
    assert hours[3] > 0.7 * hours[10]


# --- degradations ----------------------------------------------------------------------------


def test_rate_shift_drops_acceptance_at_one_site() -> None:
    rows, _ = resolve(
        scenario([{"id": "break", "kind": "rate_shift", "feature": "inbasket-reply",
                   "site": "site-a", "start": at(2), "delta": -0.12}])
    )  # fmt: skip
    drop_a = acceptance(select(rows, 0, 2, site="site-a")) - acceptance(
        select(rows, 2, 4, site="site-a")
    )
    drop_b = acceptance(select(rows, 0, 2, site="site-b")) - acceptance(
        select(rows, 2, 4, site="site-b")
    )
    assert drop_a == pytest.approx(0.12, abs=0.035)
    assert abs(drop_b) < 0.035


def test_gradual_decline_ramps_then_holds() -> None:
    rows, _ = resolve(
        scenario([{"id": "erode", "kind": "gradual", "feature": "inbasket-reply",
                   "start": at(1), "over_days": 2, "delta": -0.10}], days=4)
    )  # fmt: skip
    before = acceptance(select(rows, 0, 1))
    middle = select(rows, 1.5, 2.5)  # a whole diurnal cycle, like `before`
    ramp = np.mean([min(max((r["t"] - DAY) / (2 * DAY), 0.0), 1.0) for r in middle])
    after = acceptance(select(rows, 3, 4))
    assert before - after == pytest.approx(0.10, abs=0.03)
    assert before - acceptance(middle) == pytest.approx(0.10 * ramp, abs=0.03)
    assert 0.4 < ramp < 0.6


def test_new_version_rolls_out_in_phases_with_higher_burden() -> None:
    rows, truth = resolve(
        scenario([{"id": "v3", "kind": "new_version", "feature": "inbasket-reply",
                   "model_version": "reply-3.0", "replaces": "reply-2.0",
                   "phases": [{"at": at(1), "traffic": 0.3, "sites": ["site-a"]},
                              {"at": at(2.5), "traffic": 1.0}],
                   "correction_burden": {"mean": 0.22, "concentration": 12}}])
    )  # fmt: skip
    new = [r for r in rows if r["model_version"] == "reply-3.0"]
    assert min(r["t"] for r in new) >= DAY
    phase1 = select(rows, 1, 2.5)
    assert {r["site"] for r in phase1 if r["model_version"] == "reply-3.0"} == {"site-a"}
    share = np.mean([r["model_version"] == "reply-3.0" for r in phase1 if r["site"] == "site-a"])
    assert share == pytest.approx(0.3, abs=0.04)
    assert all(r["model_version"] == "reply-3.0" for r in select(rows, 2.5, 4))

    def burden(version: str) -> float:
        edited = [r for r in rows if r["model_version"] == version and r["outcome"] == "edited"]
        return float(
            np.mean([r["edit_distance"] / max(r["draft_length"], r["final"], 1) for r in edited])
        )

    assert burden("reply-2.0") == pytest.approx(0.12, abs=0.01)
    assert burden("reply-3.0") == pytest.approx(0.22, abs=0.01)
    (d,) = truth["degradations"]
    assert d["model_version"] == "reply-3.0" and d["replaces"] == "reply-2.0"
    assert d["signals"] == ["correction_burden"] and d["start"] == "2026-01-06T00:00:00Z"


def test_score_shift_moves_the_score_distribution() -> None:
    rows, truth = resolve(
        scenario([{"id": "cal", "kind": "score_shift", "feature": "inbasket-reply",
                   "start": at(2), "score": {"a": 3, "b": 3}}])
    )  # fmt: skip
    assert np.mean([r["score"] for r in select(rows, 0, 2)]) == pytest.approx(5 / 8, abs=0.01)
    assert np.mean([r["score"] for r in select(rows, 2, 4)]) == pytest.approx(0.5, abs=0.01)
    assert truth["degradations"][0]["signals"] == ["score_drift"]


def test_input_drift_changes_one_input_at_one_site() -> None:
    rows, truth = resolve(
        scenario([{"id": "tpl", "kind": "input_drift", "feature": "inbasket-reply",
                   "site": "site-b", "input": "message-length", "start": at(2),
                   "distribution": {"kind": "lognormal", "median": 600, "sigma": 0.5}}])
    )  # fmt: skip

    def median(lo: float, hi: float, site: str) -> float:
        return float(
            np.median([r["inputs"]["message-length"] for r in select(rows, lo, hi, site=site)])
        )

    assert median(0, 2, "site-b") == pytest.approx(300, rel=0.06)
    assert median(2, 4, "site-b") == pytest.approx(600, rel=0.06)
    assert median(2, 4, "site-a") == pytest.approx(300, rel=0.06)
    d = truth["degradations"][0]
    assert d["input"] == "message-length" and d["signals"] == ["input_drift"]


def test_flag_spike_raises_flags_inside_its_window() -> None:
    rows, _ = resolve(
        scenario([{"id": "flags", "kind": "flag_spike", "feature": "inbasket-reply",
                   "start": at(1), "end": at(2), "flag_probability": 0.04}])
    )  # fmt: skip

    def rate(lo: float, hi: float) -> float:
        return float(np.mean([r["flagged"] for r in select(rows, lo, hi)]))

    assert rate(0, 1) == pytest.approx(0.01, abs=0.004)
    assert rate(1.05, 1.95) == pytest.approx(0.04, abs=0.008)
    assert rate(2.2, 3.8) == pytest.approx(0.01, abs=0.004)


def test_silence_stops_a_site_for_a_window_and_for_good() -> None:
    rows, truth = resolve(
        scenario([{"id": "gap", "kind": "silence", "feature": "inbasket-reply",
                   "site": "site-a", "start": at(1.4), "end": at(1.6)},
                  {"id": "gone", "kind": "silence", "feature": "inbasket-reply",
                   "site": "site-b", "start": at(3)}])
    )  # fmt: skip
    assert not select(rows, 1.4, 1.6, site="site-a")
    assert select(rows, 1.6, 1.7, site="site-a") and select(rows, 1.4, 1.6, site="site-b")
    assert not select(rows, 3, 4, site="site-b") and select(rows, 2.9, 3, site="site-b")
    assert [d["signals"] for d in truth["degradations"]] == [["no_data"], ["no_data"]]


def test_response_drop_lowers_the_response_rate() -> None:
    rows, _ = resolve(
        scenario([{"id": "ignored", "kind": "response_drop", "feature": "inbasket-reply",
                   "start": at(2), "no_response": 0.3}])
    )  # fmt: skip
    before = np.mean([r["outcome"] is not None for r in select(rows, 0, 2)])
    after = np.mean([r["outcome"] is not None for r in select(rows, 2, 3.9)])
    assert before == pytest.approx(0.92, abs=0.015)
    assert after == pytest.approx(0.70, abs=0.02)


def test_iter_events_yields_valid_events_only() -> None:
    spec = parse_scenario(scenario(days=0.5))
    events = list(iter_events(spec))
    assert events and all(e["schema_version"] == 1 for e in events)
    assert len(events) == render(spec).truth["events"]


# --- spec validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d.update(sed=3), "sed: Extra inputs are not permitted"),
        (lambda d: d["features"][0].update(colour="red"), "features.0.colour"),
        (lambda d: d["features"][0]["outcomes"].update(accepted=0.9), "features.0.outcomes"),
        (lambda d: d["features"][0]["sites"].update({"Site C": 1}), "features.0.sites"),
        (lambda d: d.update(start="2026-01-05T00:00:00"), "start"),
        (
            lambda d: d["degradations"].append(
                {"id": "x", "kind": "rate_shift", "feature": "inbasket-reply",
                 "site": "nowhere", "start": at(1), "delta": -0.1}
            ),
            "degradations.0.site",
        ),
        (
            lambda d: d["degradations"].append(
                {"id": "x", "kind": "rate_shift", "feature": "inbasket-reply",
                 "start": at(1), "delta": "lots"}
            ),
            "degradations.0.rate_shift.delta",
        ),
        (
            lambda d: d["degradations"].append(
                {"id": "x", "kind": "input_drift", "feature": "inbasket-reply", "input": "age",
                 "start": at(1), "distribution": {"kind": "normal", "mean": 1, "sd": 1}}
            ),
            "degradations.0.input",
        ),
        (
            lambda d: d["degradations"].append(
                {"id": "x", "kind": "melt", "feature": "inbasket-reply", "start": at(1)}
            ),
            "degradations.0",
        ),
    ],
)  # fmt: skip
def test_spec_errors_name_the_field(mutate: Any, expected: str) -> None:
    data = scenario()
    mutate(data)
    with pytest.raises(ScenarioError) as info:
        parse_scenario(data, "bad.yaml")
    assert expected in str(info.value)
    assert str(info.value).startswith("bad.yaml: invalid scenario")


def test_load_scenario_reports_yaml_errors(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: [unclosed\n")
    with pytest.raises(ScenarioError, match="not valid YAML"):
        load_scenario(path)
