"""The scenario family: Vitals against river ADWIN and an oracle CUSUM on held-out seeds.

Run: ``.venv/bin/python bench/bench_family.py --set holdout -j 2 [--json out.json]``
(``--set train`` to tune on; ``--quick`` for small scenarios; ``--config cand.yaml`` to
score a tuning candidate, merged over each scenario's own config; ``--seeds 1,2`` for
given degradation seeds; ``--no-adwin`` to skip the yardstick).

Each scenario is drawn by :func:`monitor.simulate.family.draw_family` from its seed and
run once through :func:`monitor.evaluation.family_run.run_family_scenario` (one parse
and resolve pass feeding Vitals with the scenario's config, river ADWIN at defaults per
series and signal, and one oracle CUSUM per degradation; see
:mod:`monitor.evaluation.oracle`). The printout, per class of degradation: count,
Vitals' detection rate, its rate among those the oracle detects, its median and p90
delay; ADWIN's rate and delays; the oracle's rate and median delay. Then false alarms
per 100 series-months, on the degradation runs and on the stationary runs; the three
targets of issue 14 as pass/fail lines; and every Vitals miss the oracle detected.

The baseline of this bench is the oracle itself (same run, same observations): the
figures are rates and delays against it and against ADWIN, not timings.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # -j processes, not BLAS threads

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.core.records import SeriesKey
from monitor.core.signals import role
from monitor.evaluation.family_run import run_family_scenario
from monitor.simulate.family import CLASSES

TRAIN = tuple(range(1001, 1017))
"""Degradation scenarios to tune on."""
TRAIN_STATIONARY = tuple(range(5001, 5005))
HOLDOUT = tuple(range(2001, 2017))
"""Degradation scenarios to report on: never tune on these."""
HOLDOUT_STATIONARY = tuple(range(6001, 6005))
QUICK = (11, 12, 13, 14, 15, 16)
QUICK_STATIONARY = (21, 22)


ORACLE_NOTES = (
    "oracle: exact LLR CUSUM for acceptance, flags, responses, scores, inputs and counts;",
    "  approximate where noted: burden is Gaussian on a zero-inflated Beta mixture; a",
    "  gradual change is tested at its full effect; discrete thresholds (Markov chain)",
    "  treat observation types as i.i.d. in their true mix (monitor/evaluation/oracle.py)",
)


def _job(args: tuple[int, bool, bool, dict[str, Any] | None, bool]) -> dict[str, Any]:
    seed, stationary, quick, overlay, adwin = args
    return run_family_scenario(
        seed, stationary=stationary, quick=quick, overlay=overlay, adwin=adwin
    )


def run_all(
    jobs: list[tuple[int, bool, bool, dict[str, Any] | None, bool]],
    workers: int,
    partial: Path | None = None,
) -> list[dict[str, Any]]:
    """Every job's result, in job order (``workers`` processes). Each scenario prints a
    line to stderr when it is done and, with ``partial``, the results so far are written
    there (a long run on a busy machine keeps what it finished)."""
    results: dict[int, dict[str, Any]] = {}

    def done(i: int, r: dict[str, Any]) -> None:
        results[i] = r
        print(f"[{len(results)}/{len(jobs)}] {r['name']}: {r['lines']:,} lines, "
              f"{r['cpu_seconds']:.0f} CPU-s", file=sys.stderr, flush=True)  # fmt: skip
        if partial is not None:
            partial.write_text(json.dumps([results[k] for k in sorted(results)]) + "\n")

    if workers <= 1:
        for i, j in enumerate(jobs):
            done(i, _job(j))
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(_job, j): i for i, j in enumerate(jobs)}
            for fut in as_completed(futures):
                done(futures[fut], fut.result())
    return [results[i] for i in range(len(jobs))]


def _hours(values: list[float | None], q: float) -> str:
    got = [v for v in values if v is not None]
    return "-" if not got else f"{float(np.percentile(got, q)):.1f}"


def _rate(k: int, n: int) -> str:
    return "-" if n == 0 else f"{k}/{n} {100 * k / n:.0f}%"


def _median_inf(values: list[float | None]) -> float:
    return float(np.median([math.inf if v is None else v for v in values]))


def fa_per_100(runs: list[dict[str, Any]], key: str) -> tuple[int, float, float]:
    """(false alarms, series-months, false alarms per 100 series-months)."""
    fa = sum(r[key] or 0 for r in runs)
    months = sum(r["series_months"] for r in runs)
    return fa, months, 100 * fa / months if months else math.nan


def report(runs: list[dict[str, Any]], adwin: bool) -> list[str]:
    """The printout (lines): per class, false alarms, targets, misses."""
    out: list[str] = []
    recs = [d for r in runs if not r["stationary"] for d in r["degradations"]]
    by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for d in recs:
        by[d["class"] or "-"].append(d)
    head = (f"{'class':<15}{'n':>3} {'vitals':>10} {'|oracle':>10} {'med h':>7} {'p90 h':>7}"
            f" {'adwin':>10} {'med h':>7} {'p90 h':>7} {'oracle':>10} {'med h':>7}")  # fmt: skip
    out += ["per class (delays over detected ones; '|oracle': among the oracle's detections)",
            head, "-" * len(head)]  # fmt: skip
    for cls in [*CLASSES, *sorted(set(by) - set(CLASSES))]:
        ds = by.get(cls, [])
        if not ds:
            continue
        out.append(_class_row(cls, ds))
    out.append(_class_row("all", recs))
    unsupported = sorted({u for r in runs for u in r["unsupported_oracles"]})
    if unsupported:
        out.append(f"no oracle model for: {', '.join(unsupported)}")
    out += ORACLE_NOTES
    out.append("")
    out.append("false alarms per 100 series-months")
    for label, subset in (
        ("degradation runs", [r for r in runs if not r["stationary"]]),
        ("stationary runs", [r for r in runs if r["stationary"]]),
        ("all runs", runs),
    ):
        v = fa_per_100(subset, "vitals_false_alarms")
        line = f"  {label:<17} vitals {v[0]:>4} in {v[1]:8.1f} series-months = {v[2]:6.2f}"
        if adwin:
            a = fa_per_100(subset, "adwin_false_alarms")
            line += f" | adwin {a[0]:>5} = {a[2]:7.2f}"
        out.append(line)
    out += false_alarm_table(runs)
    oracle_fa = sum(d["oracle_false_alarms"] or 0 for d in recs)
    out.append(f"  oracle false alarms before onsets: {oracle_fa}")
    out.append("")
    out += targets(runs, recs, adwin)
    out.append("")
    out += misses(recs)
    return out


def _class_row(cls: str, ds: list[dict[str, Any]]) -> str:
    v = [d["vitals_hours"] for d in ds]
    a = [d["adwin_hours"] for d in ds]
    o = [d["oracle_hours"] for d in ds]
    seen = [d for d in ds if d["oracle_hours"] is not None]
    v_seen = sum(d["vitals_hours"] is not None for d in seen)
    nv = sum(x is not None for x in v)
    na = sum(x is not None for x in a)
    no = sum(x is not None for x in o)
    return (f"{cls:<15}{len(ds):>3} {_rate(nv, len(ds)):>10} {_rate(v_seen, len(seen)):>10}"
            f" {_hours(v, 50):>7} {_hours(v, 90):>7} {_rate(na, len(ds)):>10}"
            f" {_hours(a, 50):>7} {_hours(a, 90):>7} {_rate(no, len(ds)):>10}"
            f" {_hours(o, 50):>7}")  # fmt: skip


def false_alarm_table(runs: list[dict[str, Any]]) -> list[str]:
    """Vitals' false alarms by signal and role; 'during' counts those inside a
    degradation window of the same feature (collateral of a real change)."""
    rows: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for r in runs:
        for fa in r.get("vitals_false_alarm_list", ()):
            rows[fa["signal"], role(SeriesKey.parse(fa["series"]))][0 if fa["during"] else 1] += 1
    if not rows:
        return []
    out = ["  by signal and role (during a degradation of the feature / outside one):"]
    for (signal, kind), (during, outside) in sorted(rows.items(), key=lambda kv: -sum(kv[1])):
        out.append(f"    {signal:<17} {kind:<8} {during:>4} / {outside:>4}")
    return out


def targets(runs: list[dict[str, Any]], recs: list[dict[str, Any]], adwin: bool) -> list[str]:
    """Issue 14's three targets, each as a PASS/FAIL line."""
    out = ["targets (issue 14)"]
    seen = [d for d in recs if d["oracle_hours"] is not None]
    hit = sum(d["vitals_hours"] is not None for d in seen)
    share = hit / len(seen) if seen else math.nan
    ok = bool(seen) and share >= 0.95
    out.append(f"  (a) {'PASS' if ok else 'FAIL'}: Vitals detects {hit} of the {len(seen)} "
               f"degradations the oracle detects ({100 * share:.0f}%; target >= 95%)")  # fmt: skip
    if adwin:
        both = [d for d in recs if d["adwin_hours"] is not None]
        mv = _median_inf([d["vitals_hours"] for d in both])
        ma = _median_inf([d["adwin_hours"] for d in both])
        ok = bool(both) and mv <= ma
        out.append(f"  (b) {'PASS' if ok else 'FAIL'}: median delay on the {len(both)} ADWIN "
                   f"detects: Vitals {mv:.1f} h (a miss counts as inf) vs ADWIN {ma:.1f} h "
                   f"(target <=)")  # fmt: skip
        v = fa_per_100(runs, "vitals_false_alarms")[2]
        a = fa_per_100(runs, "adwin_false_alarms")[2]
        ok = v <= 1.0 and v < a
        out.append(f"  (c) {'PASS' if ok else 'FAIL'}: Vitals {v:.2f} false alarms per 100 "
                   f"series-months (target <= 1) vs ADWIN {a:.2f} (target: fewer)")  # fmt: skip
    else:
        out.append("  (b), (c): need ADWIN (run without --no-adwin)")
    return out


