"""The alert and recording rules: promtool checks and tests them; these tests check
the conventions the rules promise (one alert per signal, labels, annotations, a
runbook section per alert, a firing and a quiet promtool case per alert)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from monitor.core.signals import SIGNAL_NAMES

pytestmark = [pytest.mark.prometheus]

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "dashboards" / "prometheus" / "rules"
TESTS = ROOT / "dashboards" / "prometheus" / "tests"
RUNBOOK = ROOT / "docs" / "runbook.md"
SEVERITIES = {"critical", "warning", "info"}


def _tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is not installed: tools/bootstrap.sh --system installs it"
    return path


def _alerts() -> list[dict]:
    doc = yaml.safe_load((RULES / "vitals-alerts.yml").read_text())
    return [r for g in doc["groups"] for r in g["rules"] if "alert" in r]


def test_promtool_checks_the_rule_files() -> None:
    files = sorted(RULES.glob("*.yml"))
    assert len(files) == 2
    out = subprocess.run(
        [_tool("promtool"), "check", "rules", *map(str, files)], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_promtool_unit_tests_pass() -> None:
    files = sorted(TESTS.glob("*_test.yml"))
    assert len(files) == 2
    out = subprocess.run(
        [_tool("promtool"), "test", "rules", *map(str, files)],
        capture_output=True,
        text=True,
        cwd=TESTS,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_one_alert_per_signal_driven_by_the_detectors_decision() -> None:
    by_signal: dict[str, list[str]] = {}
    for rule in _alerts():
        m = re.search(r'vitals_alert_firing\{[^}]*signal="([a-z_]+)"', rule["expr"])
        if m:
            by_signal.setdefault(m.group(1), []).append(rule["alert"])
            assert "rate(" not in rule["expr"], "detection stays in the engine"
    assert set(by_signal) == set(SIGNAL_NAMES)
    assert all(len(names) == 1 for names in by_signal.values()), by_signal


def test_names_labels_and_annotations_follow_the_conventions() -> None:
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-")
        for h in re.findall(r"^## (.+)$", RUNBOOK.read_text(), flags=re.M)
    }
    for rule in _alerts():
        name = rule["alert"]
        assert re.fullmatch(r"(Vitals[A-Z][A-Za-z]+|Watchdog)", name), name
        severity = rule["labels"]["severity"]
        assert severity in SEVERITIES or (name == "Watchdog" and severity == "none"), name
        ann = rule["annotations"]
        assert "{{" not in ann["summary"], f"{name}: summary is static"
        if name != "Watchdog":  # (nothing varies in an always-firing alert)
            assert "{{" in ann["description"], f"{name}: description is templated"
        path, _, anchor = ann["runbook_url"].partition("#")
        assert path == "docs/runbook.md" and anchor == name.lower() and anchor in anchors, name


def test_every_alert_has_a_firing_and_a_quiet_promtool_case() -> None:
    doc = yaml.safe_load((TESTS / "vitals-alerts_test.yml").read_text())
    firing: set[str] = set()
    quiet: set[str] = set()
    for test in doc["tests"]:
        for case in test["alert_rule_test"]:
            (firing if case["exp_alerts"] else quiet).add(case["alertname"])
    names = {r["alert"] for r in _alerts()}
    assert firing == names
    # Watchdog always fires: its silence is the alarm, so it has no quiet case.
    assert quiet == names - {"Watchdog"}
