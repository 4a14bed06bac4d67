"""Python handle on the local Kafka broker managed by ``tools/kafka/kafka.sh``.

Standard library only, so that test fixtures and scripts can use it before any
Kafka client is imported::

    from tools.kafka.broker import LocalKafka

    with LocalKafka(port=19092) as kafka:   # fetches jars on first use
        print(kafka.bootstrap)              # "127.0.0.1:19092"

The broker is a real Apache Kafka (single KRaft node, broker+controller) run by
the system ``java``; ``kafka.sh`` resolves its jars from Maven Central.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

__all__ = [
    "DEFAULT_PORT",
    "DEFAULT_VERSION",
    "KAFKA_DIR",
    "KAFKA_SH",
    "KafkaError",
    "LocalKafka",
    "port_open",
    "wait_for_port",
    "wait_for_port_closed",
]

KAFKA_DIR = Path(__file__).resolve().parent
KAFKA_SH = KAFKA_DIR / "kafka.sh"
DEFAULT_PORT = 19092
LOCALHOST = "127.0.0.1"


def _default_version() -> str:
    """The default version is defined once, in kafka.sh (``DEFAULT_KAFKA_VERSION=...``)."""
    match = re.search(r"^DEFAULT_KAFKA_VERSION=([0-9][0-9.]*)\s*$", KAFKA_SH.read_text(), re.M)
    if not match:  # pragma: no cover - guards against an edit of kafka.sh
        raise RuntimeError(f"DEFAULT_KAFKA_VERSION not found in {KAFKA_SH}")
    return match.group(1)


DEFAULT_VERSION = _default_version()


class KafkaError(RuntimeError):
    """kafka.sh failed; the message carries its output (including the broker log tail)."""


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_port(host: str, port: int, timeout: float = 30.0, interval: float = 0.2) -> bool:
    """Wait until host:port accepts TCP connections; False if it did not within timeout."""
    deadline = time.monotonic() + timeout
    while True:
        if port_open(host, port, timeout=min(1.0, max(timeout, 0.1))):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def wait_for_port_closed(
    host: str, port: int, timeout: float = 10.0, interval: float = 0.1
) -> bool:
    """Wait until host:port refuses connections; False if it still accepts after timeout."""
    deadline = time.monotonic() + timeout
    while port_open(host, port, timeout=0.5):
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
    return True


def _pid_alive(pid: int) -> bool:
    """True when the process exists and is not a zombie (Linux /proc aware)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return not Path("/proc").is_dir()
    state = stat.rsplit(")", 1)[-1].split()[0]
    return state not in ("Z", "X")


class LocalKafka:
    """A single-node Kafka broker on 127.0.0.1, driven through ``kafka.sh``.

    ``start()`` is idempotent: if kafka.sh already runs this version on this
    port, it is reused and ``started`` stays False, so that the context manager
    (and the test fixtures) only stop brokers that they launched themselves.
    ``stop()`` always stops whatever kafka.sh broker serves the port.
    """

    host = LOCALHOST

    def __init__(
        self,
        version: str | None = None,
        port: int = DEFAULT_PORT,
        controller_port: int | None = None,
        *,
        start_timeout: float = 90.0,
        stop_timeout: float = 30.0,
        fetch_timeout: float = 900.0,
        clean: bool = False,
        extra_properties: dict[str, str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.version = version or DEFAULT_VERSION
        self.port = int(port)
        self.controller_port = int(controller_port) if controller_port else self.port + 1
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.fetch_timeout = fetch_timeout
        self.clean = clean
        self.extra_properties = dict(extra_properties or {})
        self.extra_env = dict(env or {})
        self.started = False  # True once *this object* launched the broker
        self.last_output = ""  # stderr of the last kafka.sh call (its progress log)

    # ------------------------------------------------------------------ properties
    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def run_dir(self) -> Path:
        return KAFKA_DIR / "run" / f"{self.version}-{self.port}"

    @property
    def lib_dir(self) -> Path:
        return KAFKA_DIR / f"lib-{self.version}"

    @property
    def log_file(self) -> Path:
        return self.run_dir / "kafka.log"

    @property
    def pid(self) -> int | None:
        """Pid recorded by kafka.sh for this version/port (None when absent)."""
        try:
            return int((self.run_dir / "kafka.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def __repr__(self) -> str:
        return f"LocalKafka(version={self.version!r}, port={self.port}, started={self.started})"

    # ------------------------------------------------------------------ kafka.sh
    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            KAFKA_VERSION=self.version,
            KAFKA_PORT=str(self.port),
            KAFKA_CONTROLLER_PORT=str(self.controller_port),
            KAFKA_START_TIMEOUT=str(int(self.start_timeout)),
            KAFKA_STOP_TIMEOUT=str(int(self.stop_timeout)),
            KAFKA_CLEAN="1" if self.clean else "0",
        )
        if self.extra_properties:
            env["KAFKA_EXTRA_PROPERTIES"] = "\n".join(
                f"{k}={v}" for k, v in self.extra_properties.items()
            )
        env.update(self.extra_env)
        return env

    def _run(self, command: str, timeout: float, check: bool = True) -> subprocess.CompletedProcess:
        try:
            proc = subprocess.run(
                ["bash", str(KAFKA_SH), command],
                env=self._env(),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise KafkaError(
                f"kafka.sh {command} (Kafka {self.version}, port {self.port}) timed out "
                f"after {timeout:.0f}s\n{_text(exc.stderr)}"
            ) from exc
        self.last_output = proc.stderr
        if check and proc.returncode != 0:
            raise KafkaError(
                f"kafka.sh {command} (Kafka {self.version}, port {self.port}) failed "
                f"with exit code {proc.returncode}\n{proc.stderr.strip()}"
            )
        return proc

    def fetch(self) -> None:
        """Resolve the broker's jars (no-op when already cached)."""
        self._run("fetch", timeout=self.fetch_timeout)

    def is_running(self) -> bool:
        """True when a kafka.sh broker (of any version) serves this port."""
        return self._run("status", timeout=30, check=False).returncode == 0

    def start(self) -> str:
        """Start (or reuse) the broker and return its bootstrap address."""
        already = self.is_running()
        self.fetch()  # separate step: it has its own, much longer, timeout
        try:
            self._run("start", timeout=self.start_timeout + 60)
        except KafkaError:
            if not already:
                self._run("stop", timeout=self.stop_timeout + 30, check=False)
            raise
        self.started = self.started or not already
        return self.bootstrap

    def stop(self) -> None:
        """Stop the broker serving this port (SIGTERM, SIGKILL after stop_timeout)."""
        self._run("stop", timeout=self.stop_timeout + 30)
        self.started = False

    def server_version(self) -> str | None:
        """Version the running broker reports in its log ("Kafka version: X")."""
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return None
        found = re.findall(r"Kafka version: (\S+)", text)
        return found[-1] if found else None

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    @staticmethod
    def pid_alive(pid: int) -> bool:
        return _pid_alive(pid)

    # ------------------------------------------------------------------ context manager
    def __enter__(self) -> LocalKafka:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.started:
            self.stop()


def _text(data: str | bytes | None) -> str:
    if data is None:
        return ""
    if isinstance(data, bytes):
        return data.decode(errors="replace")
    return data
