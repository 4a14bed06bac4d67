"""The streaming worker (`python -m streams worker`) on a real local Kafka.

Each test runs the worker as a subprocess (as in production), feeds the input
topic with kafka-python and reads the worker's /metrics and the dead-letter
topic. Counts come from the resolver counters on /metrics, which are
checkpointed with the state: after a restart they must be exact.
"""

from __future__ import annotations

import json
import signal
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from worker_harness import WorkerProcess, free_port, interesting, read_all, worker_config

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[2]
BASE = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _ts(seconds: float) -> str:
    return (BASE + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def good_events(n: int, start: int = 0, tag: str = "") -> list[dict]:
    """n suggestions, 10 s apart, each answered 30 s later (2n events)."""
    out = []
    for i in range(start, start + n):
        sid = f"s{tag}{i}"
        out.append(
            {
                "schema_version": 1,
                "type": "suggestion",
                "event_id": f"e{tag}{i}",
                "suggestion_id": sid,
                "occurred_at": _ts(10 * i),
                "feature": "note-draft",
                "model_version": "v1",
                "site": f"site-{i % 3}",
                "score": 0.5,
                "draft_length": 100,
            }
        )
        out.append(
            {
                "schema_version": 1,
                "type": "outcome",
                "event_id": f"o{tag}{i}",
                "suggestion_id": sid,
                "occurred_at": _ts(10 * i + 30),
                "outcome": "accepted" if i % 2 else "edited",
                "edit_distance": 10,
            }
        )
    return out


BAD = [
    (b"\xff\xfe garbage", "undecodable"),
    (b"{not json", "invalid_json"),
    (b'{"schema_version": 2, "type": "suggestion"}', "unsupported_schema_version"),
    (
        json.dumps(
            {
                "schema_version": 1,
                "type": "feedback",
                "event_id": "x1",
                "suggestion_id": "s1",
                "occurred_at": _ts(5),
                "category": "unsafe",
                "comment": "free text with PHI",
            }
        ).encode(),
        "contract_violation",
    ),
    (b"[1, 2, 3]", "contract_violation"),
    (  # a bridge with its clock two days ahead: valid, but it would blind the monitor
        json.dumps(
            {
                "schema_version": 1,
                "type": "feedback",
                "event_id": "x2",
                "suggestion_id": "s2",
                "occurred_at": (datetime.now(UTC) + timedelta(days=2)).isoformat(),
                "category": "unsafe",
            }
        ).encode(),
        "future_time",
    ),
]


@pytest.fixture
def setup(kafka_bootstrap: str, kafka_topic, tmp_path: Path) -> Iterator[dict]:
    from kafka import KafkaProducer

    input_topic = kafka_topic(2, prefix="vitals-in")
    dlq = kafka_topic(1, prefix="vitals-dlq")
    app_id = f"vitals-test-{uuid.uuid4().hex[:8]}"
    port = free_port()
    config = tmp_path / "worker.yaml"
    config.write_text(
        json.dumps(
            worker_config(kafka_bootstrap, input_topic, dlq, app_id, port, tmp_path / "data")
        )
    )
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    workers: list[WorkerProcess] = []

    def worker() -> WorkerProcess:
        w = WorkerProcess(config, port, tmp_path / "worker.log")
        w.start()
        workers.append(w)
        return w

    def send(events: list[dict | bytes], key: bytes | None = None) -> None:
        for ev in events:
            if isinstance(ev, dict):
                producer.send(
                    input_topic, key=ev["suggestion_id"].encode(), value=json.dumps(ev).encode()
                )
            else:
                producer.send(
                    input_topic, key=key or b"bad", value=ev, headers=[("origin", b"test")]
                )
        producer.flush()

    yield {
        "worker": worker,
        "send": send,
        "dlq": dlq,
        "input": input_topic,
        "bootstrap": kafka_bootstrap,
        "tmp": tmp_path,
        "app_id": app_id,
    }
    for w in workers:
        w.stop(signal.SIGKILL)
    producer.close()


def test_dead_letters_and_good_events(setup) -> None:
    good = good_events(40)
    mixed: list = []
    for i, ev in enumerate(good):
        mixed.append(ev)
        if i % 16 == 5:
            mixed.append(BAD[(i // 16) % len(BAD)][0])
    mixed += [b for b, _ in BAD]
    bad_sent = [m for m in mixed if isinstance(m, bytes)]
    w = setup["worker"]()
    setup["send"](mixed)
    n_good = len(good)
    m = w.wait(
        lambda m: (
            m.get("vitals_resolver_events_total", 0) >= n_good
            and m.get("vitals_worker_dead_letters_total", 0) >= len(bad_sent)
        )
    )
    assert m["vitals_resolver_events_total"] == n_good
    assert m["vitals_resolver_duplicates_total"] == 0
    assert m["vitals_worker_dead_letters_total"] == len(bad_sent)
    by_reason = {r: sum(1 for b in bad_sent if dict(BAD)[b] == r) for _, r in BAD}
    for reason, n in by_reason.items():
        assert m[f"vitals_worker_dead_letters_total{{reason={reason}}}"] == n, reason
    # stage 2 received the resolutions (4 rollup messages each) and ticks
    m = w.wait(lambda m: m.get("vitals_worker_events_total{stage=assess}", 0) > 0)
    status, _ = w.get("/healthz")
    assert status == 200
    assert w.get("/readyz")[0] == 200

    records = read_all(setup["bootstrap"], setup["dlq"], len(bad_sent))
    assert len(records) == len(bad_sent)
    assert sorted(r.value for r in records) == sorted(bad_sent)
    for r in records:
        h = dict(r.headers)
        assert h["vitals-reason"].decode() == dict(BAD)[r.value]
        assert h["vitals-source-topic"].decode() == setup["input"]
        assert int(h["vitals-source-partition"]) in (0, 1)
        assert int(h["vitals-source-offset"]) >= 0
        assert h["origin"] == b"test"  # original headers are kept
        assert b"PHI" not in h["vitals-detail"]  # the detail never carries the payload


def test_bad_input_too_large_to_forward_is_dead_lettered_cut_to_fit(setup) -> None:
    """A message the broker took but the worker's producer could not forward whole
    (its request limit is 1,000,000 bytes): dead-lettered, cut and marked, and the
    good events after it are all counted (it used to fail the stage and be lost)."""
    from kafka import KafkaAdminClient
    from kafka.admin import ConfigResource, ConfigResourceType

    config = setup["tmp"] / "worker.yaml"
    settings = json.loads(config.read_text())
    dlq = f"vitals-dlq-new-{uuid.uuid4().hex[:8]}"  # not created: the worker declares it
    settings["kafka"]["dead_letter_topic"] = dlq
    config.write_text(json.dumps(settings))
    big = b"{" + b"x" * 999_900  # 999,901 bytes: over the contract's 64 KiB
    w = setup["worker"]()
    setup["send"]([big], key=b"big")
    good = good_events(10)
    setup["send"](good)
    m = w.wait(
        lambda m: (
            m.get("vitals_resolver_events_total", 0) >= len(good)
            and m.get("vitals_worker_dead_letters_total", 0) >= 1
        )
    )
    assert m["vitals_resolver_events_total"] == len(good)
    assert m["vitals_worker_dead_letters_total{reason=contract_violation}"] == 1
    assert m["vitals_worker_dead_letters_truncated_total"] == 1
    [record] = read_all(setup["bootstrap"], dlq, 1)
    h = dict(record.headers)
    assert h["vitals-truncated"] == b"value; value was 999901 bytes"
    assert h["vitals-reason"] == b"contract_violation" and h["origin"] == b"test"
    assert record.key == b"big"
    assert 900_000 < len(record.value) < 999_901 and big.startswith(record.value)
    admin = KafkaAdminClient(bootstrap_servers=setup["bootstrap"])
    try:
        desc = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, dlq)])
        partitions = admin.describe_topics([dlq])[0]["partitions"]
        admin.delete_topics([dlq])
    finally:
        admin.close()
    # as `vitals topics create` makes it
    assert desc["topic"][dlq]["retention.ms"]["value"] == str(30 * 86_400_000), desc
    assert len(partitions) == 1


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_restart_resumes_without_loss_or_double_count(setup, sig) -> None:
    first = good_events(60)
    dups = first[:10]  # at-least-once: the bridge re-sends some events
    w = setup["worker"]()
    setup["send"](first + dups)
    n1 = len(first) + len(dups)
    w.wait(lambda m: m.get("vitals_resolver_events_total", 0) >= n1)
    if sig == signal.SIGKILL:
        # Kill right after more input arrives: some of it is processed but not checkpointed.
        setup["send"](good_events(30, start=60))
        time.sleep(0.3)
    w.stop(sig)

    second = good_events(30, start=60) if sig == signal.SIGTERM else []
    second += good_events(30, start=90)
    second_dups = second[:4]
    setup["send"](second + second_dups)
    w2 = setup["worker"]()
    total = n1 + 60 + 60 + len(second_dups)
    m = w2.wait(lambda m: m.get("vitals_resolver_events_total", 0) >= total, timeout=90)
    time.sleep(2)  # anything re-processed twice would show up now
    m = w2.metrics()
    assert m["vitals_resolver_events_total"] == total, interesting(m)
    assert m["vitals_resolver_duplicates_total"] == len(dups) + len(second_dups)
    assert m["vitals_resolver_conflicting_suggestions_total"] == 0
    assert m["vitals_resolver_conflicting_outcomes_total"] == 0
    assert m["vitals_worker_dead_letters_total"] == 0
    _assert_changelogs_compacted_in_small_segments(setup["bootstrap"], setup["app_id"])


def _assert_changelogs_compacted_in_small_segments(bootstrap: str, app_id: str) -> None:
    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

    from streams.topology import CHANGELOG_CONFIG

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        topics = [f"{app_id}-{t}-changelog" for t in ("resolve-state", "assess-state")]
        res = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, t) for t in topics])
        got = {name: cfg for by_name in res.values() for name, cfg in by_name.items()}
        assert sorted(got) == sorted(topics)
        for cfg in got.values():
            value = {k: v["value"] if isinstance(v, dict) else v for k, v in cfg.items()}
            assert value["cleanup.policy"] == "compact"
            for key, want in CHANGELOG_CONFIG.items():
                assert value[key] == str(want), (key, value[key])
    finally:
        admin.close()


