"""Hostile input for the worker: bad messages of every kind mixed with good events.

:func:`hostile` generates the bad messages (seeded), each with its class; the
reason the worker must dead-letter it with is what the contract says
(:func:`expected_reason`). :func:`run_hostile` sends them, interleaved with good
events, through a real worker on the broker in ``$VITALS_KAFKA_BOOTSTRAP`` and
checks what came out: used by ``bench/bench_hostile.py`` (100k+ bad messages) and
``tests/integration/test_hostile_input.py`` (a smaller run in the suite).
"""

from __future__ import annotations

import json
import random
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.worker_harness import Bench, event_pairs
from monitor.core.contract import SLUG_PATTERN, InvalidEvent, parse_event

VALID = {
    "schema_version": 1,
    "type": "suggestion",
    "event_id": "h0",
    "suggestion_id": "hs0",
    "occurred_at": "2026-01-05T09:00:00Z",
    "feature": "note-draft",
    "model_version": "v1",
    "site": "site-1",
    "score": 0.5,
}
INJECTIONS = [  # in `site`: what would break an exposition line or a label matcher
    'site-1"} 1\nvitals_fake{site="x', "site-1\n", "{site}", 'a"b', "site-1\\", "",
    "ѕite-1",  # Cyrillic s
    "ｓｉｔｅ-1",  # fullwidth
    "site\u200b1",  # zero-width space
    "SITE-1", "site 1", "-site", "s" * 65,
]  # fmt: skip


def _event(rng: random.Random, i: int, **changes: Any) -> dict[str, Any]:
    ev = dict(VALID, event_id=f"h{i}", suggestion_id=f"hs{i}")
    ev.update(changes)
    return ev


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode()


def _random_bytes(rng: random.Random, i: int) -> bytes:
    return b"\xff" + rng.randbytes(rng.randint(0, 300))  # never UTF-8


def _garbage_text(rng: random.Random, i: int) -> bytes:
    return bytes(rng.choice(b"{}[]:,\"'abc 019\n\t") for _ in range(rng.randint(1, 200)))


def _truncated(rng: random.Random, i: int) -> bytes:
    whole = _dumps(_event(rng, i))
    return whole[: rng.randint(0, len(whole) - 1)]


def _nested(rng: random.Random, i: int) -> bytes:
    depth = rng.randint(2_000, 30_000)
    if rng.random() < 0.5:
        return b"[" * depth + b"]" * depth
    inner = b'{"x":' * depth + b"1" + b"}" * depth
    return _dumps(_event(rng, i, inputs={})).replace(b'"inputs": {}', b'"inputs": ' + inner)


def _huge(rng: random.Random, i: int) -> bytes:
    size = rng.choice([70_000, 200_000, 990_000])  # the largest exceeds a dead letter's room
    return _dumps(_event(rng, i, site="x" * size))


def _wrong_types(rng: random.Random, i: int) -> bytes:
    field, value = rng.choice([("score", "0.5"), ("draft_length", "12"), ("event_id", 17),
                               ("score", True), ("site", 5), ("inputs", [1, 2]),
                               ("occurred_at", 1767600000), ("schema_version", "1")])  # fmt: skip
    return _dumps(_event(rng, i, **{field: value}))


def _unknown_field(rng: random.Random, i: int) -> bytes:
    name = rng.choice(["note", "patient_name", "mrn", "Comment", "x" * 100])
    return _dumps(_event(rng, i, **{name: "Jane Doe, DOB 1950-01-01"}))


def _nan(rng: random.Random, i: int) -> bytes:
    token = rng.choice(["NaN", "Infinity", "-Infinity", "1e999"])
    return _dumps(_event(rng, i)).replace(b'"score": 0.5', b'"score": ' + token.encode())


def _far_time(rng: random.Random, i: int) -> bytes:
    at = rng.choice(["1970-01-01T00:00:00Z", "1999-12-31T23:59:59Z", "2099-06-01T00:00:00Z",
                     "2150-01-01T00:00:00Z", "9999-12-31T23:59:59Z"])  # fmt: skip
    return _dumps(_event(rng, i, occurred_at=at))


