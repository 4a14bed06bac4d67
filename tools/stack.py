"""A local ops stack without Docker: ``make stack``.

Debian's Prometheus and Alertmanager on loopback ports, with the project's own
rules and Alertmanager config (copies with loopback targets and a shorter scrape
interval), scraping ``vitals demo --keep-serving`` on a seed scenario in accelerated
time, and a webhook receiver printing every notification. Open the Prometheus URL
it prints and watch ``VitalsAcceptanceRateDrop`` go to firing (about two minutes).

It stops only the processes it started (by their own handles), on Ctrl-C or SIGTERM.
The end-to-end test (``tests/integration/test_ops_e2e.py``) builds on the same parts.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

ROOT = Path(__file__).resolve().parents[1]
PROMETHEUS_YML = ROOT / "dashboards" / "prometheus" / "prometheus.yml"
ALERTMANAGER_YML = ROOT / "dashboards" / "alertmanager" / "alertmanager.yml"
SCENARIO = ROOT / "seeds" / "quick" / "scenario.yaml"


def prometheus_config(targets: list[str], alertmanager: str, interval: str) -> dict[str, Any]:
    """The project's prometheus.yml with these targets for job ``vitals`` (the only
    job), this Alertmanager, this scrape and evaluation interval, and absolute paths
    to the project's rule files."""
    doc = yaml.safe_load(PROMETHEUS_YML.read_text())
    doc["global"] = {"scrape_interval": interval, "evaluation_interval": interval}
    doc["rule_files"] = [str(PROMETHEUS_YML.parent / f) for f in doc["rule_files"]]
    doc["alerting"]["alertmanagers"] = [{"static_configs": [{"targets": [alertmanager]}]}]
    job = next(j for j in doc["scrape_configs"] if j["job_name"] == "vitals")
    job["static_configs"] = [{"targets": targets}]
    doc["scrape_configs"] = [job]
    return doc


def alertmanager_config(webhook: str) -> dict[str, Any]:
    """The project's alertmanager.yml with every webhook sent to *webhook* (same paths)."""
    doc = yaml.safe_load(ALERTMANAGER_YML.read_text())
    for receiver in doc["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = webhook.rstrip("/") + urlsplit(hook["url"]).path
    return doc


def binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise SystemExit(f"{name} not found: run tools/bootstrap.sh --system (Debian packages)")
    return path


def get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""
    except OSError:
        return 0, b""


def wait_until(what: str, cond: Callable[[], Any], timeout: float, poll: float = 0.25) -> Any:
    """Poll *cond* until it returns something truthy; fail after *timeout* seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(poll)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


class Stack:
    """The processes of one local stack; :meth:`stop` ends only those."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def spawn(
        self, name: str, argv: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        log = (self.workdir / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        self.procs.append((name, proc))
        return proc

    def log(self, name: str, lines: int = 30) -> str:
        path = self.workdir / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_ready(self, name: str, url: str, timeout: float = 120) -> None:
        proc = dict(self.procs)[name]

        def ready() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited ({proc.returncode}):\n{self.log(name)}")
            return get(url)[0] == 200

        wait_until(f"{name} at {url}", ready, timeout)

    def prometheus(self, port: int, targets: list[str], alertmanager: str, interval: str) -> str:
        config = self.workdir / "prometheus.yml"
        config.write_text(yaml.safe_dump(prometheus_config(targets, alertmanager, interval)))
        self.spawn(
            "prometheus",
            [
                binary("prometheus"),
                f"--config.file={config}",
                f"--storage.tsdb.path={self.workdir / 'prometheus-data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
        )
        url = f"http://127.0.0.1:{port}"
        self.wait_ready("prometheus", f"{url}/-/ready")
        return url

    def alertmanager(self, port: int, webhook: str) -> str:
        config = self.workdir / "alertmanager.yml"
        config.write_text(yaml.safe_dump(alertmanager_config(webhook)))
        self.spawn(
            "alertmanager",
            [
                binary("prometheus-alertmanager"),
                f"--config.file={config}",
                f"--storage.path={self.workdir / 'alertmanager-data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",  # a single instance: no gossip port
                "--log.level=warn",
            ],
        )
        url = f"http://127.0.0.1:{port}"
        self.wait_ready("alertmanager", f"{url}/-/ready")
        return url

    def demo(self, port: int, scenario: Path, speed: float) -> str:
        vitals = Path(sys.executable).with_name("vitals")
        argv = [str(vitals)] if vitals.exists() else [sys.executable, "-m", "monitor"]
        argv += [
            "demo",
            f"--scenario={scenario}",
            f"--port={port}",
            f"--speed={speed}",
            f"--out={self.workdir / 'demo'}",
            "--keep-serving",
        ]
        self.spawn("demo", argv, env=dict(os.environ, COLUMNS="120"))
        url = f"http://127.0.0.1:{port}"
        self.wait_ready("demo", f"{url}/metrics", timeout=300)  # it simulates first
        return url

    def stop(self) -> None:
        for _, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)
        self.procs.clear()

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    from tools.webhook_receiver import WebhookReceiver

    parser = argparse.ArgumentParser(description="Local Prometheus + Alertmanager + vitals demo.")
    parser.add_argument("--demo-port", type=int, default=9464)
    parser.add_argument("--prometheus-port", type=int, default=9490)
    parser.add_argument("--alertmanager-port", type=int, default=9493)
    parser.add_argument("--webhook-port", type=int, default=9495)
    parser.add_argument("--scenario", type=Path, default=SCENARIO)
    parser.add_argument("--speed", type=float, default=3600.0, help="event seconds per second")
    parser.add_argument("--interval", default="5s", help="scrape and evaluation interval")
    args = parser.parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    workdir = Path(tempfile.mkdtemp(prefix="vitals-stack-"))
    receiver = WebhookReceiver(args.webhook_port, out=sys.stdout).start()
    with Stack(workdir) as stack:
        am = stack.alertmanager(args.alertmanager_port, f"http://127.0.0.1:{args.webhook_port}")
        targets = [f"127.0.0.1:{args.demo_port}"]
        am_host = f"127.0.0.1:{args.alertmanager_port}"
        prom = stack.prometheus(args.prometheus_port, targets, am_host, args.interval)
        print(f"Prometheus   {prom}/alerts", flush=True)
        print(f"Alertmanager {am}", flush=True)
        print(f"webhook      http://127.0.0.1:{args.webhook_port} (notified below)", flush=True)
        print(f"logs         {workdir}", flush=True)
        demo = stack.demo(args.demo_port, args.scenario, args.speed)
        print(f"demo         {demo}/metrics ({args.scenario} at {args.speed:g}x)", flush=True)
        print("Ctrl-C stops the processes this stack started.", flush=True)
        stop.wait()
    receiver.stop()


if __name__ == "__main__":
    main()
