"""docker-compose.yml and the Dockerfile, checked statically (no Docker engine here):
the file parses, images are pinned, every mounted file exists, and the service names
and ports agree with prometheus.yml, the Alertmanager webhooks and the Grafana
provisioning."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from streams.settings import WorkerSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
PROMETHEUS = yaml.safe_load((ROOT / "dashboards" / "prometheus" / "prometheus.yml").read_text())


def _container_ports(name: str) -> set[int]:
    """Ports a service listens on inside the network: published ones, a --port or
    --web.listen-address in its command, the image defaults below."""
    svc = SERVICES[name]
    defaults = {"prometheus": {9090}, "alertmanager": {9093}, "grafana": {3000}, "kafka": {9092}}
    ports = set(defaults.get(name, set()))
    for p in svc.get("ports", []):
        ports.add(int(str(p).rsplit(":", 1)[1]))
    command = svc.get("command", [])
    for i, arg in enumerate(command):
        if arg == "--port":
            ports.add(int(command[i + 1]))
    if command and command[0] == "worker":
        ports.add(WorkerSettings().web_port)
    return ports


def test_services_and_images_are_pinned() -> None:
    assert {
        "kafka", "topics", "worker-1", "worker-2", "player", "prometheus", "alertmanager",
        "webhook", "grafana",
    } <= set(SERVICES)  # fmt: skip
    for name, svc in SERVICES.items():
        image = svc.get("image")
        assert image, name
        repo, _, tag = image.rpartition(":")
        assert repo and re.fullmatch(r"v?\d+\.\d+\.\d+", tag), f"{name}: {image} is not pinned"
        if "build" in svc:
            assert svc["build"] == "."
    dockerfile = (ROOT / "Dockerfile").read_text()
    (base,) = re.findall(r"^FROM (\S+)", dockerfile, flags=re.M)
    assert re.search(r":\d+\.\d+\.\d+", base), base
    for src in re.findall(r"^COPY (.+) \S+$", dockerfile, flags=re.M):
        for part in src.split():
            assert (ROOT / part).exists(), part


def test_every_mounted_file_exists() -> None:
    named = set(COMPOSE.get("volumes") or {})
    mounts = 0
    for name, svc in SERVICES.items():
        for vol in svc.get("volumes", []):
            host = vol.split(":")[0]
            if host in named:
                continue
            assert (ROOT / host).exists(), f"{name}: {host}"
            mounts += 1
    assert mounts >= 4


def test_scrape_targets_and_alertmanager_match_the_services() -> None:
    (job,) = [j for j in PROMETHEUS["scrape_configs"] if j["job_name"] == "vitals"]
    targets = [t for sc in job["static_configs"] for t in sc["targets"]]
    workers = sorted(n for n, s in SERVICES.items() if s.get("command") == ["worker"])
    assert sorted(t.split(":")[0] for t in targets) == workers == ["worker-1", "worker-2"]
    for target in targets:
        host, port = target.split(":")
        assert int(port) in _container_ports(host), target
    (am,) = [t for a in PROMETHEUS["alerting"]["alertmanagers"] for s in a["static_configs"]
             for t in s["targets"]]  # fmt: skip
    host, port = am.split(":")
    assert int(port) in _container_ports(host)
    mount = next(v for v in SERVICES["prometheus"]["volumes"] if v.startswith("./dashboards"))
    assert mount.split(":")[1] == str(
        Path(SERVICES["prometheus"]["command"][0].split("=")[1]).parent
    )
    for rules in PROMETHEUS["rule_files"]:
        assert (ROOT / "dashboards" / "prometheus" / rules).exists(), rules


def test_alertmanager_webhooks_and_grafana_datasource_reach_services() -> None:
    am = yaml.safe_load((ROOT / "dashboards" / "alertmanager" / "alertmanager.yml").read_text())
    urls = [h["url"] for r in am["receivers"] for h in r.get("webhook_configs", [])]
    assert urls
    for url in urls:
        parts = urlsplit(url)
        assert parts.hostname in SERVICES and parts.port in _container_ports(parts.hostname), url
    prov = ROOT / "dashboards" / "grafana" / "provisioning"
    ds = yaml.safe_load((prov / "datasources" / "vitals.yml").read_text())["datasources"][0]
    parts = urlsplit(ds["url"])
    assert parts.hostname in SERVICES and parts.port in _container_ports(parts.hostname)
    provider = yaml.safe_load((prov / "dashboards" / "vitals.yml").read_text())["providers"][0]
    mounted = {v.split(":")[1] for v in SERVICES["grafana"]["volumes"]}
    assert provider["options"]["path"] in mounted
    assert "/etc/grafana/provisioning" in mounted
    home = SERVICES["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (ROOT / "dashboards" / "grafana" / "dashboards" / Path(home).name).exists()


def test_workers_and_tools_reach_kafka_by_service_name() -> None:
    kafka = SERVICES["kafka"]["environment"]
    assert kafka["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper
    advertised = urlsplit(kafka["KAFKA_ADVERTISED_LISTENERS"].replace("PLAINTEXT", "kafka", 1))
    for name in ("topics", "worker-1", "worker-2", "player"):
        bootstrap = SERVICES[name]["environment"]["VITALS_KAFKA_BOOTSTRAP"]
        assert bootstrap == f"{advertised.hostname}:{advertised.port}", name
    assert "--speed" in SERVICES["player"]["command"][0]
