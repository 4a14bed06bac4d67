"""What `vitals calibrate` costs and delivers, on a 28-day 9-site 3-feature stationary stream.

Run: ``.venv/bin/python bench/bench_calibrate.py [--resamples 10] [--workers 2]
[--json out/calibrate.json] [--no-seeds]``.

In one process, on the same machine state:

* **baseline**: one plain ``replay_file`` of the reference at the default config (what
  ``vitals replay`` does), wall and CPU seconds;
* **calibrate**: resolving the reference once and replaying ``--resamples`` day-block
  resamples on ``--workers`` processes, as ``vitals calibrate`` does with a budget of
  2 per 30 days; wall and CPU seconds (the workers' included), as ratios to the baseline;
* **hold-out**: ``--holdouts`` stationary months of the same scenario with other seeds
  (the 30 days after the reference), each replayed once with the calibrated config and
  the defaults (two lanes of one pass): false alarms against the budget, each month's
  and all together, with their exact Poisson interval;
* **seeds** (unless ``--no-seeds``): every scenario in ``seeds/`` simulated and replayed
  once with both configs (two lanes of one pass), the detection delay of each injected
  degradation and the false alarms, before (defaults) and after (calibrated).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.calibrate.budget import parse_budget
from monitor.calibrate.configfile import write_config
from monitor.calibrate.holdout import check_holdout
from monitor.calibrate.run import calibrate, load_reference
from monitor.compare import compare_file
from monitor.core.config import MonitorConfig, load_config
from monitor.replay import replay_file
from monitor.scoring import load_truth
from monitor.simulate import load_scenario, simulate
from monitor.stats import garwood

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "bench" / "scenarios" / "stationary-9sites.yaml"


def cpu() -> float:
    """CPU seconds of this process and its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def measured(fn):  # type: ignore[no-untyped-def]
    wall, c = time.perf_counter(), cpu()
    result = fn()
    return time.perf_counter() - wall, cpu() - c, result


