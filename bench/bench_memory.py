"""Memory per series at 10,000 series (target <= 20 KB per series).

Run: ``.venv/bin/python bench/bench_memory.py [--series 10000] [--seed config-break] [--days 8]``.

1. Simulate the first ``--days`` of a seed scenario and replay it, so every detector of
   every series is past its warm-up (the state a long-running worker holds: armed CUSUMs,
   frozen baseline histograms, per-input drift detectors, silence profiles).
2. Take the exported state of each role (exact, per version, per site, per feature) as a
   template and restore ``--series`` series from them under distinct keys, in the mix of
   roles a deployment of that size has (the rollups of a feature x version x site grid),
   through ``SeriesState.from_state``: the path the worker takes after a restart.
3. Feed every series one more resolution (so lazily built parts exist), then measure
   the Python heap held by the Assessor with ``tracemalloc`` (allocations made while
   building it, still alive) and the RSS growth, each divided by the series count.

The baseline in the same run is an Assessor with the same number of *empty* series
(keys and counters, no detectors): the ratio says what the detectors cost on top.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.core.assessor import Assessor
from monitor.core.records import ALL, Resolution, SeriesKey
from monitor.core.series import SeriesState
from monitor.replay import replay_file
from monitor.simulate import load_scenario, simulate

ROOT = Path(__file__).resolve().parents[1]


def templates(seed: str, days: int) -> tuple[dict[str, dict], dict[str, int]]:
    """Largest exported state per role after replaying ``days`` of a seed scenario."""
    spec = load_scenario(ROOT / "seeds" / f"{seed}.yaml").model_copy(update={"days": days})
    with tempfile.TemporaryDirectory() as tmp:
        simulate(spec, Path(tmp))
        engine, result = replay_file(Path(tmp) / "events.jsonl")
    best: dict[str, tuple[int, dict]] = {}
    sizes: dict[str, int] = {}
    for key, blob in engine.assessor.export().items():
        state = json.loads(blob)
        role = engine.assessor.series[key].role
        armed = sum(1 for d in state["x"].values() if d is not None)
        if role not in best or armed > best[role][0]:
            best[role] = (armed, state)
            sizes[role] = len(blob)
    print(f"{seed}, {days} days: {result.events:,} events, {len(engine.assessor.series)} series")
    return {role: s for role, (_, s) in best.items()}, sizes


def grid(n: int) -> list[SeriesKey]:
    """Series keys of a feature x version x site grid, rollups included, >= n keys."""
    keys: list[SeriesKey] = []
    f = 0
    while len(keys) < n:
        feature = f"feature-{f}"
        for v in range(4):
            for s in range(400):
                keys.append(SeriesKey(feature, f"v{v}", f"site-{s}"))
            keys.append(SeriesKey(feature, f"v{v}", ALL))
        keys += [SeriesKey(feature, ALL, f"site-{s}") for s in range(400)]
        keys.append(SeriesKey(feature, ALL, ALL))
        f += 1
    return keys[:n]


def build(keys: list[SeriesKey], tmpl: dict[str, dict] | None) -> Assessor:
    assessor = Assessor()
    for key in keys:
        if tmpl is None:
            state = SeriesState(key)
        else:
            t = dict(tmpl[SeriesState(key).role])
            t["k"] = list(key)
            state = SeriesState.from_state(t)
        assessor.series[str(key)] = state
    return assessor


def touch(assessor: Assessor, at: float) -> None:
    """One more resolution per series (applied directly to its state)."""
    for state in assessor.series.values():
        k = state.key
        res = Resolution(
            "s", k.feature, "v0" if k.model_version == ALL else k.model_version,
            "site-0" if k.site == ALL else k.site, "ambulatory", at - 60.0, at,
            "edited", 60.0, 0.1, 0.7, None,
        )  # fmt: skip
        state.observe(res, assessor._factory)


def rss() -> int:
    """Current resident set size in bytes (Linux)."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize()


def measure(keys: list[SeriesKey], tmpl: dict[str, dict] | None, at: float) -> tuple[float, float]:
    """(tracemalloc bytes, RSS growth bytes) held by an Assessor over ``keys``; RSS is
    measured in a separate pass without tracemalloc (its bookkeeping is resident too)."""
    out = []
    for traced in (False, True):
        gc.collect()
        rss0 = rss()
        if traced:
            tracemalloc.start()
        assessor = build(keys, tmpl)
        if tmpl is not None:
            touch(assessor, at)
        gc.collect()
        if traced:
            out.append(tracemalloc.get_traced_memory()[0])
            tracemalloc.stop()
        else:
            out.append(rss() - rss0)
        assert len(assessor.series) == len(keys)
        del assessor
    return out[1], out[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", type=int, default=10_000)
    ap.add_argument("--seed", default="config-break")
    ap.add_argument("--days", type=int, default=8)
    args = ap.parse_args()
    t0 = time.perf_counter()
    tmpl, sizes = templates(args.seed, args.days)
    at = max(s["t"] or 0.0 for s in tmpl.values()) + 3600.0
    for role, state in sorted(tmpl.items()):
        slots = [k for k, v in state["x"].items() if v is not None]
        print(f"  template {role:<8} {len(slots):>2} detectors, checkpoint {sizes[role]:>6} B")
    keys = grid(args.series)
    mix = Counter(SeriesState(k).role for k in keys)
    print(f"{len(keys):,} series: " + ", ".join(f"{n} {r}" for r, n in sorted(mix.items())))
    empty, _ = measure(keys, None, at)
    full, rss = measure(keys, tmpl, at)
    n = len(keys)
    print()
    print(f"empty series (baseline):  {empty / n / 1024:6.2f} KB/series")
    print(f"armed series (tracemalloc): {full / n / 1024:6.2f} KB/series "
          f"(ratio to empty {full / empty:.1f}x)")  # fmt: skip
    print(f"armed series (RSS growth):  {rss / n / 1024:6.2f} KB/series")
    kb = max(full, rss) / n / 1024
    print(f"\nper series {kb:.2f} KB (target <= 20 KB) {'OK' if kb <= 20 else 'MISSED'}")
    print(f"runtime {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
