"""What the data scientists' workbench costs, as ratios to a plain replay of the same file.

Run: ``.venv/bin/python bench/bench_workbench.py [--seed config-break] [--days 10]``.

Simulates the first ``--days`` of a seed, then times, in the same process over the
same file, every variant once per round, as ratios to the round's plain replay (the
median over ``--rounds``: a shared machine's load drifts between rounds, less within one):

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
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import timed
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
    """(replay seconds, evidence + page seconds) of ``replay --report``."""
    cfg = MonitorConfig()
    trace, tally = Trace(detail=True), Tally()
    t_replay, (engine, result) = timed(
        lambda: fan_out_file(path, cfg, [Lane.of(cfg, trace)], tap=tally.add)
    )
    selected = [k for k in engine.assessor.series if k.endswith("|*|*")]  # drawn as well
    doc = ReplayReport(path, None, engine, result, trace, tally, selected=selected)
    t_page, _ = timed(lambda: write_replay_report(out, doc))
    return t_replay, t_page


def one_round(path: Path, page: Path) -> dict[str, float]:
    """Every variant once, back to back: seconds by name."""
    t = {"replay": timed(lambda: replay_file(path))[0]}
    t["report replay"], t["report page"] = with_report(path, page)
    t["two replays"] = timed(lambda: (replay_file(path), replay_file(path, B)))[0]
    t["compare"] = timed(lambda: compare_file(path, [("A", MonitorConfig()), ("B", B)]))[0]
    t["rollout"] = timed(lambda: rollout_file(path, "inbasket-reply", "reply-2.0", "reply-2.1"))[0]
    return t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", default="config-break")
    ap.add_argument("--days", type=float, default=4.0)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--keep", type=Path, help="also copy the report page here")
    args = ap.parse_args()
    spec = load_scenario(ROOT / "seeds" / f"{args.seed}.yaml")
    spec = spec.model_copy(update={"days": args.days})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.jsonl"
        simulate(spec, Path(tmp))
        lines = sum(1 for _ in read_lines(path))
        page = args.keep or Path(tmp) / "report.html"
        rounds = [one_round(path, page) for _ in range(args.rounds)]
    print(f"{args.seed}, {args.days:g} days: {lines:,} lines; {args.rounds} rounds, each "
          f"variant once per round; ratios to that round's replay, median over rounds")  # fmt: skip

    def ratio(*names: str, to: str = "replay") -> float:
        return median(sum(r[n] for n in names) / r[to] for r in rounds)

    base = median(r["replay"] for r in rounds)
    print(f"{'replay (baseline):':<36}{base:7.1f} s  {lines / base:8,.0f} lines/s")
    print(f"{'replay --report, the replay:':<36}ratio {ratio('report replay'):.3f}")
    print(f"{'  + evidence and page:':<36}ratio {ratio('report replay', 'report page'):.3f}")
    print(f"{'two replays (A then B):':<36}ratio {ratio('two replays'):.3f}")
    print(f"{'compare, one pass:':<36}ratio {ratio('compare'):.3f} "
          f"({ratio('compare', to='two replays'):.3f} of two replays)")  # fmt: skip
    print(f"{'rollout (resolve + tally):':<36}ratio {ratio('rollout'):.3f}")
    spread = [r["report replay"] / r["replay"] for r in rounds]
    print(f"report/replay per round: {', '.join(f'{x:.3f}' for x in spread)}")


if __name__ == "__main__":
    main()
