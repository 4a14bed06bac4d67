"""Replay speed as a ratio to JSON parsing + contract validation alone (target >= 0.5).

Run: ``.venv/bin/python bench/bench_replay.py [--seed config-break] [--days 6]``.

Simulates the first ``--days`` of a seed scenario, then times, in the same process and
over the same file: (a) the baseline, reading every line and ``parse_event`` on it
(pydantic JSON parsing plus contract validation, malformed lines included), and (b)
``replay_file`` on it (the same parsing, plus resolver, per-series state, detectors and
alerts). Each is the best of ``--rounds`` runs; the ratio is (b)'s lines/s over (a)'s.
A profile of one replay is printed with ``--profile``.

(a) includes the contract's check for keys named twice; (a0) times the same parse
without it, so ``repeat check`` prints what that check costs, as the ratio of (a0)'s
time to (a)'s, on this file and on the same events re-encoded with ``\\u`` escapes
(which every event then takes the slow path for).

``--floor`` also times the parts every replay must run before any series is touched:
(c) parsing plus the resolver (dedup, join, watermark), and (d) that plus the
assessor's event-time ordering queue with the per-series work removed. Their ratios
bound what any per-series code, however fast, can reach.
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
from monitor.core import contract
from monitor.core.assessor import Assessor
from monitor.core.config import MonitorConfig
from monitor.core.contract import InvalidEvent, parse_event
from monitor.core.resolver import Resolver
from monitor.replay import read_lines, replay_file
from monitor.simulate import load_scenario, simulate

ROOT = Path(__file__).resolve().parents[1]


def parse_only(path: Path, parse=parse_event) -> int:  # type: ignore[no-untyped-def]
    ok = 0
    for raw in read_lines(path):
        try:
            parse(raw)
            ok += 1
        except InvalidEvent:
            pass
    return ok


def repeat_check_cost(path: Path, rounds: int) -> float:
    """Seconds of parse without the repeat check over seconds with it."""
    without = best_of(rounds, lambda: parse_only(path, contract._validate))
    with_ = best_of(rounds, lambda: parse_only(path))
    return without / with_


def escaped_copy(path: Path, out: Path) -> None:
    """The lines of *path* with every event's ``"type"`` key written as ``"\\u0074ype"``."""
    with out.open("wb") as fh:
        for raw in read_lines(path):
            fh.write(raw.replace(b'"type"', b'"\\u0074ype"', 1) + b"\n")


def resolve_only(path: Path, order: bool) -> int:
    """Parse + resolver; with *order*, also the assessor's queue, applying nothing."""
    config = MonitorConfig()
    resolver, assessor, items = Resolver(config.resolver_config), Assessor(config), 0
    lag = config.resolver.clock_skew  # as in Replay
    assessor._apply = lambda item, skey: []  # type: ignore[method-assign]
    for raw in read_lines(path):
        try:
            event = parse_event(raw)
        except InvalidEvent:
            continue
        for item in resolver.process(event):
            items += 1
            if order:
                assessor.process_rollups(item)
        if order:
            assessor.advance(resolver.watermark - lag)
    return items


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", default="config-break")
    ap.add_argument("--days", type=float, default=6.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--floor", action="store_true", help="also time parse + resolver (+ queue)")
    args = ap.parse_args()
    spec = load_scenario(ROOT / "seeds" / f"{args.seed}.yaml")
    spec = spec.model_copy(update={"days": args.days})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.jsonl"
        simulate(spec, Path(tmp))
        lines = sum(1 for _ in read_lines(path))
        t_parse = best_of(args.rounds, lambda: parse_only(path))
        cost = repeat_check_cost(path, args.rounds)
        escaped = Path(tmp) / "escaped.jsonl"
        escaped_copy(path, escaped)
        cost_escaped = repeat_check_cost(escaped, args.rounds)
        t_replay = best_of(max(1, args.rounds - 1), lambda: replay_file(path))
        _, result = replay_file(path)
        floors = {}
        if args.floor:
            for name, order in (("parse + resolver", False), ("parse + resolver + queue", True)):
                floors[name] = best_of(args.rounds, lambda order=order: resolve_only(path, order))
        if args.profile:
            prof = cProfile.Profile()
            prof.runcall(replay_file, path)
            pstats.Stats(prof).sort_stats("tottime").print_stats(15)
    print(f"{args.seed}, {args.days:g} days: {lines:,} lines, {result.events:,} events, "
          f"{len(result.alerts)} alerts")  # fmt: skip
    print(f"{'parse + validate only:':<26}{lines / t_parse:>9,.0f} lines/s")
    print(f"repeat check: parse without it / with it {cost:.3f} on this file, "
          f"{cost_escaped:.3f} with escaped keys (the slow path)")  # fmt: skip
    for name, t in floors.items():
        print(f"{name + ':':<26}{lines / t:>9,.0f} lines/s (ratio {t_parse / t:.3f})")
    print(f"{'replay:':<26}{lines / t_replay:>9,.0f} lines/s")
    ratio = t_parse / t_replay
    if floors:
        series = t_replay - floors["parse + resolver + queue"]
        bound = t_parse / (t_parse + series)
        print(f"series + detectors alone take {series / t_parse:.1f}x the parse time: with "
              f"resolver and queue free, the ratio would be {bound:.3f}")  # fmt: skip
    print(f"ratio {ratio:.3f} (target >= 0.5) {'OK' if ratio >= 0.5 else 'MISSED'}")


if __name__ == "__main__":
    main()
