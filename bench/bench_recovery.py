"""Restart recovery time of the streaming worker with the state of N events behind it.

    VITALS_KAFKA_BOOTSTRAP=127.0.0.1:39092 .venv/bin/python bench/bench_recovery.py [N_EVENTS]

Default N = 1,000,000 (the issue's figure; the fill alone takes minutes). The
issue's target: ≤ 30 s.

Method
------
1. **Fill.** A worker (2 input partitions, 2 assess partitions) processes N
   valid events (N/2 suggestions, each answered). Event times are 0.15 s
   apart, so all N events fall inside the resolver's default dedup retention
   (1 day) and the state is the largest these events can make: every event
   id is kept for de-duplication and every suggestion id for late feedback.
   The bench waits until both stages are done and two more checkpoints have
   completed, then stops the worker with SIGTERM (a normal restart). The
   number of records in the changelog topics (what a restart must read back:
   the store is ``memory://``, which replays the changelogs; the topics are
   compacted, but the broker's cleaner may not have run yet) is printed.
2. **New events** (100 suggestions + outcomes, after the others in event
   time) are produced while no worker runs.
3. **Restart.** A new worker process of the same group is started; the clock
   runs from ``Popen`` (so Python start-up and imports, group join, table
   recovery and state rebuild are all included). /readyz and /metrics are
   polled every 50 ms: *ready* = the first 200 from /readyz, *processing* =
   the first /metrics showing the resolver counters at N + 200 (state
   restored and the new events processed; exactly N + 200 also shows nothing
   was counted twice).

Printed: fill size, changelog records, both times and the ratio to 30 s, the
worker's own ``vitals_worker_state_restore_seconds`` and its resident memory.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import bootstrap
from bench.worker_harness import Bench, event_pairs, resolved, wait_both_stages

SPACING = 0.15
NEW = 100


def _changelog_records(servers: str, app_id: str) -> dict[str, int]:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=servers)
    try:
        out = {}
        for topic in sorted(consumer.topics()):
            if topic.startswith(f"{app_id}-") and "changelog" in topic:
                tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
                ends = consumer.end_offsets(tps)
                begins = consumer.beginning_offsets(tps)
                out[topic[len(app_id) + 1 :]] = sum(ends[tp] - begins[tp] for tp in tps)
        return out
    finally:
        consumer.close()


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def main() -> None:
    servers = bootstrap()
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    n_sugg = n // 2
    bench = Bench(servers, partitions=2, name="bench-recovery")
    try:
        # 1. fill
        a = bench.worker(assess_partitions=2)
        a.start()
        a.wait_ready()
        t0 = time.perf_counter()
        produced = bench.produce(event_pairs(n_sugg, spacing=SPACING))
        wait_both_stages([a], produced, timeout=max(600, produced / 500))
        fill_s = time.perf_counter() - t0
        ck = a.metrics().get("vitals_worker_checkpoints_total", 0)
        a.wait(lambda m: m.get("vitals_worker_checkpoints_total", 0) >= ck + 2, timeout=120)
        rss_a = _rss_mb(a.proc.pid)
        a.stop()
        changelogs = _changelog_records(servers, bench.app_id)
        # 2. new events while no worker runs
        bench.produce(event_pairs(NEW, start=n_sugg, spacing=SPACING))
        total = produced + 2 * NEW
        # 3. restart
        b = bench.worker(assess_partitions=2)
        t0 = time.perf_counter()
        b.start()
        ready_s = processing_s = None
        deadline = time.monotonic() + 900
        while processing_s is None:
            now = time.perf_counter() - t0
            if ready_s is None and b.get("/readyz", timeout=2)[0] == 200:
                ready_s = now
            if ready_s is not None:
                m = b.metrics()
                if resolved(m) >= total:
                    processing_s = time.perf_counter() - t0
            if not b.alive() or time.monotonic() > deadline:
                raise SystemExit(f"restarted worker died or timed out; see {b.log}")
            time.sleep(0.05)
        m = b.metrics()
        rss_b = _rss_mb(b.proc.pid)
    finally:
        bench.close()
    print(
        f"state of {produced} events (filled in {fill_s:.0f} s, {produced / fill_s:.0f} ev/s "
        f"incl. producing); worker RSS {rss_a:.0f} MB"
    )
    print(
        "changelog records to read back: "
        + ", ".join(f"{k} {v}" for k, v in changelogs.items())
        + f" (total {sum(changelogs.values())})"
    )
    print(f"restart → /readyz 200           : {ready_s:6.1f} s")
    print(
        f"restart → new events processed  : {processing_s:6.1f} s"
        f"   (resolver events {resolved(m):.0f}, expected {total})"
    )
    restore = {
        k.split('"')[1]: round(v, 2)
        for k, v in m.items()
        if k.startswith("vitals_worker_state_restore_seconds{")
    }
    print(f"state rebuild in the worker (s)  : {restore}; RSS after restart {rss_b:.0f} MB")
    dup = m.get("vitals_resolver_duplicates_total", 0)
    red = m.get("vitals_worker_input_redelivered_total", 0)
    print(f"after restart: duplicates {dup:.0f}, redelivered-and-skipped {red:.0f}")
    if resolved(m) != total or dup:
        print(f"WARNING: counted {resolved(m):.0f} events, expected exactly {total}")
    print(f"ratio recovery/target(30 s): {processing_s / 30:.2f}")


if __name__ == "__main__":
    main()
