"""Streaming worker throughput vs. a bare aiokafka consumer on the same topic.

    VITALS_KAFKA_BOOTSTRAP=127.0.0.1:39092 .venv/bin/python bench/bench_worker.py \
        [N_SUGGESTIONS] [--transactions SIZE]

Method (one run, one broker, figures as a ratio):

1. ``2 N`` valid events (N suggestions, each answered; default N = 20,000)
   are produced with kafka-python to a fresh 2-partition input topic (with
   ``--transactions SIZE``: by a transactional producer, SIZE events per commit;
   every commit marker is an offset gap the worker must account for).
2. Baseline: a bare ``aiokafka.AIOKafkaConsumer`` (no group, ``getmany``)
   reads the ``2 N`` messages from the start of the topic. Then a faust agent
   that does nothing but count them (``bench/faust_noop.py``, fresh group)
   shows what faust's own per-message machinery leaves of that rate.
3. A ``python -m streams worker`` subprocess (2 assess partitions, fresh
   consumer group) is started on the written topic. Its start-up and group
   join are not timed: /metrics is polled every 0.05 s, and the clock starts
   at the first poll that shows processed input (``c1`` messages; the rate is
   taken over the remaining ``2 N - c1``).
4. The clock stops when the worker is done through **both stages**: the
   resolver counted all ``2 N`` events and the internal assess topic has no
   lag on two /metrics polls in a row (0.1 s apart) with no stage-2 progress
   in between (the time of the first of the two polls is taken).

5. Replay: the same ``2 N`` events, in produce order, through
   :class:`monitor.replay.Replay` in this process (the engine alone, no Kafka).

Printed: every rate, and the ratios worker / faust agent (target 0.8), worker /
replay (target 0.5) and worker / bare consumer.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import bootstrap
from bench.worker_harness import Bench, event_pairs, processed, wait_both_stages


def faust_noop(servers: str, topic: str, n: int) -> float:
    """Seconds from the first to the *n*-th message for a faust agent that only counts
    (bench/faust_noop.py, a subprocess: faust wants its own event loop and worker)."""
    import subprocess

    script = Path(__file__).with_name("faust_noop.py")
    out = subprocess.run(
        [sys.executable, str(script), servers, topic, str(n)],
        capture_output=True,
        text=True,
        timeout=max(120, n / 500),
        check=False,
    )
    found = re.search(r"(\d+\.\d+) \d+\s*$", out.stdout)  # (after mode's spinner codes)
    if found is None:
        raise SystemExit(f"faust_noop.py failed: {out.stdout[-500:]} {out.stderr[-2000:]}")
    return float(found.group(1))


async def bare_consumer(servers: str, topic: str, n: int) -> float:
    """Seconds for a bare aiokafka consumer to read *n* messages of *topic*."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    try:
        got = 0
        t0 = time.perf_counter()
        while got < n:
            batch = await consumer.getmany(timeout_ms=500, max_records=5000)
            got += sum(len(v) for v in batch.values())
        return time.perf_counter() - t0
    finally:
        await consumer.stop()


def replay_seconds(events: list[tuple[bytes, bytes]]) -> float:
    """Seconds for the in-process engine (replay) to apply *events*, finish included."""
    from monitor.replay import Replay

    engine = Replay()
    t0 = time.perf_counter()
    for i, (_, value) in enumerate(events, start=1):
        engine.feed_line(i, value)
    engine.finish()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("n_suggestions", type=int, nargs="?", default=20000)
    ap.add_argument("--transactions", type=int, default=0, metavar="SIZE")
    args = ap.parse_args()
    servers = bootstrap()
    bench = Bench(servers, partitions=2, name="bench-worker")
    try:
        events = list(event_pairs(args.n_suggestions))
        n = bench.produce(iter(events), args.transactions)
        replay_s = replay_seconds(events)
        bare_s = asyncio.run(bare_consumer(servers, bench.topic, n))
        noop_s = faust_noop(servers, bench.topic, n)
        w = bench.worker(assess_partitions=2)
        w.start()
        m = w.wait(lambda m: processed(m) > 0, timeout=120, every=0.05)
        t1, c1 = time.perf_counter(), processed(m)
        done = wait_both_stages([w], n, timeout=max(120, n / 200))
        worker_s = done - t1
        m = w.metrics()
    finally:
        bench.close()
    rate = (n - c1) / worker_s
    stage2 = m.get('vitals_worker_events_total{stage="assess"}', 0)
    gaps = m.get("vitals_worker_offset_gaps_total", 0)
    txn = f", {args.transactions} per transaction" if args.transactions else ""
    print(f"events: {n} (2 input partitions, 2 assess partitions{txn}; offset gaps: {gaps:.0f})")
    print(f"bare aiokafka consumer       : {bare_s:7.2f} s  {n / bare_s:9.0f} ev/s")
    noop = (n - 1) / noop_s
    print(
        f"faust agent that only counts : {noop_s:7.2f} s  {noop:9.0f} ev/s"
        f"   (ratio to bare: {noop / (n / bare_s):.3f}, the ceiling for any faust worker)"
    )
    print(
        f"vitals worker (both stages)  : {worker_s:7.2f} s  {rate:9.0f} ev/s"
        f"   (timed over {n - c1:.0f} events; stage-2 messages: {stage2:.0f})"
    )
    print(f"replay (in process)          : {replay_s:7.2f} s  {n / replay_s:9.0f} ev/s")
    print(f"ratio worker/faust agent     : {rate / noop:.3f}   (target 0.8)")
    print(f"ratio worker/replay          : {rate / (n / replay_s):.3f}   (target 0.5)")
    print(f"ratio worker/bare throughput : {rate / (n / bare_s):.4f}")


if __name__ == "__main__":
    main()
