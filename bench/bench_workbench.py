"""What the data scientists' workbench costs, as ratios to a plain replay of the same file.

Run: ``.venv/bin/python bench/bench_workbench.py [--seed config-break] [--days 10]``.

Simulates the first ``--days`` of a seed, then times, in the same process over the
same file (each the best of ``--rounds``):

* **replay**: ``replay_file`` at defaults, the baseline (what ``vitals replay`` runs
  without ``--report``: the workbench adds nothing to that path);
* **replay --report**: the same replay as a one-lane fan-out with the detailed hourly
  trace and the hourly tally, then the evidence and the HTML page (matplotlib SVG);
* **compare, one pass**: two configs as lanes of one parse + resolve pass, vs two
  replays one after the other (what comparing cost before);
* **rollout**: parse + resolve + tally only, with no detector, then the scorecard.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import best_of, timed
from monitor.compare import compare_file
from monitor.core.config import MonitorConfig
from monitor.fanout import Lane, fan_out_file
from monitor.htmlreport import ReplayReport, write_replay_report
from monitor.replay import read_lines, replay_file
from monitor.rollout import rollout_file
from monitor.simulate import load_scenario, simulate
from monitor.tally import Tally
from monitor.trace import Trace

ROOT = Path(__file__).resolve().parents[1]
B = MonitorConfig(signals={"acceptance_rate": {"min_effect": 0.05}})


def with_report(path: Path, out: Path) -> tuple[float, float]:
    """(replay seconds, page seconds) of ``replay --report``."""
    cfg = MonitorConfig()
    trace, tally = Trace(detail=True), Tally()
    t_replay, (engine, result) = timed(
        lambda: fan_out_file(path, cfg, [Lane.of(cfg, trace)], tap=tally.add)
    )
    doc = ReplayReport(path, None, engine, result, trace, tally)
    t_page, _ = timed(lambda: write_replay_report(out, doc))
    return t_replay, t_page


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", default="config-break")
    ap.add_argument("--days", type=float, default=10.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--keep", type=Path, help="also copy the report page here")
    args = ap.parse_args()
    spec = load_scenario(ROOT / "seeds" / f"{args.seed}.yaml")
    spec = spec.model_copy(update={"days": args.days})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.jsonl"
        simulate(spec, Path(tmp))
        lines = sum(1 for _ in read_lines(path))
        page = args.keep or Path(tmp) / "report.html"
        t_plain = best_of(args.rounds, lambda: replay_file(path))
        runs = [with_report(path, page) for _ in range(args.rounds)]
        t_rep = min(r[0] for r in runs)
        t_page = min(r[1] for r in runs)
        t_two = best_of(args.rounds, lambda: (replay_file(path), replay_file(path, B)))
        t_cmp = best_of(args.rounds, lambda: compare_file(path, [("A", MonitorConfig()),
                                                                ("B", B)]))  # fmt: skip
        t_roll = best_of(args.rounds, lambda: rollout_file(path, "inbasket-reply", "reply-2.0",
                                                           "reply-2.1"))  # fmt: skip
    print(f"{args.seed}, {args.days:g} days: {lines:,} lines; best of {args.rounds}")
    print(f"{'replay (baseline):':<34}{t_plain:7.1f} s  {lines / t_plain:8,.0f} lines/s")
    print(f"{'replay --report, the replay:':<34}{t_rep:7.1f} s  ratio {t_rep / t_plain:.3f}")
    print(f"{'  + evidence and page:':<34}{t_page:7.1f} s  ratio {(t_rep + t_page) / t_plain:.3f}")
    print(f"{'two replays (A then B):':<34}{t_two:7.1f} s  ratio {t_two / t_plain:.3f}")
    print(f"{'compare, one pass:':<34}{t_cmp:7.1f} s  ratio {t_cmp / t_plain:.3f} "
          f"({t_cmp / t_two:.3f} of two replays)")  # fmt: skip
    print(f"{'rollout (resolve + tally):':<34}{t_roll:7.1f} s  ratio {t_roll / t_plain:.3f}")


if __name__ == "__main__":
    main()
