"""Hostile input at volume: 100k+ bad messages of every class mixed with good events.

Run: ``VITALS_KAFKA_BOOTSTRAP=HOST:PORT .venv/bin/python bench/bench_hostile.py
[--bad 100000] [--good 20000]``. Prints per class what was sent and how it came out,
and what was lost (must be nothing), the worker's resident memory at the start, its
peak and the end (as a ratio to the start), and its throughput. Exits 1 on any loss.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import bootstrap
from bench.hostile import run_hostile


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bad", type=int, default=100_000)
    ap.add_argument("--good", type=int, default=20_000, help="good suggestion/outcome pairs")
    args = ap.parse_args()
    r = run_hostile(bootstrap(), args.bad, args.good)
    n_bad = sum(r.bad_sent.values())
    print(f"sent {n_bad:,} bad messages and {r.good_sent:,} good events")
    for cls, n in sorted(r.bad_sent.items()):
        print(f"  {cls:<18}{n:>8,}")
    print(
        "dead letters by reason: "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(r.dead_by_reason.items()))
    )
    print(
        f"good counted {r.good_counted:,} of {r.good_sent:,}; "
        f"dead letters {r.dead_letters:,} of {n_bad:,}"
    )
    lost = (r.good_sent - r.good_counted) + r.missing
    print(
        f"lost {lost}; wrong reason {len(r.wrong_reason)}; altered {r.altered}; "
        f"detail quoting input {r.leaked_detail}; labels off the slug pattern {len(r.bad_labels)}"
    )
    print(f"series held {r.series:g}; worker alive {r.alive}")
    mb = 2**20
    print(
        f"worker RSS: start {r.rss_start / mb:.0f} MB, peak {r.rss_peak / mb:.0f} MB, end "
        f"{r.rss_end / mb:.0f} MB (peak/start {r.rss_peak / max(r.rss_start, 1):.2f})"
    )
    print(
        f"processed in {r.seconds:.0f} s: "
        f"{(n_bad + r.good_sent) / max(r.seconds, 1e-9):,.0f} messages/s"
    )
    ok = r.alive and lost == 0 and not r.wrong_reason and not r.altered and not r.bad_labels
    print("OK" if ok else "FAILED")
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
