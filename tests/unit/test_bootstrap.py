"""tools/bootstrap.sh: the demo's setup needs only Python, and the system setup never
stops a process it did not start."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools" / "bootstrap.sh"


def test_python_setup_needs_no_root_java_maven_or_apt(tmp_path: Path) -> None:
    """With only the tools a Python setup uses on PATH (no java, mvn, kcat, apt-get,
    prometheus), the default mode still succeeds: `make demo` needs none of them."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "env", "sha256sum", "cut", "rm", "touch", "python3", "dirname"):
        path = shutil.which(tool)
        assert path, tool
        (bin_dir / tool).symlink_to(path)
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path)}
    for banned in ("java", "mvn", "apt-get", "kcat", "prometheus", "sudo"):
        assert shutil.which(banned, path=str(bin_dir)) is None
    out = subprocess.run(
        ["bash", str(SCRIPT)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "apt-get" not in out.stdout + out.stderr


def test_system_setup_starts_and_stops_no_daemon() -> None:
    text = SCRIPT.read_text()
    code = "\n".join(line.split("#")[0] for line in text.splitlines())
    for killer in ("pkill", "killall", "kill ", "systemctl", "service "):
        assert killer not in code, killer
    # daemons are kept from starting on install (Debian's policy-rc.d), and the
    # policy is removed afterwards only when this script placed it
    assert "policy-rc.d" in code and "exit 101" in text
    assert os.access(SCRIPT, os.X_OK)