def misses(recs: list[dict[str, Any]]) -> list[str]:
    """Every Vitals miss among the oracle's detections."""
    rows = [d for d in recs if d["oracle_hours"] is not None and d["vitals_hours"] is None]
    out = [f"Vitals misses the oracle detected: {len(rows)}"]
    if not rows:
        return out
    head = (f"  {'seed':>5} {'id':<18} {'class':<15} {'obs/day':>8} {'x min eff':>9}"
            f" {'onset day':>9} {'young':>5} {'oracle h':>8} {'adwin h':>8}")  # fmt: skip
    out.append(head)
    for d in sorted(rows, key=lambda d: (d["class"] or "", d["volume_per_day"] or 0)):
        adwin = "-" if d["adwin_hours"] is None else f"{d['adwin_hours']:.1f}"
        out.append(f"  {d['seed']:>5} {d['id']:<18} {d['class'] or '-':<15} "
                   f"{d['volume_per_day'] or 0:>8.1f} {d['magnitude'] or 0:>9.2f} "
                   f"{d['onset_day']:>9.2f} {'yes' if d['young'] else 'no':>5} "
                   f"{d['oracle_hours']:>8.1f} {adwin:>8}")  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", choices=("train", "holdout", "both"), default="holdout")
    ap.add_argument("--quick", action="store_true", help="small scenarios (as the unit test)")
    ap.add_argument("-j", type=int, default=2, help="processes (scenarios run in parallel)")
    ap.add_argument("--config", type=Path, help="Vitals config overlay (YAML)")
    ap.add_argument("--seeds", help="comma-separated degradation seeds instead of the set")
    ap.add_argument("--first", type=int, help="only the first N seeds of each list of the set")
    ap.add_argument("--no-adwin", action="store_true")
    ap.add_argument("--json", type=Path, help="write the per-degradation results here")
    ap.add_argument("--report", type=Path, help="print the report of a --json file (no run)")
    args = ap.parse_args()
    if args.report is not None:  # a finished run, or a .partial.json of an unfinished one
        doc = json.loads(args.report.read_text())
        runs = doc["runs"] if isinstance(doc, dict) else doc
        print("\n".join(report(runs, adwin=all(r["adwin_false_alarms"] is not None for r in runs))))
        return
    overlay = None
    if args.config is not None:
        overlay = yaml.safe_load(args.config.read_text()) or {}
        if not isinstance(overlay, dict):
            raise SystemExit(f"{args.config}: expected a mapping")
    if args.seeds:
        seeds, stationary = [int(s) for s in args.seeds.split(",") if s.strip()], []
    elif args.quick:
        seeds, stationary = list(QUICK), list(QUICK_STATIONARY)
    else:
        seeds = [*(TRAIN if args.set in ("train", "both") else ()),
                 *(HOLDOUT if args.set in ("holdout", "both") else ())]  # fmt: skip
        stationary = [*(TRAIN_STATIONARY if args.set in ("train", "both") else ()),
                      *(HOLDOUT_STATIONARY if args.set in ("holdout", "both") else ())]  # fmt: skip
    if args.first is not None:
        seeds, stationary = seeds[: args.first], stationary[: max(1, args.first // 4)]
    adwin = not args.no_adwin
    jobs = [(s, False, args.quick, overlay, adwin) for s in seeds]
    jobs += [(s, True, args.quick, overlay, adwin) for s in stationary]
    began = time.perf_counter()
    partial = None if args.json is None else args.json.with_suffix(".partial.json")
    runs = run_all(jobs, args.j, partial)
    wall = time.perf_counter() - began
    lines = sum(r["lines"] for r in runs)
    vols = [v for r in runs for v in r["site_volumes"]]
    scaled = sum(r["volume_scale"] < 1 for r in runs)
    label = "seeds " + args.seeds if args.seeds else ("quick" if args.quick else args.set)
    if args.first is not None:
        label += f" (first {args.first})"
    print(f"scenario family, {label}: {len(seeds)} degradation + {len(stationary)} stationary "
          f"scenarios, {lines:,} lines, {sum(r['series'] for r in runs):,} series; "
          f"{scaled} scaled down to the line cap; per-site weekday volume median "
          f"{np.median(vols):.0f} (p10 {np.percentile(vols, 10):.0f}, "
          f"p90 {np.percentile(vols, 90):.0f}) suggestions a day")  # fmt: skip
    cpu = sum(r["cpu_seconds"] for r in runs)
    print(f"wall {wall:.0f} s with -j {args.j}; {cpu:.0f} CPU-seconds in the scenarios "
          f"({lines / max(cpu, 1e-9):,.0f} lines per CPU-second, simulation included)")  # fmt: skip
    print()
    print("\n".join(report(runs, adwin)))
    if args.json is not None:
        doc = {"set": label, "config": overlay, "wall_seconds": round(wall, 1), "runs": runs}
        args.json.write_text(json.dumps(doc, indent=1) + "\n")
        if partial is not None:
            partial.unlink(missing_ok=True)
        print(f"\nresults: {args.json}")


if __name__ == "__main__":
    main()
