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

Printed: every rate, as wall time and as CPU time of the process doing the work
(the worker's from ``/proc``, the agent's and replay's own ``process_time``: on a
machine shared with other work the CPU figures are the ones that hold), and the
ratios worker / faust agent (target 0.8), worker / replay (target 0.5) and worker /
bare consumer.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import bootstrap
from bench.worker_harness import Bench, event_pairs, processed, wait_both_stages


def faust_noop(servers: str, topic: str, n: int) -> tuple[float, float]:
    """Seconds, and CPU seconds, from the first to the *n*-th message for a faust agent
    that only counts (bench/faust_noop.py, a subprocess: faust wants its own event loop
    and worker)."""
    import subprocess

    script = Path(__file__).with_name("faust_noop.py")
    out = subprocess.run(
        [sys.executable, str(script), servers, topic, str(n)],
        capture_output=True,
        text=True,
        timeout=max(600, n / 50),
        check=False,
    )
    found = re.search(r"(\d+\.\d+) (\d+\.\d+) \d+\s*$", out.stdout)  # (after spinner codes)
    if found is None:
        raise SystemExit(f"faust_noop.py failed: {out.stdout[-500:]} {out.stderr[-2000:]}")
    return float(found.group(1)), float(found.group(2))


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process *pid* so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
    """CPU seconds for the in-process engine (replay) to apply *events*, finish included
    (one process, one thread: on an idle machine its wall time)."""
    from monitor.replay import Replay

    engine = Replay()
    t0 = time.process_time()
    for i, (_, value) in enumerate(events, start=1):
        engine.feed_line(i, value)
    engine.finish()
    return time.process_time() - t0


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
        noop_s, noop_cpu = faust_noop(servers, bench.topic, n)
        w = bench.worker(assess_partitions=2)
        w.start()
        assert w.proc is not None
        m = w.wait(lambda m: processed(m) > 0, timeout=600, every=0.05)
        t1, c1, cpu1 = time.perf_counter(), processed(m), cpu_seconds(w.proc.pid)
        done = wait_both_stages([w], n, timeout=max(600, n / 20))
        worker_cpu = cpu_seconds(w.proc.pid) - cpu1
        worker_s = done - t1
        m = w.metrics()
    finally:
        bench.close()
    rate = (n - c1) / worker_s
    stage2 = m.get('vitals_worker_events_total{stage="assess"}', 0)
    gaps = m.get("vitals_worker_offset_gaps_total", 0)
    txn = f", {args.transactions} per transaction" if args.transactions else ""
    noop, cpu_rate, noop_cpu_rate = (n - 1) / noop_s, (n - c1) / worker_cpu, (n - 1) / noop_cpu
    replay = n / replay_s
    print(f"events: {n} (2 input partitions, 2 assess partitions{txn}; offset gaps: {gaps:.0f})")
    rows = [
        ("bare aiokafka consumer", bare_s, n / bare_s, None, None),
        ("faust agent that only counts", noop_s, noop, noop_cpu, noop_cpu_rate),
        ("vitals worker (both stages)", worker_s, rate, worker_cpu, cpu_rate),
        ("replay (in process)", None, None, replay_s, replay),
    ]
    print(f"{'':29}  {'wall s':>7} {'ev/s':>9} {'CPU s':>7} {'ev/CPU-s':>9}")
    for name, *figures in rows:
        cells = ["" if x is None else f"{x:.2f}" if i % 2 == 0 else f"{x:.0f}"
                 for i, x in enumerate(figures)]  # fmt: skip
        print(f"{name:29}: {cells[0]:>7} {cells[1]:>9} {cells[2]:>7} {cells[3]:>9}")
    print(f"(worker timed over {n - c1:.0f} events; stage-2 messages: {stage2:.0f})")
    wall, cpu = rate / noop, cpu_rate / noop_cpu_rate
    print(f"ratio worker/faust agent     : {wall:.3f} wall, {cpu:.3f} CPU (target 0.8)")
    print(f"ratio worker/replay          : {cpu_rate / replay:.3f} CPU (target 0.5)")
    print(f"ratio worker/bare throughput : {rate / (n / bare_s):.4f} wall")


if __name__ == "__main__":
    main()
