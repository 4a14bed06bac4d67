"""Detection delay and false alarms per seed scenario, as JSON, for before/after tables.

Simulates every ``seeds/*.yaml`` (or the ones named) once into ``--work``, replays it
at the default config (or ``--config``) and prints, per degradation, the delay of
the first covering alert (hours; ``null`` = missed) and the seed's false alarms. Run
it from two checkouts to compare code versions on the same events:

    .venv/bin/python bench/bench_seeds.py --json out/seeds-new.json
    PYTHONPATH=/path/to/old/checkout .venv/bin/python bench/bench_seeds.py --json out/seeds-old.json
    .venv/bin/python bench/bench_seeds.py --diff out/seeds-old.json out/seeds-new.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(names: list[str], work: Path, config: Path | None) -> dict[str, dict]:
    from monitor.core.config import MonitorConfig, load_config
    from monitor.replay import replay_file
    from monitor.scoring import load_truth, score
    from monitor.simulate import load_scenario, simulate

    cfg = load_config(config) if config else MonitorConfig()
    out: dict[str, dict] = {}
    for name in names:
        d = work / name
        events = d / "events.jsonl"
        if not events.exists():
            simulate(load_scenario(ROOT / "seeds" / f"{name}.yaml"), d)
        t0 = time.perf_counter()
        _, result = replay_file(events, cfg)
        s = score(result.alerts, load_truth(d / "truth.json"))
        out[name] = {
            "seconds": round(time.perf_counter() - t0, 1),
            "detections": {
                x.id: None if x.delay is None else round(x.delay / 3600, 1) for x in s.detections
            },
            "false_alarms": [
                f"{a.signal} {a.feature}|{a.model_version}|{a.site}" for a in s.false_alarms
            ],
        }
        print(name, json.dumps(out[name]), file=sys.stderr, flush=True)
    return out


def diff(before: dict[str, dict], after: dict[str, dict]) -> None:
    print("| seed | degradation | before (h) | after (h) | false alarms before / after |")
    print("|---|---|---|---|---|")
    for name in sorted(after):
        b, a = before.get(name, {}), after[name]
        fa = f"{len(b.get('false_alarms', []))} / {len(a['false_alarms'])}"
        rows = sorted(a["detections"]) or ["-"]
        for i, deg in enumerate(rows):
            old = b.get("detections", {}).get(deg, "-")
            new = a["detections"].get(deg, "-")
            print(f"| {name} | {deg} | {old} | {new} | {fa if i == 0 else ''} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="seed names (default: every seeds/*.yaml)")
    ap.add_argument("--work", type=Path, default=ROOT / "out" / "seeds")
    ap.add_argument("--config", type=Path)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--diff", nargs=2, type=Path, metavar=("BEFORE", "AFTER"))
    args = ap.parse_args()
    if args.diff:
        diff(*(json.loads(p.read_text()) for p in args.diff))
        return
    names = args.names or sorted(p.stem for p in (ROOT / "seeds").glob("*.yaml"))
    result = run(names, args.work, args.config)
    text = json.dumps(result, indent=1)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text)
    else:
        print(text)


if __name__ == "__main__":
    main()
