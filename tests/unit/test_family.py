"""The scenario family: seeds unchanged, determinism, the drawn space, the oracle, the bench."""

from __future__ import annotations

import hashlib
import json
import math
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from bench.bench_family import report
from monitor.cli import app
from monitor.core.config import MonitorConfig
from monitor.core.records import Resolution
from monitor.core.signals import SIGNAL_SPECS
from monitor.evaluation.family_run import FanOutReplay, run_family_scenario
from monitor.evaluation.oracle import (
    ARL_DAYS,
    _bernoulli_atoms,
    build_oracle,
    markov_arl,
    markov_threshold,
)
from monitor.scoring import GRACE, truth_time
from monitor.simulate import load_scenario, parse_scenario, render
from monitor.simulate.family import CLASSES, draw_family, family_config, scenario_document

SEEDS = Path(__file__).resolve().parents[2] / "seeds"

# sha256 of events.jsonl and truth.json of every seed cut to 2 days, and at 2% of its
# volume over its 30 days (every degradation window), recorded before the family's
# simulator extensions: the extensions must not change a byte of them.
SEED_CUTS = {
    "config-break": ("0f05ba6ab3efea3fd6d1727e75e0c4d7d42e99d9ff1e9f87a190213fff05fa4c",
                     "ca38368227c5c8c6690f8e6a3faae7c8757b403dff1fdab5e91e90c7088b46c8"),
    "control": ("60c9be7a54fb375e7b8cf742cc1c2a9d44b2d5bd2d3f677a05c344de7cd19eed",
                "8fc83d0cd59e3a65f2bddbcfe57f315396b32517c7df35fe6595b8157291fc58"),
    "flag-spike": ("8073d7bacf9041ccc592fc496642441145c51fd4bd7bc3b095fa22d50f3681b3",
                   "11237fcae1f143b43490dc13b28262c8f5e73e1f46cd1e9ec1f70f14f9b71d75"),
    "gradual-decline": ("423e9e02d06c7de58d70375bea8d23579d75ecf13725500306b33943a7b252cb",
                        "7a559242bf321852926679ac82c422d30a9bd13bc13c7602a52c8fad3051959a"),
    "input-drift": ("8cc283d86c4d7174a7d94502af9341c30fe86051e902298f9e561c35ccd2cfb0",
                    "3fd15ec11a602f3aa2b07b211c61f3855d17795d438b8f168e0f4f67dc25a596"),
    "new-version-burden": ("4e6d740c97b6809d9fbbd0c73a6459188062f51d01b8bf70288998d3ef654e57",
                           "e593ddb70a24423250631f9f5a9bfffb475d5cbcff1e27eda720b338cbe4dced"),
    "score-shift": ("286a3435509f5d6226924187e214b549c4f9a365c174042029d245fb3aa6fe5a",
                    "93912b324d012ebde45ae41b7cc60427fd44394ed571a30ad5046f8a8a691ef5"),
    "silent-site": ("3dca0f4a141c5a734397d6cf24ea2b3abc846827c8517c8297832381ec2a9134",
                    "464ce70b66f6231eecd52fe50832f15fc80b428930c1cd83ecc6a1153565c0ea"),
}  # fmt: skip
SEED_SMALL = {
    "config-break": ("3ea26844b1f4188657009a92149e2ae96e45d7033be644f13d91aa95a997ac04",
                     "9cae127816d3c0c98a193ed51d383550bb891c7f5bf441af5602095bb43b0b4f"),
}  # fmt: skip


def _digests(spec) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    stream = render(spec)
    events = ("\n".join(stream.lines) + "\n").encode()
    truth = (json.dumps(stream.truth, indent=2) + "\n").encode()
    return hashlib.sha256(events).hexdigest(), hashlib.sha256(truth).hexdigest()


