"""Produce → metric-visible latency of the streaming worker at a steady rate.

    VITALS_KAFKA_BOOTSTRAP=127.0.0.1:39092 .venv/bin/python bench/bench_latency.py \
        [RATE] [SECONDS] [--transactions SIZE]

Defaults: 2,000 events/s for 40 s (the issue's target: p99 ≤ 1 s at 2,000/s).
With ``--transactions SIZE`` the events are published by a transactional
producer, SIZE per commit (the worker reads committed records only, so an
event waits for its transaction's commit too, and each commit marker is an
offset gap the worker must account for).

Method
------
One ``python -m streams worker`` (2 input partitions, 2 assess partitions) is
started on a fresh topic and waited for until ready. Then kafka-python
(``linger_ms=5``, included in the latency) produces suggestion/outcome pairs
at a steady RATE (paced in 5 ms steps), each event stamped with the wall clock
at its ``send()`` as ``occurred_at`` and remembered with that time; its
partition and offset come from the send's record metadata. A second thread
polls the worker's /metrics every 20 ms and records, per poll, the time and

- **stage 1** — ``vitals_resolver_events_total{partition=p}``: the topic is
  fresh and every event is valid and unique, so the ``k``-th event of
  partition ``p`` (in offset order) is visible at the first poll where that
  counter is ``> k``. Latency = that poll's time − the event's send time (an upper bound:
  the true instant lies within the preceding 20 ms).
- **stage 2** — the resolutions applied by the assessors, i.e. the sum of
  ``vitals_suggestions_total`` over the ``model_version="*", site="*"`` series
  (each resolution is counted there once). The k-th outcome produced is
  taken as visible at the first poll where that sum is ``> k`` (events are
  applied in event-time order = produce order here; across the two input
  partitions this matching is approximate to a few ms).

Event time vs. wall time: the resolver emits a result only once its
watermark (``clock − allowed_lateness``) passes the result time plus
``clock_skew``, and stage 2 applies items only up to the lowest stage-1
watermark. With the defaults (10 min + 1 min) a per-series metric therefore
trails real time by more than 11 minutes *by design*. To measure the pipeline
rather than that configured wait, this bench runs the worker with
``allowed_lateness: 0`` and ``clock_skew: 0`` (monitor config) and
``tick_interval: 0.05`` (a watermark tick after every batch). Stage-1 latency
does not depend on these settings.

Statistics exclude the first 2 s (warm-up) and the last 1 s (their results
wait for later events) of the production window; anything not visible 10 s
after the end is reported as missing. The 50 Hz /metrics polling costs the
worker some CPU too. The worker checkpoints every 5 s (state to changelogs,
flush, ack) while holding its lock, which shows up in the tail.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import bootstrap
from bench.worker_harness import Bench

_LINE = re.compile(
    r"^(vitals_resolver_events_total|vitals_suggestions_total)\{([^}]*)\} (\S+)$", re.M
)


def _now_rfc3339(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def _scrape(port: int) -> tuple[dict[int, float], float] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return None
    per_partition: dict[int, float] = {}
    applied = 0.0
    for name, labels, value in _LINE.findall(text):
        lab = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        if name == "vitals_resolver_events_total":
            per_partition[int(lab["partition"])] = float(value)
        elif lab.get("model_version") == "*" and lab.get("site") == "*":
            applied += float(value)
    return per_partition, applied


class Poller(threading.Thread):
    def __init__(self, port: int, every: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.port, self.every = port, every
        self.samples: list[tuple[float, dict[int, float], float]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            t0 = time.time()
            got = _scrape(self.port)
            if got is not None:
                self.samples.append((time.time(), *got))
            self.stop.wait(max(0.0, self.every - (time.time() - t0)))


def _first_reaching(counts: list[float], need: float, start: int) -> int:
    """Index of the first sample from *start* on with count >= need (len if none)."""
    i = start
    while i < len(counts) and counts[i] < need:
        i += 1
    return i


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("rate", type=float, nargs="?", default=2000.0, help="events/s")
    ap.add_argument("seconds", type=float, nargs="?", default=40.0)
    ap.add_argument(
        "--transactions", type=int, default=0, metavar="SIZE",
        help="publish as a transactional bridge: SIZE events per committed transaction",
    )  # fmt: skip
    args = ap.parse_args()
    servers = bootstrap()
    rate, seconds, txn = args.rate, args.seconds, args.transactions
    bench = Bench(servers, partitions=2, name="bench-latency")
    try:
        cfg = bench.tmp / "monitor.yaml"
        cfg.write_text("resolver:\n  allowed_lateness: 0\n  clock_skew: 0\n")
        w = bench.worker(assess_partitions=2, monitor_config=str(cfg), tick_interval=0.05)
        w.start()
        w.wait_ready()
        poller = Poller(w.port)
        poller.start()
        make = bench.bridge_producer if txn else bench.producer
        producer = make(linger_ms=5, batch_size=64 * 1024)
        if txn:
            producer.begin_transaction()
        sent: list[tuple[float, bool, object]] = []  # (send time, is outcome, future)
        step = 0.005
        t_start = time.time()
        i = 0
        while True:
            now = time.time()
            if now - t_start >= seconds:
                break
            due = (now - t_start) * rate
            while len(sent) < due:
                t = time.time()
                kind = "outcome" if len(sent) % 2 else "suggestion"
                if kind == "suggestion":
                    i += 1
                sid = f"s{i}"
                if kind == "suggestion":
                    body = {
                        "feature": "note-draft",
                        "model_version": "v1",
                        "site": f"site-{i % 5}",
                        "score": 0.7,
                        "draft_length": 120,
                    }
                else:
                    body = {"outcome": "edited" if i % 3 else "accepted", "edit_distance": 12}
                value = json.dumps(
                    {
                        "schema_version": 1,
                        "type": kind,
                        "event_id": f"{kind[0]}{i}",
                        "suggestion_id": sid,
                        "occurred_at": _now_rfc3339(t),
                        **body,
                    }
                ).encode()
                fut = producer.send(bench.topic, key=sid.encode(), value=value)
                sent.append((t, kind == "outcome", fut))
                if txn and len(sent) % txn == 0:
                    producer.commit_transaction()  # visible to committed reads from here
                    producer.begin_transaction()
            time.sleep(max(0.0, step - (time.time() - now)))
        if txn:
            producer.commit_transaction()
        producer.flush()
        t_end = time.time()
        meta = [(t, is_out, f.get(timeout=30)) for t, is_out, f in sent]
        producer.close()
        # wait until everything is visible (or 10 s)
        n_out = sum(1 for _, o, _ in meta if o)
        deadline = time.time() + 10
        while time.time() < deadline:
            s = poller.samples[-1] if poller.samples else None
            if s and sum(s[1].values()) >= len(meta) and s[2] >= n_out - 2:
                break
            time.sleep(0.1)
        time.sleep(0.2)
        poller.stop.set()
        poller.join()
        m = w.metrics()
    finally:
        bench.close()

    samples = poller.samples
    times = [s[0] for s in samples]
    lo, hi = t_start + 2.0, t_end - 1.0
    # stage 1: per partition, in offset order
    lat1: list[float] = []
    missing1 = 0
    by_part: dict[int, list[tuple[int, float]]] = {}
    for t, _, md in meta:
        by_part.setdefault(md.partition, []).append((md.offset, t))
    for p, evs in by_part.items():
        counts = [s[1].get(p, 0.0) for s in samples]
        j = 0
        # the k-th event of the partition (offset order; markers hold offsets too)
        for k, (_, t) in enumerate(sorted(evs)):
            j = _first_reaching(counts, k + 1, j)
            if not lo <= t <= hi:
                continue
            if j >= len(samples):
                missing1 += 1
            else:
                lat1.append(times[j] - t)
    # stage 2: k-th outcome ↔ applied resolutions > k
    lat2: list[float] = []
    missing2 = 0
    applied = [s[2] for s in samples]
    j = 0
    outs = sorted(t for t, o, _ in meta if o)
    for k, t in enumerate(outs):
        j = _first_reaching(applied, k + 1, j)
        if not lo <= t <= hi:
            continue
        if j >= len(samples):
            missing2 += 1
        else:
            lat2.append(times[j] - t)

    achieved = len(meta) / (t_end - t_start)
    print(
        f"produced {len(meta)} events in {t_end - t_start:.1f} s: {achieved:.0f} ev/s "
        f"(target {rate:.0f}); {len(samples)} /metrics polls "
        f"(every {(times[-1] - times[0]) / max(1, len(times) - 1) * 1000:.0f} ms on average)"
    )
    for name, lat, missing in (
        ("stage 1 (resolver counter)", lat1, missing1),
        ("stage 2 (per-series count)", lat2, missing2),
    ):
        if lat:
            print(
                f"{name}: n={len(lat)}  p50 {_pct(lat, 0.5) * 1000:6.0f} ms  "
                f"p99 {_pct(lat, 0.99) * 1000:6.0f} ms  max {max(lat) * 1000:6.0f} ms"
                f"  missing {missing}"
            )
        else:
            print(f"{name}: nothing visible (missing {missing})")
    print(
        f"worker checkpoints: {m.get('vitals_worker_checkpoints_total', 0):.0f}, "
        f"last took {m.get('vitals_worker_checkpoint_duration_seconds', 0) * 1000:.0f} ms"
    )
    if lat1:
        print(f"p99/target(1 s) stage 1: {_pct(lat1, 0.99):.2f}")


if __name__ == "__main__":
    main()