def test_offsets_committed_past_the_state_are_read_back(setup) -> None:
    """faust can skip records across a rebalance and commit past them: a worker
    whose committed offsets are ahead of its checkpointed state reads the
    skipped records back from the broker and counts every event once."""

    first = good_events(40)
    w = setup["worker"]()
    setup["send"](first)
    m = w.wait(lambda m: m.get("vitals_resolver_events_total", 0) >= len(first))
    done = m.get("vitals_worker_checkpoints_total", 0) + 2  # state and offsets committed
    w.wait(lambda m: m.get("vitals_worker_checkpoints_total", 0) >= done)
    w.stop(signal.SIGTERM)
    second = good_events(40, start=40)
    setup["send"](second)

    skip = 7
    _move_committed_offsets(setup["bootstrap"], setup["app_id"], setup["input"], skip)
    w2 = setup["worker"]()
    total = len(first) + len(second)
    w2.wait(lambda m: m.get("vitals_resolver_events_total", 0) >= total, timeout=90)
    time.sleep(2)
    m = w2.metrics()
    assert m["vitals_resolver_events_total"] == total, interesting(m)
    assert m["vitals_resolver_duplicates_total"] == 0
    # at least the moved ranges (faust's consumer skips a few more records of its
    # own at start-up now and then: they are read back the same way)
    assert m["vitals_worker_offset_gaps_total"] >= 2
    assert m["vitals_worker_gap_records_read_total"] >= 2 * skip