@pytest.mark.parametrize("name", sorted(SEED_CUTS))
def test_seed_streams_are_byte_identical(name: str) -> None:
    spec = load_scenario(SEEDS / f"{name}.yaml")
    assert _digests(spec.model_copy(update={"days": 2})) == SEED_CUTS[name]
    if name in SEED_SMALL:
        assert _digests(spec.model_copy(update={"volume_scale": 0.02})) == SEED_SMALL[name]


def test_small_seed_runs_cover_every_degradation_window() -> None:
    """At 2% volume every seed still runs its 30 days (the degradations' code paths) and
    gives the same bytes twice."""
    for path in sorted(SEEDS.glob("*.yaml")):
        spec = load_scenario(path).model_copy(update={"volume_scale": 0.02})
        assert _digests(spec) == _digests(spec)


# --- the family --------------------------------------------------------------------------


def test_family_is_deterministic_per_seed() -> None:
    a = scenario_document(draw_family(7))
    assert a == scenario_document(draw_family(7))
    assert a != scenario_document(draw_family(8))
    q = draw_family(7, quick=True)
    assert render(q).lines == render(draw_family(7, quick=True)).lines


def test_family_space_quick_and_full() -> None:
    classes = set()
    for seed in range(40):
        spec = draw_family(seed, quick=True)
        assert 5 <= spec.days <= 7 and 1 <= len(spec.features) <= 2
        assert all(3 <= len(f.sites) <= 5 for f in spec.features)
        labelled = [d for d in spec.degradations if d.label is not None]
        assert 1 <= len(labelled) <= 2
        classes |= {d.label for d in labelled}
        for d in labelled:
            onset = (d.start - spec.start).total_seconds() / 86400
            assert 0.5 <= onset <= spec.days - 2.5
            assert d.magnitude is not None and d.magnitude > 0
        assert not [d for d in draw_family(seed, quick=True, stationary=True).degradations
                    if d.label is not None]  # fmt: skip
    assert classes <= set(CLASSES) and len(classes) >= 8
    for seed in (1, 2, 3):
        spec = draw_family(seed)
        assert 14 <= spec.days <= 28 and 1 <= len(spec.features) <= 3
        assert all(3 <= len(f.sites) <= 40 for f in spec.features)
        assert spec.nuisance.suggestions_per_clinician is not None


def test_family_config_zone_has_the_scenario_offset() -> None:
    for seed in range(30):
        spec = draw_family(seed, quick=True)
        config = MonitorConfig(**family_config(spec))
        zone = ZoneInfo(config.timezone)
        offset = spec.nuisance.utc_offset_hours
        assert datetime(2026, 6, 1, tzinfo=zone).utcoffset().total_seconds() == offset * 3600
        assert config.holidays == spec.nuisance.holidays


def test_family_truth_entries_keep_their_shape_and_add_the_oracle() -> None:
    spec = draw_family(3, quick=True)
    truth = render(spec).truth
    assert truth["degradations"]
    for d in truth["degradations"]:
        assert {"id", "signals", "feature", "model_version", "site", "start", "end"} <= set(d)
        assert d["class"] in CLASSES and d["magnitude"] > 0
        assert d["oracle"]["model"] != "unsupported" and d["oracle"]["per_day"] > 0


