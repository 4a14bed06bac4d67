"""Secured Kafka (SASL_SSL with SCRAM-SHA-512, mutual TLS) and a secured /metrics,
end to end on a real broker with such listeners.

The module starts its own broker (tools/kafka/kafka.sh with the optional secured
listeners) after creating a CA, certificates and SCRAM users itself. Every run of
a CLI command or worker has its output captured, and the password is asserted
absent from it, whether the run failed or succeeded.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import pytest
from secure_kafka import Pki, SecureBroker, make_pki, secure_broker
from worker_harness import ROOT, WorkerProcess, free_port, parse_samples, read_all

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(300)]

USER = "vitals-worker"
PASSWORD = "pw-" + secrets.token_hex(10)  # asserted absent from every output
WRONG = "wrong-" + secrets.token_hex(10)


def _ports() -> list[int]:
    base = os.environ.get("VITALS_SECURE_KAFKA_PORT")  # a developer's own port range
    if base:
        return [int(base) + i for i in range(4)]
    return [free_port() for _ in range(4)]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed to make the test PKI")
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def broker(pki: Pki) -> Iterator[SecureBroker]:
    b = secure_broker(pki, _ports(), {USER: PASSWORD})
    try:
        yield b
    finally:
        b.broker.stop()


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "sasl-password"
    path.write_text(PASSWORD + "\n")
    path.chmod(0o600)
    return path


def _scram_env(broker: SecureBroker, pki: Pki, password_file: Path) -> dict[str, str]:
    return {
        "VITALS_KAFKA_BOOTSTRAP": broker.sasl_ssl,
        "VITALS_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "VITALS_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "VITALS_KAFKA_SASL_USERNAME": USER,
        "VITALS_KAFKA_SASL_PASSWORD_FILE": str(password_file),
        "VITALS_KAFKA_SSL_CAFILE": str(pki.ca),
    }


def _mtls_env(broker: SecureBroker, pki: Pki) -> dict[str, str]:
    return {
        "VITALS_KAFKA_BOOTSTRAP": broker.ssl,
        "VITALS_KAFKA_SECURITY_PROTOCOL": "SSL",
        "VITALS_KAFKA_SSL_CAFILE": str(pki.ca),
        "VITALS_KAFKA_SSL_CERTFILE": str(pki.client_cert),
        "VITALS_KAFKA_SSL_KEYFILE": str(pki.client_key),
    }


def _vitals(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("VITALS_KAFKA_")}
    proc = subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        env={**clean, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    _assert_no_secret(proc.stdout + proc.stderr)
    return proc


def _assert_no_secret(text: str) -> None:
    assert PASSWORD not in text and WRONG not in text, "a password reached the output"


def _events(n: int, tag: str) -> list[dict]:
    out = []
    for i in range(n):
        sid = f"s-{tag}-{i}"
        at = f"2026-01-05T09:{i // 60:02d}:{i % 60:02d}Z"
        out.append({"schema_version": 1, "type": "suggestion", "event_id": f"e-{tag}-{i}",
                    "suggestion_id": sid, "occurred_at": at, "feature": "note-draft",
                    "model_version": "v1", "site": f"site-{i % 2}"})  # fmt: skip
        out.append({"schema_version": 1, "type": "outcome", "event_id": f"o-{tag}-{i}",
                    "suggestion_id": sid, "occurred_at": at, "outcome": "accepted"})  # fmt: skip
    return out


def _topics_and_publish(env: dict[str, str], broker: SecureBroker, tmp_path: Path) -> None:
    topic = f"vitals-sec-{uuid.uuid4().hex[:8]}"
    created = _vitals(env, "topics", "create", "--topic", topic,
                      "--dead-letter-topic", f"{topic}.dlq", "--partitions", "2")  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert f"{topic}\t2 partitions\tcreated" in created.stdout
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in _events(20, topic)))
    sent = _vitals(env, "publish", str(path), "--topic", topic)
    assert sent.returncode == 0, sent.stderr
    assert f"published 40 events to {topic}" in sent.stdout
    assert len(read_all(broker.plaintext, topic, 40)) == 40  # read back over plaintext


def test_topics_and_publish_over_sasl_ssl_scram(broker, pki, secret_file, tmp_path) -> None:
    _topics_and_publish(_scram_env(broker, pki, secret_file), broker, tmp_path)


def test_topics_and_publish_over_mutual_tls(broker, pki, tmp_path) -> None:
    _topics_and_publish(_mtls_env(broker, pki), broker, tmp_path)


def _refused(env: dict[str, str], expect: str, tmp_path: Path) -> None:
    """Both commands fail fast, non-zero, with *expect* in the message."""
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps(_events(1, "x")[0]) + "\n")
    for args in (["topics", "create", "--topic", "never-created"],
                 ["publish", str(path), "--topic", "never-created"]):  # fmt: skip
        t0 = time.monotonic()
        proc = _vitals(env, *args, timeout=90)
        assert proc.returncode in (1, 2), (args, proc.stdout, proc.stderr)
        assert expect in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
        assert time.monotonic() - t0 < 60  # bounded: the 10 s connect timeout and start-up


def test_a_wrong_password_is_named_as_such(broker, pki, tmp_path) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text(WRONG)
    expect = f"authentication failed for user '{USER}' with SCRAM-SHA-512"
    _refused(_scram_env(broker, pki, wrong), expect, tmp_path)


def test_an_untrusted_broker_certificate_is_named_as_such(broker, pki, secret_file, tmp_path):
    env = {**_scram_env(broker, pki, secret_file), "VITALS_KAFKA_SSL_CAFILE": str(pki.rogue_ca)}
    _refused(env, f"the broker's certificate is not trusted by {pki.rogue_ca}", tmp_path)


def test_a_client_certificate_the_broker_does_not_trust_is_named(broker, pki, tmp_path) -> None:
    env = {**_mtls_env(broker, pki), "VITALS_KAFKA_SSL_CERTFILE": str(pki.rogue_cert),
           "VITALS_KAFKA_SSL_KEYFILE": str(pki.rogue_key)}  # fmt: skip
    _refused(env, f"the broker refused the client certificate {pki.rogue_cert}", tmp_path)
    no_cert = {
        k: v for k, v in _mtls_env(broker, pki).items() if "CERT" not in k and "KEY" not in k
    }
    _refused(no_cert, "the broker may require a client certificate", tmp_path)


# -- the worker ---------------------------------------------------------------------------


def _web_config(tmp_path: Path, pki: Pki) -> tuple[Path, str]:
    """A web config: TLS with the test CA's server certificate, client certificates
    required, and one basic-auth user; returns it and that user's password."""
    scrape_pw = secrets.token_hex(8)
    hashed = bcrypt.hashpw(scrape_pw.encode(), bcrypt.gensalt(4)).decode()
    path = tmp_path / "web.yml"
    path.write_text(
        "tls_server_config:\n"
        f"  cert_file: {pki.ca.parent / 'server.pem'}\n"
        f"  key_file: {pki.ca.parent / 'server.key'}\n"
        "  client_auth_type: RequireAndVerifyClientCert\n"
        f"  client_ca_file: {pki.ca}\n"
        f"basic_auth_users:\n  prometheus: '{hashed.replace('$2b$', '$2y$')}'\n"
    )
    return path, scrape_pw