def _injection(rng: random.Random, i: int) -> bytes:
    return _dumps(_event(rng, i, site=rng.choice(INJECTIONS)))


def _duplicate_key(rng: random.Random, i: int) -> bytes:
    text = _dumps(_event(rng, i)).decode()
    key = rng.choice(['"site": "site-1"', '"feature": "note-draft"', '"score": 0.5'])
    twin = key.replace("site-1", "site-2").replace("0.5", "0.9").replace("note-draft", "x")
    return text.replace(key, f"{key}, {twin}").encode()


CLASSES: dict[str, tuple[float, Callable[[random.Random, int], bytes]]] = {
    "random_bytes": (0.12, _random_bytes),
    "garbage_text": (0.10, _garbage_text),
    "truncated_json": (0.12, _truncated),
    "deeply_nested": (0.04, _nested),
    "huge_json": (0.005, _huge),
    "wrong_types": (0.12, _wrong_types),
    "unknown_field": (0.10, _unknown_field),
    "nan_inf": (0.08, _nan),
    "far_time": (0.10, _far_time),
    "label_injection": (0.115, _injection),
    "duplicate_key": (0.10, _duplicate_key),
}
"""class -> (share of the bad messages, generator)."""


def hostile(n: int, seed: int = 18) -> list[tuple[str, bytes]]:
    """*n* bad messages as (class, value), every class present when n >= 200."""
    rng = random.Random(seed)
    names = list(CLASSES)
    weights = [CLASSES[c][0] for c in names]
    out = [(c, CLASSES[c][1](rng, i)) for i, c in enumerate(names)]  # one of each first
    for i in range(len(out), n):
        c = rng.choices(names, weights)[0]
        out.append((c, CLASSES[c][1](rng, i)))
    return out[:n]


def expected_reason(value: bytes, max_ahead: float = 3600.0) -> str:
    """The dead-letter reason the worker must give *value* (raises if it is valid)."""
    try:
        ev = parse_event(value)
    except InvalidEvent as exc:
        return exc.reason
    if ev.occurred_at.timestamp() - time.time() > max_ahead:
        return "future_time"
    raise AssertionError(f"not a bad message: {value[:100]!r}")


def _rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


@dataclass
class HostileReport:
    bad_sent: Counter[str] = field(default_factory=Counter)  # per class
    good_sent: int = 0
    good_counted: int = 0
    dead_letters: int = 0
    dead_by_reason: Counter[str] = field(default_factory=Counter)
    wrong_reason: list[str] = field(default_factory=list)  # "class: expected X, got Y"
    missing: int = 0  # bad messages with no dead letter
    altered: int = 0  # dead letters whose value is not the original (or its prefix)
    leaked_detail: int = 0  # details quoting the sender's text
    bad_labels: list[str] = field(default_factory=list)
    series: float = 0.0
    rss_start: int = 0
    rss_peak: int = 0
    rss_end: int = 0
    seconds: float = 0.0
    alive: bool = True


STALL_S = 180.0
"""Seconds the worker may go without processing a message before the run gives up
(a busy machine slows it down; a stuck worker must still end the run)."""

_LABEL = re.compile(r'(feature|model_version|site|input)="((?:[^"\\]|\\.)*)"')
"""A series label and its value; a slug, ``*`` (all), or ``input=""`` (no input)."""


