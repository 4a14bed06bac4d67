"""The exporter web config for /metrics: parsing, TLS and basic auth on a real server.

Certificates come from ``openssl``; the server is the one ``vitals demo`` runs
(:func:`monitor.metrics_server.serve_metrics`), scraped over real sockets.
"""

from __future__ import annotations

import base64
import shutil
import ssl
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import bcrypt
import pytest
from prometheus_client import CollectorRegistry, Counter

from monitor.metrics_server import serve_metrics
from monitor.web_config import WebConfig, load_web_config

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("certs")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for ca in ("ca", "other-ca"):
        _openssl("req", "-x509", *ec, "-keyout", f"{ca}.key", "-out", f"{ca}.pem",
                 "-days", "1", "-subj", f"/CN={ca}", cwd=d)  # fmt: skip
    for name, ca, ext in (("server", "ca", "subjectAltName=IP:127.0.0.1"),
                          ("client", "ca", "extendedKeyUsage=clientAuth"),
                          ("stranger", "other-ca", "extendedKeyUsage=clientAuth")):  # fmt: skip
        _openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                 "-subj", f"/CN={name}", cwd=d)  # fmt: skip
        (d / f"{name}.ext").write_text(ext + "\n")
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey",
                 f"{ca}.key", "-CAcreateserial", "-out", f"{name}.pem", "-days", "1",
                 "-extfile", f"{name}.ext", cwd=d)  # fmt: skip
    return d


def _write(d: Path, text: str) -> Path:
    path = d / "web.yml"
    path.write_text(text)
    return path


HASH = bcrypt.hashpw(b"scrape-pw", bcrypt.gensalt(4)).decode().replace("$2b$", "$2y$")


def _serve(config: WebConfig | None):  # type: ignore[no-untyped-def]
    registry = CollectorRegistry()
    Counter("vitals_probe", "A probe.", registry=registry).inc()
    server, _ = serve_metrics(registry, "127.0.0.1", 0, config)
    return server, server.server_address[1]


def _get(port: int, *, tls: ssl.SSLContext | None = None, auth: str | None = None) -> int:
    req = urllib.request.Request(f"{'https' if tls else 'http'}://127.0.0.1:{port}/metrics")
    if auth:
        req.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(req, context=tls, timeout=10) as r:
            assert b"vitals_probe_total 1.0" in r.read()
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, ssl.SSLError):
        return 0


def _client(certs: Path, cert: str | None = "client") -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    if cert:
        ctx.load_cert_chain(str(certs / f"{cert}.pem"), str(certs / f"{cert}.key"))
    return ctx


def test_tls_with_client_certificates_and_basic_auth(certs: Path) -> None:
    config = load_web_config(_write(certs, f"""
tls_server_config:
  cert_file: server.pem          # relative to the file
  key_file: server.key
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: ca.pem
basic_auth_users:
  prometheus: '{HASH}'
"""))  # fmt: skip
    server, port = _serve(config)
    try:
        assert _get(port, tls=_client(certs), auth="prometheus:scrape-pw") == 200
        assert _get(port, tls=_client(certs), auth="prometheus:scrape-pw") == 200  # cached
        assert _get(port, tls=_client(certs), auth="prometheus:wrong") == 401
        assert _get(port, tls=_client(certs), auth="someone:scrape-pw") == 401
        assert _get(port, tls=_client(certs)) == 401
        assert _get(port, tls=_client(certs, None), auth="prometheus:scrape-pw") == 0
        assert _get(port, tls=_client(certs, "stranger"), auth="prometheus:scrape-pw") == 0
        assert _get(port, auth="prometheus:scrape-pw") == 0  # plain HTTP to a TLS port
        assert _get(port, tls=_client(certs), auth="prometheus:scrape-pw") == 200  # still up
    finally:
        server.shutdown()


def test_tls_without_client_certificates(certs: Path) -> None:
    path = _write(certs, "tls_server_config: {cert_file: server.pem, key_file: server.key}\n")
    server, port = _serve(load_web_config(path))
    try:
        assert _get(port, tls=_client(certs, None)) == 200
    finally:
        server.shutdown()


def test_no_config_serves_plain_http() -> None:
    server, port = _serve(None)
    try:
        assert _get(port) == 200
    finally:
        server.shutdown()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("http_server_config: {http2: true}\n", "http_server_config"),
        ("tls_server_config: {cert_file: server.pem, key_file: server.key,"
         " client_auth_type: RequireAnyClientCert, client_ca_file: ca.pem}\n",
         "not supported"),
        ("tls_server_config: {cert_file: server.pem, key_file: server.key,"
         " client_auth_type: RequireAndVerifyClientCert}\n", "needs client_ca_file"),
        ("tls_server_config: {cert_file: missing.pem, key_file: server.key}\n",
         "cannot load the TLS files"),
        ("basic_auth_users: {prometheus: plain-text-password}\n", "expected a bcrypt hash"),
    ],
)  # fmt: skip
def test_invalid_web_configs_are_refused_by_name(certs: Path, text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        load_web_config(_write(certs, text))
    assert "plain-text-password" not in str(info.value)


@pytest.mark.prometheus
@pytest.mark.skipif(shutil.which("prometheus") is None, reason="needs prometheus")
def test_a_real_prometheus_scrapes_through_tls_client_certs_and_basic_auth(
    certs: Path, tmp_path: Path
) -> None:
    """Prometheus's own scrape client (tls_config, basic_auth) against the server: the
    right credentials are up, a wrong password is a 401 and down."""
    import json
    import socket
    import time

    config = load_web_config(_write(certs, f"""
tls_server_config: {{cert_file: server.pem, key_file: server.key,
  client_auth_type: RequireAndVerifyClientCert, client_ca_file: ca.pem}}
basic_auth_users: {{prometheus: '{HASH}'}}
"""))  # fmt: skip
    server, port = _serve(config)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        prom_port = s.getsockname()[1]
    job = """
- job_name: {name}
  scheme: https
  tls_config: {{ca_file: {d}/ca.pem, cert_file: {d}/client.pem, key_file: {d}/client.key}}
  basic_auth: {{username: prometheus, password: {pw}}}
  static_configs: [{{targets: ['127.0.0.1:{port}']}}]
"""
    (tmp_path / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, scrape_timeout: 1s}\nscrape_configs:"
        + job.format(name="good", d=certs, pw="scrape-pw", port=port)
        + job.format(name="wrong", d=certs, pw="guess", port=port)
    )
    prom = subprocess.Popen(
        ["prometheus", f"--config.file={tmp_path / 'prometheus.yml'}",
         f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{prom_port}"],
        stdout=subprocess.DEVNULL, stderr=(tmp_path / "prometheus.log").open("wb"),
    )  # fmt: skip
    try:
        health: dict[str, tuple[str, str]] = {}
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert prom.poll() is None, (tmp_path / "prometheus.log").read_text()
            try:
                url = f"http://127.0.0.1:{prom_port}/api/v1/targets"
                with urllib.request.urlopen(url, timeout=5) as r:
                    targets = json.load(r)["data"]["activeTargets"]
                health = {t["labels"]["job"]: (t["health"], t["lastError"]) for t in targets}
            except OSError:
                pass
            if {h for h, _ in health.values()} <= {"up", "down"} and len(health) == 2:
                break
            time.sleep(0.5)
        assert health["good"] == ("up", ""), health
        assert health["wrong"][0] == "down" and "401" in health["wrong"][1], health
    finally:
        prom.terminate()
        prom.wait(30)
        server.shutdown()
