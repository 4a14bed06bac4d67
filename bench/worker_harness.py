"""What the streaming-worker benchmarks share: events, topics, a worker subprocess.

Each benchmark runs ``python -m streams worker`` as a subprocess (as in
production) against the broker in ``$VITALS_KAFKA_BOOTSTRAP``, on fresh topics
and a fresh consumer group, and reads its ``/metrics``.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BASE = datetime(2026, 1, 5, tzinfo=UTC)


def _ts(seconds: float) -> str:
    return (BASE + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def event_pairs(
    n: int, start: int = 0, tag: str = "", spacing: float = 2.0
) -> Iterator[tuple[bytes, bytes]]:
    """``2 n`` valid events: n suggestions (*spacing* s apart in event time, 5
    sites) each answered 40 s later, as (key, value); in produce order."""
    for i in range(start, start + n):
        sid = f"s{tag}{i}"
        yield (
            sid.encode(),
            json.dumps(
                {
                    "schema_version": 1,
                    "type": "suggestion",
                    "event_id": f"e{tag}{i}",
                    "suggestion_id": sid,
                    "occurred_at": _ts(spacing * i),
                    "feature": "note-draft",
                    "model_version": "v1",
                    "site": f"site-{i % 5}",
                    "score": 0.7,
                    "draft_length": 120,
                }
            ).encode(),
        )
        yield (
            sid.encode(),
            json.dumps(
                {
                    "schema_version": 1,
                    "type": "outcome",
                    "event_id": f"o{tag}{i}",
                    "suggestion_id": sid,
                    "occurred_at": _ts(spacing * i + 40),
                    "outcome": "edited" if i % 3 else "accepted",
                    "edit_distance": 12,
                }
            ).encode(),
        )


def pythonpath() -> str:
    """The workers' PYTHONPATH: this checkout, after ``$VITALS_BENCH_PYTHONPATH``
    if set (e.g. a ``git archive`` of an older ``streams/`` to compare with)."""
    first = os.environ.get("VITALS_BENCH_PYTHONPATH")
    return f"{first}{os.pathsep}{ROOT}" if first else str(ROOT)


_HANDED_OUT: set[int] = set()


def port_range() -> range:
    """Ports to hand out: ``$VITALS_TEST_PORTS`` (``LO-HI``, inclusive) if set, else 6300-6399
    (machines shared by several developers give each a range)."""
    given = os.environ.get("VITALS_TEST_PORTS", "").strip()
    if not given:
        return range(6300, 6400)
    lo, _, hi = given.partition("-")
    return range(int(lo), int(hi) + 1)


def free_port() -> int:
    """A free local port of :func:`port_range` (from a place that depends on the pid);
    never the same one twice in a process (a worker binds its port only once it runs)."""
    ports = port_range()
    start = os.getpid() % len(ports)
    for port in [*ports[start:], *ports[:start]]:
        if port in _HANDED_OUT:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            _HANDED_OUT.add(port)
            return port
    if os.environ.get("VITALS_TEST_PORTS"):
        raise RuntimeError(f"no free port left in VITALS_TEST_PORTS={ports.start}-{ports.stop - 1}")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_metrics(text: str) -> dict[str, float]:
    """``{"name{labels}": value}`` plus ``{"name": sum over labels}``."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$", line)
        if not m:
            continue
        name, labels, value = m.group(1), m.group(2) or "", float(m.group(3))
        out[name + labels] = value
        if labels:
            out[name] = out.get(name, 0.0) + value
    return out