def test_transactional_bridge_input_is_counted_once(setup) -> None:
    """A bridge that publishes in transactions leaves a commit marker after each
    one: an offset with no record. The worker accounts for those gaps without
    reading any record back, and counts every committed event exactly once; the
    events of an aborted transaction are not input."""
    from kafka import KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=setup["bootstrap"], transactional_id=f"bridge-{uuid.uuid4().hex[:6]}"
    )
    producer.init_transactions()

    def transaction(events: list[dict], commit: bool = True) -> None:
        producer.begin_transaction()
        for ev in events:
            value = json.dumps(ev).encode()
            producer.send(setup["input"], key=ev["suggestion_id"].encode(), value=value)
        if commit:
            producer.commit_transaction()
        else:
            producer.flush()  # on the broker, then aborted
            producer.abort_transaction()

    events = good_events(60)
    per_txn = 8
    for i in range(0, len(events), per_txn):
        transaction(events[i : i + per_txn])
        if i == 40:
            transaction(good_events(5, tag="aborted"), commit=False)
    producer.close()
    w = setup["worker"]()
    m = w.wait(lambda m: m.get("vitals_resolver_events_total", 0) >= len(events), timeout=90)
    time.sleep(2)
    m = w.metrics()
    assert m["vitals_resolver_events_total"] == len(events), interesting(m)
    assert m["vitals_resolver_duplicates_total"] == 0
    assert m["vitals_worker_dead_letters_total"] == 0
    # each partition's markers but the last (which no later record reveals) is a gap
    assert m["vitals_worker_offset_gaps_total"] >= len(events) // per_txn - 2 * 2
    assert m["vitals_worker_gap_records_read_total"] == 0