def _https(port: int, pki: Pki, auth: str | None, cert: bool = True) -> tuple[int, str]:
    ctx = ssl.create_default_context(cafile=str(pki.ca))
    if cert:
        ctx.load_cert_chain(str(pki.client_cert), str(pki.client_key))
    req = urllib.request.Request(f"https://127.0.0.1:{port}/metrics")
    if auth:
        req.add_header("Authorization", auth)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except (OSError, ssl.SSLError):
        return 0, ""


def _worker_config(tmp_path: Path, kafka: dict, topic: str, web: Path | None) -> tuple[Path, int]:
    port = free_port()
    config = {
        "kafka": {**kafka, "input_topic": topic, "dead_letter_topic": f"{topic}.dlq"},
        "app_id": f"vitals-sec-{uuid.uuid4().hex[:8]}",
        "assess_partitions": 1,
        "web_port": port,
        "web_host": "127.0.0.1",
        "data_dir": str(tmp_path / "data"),
        "checkpoint_interval": 1.0,
        "tick_timer": 1.0,
    }
    if web is not None:
        config["web_config_file"] = str(web)
    path = tmp_path / "worker.json"
    path.write_text(json.dumps(config))
    return path, port


def _produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    from kafka import KafkaAdminClient, KafkaProducer

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics({topic: {"num_partitions": 1, "replication_factor": 1}})
    finally:
        admin.close()
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for v in values:
        producer.send(topic, key=b"k", value=v)
    producer.flush()
    producer.close()


