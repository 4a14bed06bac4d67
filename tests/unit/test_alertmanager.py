"""Alertmanager routing and inhibitions (amtool on the project's own config); the
end-to-end test shows the inhibitions on a real Alertmanager."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.prometheus]

CONFIG = Path(__file__).resolve().parents[2] / "dashboards" / "alertmanager" / "alertmanager.yml"


def _amtool(*args: str) -> subprocess.CompletedProcess[str]:
    amtool = shutil.which("amtool")
    assert amtool, "amtool is not installed: tools/bootstrap.sh --system installs it"
    return subprocess.run([amtool, *args], capture_output=True, text=True)


def test_amtool_checks_the_config() -> None:
    out = _amtool("check-config", str(CONFIG))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "4 inhibit rules" in out.stdout


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (
            ["alertname=VitalsFlagRateRise", "severity=critical", "feature=a", "site=b"],
            "vitals-pager",
        ),
        (["alertname=VitalsWorkerDown", "severity=critical", "job=vitals"], "vitals-pager"),
        (["alertname=VitalsAcceptanceRateDrop", "severity=warning", "feature=a"], "vitals-tickets"),
        (["alertname=VitalsDeadLetters", "severity=warning", "reason=x"], "vitals-tickets"),
        (["alertname=VitalsInputDrift", "severity=info", "feature=a"], "null"),
        (["alertname=Watchdog", "severity=none"], "vitals-watchdog"),
        (["alertname=Unknown"], "vitals-tickets"),
    ],
)
def test_routes_by_severity(labels: list[str], receiver: str) -> None:
    out = _amtool(
        "config", "routes", "test", f"--config.file={CONFIG}", f"--verify.receivers={receiver}",
        *labels,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip() == receiver


def test_groups_by_feature_and_site_and_every_inhibition_is_scoped() -> None:
    doc = yaml.safe_load(CONFIG.read_text())
    assert doc["route"]["group_by"] == ["feature", "site"]
    for rule in doc["inhibit_rules"]:
        assert rule["equal"], rule
        # each label that must be equal is also required (non-empty) on both sides,
        # so two alerts that both lack it cannot match
        for side in ("source_matchers", "target_matchers"):
            required = {m.split("=~")[0] for m in rule[side] if m.endswith('=~".+"')}
            exact = {m.split("=")[0] for m in rule[side] if "=~" not in m and "!=" not in m}
            for label in rule["equal"]:
                assert label in required | exact, (label, side, rule)