def _move_committed_offsets(bootstrap: str, group: str, topic: str, by: int) -> None:
    """Commit offsets ``by`` records past the group's committed ones (once the
    stopped worker has left the group: only an empty group's offsets can be set)."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.admin import KafkaAdminClient
    from kafka.errors import NoError
    from kafka.structs import OffsetAndMetadata

    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        ends = consumer.end_offsets(tps)
        committed = admin.list_group_offsets(group)[group]
        moved = {}
        for tp in tps:
            at = committed[tp].offset
            assert at >= 0 and at + by <= ends[tp], (tp, at, ends[tp])
            moved[tp] = OffsetAndMetadata(at + by, "", -1)
        deadline = time.monotonic() + 30
        while True:
            errors = admin.alter_group_offsets(group, moved)
            if all(e is NoError for e in errors.values()):
                break
            assert time.monotonic() < deadline, f"the stopped worker never left: {errors}"
            time.sleep(1)
        now = admin.list_group_offsets(group)[group]
        assert {tp: now[tp].offset for tp in tps} == {tp: o.offset for tp, o in moved.items()}
    finally:
        admin.close()
        consumer.close()


_COUNTERS = ("vitals_resolver_", "vitals_suggestions_", "vitals_flagged_suggestions_")


def test_counters_never_go_back_across_a_crash(setup) -> None:
    """After a SIGKILL the state is the last checkpoint's, below what was scraped
    before it. Prometheus reads any drop of a counter as a reset to zero, so
    rate() would count everything again: a restarted worker shows a partition's
    counts only once it has re-applied what its topic held."""
    config = Path(setup["tmp"]) / "worker.yaml"
    settings = json.loads(config.read_text())
    config.write_text(
        json.dumps({**settings, "checkpoint_interval": 600.0})
    )  # none before the kill
    events = good_events(1500)
    w = setup["worker"]()
    setup["send"](events)
    w.wait(lambda m: m.get("vitals_resolver_events_total", 0) >= len(events))
    # (leaf series only: one count per resolved suggestion, 750 at most)
    w.wait(lambda m: m.get("vitals_suggestions_total", 0) >= 3 * len(events) // 8)
    before = {
        k: v
        for k, v in w.samples().items()
        if k[0].startswith(_COUNTERS) and k[0].endswith("_total")
    }
    assert before and not w.metrics().get("vitals_worker_checkpoints_total")
    w.stop(signal.SIGKILL)

    w2 = setup["worker"]()
    seen: dict = {}  # lowest value scraped per counter sample after the restart
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        samples = w2.samples()
        for k, v in samples.items():
            if k in before:
                seen[k] = min(seen.get(k, v), v)
        if seen.keys() == before.keys() and all(samples.get(k) == v for k, v in before.items()):
            break
        time.sleep(0.01)
    dropped = {k: (before[k], v) for k, v in seen.items() if v < before[k]}
    assert not dropped, sorted(dropped.items())[:5]
    assert seen.keys() == before.keys(), before.keys() - seen.keys()
    assert w2.metrics().get("vitals_worker_catching_up", 0) == 0


def _delete_all_input(setup: dict) -> None:
    """What retention does to a topic: every record up to the end is gone."""
    from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

    tps = [TopicPartition(setup["input"], p) for p in (0, 1)]
    consumer = KafkaConsumer(bootstrap_servers=setup["bootstrap"])
    ends = consumer.end_offsets(tps)
    consumer.close()
    admin = KafkaAdminClient(bootstrap_servers=setup["bootstrap"])
    try:
        admin.delete_records(ends)
    finally:
        admin.close()


def _stop_cleanly(w: WorkerProcess) -> float:
    began = time.monotonic()
    w.stop(signal.SIGTERM, timeout=60)
    assert w.proc is not None and w.proc.returncode == 0, (w.proc.returncode, w.tail())
    return time.monotonic() - began


def test_sigterm_right_after_input_checkpoints_it_and_exits(setup) -> None:
    """faust waits at shutdown until every processed event is acked, and only a
    checkpoint acks: the timer that runs them stops first. A SIGTERM before the
    next checkpoint hung until the supervisor killed the worker, and its state
    was lost with it."""
    w = setup["worker"]()
    setup["send"](good_events(20))
    w.wait(lambda m: m.get("vitals_resolver_events_total", 0) >= 40)
    assert _stop_cleanly(w) < 20
    _delete_all_input(setup)  # nothing can be re-delivered: the state must have it all
    setup["send"](good_events(5, start=20) + good_events(3))  # 6 events seen before the stop
    w2 = setup["worker"]()
    w2.wait(lambda m: m.get("vitals_resolver_events_total", 0) >= 56, timeout=90)
    time.sleep(2)
    m = w2.metrics()
    assert m["vitals_resolver_events_total"] == 56, interesting(m)
    assert m["vitals_resolver_duplicates_total"] == 6, interesting(m)  # remembered
