"""Publisher throughput vs a bare kafka-python producer sending the same bytes.

Both send the same 200k keyed events to fresh topics on the same broker in
the same run, with the same producer settings (acks=all, idempotence,
batching); the Publisher additionally validates every event against the
contract. Prints events/s of each and their ratio (target >= 0.5).

    VITALS_KAFKA_BOOTSTRAP=127.0.0.1:19092 .venv/bin/python bench/bench_publish.py
"""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from bench.common import best_of, bootstrap
from bridge.publisher import Publisher
from monitor.core.contract import parse_event
from monitor.kafka_settings import KafkaSettings
from monitor.schema import EXAMPLES

N = 200_000
ROUNDS = 2


def make_lines(n: int) -> list[bytes]:
    lines = []
    for i in range(n):
        kind = ("suggestion", "outcome", "feedback")[0 if i % 5 < 3 else 1 if i % 5 < 4 else 2]
        ev = dict(EXAMPLES[kind])
        ev["event_id"] = f"evt-{i}"
        ev["suggestion_id"] = f"sug-{i // 2}"
        lines.append(json.dumps(ev, separators=(",", ":")).encode())
    return lines


def main() -> None:
    addr = bootstrap()
    lines = make_lines(N)
    keys = [parse_event(line).suggestion_id.encode() for line in lines]
    admin = KafkaAdminClient(bootstrap_servers=addr)
    topics: list[str] = []

    def fresh_topic() -> str:
        name = f"bench-publish-{uuid.uuid4().hex[:8]}"
        admin.create_topics([NewTopic(name, 6, 1)])
        topics.append(name)
        return name

    def bare() -> None:
        topic = fresh_topic()
        producer = KafkaProducer(
            bootstrap_servers=addr,
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            batch_size=256 * 1024,
            max_in_flight_requests_per_connection=5,
        )
        for key, value in zip(keys, lines, strict=True):
            producer.send(topic, key=key, value=value)
        producer.flush()
        producer.close()

    def vitals() -> None:
        pub = Publisher(KafkaSettings(bootstrap=addr, input_topic=fresh_topic()))
        for line in lines:
            pub.publish_json(line)
        pub.close()
        assert pub.sent == N and pub.failed == 0

    try:
        t_bare = best_of(ROUNDS, bare)
        t_vitals = best_of(ROUNDS, vitals)
    finally:
        admin.delete_topics(topics)
        admin.close()
    print(f"events                 {N}")
    print(f"bare kafka-python      {N / t_bare:10.0f} events/s")
    print(f"vitals Publisher       {N / t_vitals:10.0f} events/s (validates each event)")
    print(f"ratio publisher/bare   {t_bare / t_vitals:10.2f}   (target >= 0.5)")


if __name__ == "__main__":
    main()
