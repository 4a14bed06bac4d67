"""A throwaway PKI and a Kafka broker with secured listeners, for the security tests.

Not a test module. :func:`make_pki` writes a CA, a server certificate for
127.0.0.1, a client certificate, and a second CA that signed nothing the broker
trusts, with ``openssl``; :func:`secure_broker` starts ``tools/kafka/kafka.sh``
with a SASL_SSL (SCRAM-SHA-512) and an SSL (client certificate required)
listener beside its plaintext one, and SCRAM users given at format time.
"""

from __future__ import annotations

import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tools.kafka.broker import LocalKafka


@dataclass(frozen=True)
class Pki:
    ca: Path  # PEM certificate of the CA that signed the server and client
    server_p12: Path  # the broker's key and certificate (PKCS12)
    server_p12_password: str
    client_cert: Path
    client_key: Path
    rogue_ca: Path  # a CA that signed nothing the broker uses
    rogue_cert: Path  # a client certificate the broker does not trust
    rogue_key: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _ca(where: Path, name: str) -> None:
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2",
        "-subj", f"/CN=vitals-test-{name}", cwd=where,
    )  # fmt: skip


def _signed(where: Path, name: str, ca: str, ext: str) -> None:
    _openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN=vitals-test-{name}",
        cwd=where,
    )  # fmt: skip
    (where / f"{name}.ext").write_text(ext + "\n")
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
        "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext",
        cwd=where,
    )  # fmt: skip


def make_pki(where: Path) -> Pki:
    where.mkdir(parents=True, exist_ok=True)
    _ca(where, "ca")
    _ca(where, "rogue-ca")
    _signed(where, "server", "ca", "subjectAltName=IP:127.0.0.1,DNS:localhost")
    _signed(where, "client", "ca", "extendedKeyUsage=clientAuth")
    _signed(where, "rogue", "rogue-ca", "extendedKeyUsage=clientAuth")
    password = secrets.token_hex(12)
    _openssl(
        "pkcs12", "-export", "-in", "server.pem", "-inkey", "server.key", "-certfile", "ca.pem",
        "-out", "server.p12", "-passout", f"pass:{password}", cwd=where,
    )  # fmt: skip
    return Pki(
        ca=where / "ca.pem",
        server_p12=where / "server.p12",
        server_p12_password=password,
        client_cert=where / "client.pem",
        client_key=where / "client.key",
        rogue_ca=where / "rogue-ca.pem",
        rogue_cert=where / "rogue.pem",
        rogue_key=where / "rogue.key",
    )


@dataclass(frozen=True)
class SecureBroker:
    broker: LocalKafka
    plaintext: str  # HOST:PORT, for the tests' own admin calls
    sasl_ssl: str
    ssl: str


def secure_broker(pki: Pki, ports: list[int], users: dict[str, str]) -> SecureBroker:
    """Start (clean) a broker on ``ports`` = [plaintext, controller, sasl_ssl, ssl]."""
    plain, controller, sasl_ssl, ssl_port = ports
    broker = LocalKafka(
        port=plain,
        controller_port=controller,
        clean=True,
        env={
            "KAFKA_SASL_SSL_PORT": str(sasl_ssl),
            "KAFKA_SSL_PORT": str(ssl_port),
            "KAFKA_SSL_KEYSTORE": str(pki.server_p12),
            "KAFKA_SSL_KEYSTORE_PASSWORD": pki.server_p12_password,
            "KAFKA_SSL_TRUSTSTORE": str(pki.ca),
            "KAFKA_SCRAM_USERS": " ".join(f"{u}={p}" for u, p in users.items()),
            "KAFKA_HEAP_OPTS": "-Xms256m -Xmx384m",
        },
    )
    broker.start()
    host = broker.host
    return SecureBroker(broker, f"{host}:{plain}", f"{host}:{sasl_ssl}", f"{host}:{ssl_port}")
