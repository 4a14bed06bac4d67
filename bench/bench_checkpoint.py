"""Stage-2 checkpoint cost at 10,000 series: an incremental checkpoint vs a whole-state one.

Run: ``.venv/bin/python bench/bench_checkpoint.py [--series 10000] [--changed 0.05]``.

Builds an AssessPart whose assessor holds ``--series`` armed series (the
templates of ``bench_memory``: an 8-day replay of a seed, in a deployment's
role mix), writes its first checkpoint (every series), then applies one more
resolution to a ``--changed`` fraction of the series (the traffic of one
checkpoint interval) and times the next checkpoint, which writes those series
only. Printed: both times and sizes, and their ratio (the baseline, the whole
state, is what every checkpoint wrote before deltas). No broker needed.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_memory import build, grid, templates
from monitor.core.records import ALL, Resolution
from streams.state import AssessPart


def _size(writes: dict) -> int:
    return sum(len(v) for v in writes.values() if v is not None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", type=int, default=10_000)
    ap.add_argument("--changed", type=float, default=0.05)
    ap.add_argument("--seed", default="config-break")
    args = ap.parse_args()
    tmpl, _ = templates(args.seed, 8)
    at = max(s["t"] or 0.0 for s in tmpl.values()) + 3600.0
    keys = grid(args.series)
    assessor = build(keys, tmpl)
    part = AssessPart(0, lambda: assessor)
    assessor.changed = set(assessor.series)  # all new: the first checkpoint is a base
    part.changed = True
    t0 = time.perf_counter()
    whole = part.checkpoint()
    t_whole = time.perf_counter() - t0

    rng = random.Random(7)
    touched = rng.sample(list(assessor.series), int(len(keys) * args.changed))
    for skey in touched:
        k = assessor.series[skey].key
        res = Resolution(
            "s", k.feature, "v0" if k.model_version == ALL else k.model_version,
            "site-0" if k.site == ALL else k.site, "ambulatory", at - 60.0, at,
            "edited", 60.0, 0.1, 0.7, None,
        )  # fmt: skip
        assessor._apply(res, skey)
    part.changed = True
    t0 = time.perf_counter()
    delta = part.checkpoint()
    t_delta = time.perf_counter() - t0
    print(f"{len(keys):,} series, {len(touched):,} changed since the last checkpoint")
    print(f"whole state : {t_whole * 1000:7.0f} ms  {_size(whole) / 1e6:6.1f} MB")
    print(f"incremental : {t_delta * 1000:7.0f} ms  {_size(delta) / 1e6:6.1f} MB")
    print(f"ratio incremental/whole: time {t_delta / t_whole:.3f}, bytes "
          f"{_size(delta) / _size(whole):.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