def run_hostile(servers: str, n_bad: int, n_good_pairs: int, seed: int = 18) -> HostileReport:
    """Send *n_bad* hostile messages mixed with ``2 n_good_pairs`` good events through a
    worker; wait until it has counted them all; check the dead-letter topic."""
    from kafka import KafkaConsumer

    rng = random.Random(seed)
    bad = hostile(n_bad, seed)
    good = list(event_pairs(n_good_pairs, tag="g", spacing=2.0))
    # interleave: the good ones keep their order (a suggestion before its outcome)
    slots = sorted(rng.sample(range(len(bad) + len(good)), len(bad)))
    mixed: list[tuple[str | None, bytes, bytes]] = []
    bi = gi = 0
    for pos in range(len(bad) + len(good)):
        if bi < len(slots) and slots[bi] == pos:
            mixed.append((bad[bi][0], b"bad-%d" % bi, bad[bi][1]))
            bi += 1
        else:
            mixed.append((None, *good[gi]))
            gi += 1
    report = HostileReport(good_sent=len(good))
    bench = Bench(servers, partitions=2, name="hostile")
    try:
        w = bench.worker(checkpoint_interval=1.0, tick_timer=1.0)
        w.start()
        w.wait_ready()
        assert w.proc is not None
        report.rss_start = _rss_bytes(w.proc.pid)
        producer = bench.producer(max_request_size=2**20 + 1024)
        futures = []
        for cls, key, value in mixed:
            futures.append((cls, value, producer.send(bench.topic, key=key, value=value)))
        producer.flush()
        sent: dict[tuple[int, int], tuple[str, bytes]] = {}
        for cls, value, fut in futures:
            meta = fut.get(timeout=60)
            if cls is not None:
                sent[(meta.partition, meta.offset)] = (cls, value)
                report.bad_sent[cls] += 1
        producer.close()
        t0 = time.monotonic()
        progress, stalled_since = -1.0, t0  # give up after STALL_S without progress
        while time.monotonic() - stalled_since < STALL_S:
            if not w.alive():
                report.alive = False
                break
            m = w.metrics()
            report.rss_peak = max(report.rss_peak, _rss_bytes(w.proc.pid))
            if (m.get("vitals_resolver_events_total", 0) >= len(good)
                    and m.get("vitals_worker_dead_letters_total", 0) >= n_bad):  # fmt: skip
                break
            done = m.get('vitals_worker_events_total{stage="resolve"}', 0.0)
            if done > progress:
                progress, stalled_since = done, time.monotonic()
            time.sleep(0.5)
        report.seconds = time.monotonic() - t0
        _, text = w.get("/metrics")
        m = w.metrics()
        report.good_counted = int(m.get("vitals_resolver_events_total", 0))
        report.dead_letters = int(m.get("vitals_worker_dead_letters_total", 0))
        report.series = m.get("vitals_series", 0.0)
        report.bad_labels = [
            f"{k}={v}" for k, v in _LABEL.findall(text)
            if v != "*" and not re.fullmatch(SLUG_PATTERN, v) and (k, v) != ("input", "")
        ]  # fmt: skip
        if w.alive():
            report.rss_end = _rss_bytes(w.proc.pid)
        consumer = KafkaConsumer(
            bench.dlq, bootstrap_servers=servers, auto_offset_reset="earliest",
            consumer_timeout_ms=5000, group_id=None, fetch_max_bytes=8 * 2**20,
            max_partition_fetch_bytes=2 * 2**20,
        )  # fmt: skip
        seen: set[tuple[int, int]] = set()
        try:
            for rec in consumer:
                h = {k: v for k, v in rec.headers}
                src = (int(h["vitals-source-partition"]), int(h["vitals-source-offset"]))
                if src not in sent:
                    continue
                seen.add(src)
                cls, value = sent[src]
                reason = h["vitals-reason"].decode()
                report.dead_by_reason[reason] += 1
                want = expected_reason(value)
                if reason != want:
                    report.wrong_reason.append(f"{cls}: expected {want}, got {reason}")
                truncated = "vitals-truncated" in h
                if rec.value != value and not (truncated and value.startswith(rec.value or b"")):
                    report.altered += 1
                detail = h["vitals-detail"]
                if b"Jane" in detail or b"vitals_fake" in detail or b"xxxxxxxx" in detail:
                    report.leaked_detail += 1
                if len(seen) == len(sent):
                    break
        finally:
            consumer.close()
        report.missing = len(sent) - len(seen)
        w.stop()
    finally:
        bench.close()
    return report
