"""Streaming worker throughput vs. a bare aiokafka consumer on the same topic.

Produces N valid events to a fresh 2-partition topic, then measures in the same
run (a) a bare ``aiokafka.AIOKafkaConsumer`` reading all of them (baseline) and
(b) a ``python -m streams worker`` subprocess processing all of them through
stage 1 (time until the resolver counters on /metrics reach N; the worker's
start-up and group join are excluded by starting it first on an empty topic).
Stage 2 runs too (the Assessor is applied as resolutions arrive), so the worker
number is "both stages" whenever ``monitor.assess`` exists.

    VITALS_KAFKA_BOOTSTRAP=127.0.0.1:19292 python -m bench.bench_worker [N]
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

from bench.common import bootstrap

ROOT = Path(__file__).resolve().parents[1]


def _events(n_suggestions: int) -> list[tuple[bytes, bytes]]:
    from datetime import UTC, datetime, timedelta

    base = datetime(2026, 1, 5, tzinfo=UTC)

    def ts(s: float) -> str:
        return (base + timedelta(seconds=s)).isoformat().replace("+00:00", "Z")

    out = []
    for i in range(n_suggestions):
        sid = f"s{i}"
        out.append(
            (
                sid.encode(),
                json.dumps(
                    {
                        "schema_version": 1,
                        "type": "suggestion",
                        "event_id": f"e{i}",
                        "suggestion_id": sid,
                        "occurred_at": ts(2 * i),
                        "feature": "note-draft",
                        "model_version": "v1",
                        "site": f"site-{i % 5}",
                        "score": 0.7,
                        "draft_length": 120,
                    }
                ).encode(),
            )
        )
        out.append(
            (
                sid.encode(),
                json.dumps(
                    {
                        "schema_version": 1,
                        "type": "outcome",
                        "event_id": f"o{i}",
                        "suggestion_id": sid,
                        "occurred_at": ts(2 * i + 40),
                        "outcome": "edited",
                        "edit_distance": 12,
                    }
                ).encode(),
            )
        )
    return out


def _metric(port: int, name: str) -> float:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return -1
    return sum(float(v) for v in re.findall(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M))


async def _bare(servers: str, topic: str, n: int) -> float:
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


def main() -> None:
    from kafka import KafkaAdminClient, KafkaProducer
    from kafka.admin import NewTopic

    servers = bootstrap()
    n_sugg = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    events = _events(n_sugg)
    n = len(events)
    run = uuid.uuid4().hex[:8]
    topic, dlq = f"bench-worker-{run}", f"bench-worker-{run}.dlq"
    admin = KafkaAdminClient(bootstrap_servers=servers)
    admin.create_topics([NewTopic(topic, 2, 1), NewTopic(dlq, 1, 1)])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tmp = Path(tempfile.mkdtemp(prefix="bench-worker-"))
    cfg = tmp / "worker.json"
    cfg.write_text(
        json.dumps(
            {
                "kafka": {"bootstrap": servers, "input_topic": topic, "dead_letter_topic": dlq},
                "app_id": f"bench-{run}",
                "assess_partitions": 2,
                "web_port": port,
                "web_host": "127.0.0.1",
                "data_dir": str(tmp / "data"),
                "log_level": "warning",
            }
        )
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "streams", "worker", "--config", str(cfg)],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        stdout=(tmp / "worker.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 90
        while _metric(port, "vitals_worker_ready") < 1:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"worker not ready; see {tmp / 'worker.log'}")
            time.sleep(0.5)
        producer = KafkaProducer(bootstrap_servers=servers, linger_ms=20, batch_size=256 * 1024)
        for key, value in events:
            producer.send(topic, key=key, value=value)
        producer.flush()
        producer.close()
        # the worker is consuming already; time it from now until it has all of them
        t0 = time.perf_counter()
        while _metric(port, "vitals_resolver_events_total") < n:
            if proc.poll() is not None:
                raise SystemExit("worker died")
            time.sleep(0.2)
        worker_s = time.perf_counter() - t0
        assess = _metric(port, "vitals_worker_events_total")
        bare_s = asyncio.run(_bare(servers, topic, n))
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        admin.delete_topics([topic, dlq])
        admin.close()
    print(f"events: {n} (2 input partitions, 2 assess partitions)")
    print(f"bare aiokafka consumer : {bare_s:7.2f} s  {n / bare_s:9.0f} ev/s")
    print(
        f"vitals worker (stage 1): {worker_s:7.2f} s  {n / worker_s:9.0f} ev/s"
        f"   (messages through both stages: {assess:.0f})"
    )
    print(f"ratio worker/bare throughput: {bare_s / worker_s:.3f}")
    print("note: the worker number includes producing time overlap (it consumes while the")
    print("      producer writes); the bare consumer reads an already-written topic.")


if __name__ == "__main__":
    main()