class Bench:
    """Fresh input and dead-letter topics and a fresh app id for one benchmark run."""

    def __init__(self, servers: str, partitions: int = 2, name: str = "bench") -> None:
        from kafka import KafkaAdminClient
        from kafka.admin import NewTopic

        self.servers = servers
        self.run = uuid.uuid4().hex[:8]
        self.topic, self.dlq = f"{name}-{self.run}", f"{name}-{self.run}.dlq"
        self.app_id = f"{name}-{self.run}"
        self.partitions = partitions
        self.admin = KafkaAdminClient(bootstrap_servers=servers)
        self.admin.create_topics([NewTopic(self.topic, partitions, 1), NewTopic(self.dlq, 1, 1)])
        self.tmp = Path(tempfile.mkdtemp(prefix=f"{name}-"))
        self.workers: list[WorkerProc] = []

    def worker(self, assess_partitions: int = 2, **settings: Any) -> WorkerProc:
        port = free_port()
        n = len(self.workers)
        cfg = self.tmp / f"worker{n}.json"
        cfg.write_text(
            json.dumps(
                {
                    "kafka": {
                        "bootstrap": self.servers,
                        "input_topic": self.topic,
                        "dead_letter_topic": self.dlq,
                    },
                    "app_id": self.app_id,
                    "assess_partitions": assess_partitions,
                    "web_port": port,
                    "web_host": "127.0.0.1",
                    "data_dir": str(self.tmp / f"data{n}"),
                    "log_level": "warning",
                    **settings,
                }
            )
        )
        w = WorkerProc(cfg, port, self.tmp / f"worker{n}.log")
        self.workers.append(w)
        return w

    def producer(self, **kw: Any) -> Any:
        from kafka import KafkaProducer

        kw.setdefault("linger_ms", 20)
        kw.setdefault("batch_size", 256 * 1024)
        return KafkaProducer(bootstrap_servers=self.servers, **kw)

    def bridge_producer(self, **kw: Any) -> Any:
        """A producer that publishes in transactions, as Kafka Connect's exactly-once
        sources do (ready: ``begin_transaction`` next)."""
        producer = self.producer(transactional_id=f"{self.topic}-bridge", **kw)
        producer.init_transactions()
        return producer

    def produce(self, events: Iterator[tuple[bytes, bytes]], transaction_size: int = 0) -> int:
        """Send the events; with ``transaction_size``, as a transactional bridge would:
        that many per committed transaction (each commit leaves a marker offset)."""
        producer = self.bridge_producer() if transaction_size else self.producer()
        n = 0
        for key, value in events:
            if transaction_size and n % transaction_size == 0:
                if n:
                    producer.commit_transaction()
                producer.begin_transaction()
            producer.send(self.topic, key=key, value=value)
            n += 1
        if transaction_size and n:
            producer.commit_transaction()
        producer.flush()
        producer.close()
        return n

    def produce_fast(self, events: Iterator[tuple[bytes, bytes]]) -> int:
        """Like :meth:`produce` (same key → partition mapping: murmur2, as Kafka's
        default partitioner) but with aiokafka record batches: a fraction of the
        CPU, so it disturbs a worker running at the same time much less."""
        import asyncio

        from aiokafka import AIOKafkaProducer
        from aiokafka.partitioner import murmur2

        n_parts = self.partitions

        async def run() -> int:
            producer = AIOKafkaProducer(bootstrap_servers=self.servers, linger_ms=5)
            await producer.start()
            try:
                batches = [producer.create_batch() for _ in range(n_parts)]
                futures = []
                n = 0
                for key, value in events:
                    p = (murmur2(key) & 0x7FFFFFFF) % n_parts
                    if batches[p].append(key=key, value=value, timestamp=None) is None:
                        futures.append(
                            await producer.send_batch(batches[p], self.topic, partition=p)
                        )
                        batches[p] = producer.create_batch()
                        batches[p].append(key=key, value=value, timestamp=None)
                    n += 1
                for p, batch in enumerate(batches):
                    if batch.record_count():
                        futures.append(await producer.send_batch(batch, self.topic, partition=p))
                await producer.flush()
                await asyncio.gather(*futures)
                return n
            finally:
                await producer.stop()

        return asyncio.run(run())

    def close(self) -> None:
        for w in self.workers:
            w.stop()
        internal = [t for t in self.admin.list_topics() if t.startswith(f"{self.app_id}-")]
        for topic in [self.topic, self.dlq, *internal]:
            try:
                self.admin.delete_topics([topic])
            except Exception as exc:  # best effort
                print(f"(cleanup of {topic}: {type(exc).__name__})", file=sys.stderr)
        self.admin.close()


class WorkerProc:
    """``python -m streams worker --config FILE`` as a subprocess."""

    def __init__(self, config: Path, port: int, log: Path) -> None:
        self.config, self.port, self.log = config, port, log
        self.proc: subprocess.Popen | None = None

    def start(self, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streams", "worker", "--config", str(self.config)],
            cwd=os.environ.get("VITALS_BENCH_PYTHONPATH") or ROOT,  # (-m puts cwd first)
            env=dict(os.environ, PYTHONPATH=pythonpath(), **(env or {})),
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def get(self, path: str, timeout: float = 5) -> tuple[int, str]:
        try:
            url = f"http://127.0.0.1:{self.port}{path}"
            with urllib.request.urlopen(url, timeout=timeout) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, ""
        except OSError:
            return -1, ""

    def metrics(self) -> dict[str, float]:
        status, text = self.get("/metrics")
        return parse_metrics(text) if status == 200 else {}

    def wait(
        self, cond: Callable[[dict[str, float]], bool], timeout: float, every: float = 0.2
    ) -> dict[str, float]:
        deadline = time.monotonic() + timeout
        while True:
            m = self.metrics()
            if m and cond(m):
                return m
            if not self.alive():
                raise SystemExit(f"worker died; see {self.log}")
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out waiting on the worker; see {self.log}")
            time.sleep(every)

    def wait_ready(self, timeout: float = 120) -> None:
        self.wait(lambda m: m.get("vitals_worker_ready", 0) >= 1, timeout, every=0.25)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def processed(m: dict[str, float]) -> float:
    """Input messages this worker process has handled so far (shown from the start:
    the checkpointed resolver counters of a partition are left off /metrics until
    it has caught up with what its topic held when it was assigned)."""
    return m.get('vitals_worker_events_total{stage="resolve"}', 0.0)


def resolved(m: dict[str, float]) -> float:
    """Input events counted by the resolver (unique, checkpointed)."""
    return m.get("vitals_resolver_events_total", 0.0)


def stage2_lag(m: dict[str, float]) -> float:
    """Messages of the internal assess topic not yet processed (0 when caught up)."""
    return sum(
        v
        for k, v in m.items()
        if k.startswith("vitals_worker_consumer_lag{") and "-assess" in k.split("topic=")[1]
    )


def wait_both_stages(
    workers: list[WorkerProc], n: int, timeout: float, every: float = 0.1
) -> float:
    """Wait until the workers' resolvers counted *n* events and stage 2 has no lag
    (seen on two polls in a row with no stage-2 progress in between); return the
    ``time.perf_counter()`` of the first of those two polls."""
    deadline = time.monotonic() + timeout
    prev: tuple[float, float] | None = None
    while True:
        t = time.perf_counter()
        ms = [w.metrics() for w in workers]
        total = sum(resolved(m) for m in ms)
        lag = sum(stage2_lag(m) for m in ms)
        assess = sum(m.get('vitals_worker_events_total{stage="assess"}', 0) for m in ms)
        if total >= n and lag == 0:
            if prev is not None and prev[1] == assess:
                return prev[0]
            prev = (t, assess)
        else:
            prev = None
        if not all(w.alive() for w in workers):
            raise SystemExit("a worker died")
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out: resolved {total}/{n}, stage-2 lag {lag}")
        time.sleep(every)
