"""Helpers shared by the worker integration tests: a worker subprocess and /metrics parsing.

Not a test module: ``tests/integration/test_worker*.py`` import it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_SAMPLE = re.compile(r"([a-zA-Z_:][\w:]*)(\{[^}]*\})? ([^ ]+)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')

Labels = tuple[tuple[str, str], ...]


def free_port() -> int:
    """A free local port: the OS's choice, or one of ``$VITALS_TEST_PORTS`` (``LO-HI``)
    if set (a machine shared by several developers gives each a range)."""
    if os.environ.get("VITALS_TEST_PORTS", "").strip():
        from bench.worker_harness import free_port as from_range

        return from_range()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker_config(
    bootstrap: str, input_topic: str, dead_letter_topic: str, app_id: str, port: int, data: Path
) -> dict:
    """A worker's settings for tests: two assess partitions, 1 s checkpoints and timer."""
    return {
        "kafka": {
            "bootstrap": bootstrap,
            "input_topic": input_topic,
            "dead_letter_topic": dead_letter_topic,
        },
        "app_id": app_id,
        "assess_partitions": 2,
        "web_port": port,
        "web_host": "127.0.0.1",
        "data_dir": str(data),
        "checkpoint_interval": 1.0,
        "tick_timer": 1.0,
        "log_level": "info",
    }


def parse_samples(text: str) -> dict[tuple[str, Labels], float]:
    """Prometheus text exposition → ``{(name, sorted label pairs): value}``."""
    out: dict[tuple[str, Labels], float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            continue
        labels = tuple(sorted(_LABEL.findall(m.group(2) or "")))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


class WorkerProcess:
    """``python -m streams worker --config FILE`` as a subprocess, with its web port."""

    def __init__(self, config: Path, port: int, log: Path) -> None:
        self.config, self.port, self.log = config, port, log
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        path = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(path))
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streams", "worker", "--config", str(self.config)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, ""
        except OSError:
            return 0, ""

    def samples(self) -> dict[tuple[str, Labels], float]:
        """Every sample of /metrics with its labels ({} when the page is not served)."""
        status, text = self.get("/metrics")
        return parse_samples(text) if status == 200 else {}

    def metrics(self) -> dict[str, float]:
        """Samples summed over labels except the ones kept: 'name{label=value}' → sum."""
        out: dict[str, float] = {}
        for (name, labels), value in self.samples().items():
            out[name] = out.get(name, 0.0) + value
            for label, lv in labels:
                if label in ("reason", "stage"):
                    k = f"{name}{{{label}={lv}}}"
                    out[k] = out.get(k, 0.0) + value
        return out

    def wait(self, cond: Callable[[dict[str, float]], bool], timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        last: dict[str, float] = {}
        while time.monotonic() < deadline:
            assert self.alive, self.tail()
            last = self.metrics()
            if last and cond(last):
                return last
            time.sleep(0.5)
        raise AssertionError(f"timed out; last metrics: {interesting(last)}\n{self.tail()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def tail(self, n: int = 40) -> str:
        lines = self.log.read_text(errors="replace").splitlines()
        return "\n".join(lines[-n:])

    def alert_log(self) -> list[dict]:
        """Alert-log entries the worker logged (logger ``vitals.alerts``), in log order."""
        out = []
        for line in self.log.read_text(errors="replace").splitlines():
            m = re.search(r"\balert (\{.*\})\s*$", line)
            if m:
                out.append(json.loads(m.group(1)))
        return out


def interesting(m: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in m.items() if k.startswith(("vitals_resolver_", "vitals_worker_"))}


def read_all(bootstrap: str, topic: str, expect: int, timeout: float = 20) -> list:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=2000,
        group_id=None,
    )
    out: list = []
    deadline = time.monotonic() + timeout
    try:
        while len(out) < expect and time.monotonic() < deadline:
            out.extend(consumer)
    finally:
        consumer.close()
    return out