def _sum(samples: dict, name: str) -> float:
    return sum(v for (n, _), v in samples.items() if n == name)


def _sum(samples: dict, name: str) -> float:
    return sum(v for (n, _), v in samples.items() if n == name)


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize("protocol", ["SASL_SSL", "SSL"])
def test_worker_over_secured_kafka_with_secured_metrics(
    broker, pki, secret_file, tmp_path, protocol
) -> None:
    if protocol == "SASL_SSL":
        kafka = {"bootstrap": broker.sasl_ssl, "security_protocol": "SASL_SSL",
                 "sasl_mechanism": "SCRAM-SHA-512", "sasl_username": USER,
                 "sasl_password_file": str(secret_file), "ssl_cafile": str(pki.ca)}  # fmt: skip
    else:
        kafka = {"bootstrap": broker.ssl, "security_protocol": "SSL",
                 "ssl_cafile": str(pki.ca), "ssl_certfile": str(pki.client_cert),
                 "ssl_keyfile": str(pki.client_key)}  # fmt: skip
    topic = f"vitals-secw-{uuid.uuid4().hex[:8]}"
    good = [json.dumps(e).encode() for e in _events(30, topic)]
    _produce(broker.plaintext, topic, [*good, b"{broken", b"\xff"])
    web, scrape_pw = _web_config(tmp_path, pki)
    auth = _basic("prometheus", scrape_pw)
    config, port = _worker_config(tmp_path, kafka, topic, web)
    w = WorkerProcess(config, port, tmp_path / "worker.log")
    w.start()
    try:
        deadline = time.monotonic() + 150
        samples: dict = {}
        while time.monotonic() < deadline:
            assert w.alive, w.tail()
            status, text = _https(port, pki, auth)
            samples = parse_samples(text) if status == 200 else {}
            events = _sum(samples, "vitals_resolver_events_total")
            dead = _sum(samples, "vitals_worker_dead_letters_total")
            if events >= len(good) and dead >= 2:
                break
            time.sleep(0.5)
        else:
            raise AssertionError(f"worker did not count the input\n{w.tail()}")
        assert events == len(good) and dead == 2
        # the dead letters were written over the secured listener too
        assert len(read_all(broker.plaintext, f"{topic}.dlq", 2)) == 2
        # /metrics: TLS with a client certificate and basic auth, or nothing
        assert _https(port, pki, None)[0] == 401
        assert _https(port, pki, _basic("nobody", scrape_pw))[0] == 401
        assert _https(port, pki, _basic("prometheus", "guess"))[0] == 401
        assert _https(port, pki, auth, cert=False)[0] == 0  # handshake refused
        assert w.get("/metrics")[0] == 0  # no plain HTTP
    finally:
        w.stop()
    assert not w.alive
    _assert_no_secret(w.log.read_text(errors="replace"))


def test_worker_with_a_wrong_password_exits_naming_the_cause(broker, pki, tmp_path) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text(WRONG + "\n")
    kafka = {"bootstrap": broker.sasl_ssl, "security_protocol": "SASL_SSL",
             "sasl_mechanism": "SCRAM-SHA-512", "sasl_username": USER,
             "sasl_password_file": str(wrong), "ssl_cafile": str(pki.ca)}  # fmt: skip
    config, port = _worker_config(tmp_path, kafka, "never-read", None)
    w = WorkerProcess(config, port, tmp_path / "worker.log")
    t0 = time.monotonic()
    w.start()
    assert w.proc is not None
    code = w.proc.wait(timeout=90)
    assert code != 0 and time.monotonic() - t0 < 90
    log = w.log.read_text(errors="replace")
    assert f"authentication failed for user '{USER}' with SCRAM-SHA-512" in log, log
    _assert_no_secret(log)
    w.stop(signal.SIGKILL)
