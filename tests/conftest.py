"""Shared pytest fixtures for Vitals.

Kafka:
  kafka_bootstrap  (session) "127.0.0.1:PORT" of a real Apache Kafka broker.
                   VITALS_KAFKA_BOOTSTRAP set (CI starts the broker up front):
                   that address, once it accepts connections. Otherwise a
                   tools.kafka.broker.LocalKafka is started for the session
                   (VITALS_KAFKA_VERSION / VITALS_KAFKA_PORT, default version
                   and port 19092) and stopped at session end if this session
                   started it. No broker: pytest.fail when CI is set, else skip.
  kafka_topic      factory: kafka_topic(partitions=1, prefix=..., configs=...)
                   creates a uniquely named topic and deletes it afterwards.
"""

from __future__ import annotations

import os
import re
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # without pytest `pythonpath = ["."]`
    sys.path.insert(0, str(ROOT))

from hypothesis import HealthCheck, settings  # noqa: E402

from tools.kafka.broker import LocalKafka, wait_for_port  # noqa: E402

# The suite must pass on a busy machine: generation speed and per-example time are
# not what property tests assert, so neither the too_slow check nor a deadline applies.
settings.register_profile(
    "vitals", suppress_health_check=[HealthCheck.too_slow], deadline=None, print_blob=True
)
settings.load_profile("vitals")


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _broker_unavailable(reason: str) -> None:
    """Never skip in CI: a missing broker there is a failure."""
    if _in_ci():
        pytest.fail(f"Kafka broker unavailable (CI is set, not skipping): {reason}", pytrace=False)
    pytest.skip(f"Kafka broker unavailable: {reason}")


def _split_bootstrap(bootstrap: str) -> tuple[str, int]:
    first = bootstrap.split(",")[0].strip()
    host, sep, port = first.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"expected HOST:PORT, got {bootstrap!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    given = os.environ.get("VITALS_KAFKA_BOOTSTRAP", "").strip()
    if given:
        try:
            host, port = _split_bootstrap(given)
        except ValueError as exc:
            _broker_unavailable(f"VITALS_KAFKA_BOOTSTRAP: {exc}")
        if not wait_for_port(host, port, timeout=30):
            _broker_unavailable(f"VITALS_KAFKA_BOOTSTRAP={given} does not accept connections")
        yield given
        return

    broker = LocalKafka(
        version=os.environ.get("VITALS_KAFKA_VERSION") or None,
        port=int(os.environ.get("VITALS_KAFKA_PORT", "19092")),
    )
    try:
        broker.start()
    except Exception as exc:
        _broker_unavailable(f"could not start local Kafka {broker.version}: {exc}")
    try:
        yield broker.bootstrap
    finally:
        if broker.started:
            broker.stop()


@pytest.fixture
def kafka_topic(
    kafka_bootstrap: str, request: pytest.FixtureRequest
) -> Iterator[Callable[..., str]]:
    """Factory creating uniquely named topics (deleted at teardown)."""
    from kafka import KafkaAdminClient

    admin: KafkaAdminClient | None = None
    created: list[str] = []
    test_name = re.sub(r"[^A-Za-z0-9._-]+", "-", request.node.name).strip("-")[:80]

    def make(
        partitions: int = 1,
        *,
        prefix: str = "vitals-test",
        configs: dict[str, str] | None = None,
    ) -> str:
        nonlocal admin
        if admin is None:
            admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap, client_id="vitals-tests")
        name = f"{prefix}-{test_name}-{uuid.uuid4().hex[:10]}"
        admin.create_topics(
            {
                name: {
                    "num_partitions": partitions,
                    "replication_factor": 1,
                    "configs": configs or {},
                }
            },
            wait_for_metadata=True,
        )
        created.append(name)
        return name

    yield make

    if admin is not None:
        try:
            if created:
                admin.delete_topics(created)
        finally:
            admin.close()