def test_cli_writes_a_family_scenario_that_simulates_back(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "f"
    res = runner.invoke(app, ["simulate", "--family", "9", "--quick", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert {p.name for p in out.iterdir()} == {
        "events.jsonl", "truth.json", "scenario.yaml", "config.yaml"}  # fmt: skip
    again = tmp_path / "again"
    res = runner.invoke(app, ["simulate", str(out / "scenario.yaml"), "--out", str(again)])
    assert res.exit_code == 0, res.output
    for name in ("events.jsonl", "truth.json"):
        assert (out / name).read_bytes() == (again / name).read_bytes()
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    assert cfg["timezone"].startswith(("Etc/GMT", "UTC"))
    res = runner.invoke(app, ["simulate", "--out", str(tmp_path / "none")])
    assert res.exit_code == 2 and "--family" in res.output


# --- simulator extensions ----------------------------------------------------------------

BASE = {
    "name": "ext", "seed": 5, "start": "2026-01-05T00:00:00+00:00", "days": 3,
    "nuisance": {"enabled": False},
    "features": [{"name": "f", "daily_volume": 4000, "model_versions": ["v1"],
                  "sites": {"a": 1, "b": 1}, "no_response": 0.0,
                  "outcomes": {"accepted": .3, "edited": .3, "rejected": .2, "dismissed": .2}}],
}  # fmt: skip


def _sites(lines: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in lines:
        ev = json.loads(line)
        if ev.get("type") == "suggestion":
            counts[ev["site"]] = counts.get(ev["site"], 0) + 1
    return counts


def test_volume_loss_drops_that_fraction_and_leaves_the_rest() -> None:
    loss = {"id": "loss", "kind": "volume_loss", "feature": "f", "site": "a",
            "start": "2026-01-05T00:00:00+00:00", "fraction": 0.5}  # fmt: skip
    plain = render(parse_scenario(BASE))
    lossy = render(parse_scenario({**BASE, "degradations": [loss]}))
    before, after = _sites(plain.lines), _sites(lossy.lines)
    assert after["b"] == before["b"]
    assert after["a"] == pytest.approx(before["a"] / 2, rel=0.05)
    assert lossy.truth["degradations"][0]["signals"] == ["no_data"]


def test_site_offsets_and_subset_steps() -> None:
    data = json.loads(json.dumps(BASE))
    data["features"][0]["site_acceptance"] = {"a": -0.2}
    step = {"id": "s", "kind": "rate_shift", "feature": "f", "sites": ["b"], "delta": -0.3,
            "start": "2026-01-06T00:00:00+00:00"}  # fmt: skip
    stream = render(parse_scenario({**data, "degradations": [step]}))
    shown: dict[str, tuple[str, float]] = {}
    acc: dict[tuple[str, bool], list[int]] = {}
    for line in stream.lines:
        ev = json.loads(line)
        t = datetime.fromisoformat(ev["occurred_at"]).timestamp()
        if ev["type"] == "suggestion":
            shown[ev["suggestion_id"]] = (ev["site"], t)
        elif ev["type"] == "outcome":
            site, at = shown[ev["suggestion_id"]]
            after = at >= datetime.fromisoformat(step["start"]).timestamp()
            acc.setdefault((site, after), []).append(ev["outcome"] in ("accepted", "edited"))
    rate = {k: sum(v) / len(v) for k, v in acc.items()}
    assert rate["a", False] == pytest.approx(0.4, abs=0.03)  # 0.6 - 0.2
    assert rate["a", True] == pytest.approx(0.4, abs=0.03)  # the step is at b only
    assert rate["b", True] == pytest.approx(0.3, abs=0.03)  # 0.6 - 0.3
    entry = stream.truth["degradations"][0]
    assert entry["sites"] == ["b"] and "site_outlier" in entry["signals"]


# --- the oracle --------------------------------------------------------------------------


def _brute_arl(z: np.ndarray, p: np.ndarray, h: float, runs: int = 2000) -> float:
    """Mean run length of max(0, S + Z) to h, simulated (-inf resets)."""
    rng = np.random.default_rng(3)
    s = np.zeros(runs)
    n = np.zeros(runs)
    alive = np.ones(runs, dtype=bool)
    cdf = np.cumsum(p) / p.sum()
    while alive.any():
        inc = z[np.minimum(np.searchsorted(cdf, rng.random(runs)), z.size - 1)]
        s = np.where(np.isneginf(inc), 0.0, np.maximum(s + np.nan_to_num(inc, neginf=0), 0))
        n += alive
        alive &= s < h
    return float(n.mean())


@pytest.mark.parametrize(
    ("z", "p", "h"),
    [
        (*_bernoulli_atoms(np.array([0.8]), np.array([0.74]), np.array([1.0])), 2.0),
        (*_bernoulli_atoms(np.array([0.004]), np.array([0.012]), np.array([1.0])), 1.5),
        (np.array([0.5, 2.0, -np.inf, -np.inf]), np.array([0.3, 0.05, 0.2, 0.45]), 4.0),
    ],
    ids=["acceptance", "rare-flags", "silence"],
)
def test_markov_arl_matches_brute_force(z: np.ndarray, p: np.ndarray, h: float) -> None:
    assert markov_arl(z, p, h) == pytest.approx(_brute_arl(z, p, h), rel=0.08)


def test_markov_arl_exact_for_a_lattice_walk() -> None:
    """+-1 steps reflected at 0: E_0 = sum of D_k, D_0 = 1/q, D_k = (1 + (1-q) D_{k-1}) / q
    (first-step analysis), exact on a grid that holds the lattice."""
    q, h = 0.3, 5
    d, exact = 1 / q, 0.0
    for _ in range(h):
        exact += d
        d = (1 + (1 - q) * d) / q
    got = markov_arl(np.array([1.0, -1.0]), np.array([q, 1 - q]), float(h), states=500)
    assert got == pytest.approx(exact, rel=1e-6)


def test_threshold_reaches_its_arl() -> None:
    z, p = _bernoulli_atoms(np.array([0.3]), np.array([0.25]), np.array([1.0]))
    h = markov_threshold(z, p, 2000.0)
    assert markov_arl(z, p, h) >= 2000.0 > markov_arl(z, p, h * 0.9)


ORACLE_ONLY = {"tick_interval": 3600.0, "signals": {s: {"enabled": False} for s in SIGNAL_SPECS}}
"""Vitals switched off (and ticking hourly): the replay only feeds the oracles."""


def _oracles(seed: int) -> tuple[dict, list]:  # type: ignore[type-arg]
    truth = render(draw_family(seed, quick=True)).truth
    end = truth_time(truth["end"])
    built = [build_oracle(d, grace=GRACE, end=end) for d in truth["degradations"]]
    return truth, [o for o in built if o is not None]


def test_oracle_detects_a_large_step_and_stays_quiet_on_the_stationary_twin() -> None:
    # seed 10 (quick): acceptance -7.8 points at every site, ~430 decisions a day
    truth, oracles = _oracles(10)
    (entry,) = truth["degradations"]
    assert entry["class"] == "step_all" and entry["magnitude"] > 2.5
    twin = render(draw_family(10, quick=True, stationary=True))
    assert not twin.truth["degradations"]
    config = MonitorConfig(**family_config(draw_family(10, quick=True)), **ORACLE_ONLY)
    FanOutReplay(config, others={}, oracles=oracles).run(x.encode() for x in twin.lines)
    assert oracles[0].detected_at is None and oracles[0].false_alarms == 0
    assert oracles[0].observations > 1000
    _, oracles = _oracles(10)
    stream = render(draw_family(10, quick=True))
    FanOutReplay(config, others={}, oracles=oracles).run(x.encode() for x in stream.lines)
    onset = truth_time(entry["start"])
    assert oracles[0].detected_at is not None and onset < oracles[0].detected_at < onset + 86400
    # a CUSUM knowing both rates: at the threshold for 100 months of this series
    assert oracles[0].h == pytest.approx(
        markov_threshold(*_atoms(entry), entry["oracle"]["per_day"] * ARL_DAYS), rel=1e-6
    )


def _atoms(entry: dict) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[type-arg]
    cfg = entry["oracle"]
    sites = list(cfg["p0"])
    p0 = np.array([cfg["p0"][s][k] for s in sites for k in (0, 1)])
    p1 = np.array([cfg["p1"][s][k] for s in sites for k in (0, 1)])
    w = np.array([cfg["weights"][s][k] for s in sites for k in (0, 1)]) + 1e-12
    return _bernoulli_atoms(p0, p1, w)


def test_oracle_acceptance_table_matches_the_drawn_rates() -> None:
    """p0 per site and shift is what the stream shows before the change."""
    spec = draw_family(5, quick=True)
    stream = render(spec)
    entry = next(d for d in stream.truth["degradations"] if d["class"] == "step_all")
    cfg = entry["oracle"]
    onset = truth_time(entry["start"])
    got: dict[str, list[int]] = {}
    config = MonitorConfig(**family_config(spec), **ORACLE_ONLY)

    class Tap:
        model = "tap"

        def observe(self, item: object) -> None:
            if (
                isinstance(item, Resolution)
                and item.feature == entry["feature"]
                and item.status != "expired"
                and item.at < onset
            ):
                got.setdefault(item.site, []).append(item.status in ("accepted", "edited"))

    FanOutReplay(config, others={}, oracles=[Tap()]).run(x.encode() for x in stream.lines)  # type: ignore[list-item]
    for site, xs in got.items():
        on, off = cfg["p0"][site]
        w_on, w_off = cfg["weights"][site]
        expected = (on * w_on + off * w_off) / (w_on + w_off)
        se = math.sqrt(expected * (1 - expected) / len(xs))
        assert abs(sum(xs) / len(xs) - expected) < 4 * se + 0.02, site


# --- the bench, end to end (quick) --------------------------------------------------------


def test_bench_runs_quick_scenarios_end_to_end() -> None:
    runs = [
        run_family_scenario(10, quick=True),
        run_family_scenario(10, quick=True, stationary=True, adwin=False),
    ]
    degraded, stationary = runs
    (rec,) = degraded["degradations"]
    assert rec["oracle_hours"] is not None and 0 < rec["oracle_hours"] < 24
    assert degraded["series"] > 0 and degraded["series_months"] > 0
    assert degraded["adwin_false_alarms"] is not None
    assert not stationary["degradations"] and stationary["adwin_false_alarms"] is None
    text = "\n".join(report(runs, adwin=False))
    assert "step_all" in text and "(a)" in text and "false alarms per 100 series-months" in text


def test_gaussian_oracle_threshold_meets_its_arl_by_simulation() -> None:
    """Siegmund's threshold for the mean-shift LLR (burden, decision time): the simulated
    in-control ARL is near the target (the approximation is good for Gaussian steps)."""
    from monitor.core.detectors.base import cusum_threshold

    mu0, mu1, sd = 0.0, 0.5, 1.0
    delta = mu1 - mu0
    h = cusum_threshold(-(delta**2) / (2 * sd * sd), delta / sd, 400.0)
    rng = np.random.default_rng(11)
    runs, s = 4000, np.zeros(4000)
    n, alive = np.zeros(runs), np.ones(runs, dtype=bool)
    while alive.any():
        x = rng.normal(mu0, sd, runs)
        s = np.maximum(s + delta / sd**2 * (x - mu0 - delta / 2), 0.0)
        n += alive
        alive &= s < h
    assert n.mean() == pytest.approx(400.0, rel=0.12)


@pytest.mark.parametrize("fraction", [1.0, 0.5])
def test_count_oracle_threshold_holds_for_diurnal_order(fraction: float) -> None:
    """The Poisson oracle's threshold treats 15-minute buckets as i.i.d. draws from the
    day's mix; the real buckets come in diurnal order. Simulated in that order, the ARL
    is still near its target (a clinic of 40 suggestions a day)."""
    from monitor.simulate.spec import DEFAULT_HOURLY_PROFILE

    profile = np.repeat(np.array(DEFAULT_HOURLY_PROFILE) / sum(DEFAULT_HOURLY_PROFILE), 4)
    lam = 40.0 * profile / 4
    if fraction == 1.0:
        z = np.concatenate([lam, np.full(lam.size, -np.inf)])
        p = np.concatenate([np.exp(-lam), 1 - np.exp(-lam)]) / lam.size
    else:
        n = np.arange(30)
        logfact = np.array([math.lgamma(k + 1) for k in n])
        z = np.concatenate([n * math.log(1 - fraction) + fraction * x for x in lam])
        p = np.concatenate([np.exp(n * math.log(x) - x - logfact) for x in lam]) / lam.size
    target = 96 * 20.0
    h = markov_threshold(z, p, target)
    rng = np.random.default_rng(1)
    runs = 2000
    s, steps, alive, t = np.zeros(runs), np.zeros(runs), np.ones(runs, dtype=bool), 0
    while alive.any():
        x = lam[t % lam.size]
        count = rng.poisson(x, runs)
        if fraction == 1.0:
            s = np.where(count > 0, 0.0, s + x)
        else:
            s = np.maximum(s + count * math.log(1 - fraction) + fraction * x, 0.0)
        t += 1
        steps += alive
        alive &= s < h
    assert steps.mean() == pytest.approx(target, rel=0.12)


@pytest.mark.parametrize(
    ("kind", "change", "signal"),
    [
        ("burden_shift", {"correction_burden": {"mean": 0.25, "concentration": 15}},
         "correction_burden"),
        ("decision_time_shift", {"decision_time": {"median": 90, "sigma": 0.8}},
         "decision_time"),
    ],
)  # fmt: skip
def test_new_step_kinds_shift_their_signal_and_the_oracle_sees_them(
    kind: str, change: dict, signal: str
) -> None:
    data = json.loads(json.dumps(BASE))
    data["features"][0].update(
        draft_length={"median": 400, "sigma": 0.4},
        correction_burden={"mean": 0.1, "concentration": 15},
        decision_time={"median": 60, "sigma": 0.8},
        daily_volume=1500,
    )
    step = {"id": "x", "kind": kind, "feature": "f", "start": "2026-01-06T12:00:00+00:00",
            "class": "probe", "magnitude": 1.0, **change}  # fmt: skip
    spec = parse_scenario({**data, "degradations": [step]})
    truth = render(spec).truth
    (entry,) = truth["degradations"]
    assert entry["signals"] == [signal] and entry["oracle"]["model"] == "gaussian"
    oracle = build_oracle(entry, grace=GRACE, end=truth_time(truth["end"]))
    assert oracle is not None
    stream = render(spec)
    FanOutReplay(MonitorConfig(**ORACLE_ONLY), others={}, oracles=[oracle]).run(
        x.encode() for x in stream.lines
    )
    onset = truth_time(entry["start"])
    assert oracle.false_alarms == 0
    assert oracle.detected_at is not None and onset < oracle.detected_at < onset + 6 * 3600


def test_merged_increments_keep_resets() -> None:
    """Thousands of bucket types are merged on a fine grid: a silence's resets (-inf)
    must stay resets there (the ARL is the one of the unmerged chain)."""
    rng = np.random.default_rng(2)
    lam = np.tile(np.linspace(0.01, 2.0, 96), 40) * rng.uniform(0.8, 1.2, 96 * 40)
    z = np.concatenate([lam, np.full(lam.size, -np.inf)])
    p = np.concatenate([np.exp(-lam), 1 - np.exp(-lam)]) / lam.size
    assert z.size > 4 * 600
    small = lam[::40][:96]  # few types: not merged
    zs = np.concatenate([small, np.full(small.size, -np.inf)])
    ps = np.concatenate([np.exp(-small), 1 - np.exp(-small)]) / small.size
    h = markov_threshold(z, p, 1e5)
    assert 5 < h < 30
    assert markov_arl(z, p, 8.0) == pytest.approx(markov_arl(zs, ps, 8.0), rel=0.15)
