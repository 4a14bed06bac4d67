"""Resolver throughput on a realistic generated stream.

Run: ``.venv/bin/python bench/bench_resolver.py [n_suggestions]``. Events are
parsed before timing (parsing belongs to the validate step); the timed part is
``Resolver.process`` plus the final ``finish()``. The baseline is the least any
stage 1 must do per event in Python: read the id and the time and record it in
a dict; the ratio says how much the resolver costs on top of that.
"""

from __future__ import annotations

import json
import random
import sys
import time
from datetime import UTC, datetime

from monitor.core.contract import parse_event
from monitor.core.records import Resolution
from monitor.core.resolver import Resolver, ResolverConfig

T0 = 1_767_600_000.0
SITES = [f"site-{i}" for i in range(20)]
KINDS = ["accepted", "edited", "rejected", "dismissed"]


def _ts(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def generate(n: int, seed: int = 1, rate: float = 50.0) -> list:
    """n suggestions at ``rate``/s; 85 % answered, 3 % flagged, 1 % redelivered."""
    rng = random.Random(seed)
    raw = []
    for i in range(n):
        t = T0 + i / rate
        sid = f"sg-{i:09d}"
        common = {"schema_version": 1, "suggestion_id": sid}
        raw.append(
            (
                t,
                {
                    **common,
                    "type": "suggestion",
                    "event_id": f"{sid}-s",
                    "occurred_at": _ts(t),
                    "feature": "inbasket-reply",
                    "model_version": rng.choice(["reply-2.0", "reply-2.1"]),
                    "site": rng.choice(SITES),
                    "score": round(rng.random(), 3),
                    "draft_length": rng.randint(50, 900),
                    "inputs": {"age-band": rng.choice(["18-44", "45-64", "65+"]), "n-meds": 3.0},
                },
            )
        )
        if rng.random() < 0.85:
            to = t + rng.expovariate(1 / 300)
            kind = rng.choice(KINDS)
            extra = {"edit_distance": rng.randint(0, 200)} if kind == "edited" else {}
            raw.append(
                (
                    to,
                    {
                        **common,
                        "type": "outcome",
                        "event_id": f"{sid}-o",
                        "occurred_at": _ts(to),
                        "outcome": kind,
                        **extra,
                    },
                )
            )
        if rng.random() < 0.03:
            tf = t + rng.uniform(0, 3600)
            raw.append(
                (
                    tf,
                    {
                        **common,
                        "type": "feedback",
                        "event_id": f"{sid}-f",
                        "occurred_at": _ts(tf),
                        "category": "inaccurate",
                    },
                )
            )
    # arrival: event time + up to 2 minutes of transport delay (within the allowance)
    raw.sort(key=lambda item: item[0] + rng.uniform(0, 120))
    events = []
    for _, obj in raw:
        ev = parse_event(json.dumps(obj))
        events.append(ev)
        if rng.random() < 0.01:
            events.append(ev)
    return events


def baseline(events: list) -> float:
    start = time.process_time()
    seen: dict[str, float] = {}
    for ev in events:
        if ev.event_id not in seen:
            seen[ev.event_id] = ev.occurred_at.timestamp()
    return time.process_time() - start


def resolve(events: list) -> tuple[float, Resolver, int]:
    r = Resolver(ResolverConfig())
    emitted = 0
    start = time.process_time()
    process = r.process
    for ev in events:
        emitted += len(process(ev))
    emitted += len(r.finish())
    return time.process_time() - start, r, emitted


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    events = generate(n)
    base = min(baseline(events) for _ in range(3))
    runs = [resolve(events) for _ in range(3)]
    best, r, emitted = min(runs, key=lambda run: run[0])
    print(f"events           {len(events):>10,}")
    print(f"emitted          {emitted:>10,}   counters: {r.counters}")
    print(f"baseline         {len(events) / base:>10,.0f} events/s")
    print(f"resolver         {len(events) / best:>10,.0f} events/s")
    print(f"ratio            {best / base:>10.2f} x baseline time")
    assert sum(isinstance(e, Resolution) for e in r.finish()) == 0


if __name__ == "__main__":
    main()