def hours(seconds: float | None) -> str:
    return "missed" if seconds is None else f"{seconds / 3600:.1f} h"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resamples", type=int, default=10)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--budget", default="2 per 30 days")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--keep", type=Path, help="directory to keep the streams and config in")
    ap.add_argument("--holdouts", type=int, default=5, help="held-out months")
    ap.add_argument("--no-seeds", action="store_true")
    args = ap.parse_args()
    budget = parse_budget(args.budget)
    report: dict[str, object] = {"budget": str(budget), "resamples": args.resamples,
                                 "workers": args.workers}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        spec = load_scenario(SCENARIO)
        ref_dir = work / "reference"
        simulate(spec, ref_dir)
        later = spec.end  # the month after the reference
        ref = ref_dir / "events.jsonl"
        wall0, cpu0, (_, plain) = measured(lambda: replay_file(ref))
        print(f"baseline replay of {ref.name}: {plain.lines:,} lines, {wall0:.0f} s wall, "
              f"{cpu0:.0f} s CPU; {len(plain.alerts)} alert lines at the defaults")  # fmt: skip
        cfg = MonitorConfig()

        def run():  # type: ignore[no-untyped-def]
            reference = load_reference(ref, cfg)
            return calibrate(reference, cfg, budget, resamples=args.resamples,
                             workers=args.workers)  # fmt: skip

        wall1, cpu1, cal = measured(run)
        out = work / "calibrated.yaml"
        write_config(out, cal, cfg, {})
        print(f"calibrate ({args.resamples} resamples, {args.workers} workers, "
              f"{len(cal.reference.blocks.days)} whole days): {wall1:.0f} s wall "
              f"({wall1 / wall0:.2f} of the baseline replay), {cpu1:.0f} s CPU "
              f"({cpu1 / cpu0:.2f} of it)")  # fmt: skip
        expected = sum(c.expected for c in cal.choices if c.feature is not None)
        print(f"expected false alarms at the thresholds: {cal.per_period(expected):.2f} per "
              f"{str(budget).split(' per ', 1)[1]} (budget {budget.count:g})")  # fmt: skip
        report.update(calibrate_wall=wall1, calibrate_cpu=cpu1, replay_wall=wall0,
                      replay_cpu=cpu0, lines=plain.lines,
                      thresholds={f"{c.unit}|{c.feature or '*'}": round(c.z, 3)
                                  for c in cal.choices})  # fmt: skip
        calibrated = load_config(out)
        totals = {"defaults": 0, "calibrated": 0}
        seconds = 0.0
        months = []
        for i in range(args.holdouts):
            hold_dir = work / f"holdout-{i + 1}"
            simulate(spec.model_copy(update={"seed": spec.seed + 1 + i, "start": later,
                                             "days": 30}), hold_dir)  # fmt: skip
            hold = hold_dir / "events.jsonl"
            comp = compare_file(hold, [("defaults", cfg), ("calibrated", calibrated)],
                                {"degradations": []})  # fmt: skip
            check = check_holdout(hold, calibrated, budget) if i == 0 else None
            span = check.seconds if check is not None else 30 * 86400.0
            seconds += span
            month = {}
            for side in (comp.a, comp.b):
                assert side.score is not None
                n = len(side.score.false_alarms)
                totals[side.name] += n
                month[side.name] = n
                month[side.name + "_signals"] = sorted(a.signal for a in side.score.false_alarms)
            if check is not None:  # the CLI's own check agrees with the two-lane pass
                assert check.count == month["calibrated"], (check.count, month)
            months.append(month)
            print(f"hold-out {i + 1} (seed {spec.seed + 1 + i}): false alarms defaults "
                  f"{month['defaults']}, calibrated {month['calibrated']} "
                  f"({', '.join(month['calibrated_signals'])})")  # fmt: skip
        allowed = budget.expected(seconds)
        for name, k in totals.items():
            low, high = garwood(k, 0.05)
            scale = budget.seconds / seconds
            print(f"hold-outs, {name}: {k} false alarms in {seconds / 86400:.0f} days = "
                  f"{k * scale:.2f} per {str(budget).split(' per ', 1)[1]} (95% "
                  f"[{low * scale:.2f}, {high * scale:.2f}]); the budget allows "
                  f"{allowed:.2f} in that time")  # fmt: skip
            report[f"holdouts_{name}"] = {"false_alarms": k, "days": seconds / 86400,
                                          "allowed": allowed, "interval": [low, high]}  # fmt: skip
        report["holdout_months"] = months
        if not args.no_seeds:
            rows = []
            for seed in sorted((ROOT / "seeds").glob("*.yaml")):
                sim = work / "seeds" / seed.stem
                simulate(load_scenario(seed), sim)
                truth = load_truth(sim / "truth.json")
                comp = compare_file(sim / "events.jsonl", [("defaults", cfg),
                                    ("calibrated", calibrated)], truth)  # fmt: skip
                before, after = comp.a.score, comp.b.score
                assert before is not None and after is not None
                for d0, d1 in zip(before.detections, after.detections, strict=True):
                    rows.append({"seed": seed.stem, "id": d0.id, "before": d0.delay,
                                 "after": d1.delay, "by_after": d1.by})  # fmt: skip
                    print(f"{seed.stem:<22}{d0.id:<28}{hours(d0.delay):>10}{hours(d1.delay):>10}"
                          f"  {d1.by or ''}")  # fmt: skip
                rows.append({"seed": seed.stem, "false_alarms_before": len(before.false_alarms),
                             "false_alarms_after": len(after.false_alarms)})  # fmt: skip
                print(f"{seed.stem:<22}{'false alarms':<28}{len(before.false_alarms):>10}"
                      f"{len(after.false_alarms):>10}")  # fmt: skip
            report["seeds"] = rows
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
