"""Replay speed as a ratio to JSON parsing + contract validation alone (target >= 0.5).

Run: ``.venv/bin/python bench/bench_replay.py [--seed config-break] [--days 6]``.

Simulates the first ``--days`` of a seed scenario, then times, in the same process and
over the same file: (a) the baseline, reading every line and ``parse_event`` on it
(pydantic JSON parsing plus contract validation, malformed lines included), and (b)
``replay_file`` on it (the same parsing, plus resolver, per-series state, detectors and
alerts). Each is the best of ``--rounds`` runs; the ratio is (b)'s lines/s over (a)'s.
A profile of one replay is printed with ``--profile``.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import best_of
from monitor.contract import InvalidEvent, parse_event
from monitor.replay import read_lines, replay_file
from monitor.simulate import load_scenario, simulate

ROOT = Path(__file__).resolve().parents[1]


def parse_only(path: Path) -> int:
    ok = 0
    for raw in read_lines(path):
        try:
            parse_event(raw)
            ok += 1
        except InvalidEvent:
            pass
    return ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", default="config-break")
    ap.add_argument("--days", type=float, default=6.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    spec = load_scenario(ROOT / "seeds" / f"{args.seed}.yaml")
    spec = spec.model_copy(update={"days": args.days})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.jsonl"
        simulate(spec, Path(tmp))
        lines = sum(1 for _ in read_lines(path))
        t_parse = best_of(args.rounds, lambda: parse_only(path))
        t_replay = best_of(max(1, args.rounds - 1), lambda: replay_file(path))
        _, result = replay_file(path)
        if args.profile:
            prof = cProfile.Profile()
            prof.runcall(replay_file, path)
            pstats.Stats(prof).sort_stats("tottime").print_stats(15)
    print(f"{args.seed}, {args.days:g} days: {lines:,} lines, {result.events:,} events, "
          f"{len(result.alerts)} alerts")  # fmt: skip
    print(f"parse + validate only: {lines / t_parse:>9,.0f} lines/s")
    print(f"replay:                {lines / t_replay:>9,.0f} lines/s")
    ratio = t_parse / t_replay
    print(f"ratio {ratio:.3f} (target >= 0.5) {'OK' if ratio >= 0.5 else 'MISSED'}")


if __name__ == "__main__":
    main()
