"""Scale-out: throughput of one worker vs. two workers of one consumer group.

    VITALS_KAFKA_BOOTSTRAP=127.0.0.1:39092 .venv/bin/python bench/bench_scaleout.py [N_SUGGESTIONS]

Method: two runs in the same sitting, identical but for the number of
workers. Each run gets a fresh 4-partition input topic and a fresh group
(4 assess partitions). The worker(s) are started on the empty topic and waited
for until every one of them is ready and owns input partitions (the group has
settled, so no rebalance falls into the timed window). Then ``2 N`` events
(N suggestions, each answered; default N = 40,000) are produced with aiokafka
record batches (cheap, so the producer disturbs the workers little) and the
clock runs from the start of producing until the workers are done through
both stages (resolver counters summed over the workers reach ``2 N`` and no
worker has stage-2 lag, on two polls in a row).

Printed: both rates and ``ratio = two workers / one worker``. The machine
this was written on has 2 cores shared by the broker, the bench and the
workers, so the ideal 2.0 is out of reach here; the figure says how much the
partitioned design gains when a second process gets CPU.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import bootstrap
from bench.worker_harness import Bench, event_pairs, wait_both_stages

PARTITIONS = 4


def _owned(m: dict[str, float]) -> int:
    return sum(1 for k in m if k.startswith("vitals_resolver_events_total{"))


def run(servers: str, n_sugg: int, n_workers: int) -> tuple[int, float]:
    bench = Bench(servers, partitions=PARTITIONS, name=f"bench-scale{n_workers}")
    try:
        workers = [bench.worker(assess_partitions=PARTITIONS) for _ in range(n_workers)]
        for w in workers:
            w.start()
        deadline = time.monotonic() + 180
        while True:  # every worker ready and owning input partitions, all of them owned
            ms = [w.metrics() for w in workers]
            if (
                all(m.get("vitals_worker_ready", 0) >= 1 and _owned(m) > 0 for m in ms)
                and sum(_owned(m) for m in ms) == PARTITIONS
            ):
                break
            if time.monotonic() > deadline or not all(w.alive() for w in workers):
                raise SystemExit(f"group did not settle; see {bench.tmp}")
            time.sleep(0.5)
        time.sleep(2)  # let the assignment settle (assess partitions restored)
        t0 = time.perf_counter()
        n = bench.produce_fast(event_pairs(n_sugg))
        done = wait_both_stages(workers, n, timeout=max(300, n / 100))
        return n, done - t0
    finally:
        bench.close()


def main() -> None:
    servers = bootstrap()
    n_sugg = int(sys.argv[1]) if len(sys.argv) > 1 else 40000
    n, one = run(servers, n_sugg, 1)
    _, two = run(servers, n_sugg, 2)
    print(f"events: {n} ({PARTITIONS} input partitions, {PARTITIONS} assess partitions)")
    print(f"one worker : {one:7.2f} s  {n / one:8.0f} ev/s")
    print(f"two workers: {two:7.2f} s  {n / two:8.0f} ev/s")
    print(f"ratio two/one workers throughput: {one / two:.2f}")


if __name__ == "__main__":
    main()
