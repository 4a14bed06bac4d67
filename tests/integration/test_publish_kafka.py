"""The publishing side against a real local Kafka broker."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer

from bridge.publisher import BrokerUnavailable, Publisher, TopicMissing
from monitor.core.contract import Suggestion, dump_event, parse_event
from monitor.kafka_settings import KafkaSettings
from monitor.schema import EXAMPLES

pytestmark = pytest.mark.kafka


def _consume(bootstrap: str, topic: str, n: int, timeout_s: float = 30) -> list:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=int(timeout_s * 1000),
    )
    records = []
    try:
        for record in consumer:
            records.append(record)
            if len(records) >= n:
                break
    finally:
        consumer.close()
    return records


def _events(n: int) -> list[dict]:
    out = []
    for i in range(n):
        ev = dict(EXAMPLES["suggestion"])
        ev.update(event_id=f"e-{i}", suggestion_id=f"s-{i % 17}", site=f"site-{i % 3}")
        out.append(ev)
    return out


def test_publish_then_consume_round_trip(kafka_bootstrap: str, kafka_topic) -> None:
    topic = kafka_topic(partitions=3)
    events = _events(200)
    with Publisher(KafkaSettings(bootstrap=kafka_bootstrap, input_topic=topic)) as pub:
        for ev in events:
            pub.publish(ev)
    assert pub.sent == 200 and pub.failed == 0
    records = _consume(kafka_bootstrap, topic, 200)
    assert len(records) == 200
    by_id = {ev["event_id"]: ev for ev in events}
    partitions_by_key: dict[bytes, set[int]] = {}
    for rec in records:
        got = parse_event(rec.value)
        assert rec.key == got.suggestion_id.encode()
        assert got == parse_event(json.dumps(by_id[got.event_id]))
        partitions_by_key.setdefault(rec.key, set()).add(rec.partition)
    # Keyed by suggestion_id: every suggestion's events sit on one partition.
    assert all(len(p) == 1 for p in partitions_by_key.values())
    assert len({p for ps in partitions_by_key.values() for p in ps}) > 1


@pytest.mark.skipif(
    shutil.which("kcat") is None and not __import__("os").environ.get("CI"),
    reason="kcat not installed (tools/bootstrap.sh installs it)",
)
def test_event_from_kcat_is_read_like_one_from_the_publisher(
    kafka_bootstrap: str, kafka_topic
) -> None:
    assert shutil.which("kcat"), "kcat must be installed in CI"
    topic = kafka_topic()
    example = EXAMPLES["suggestion"]
    # A non-Python bridge: pretty-printed-then-compacted JSON with its own key order.
    line = json.dumps(dict(reversed(list(example.items()))), separators=(", ", ": "))
    subprocess.run(
        ["kcat", "-P", "-b", kafka_bootstrap, "-t", topic, "-K", "\t"],
        input=f"{example['suggestion_id']}\t{line}\n".encode(),
        check=True,
        timeout=30,
    )
    with Publisher(KafkaSettings(bootstrap=kafka_bootstrap, input_topic=topic)) as pub:
        pub.publish(example)
    first, second = _consume(kafka_bootstrap, topic, 2)
    assert first.key == second.key == example["suggestion_id"].encode()
    from_kcat, from_publisher = parse_event(first.value), parse_event(second.value)
    assert isinstance(from_kcat, Suggestion)
    assert from_kcat == from_publisher
    assert dump_event(from_kcat) == dump_event(from_publisher)


def test_cli_publish_reports_invalid_lines_and_sends_the_rest(
    kafka_bootstrap: str, kafka_topic, tmp_path: Path
) -> None:
    topic = kafka_topic(partitions=2)
    lines = [json.dumps(ev) for ev in _events(50)]
    lines.insert(10, "{this is not json")
    lines.insert(20, json.dumps({**EXAMPLES["feedback"], "note": "free text"}))
    lines.insert(30, "")
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "monitor",
            "publish",
            str(path),
            "--bootstrap",
            kafka_bootstrap,
            "--topic",
            topic,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    assert f"{path}:11: invalid_json" in proc.stderr
    assert f"{path}:21: contract_violation note:" in proc.stderr
    assert "published 50 events" in proc.stdout
    assert len(_consume(kafka_bootstrap, topic, 50)) == 50


def _topics(bootstrap: str) -> set[str]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        return set(admin.list_topics())
    finally:
        admin.close()


def _cli_publish(bootstrap: str, path: Path, topic: str, *extra: str):
    return subprocess.run(
        [sys.executable, "-m", "monitor", "publish", str(path), "--bootstrap", bootstrap,
         "--topic", topic, *extra],
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip


def test_publishing_to_a_missing_topic_is_refused_and_creates_nothing(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    import uuid

    typo = f"ehr.ai.evnets-{uuid.uuid4().hex[:8]}"
    with pytest.raises(TopicMissing, match=rf"topic '{re.escape(typo)}' does not exist"):
        Publisher(KafkaSettings(bootstrap=kafka_bootstrap, input_topic=typo))
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(json.dumps(ev) for ev in _events(5)) + "\n")
    proc = _cli_publish(kafka_bootstrap, path, typo)
    assert proc.returncode == 2, proc.stderr
    assert f"topic '{typo}' does not exist" in proc.stderr
    assert "--create-topic" in proc.stderr
    assert "published" not in proc.stdout
    assert typo not in _topics(kafka_bootstrap)


def test_create_topic_option_creates_the_topic(kafka_bootstrap: str, tmp_path: Path) -> None:
    import uuid

    name = f"vitals-new-{uuid.uuid4().hex[:8]}"
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(json.dumps(ev) for ev in _events(30)) + "\n")
    proc = _cli_publish(kafka_bootstrap, path, name, "--create-topic")
    try:
        assert proc.returncode == 0, proc.stderr
        assert f"published 30 events to {name}" in proc.stdout
        assert name in _topics(kafka_bootstrap)
        assert len(_consume(kafka_bootstrap, name, 30)) == 30
        admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        try:
            (meta,) = admin.describe_topics([name])
            assert len(meta["partitions"]) == 6  # as `vitals topics create`
        finally:
            admin.close()
        again = _cli_publish(kafka_bootstrap, path, name)  # exists now: no option needed
        assert again.returncode == 0, again.stderr
    finally:
        admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        try:
            admin.delete_topics([t for t in (name,) if t in admin.list_topics()])
        finally:
            admin.close()


def test_cli_topics_create_is_idempotent(kafka_bootstrap: str) -> None:
    import uuid

    name = f"vitals-topics-{uuid.uuid4().hex[:8]}"
    cmd = [
        sys.executable,
        "-m",
        "monitor",
        "topics",
        "create",
        "--bootstrap",
        kafka_bootstrap,
        "--topic",
        name,
        "--dead-letter-topic",
        f"{name}.dlq",
        "--partitions",
        "4",
    ]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    assert f"{name}\t4 partitions\tcreated" in first.stdout
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert f"{name}\t4 partitions\texists" in second.stdout
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        described = {t["name"]: t for t in admin.describe_topics([name, f"{name}.dlq"])}
        assert len(described[name]["partitions"]) == 4
        assert len(described[f"{name}.dlq"]["partitions"]) == 1
        admin.delete_topics([name, f"{name}.dlq"])
    finally:
        admin.close()


@pytest.mark.timeout(60)
def test_broker_down_gives_a_clear_error() -> None:
    with pytest.raises(BrokerUnavailable, match=r"no Kafka broker reachable at 127\.0\.0\.1:9"):
        Publisher(KafkaSettings(bootstrap="127.0.0.1:9"), connect_timeout_s=1)
