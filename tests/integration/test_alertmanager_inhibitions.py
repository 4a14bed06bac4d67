"""The project's inhibition rules on a real Alertmanager (Debian's), alert by alert.

Alerts are posted to Alertmanager's API as Prometheus would send them; each case
checks which targets its source silences, and which it must not: another feature,
site, signal or job, a pipeline alert, and a source that lacks a label (two alerts
that both lack a label count as equal on it, which the rules' matchers guard).
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from worker_harness import free_port

from tools.stack import Stack, get, wait_until

pytestmark = [pytest.mark.prometheus]

DROP = "VitalsAcceptanceRateDrop"


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp: Path = tmp_path_factory.mktemp("am")
    with Stack(tmp) as stack:
        # no receiver listens there: delivery is not what this test is about
        yield stack.alertmanager(free_port(), f"http://127.0.0.1:{free_port()}")


def _data(name: str, signal: str, feature: str, version: str, site: str, job: str = "vitals"):
    return {
        "alertname": name,
        "signal": signal,
        "feature": feature,
        "model_version": version,
        "site": site,
        "job": job,
        "role": "exact",
        "severity": "warning",
    }


def _post(url: str, alerts: list[dict[str, str]]) -> None:
    now = datetime.now(UTC)
    body = [
        {
            "labels": labels,
            "annotations": {"summary": "test"},
            "startsAt": now.isoformat(),
            "endsAt": (now + timedelta(hours=1)).isoformat(),
        }
        for labels in alerts
    ]
    req = urllib.request.Request(
        f"{url}/api/v2/alerts",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.status == 200


def _states(url: str, targets: dict[str, dict[str, str]]) -> dict[str, str]:
    status, body = get(f"{url}/api/v2/alerts", timeout=30)
    assert status == 200
    listed = json.loads(body)
    out = {}
    for name, labels in targets.items():
        for alert in listed:
            if alert["labels"] == labels:
                out[name] = alert["status"]["state"]
    return out if len(out) == len(targets) else {}


def _case(url: str, sources: list[dict], targets: dict[str, dict], suppressed: set[str]) -> None:
    _post(url, [*sources, *targets.values()])
    expect = {n: "suppressed" if n in suppressed else "active" for n in targets}
    wait_until(f"states {expect}", lambda: _states(url, targets) == expect, timeout=60)


def test_a_feature_wide_alert_silences_the_same_signals_per_site_alerts(alertmanager) -> None:
    drop = "VitalsAcceptanceRateDrop"
    _case(
        alertmanager,
        [_data(drop, "acceptance_rate", "fa", "*", "*")],
        {
            "same signal, a site": _data(drop, "acceptance_rate", "fa", "*", "s1"),
            "same signal, a version at a site": _data(drop, "acceptance_rate", "fa", "v1", "s1"),
            "another signal": _data("VitalsSiteOutlier", "site_outlier", "fa", "*", "s1"),
            "another feature": _data(drop, "acceptance_rate", "fb", "*", "s1"),
            "another job": _data(drop, "acceptance_rate", "fa", "*", "s1", job="other"),
        },
        {"same signal, a site", "same signal, a version at a site"},
    )


def test_a_version_wide_alert_silences_that_versions_per_site_alerts(alertmanager) -> None:
    drop = "VitalsCorrectionBurdenRise"
    _case(
        alertmanager,
        [_data(drop, "correction_burden", "fc", "v2", "*")],
        {
            "that version at a site": _data(drop, "correction_burden", "fc", "v2", "s1"),
            "another version": _data(drop, "correction_burden", "fc", "v3", "s1"),
            "all versions at a site": _data(drop, "correction_burden", "fc", "*", "s1"),
        },
        {"that version at a site"},
    )


def test_a_silent_site_silences_that_sites_other_signals(alertmanager) -> None:
    _case(
        alertmanager,
        [_data("VitalsNoData", "no_data", "fd", "*", "quiet")],
        {
            "acceptance there": _data(DROP, "acceptance_rate", "fd", "v1", "quiet"),
            "response there": _data("VitalsResponseRateDrop", "response_rate", "fd", "*", "quiet"),
            "another site": _data(DROP, "acceptance_rate", "fd", "v1", "loud"),
            "another feature": _data(DROP, "acceptance_rate", "fe", "v1", "quiet"),
        },
        {"acceptance there", "response there"},
    )


def test_a_worker_down_silences_its_jobs_data_alerts_only(alertmanager) -> None:
    down = {
        "alertname": "VitalsWorkerDown",
        "job": "jobw",
        "instance": "w1:6066",
        "severity": "critical",
    }
    lag = {"alertname": "VitalsConsumerLagHigh", "job": "jobw", "topic": "t", "severity": "warning"}
    _case(
        alertmanager,
        [down],
        {
            "a data alert": _data("VitalsFlagRateRise", "flag_rate", "ff", "v1", "s1", job="jobw"),
            "a rollup's data alert": _data("VitalsNoData", "no_data", "ff", "*", "s2", job="jobw"),
            "another job's": _data("VitalsFlagRateRise", "flag_rate", "ff", "v1", "s1", job="jobx"),
            "a pipeline alert": lag,
        },
        {"a data alert", "a rollup's data alert"},
    )


def test_a_source_without_the_equal_labels_silences_nothing(alertmanager) -> None:
    """Alerts that both lack `feature` would count as equal on it: the matchers guard."""
    no_feature = _data("VitalsAcceptanceRateDrop", "acceptance_rate", "x", "*", "*")
    del no_feature["feature"]
    target = _data("VitalsAcceptanceRateDrop", "acceptance_rate", "x", "*", "s9")
    del target["feature"]
    down_without_job = {"alertname": "VitalsWorkerDown", "instance": "w9", "severity": "critical"}
    _case(
        alertmanager,
        [no_feature, down_without_job],
        {
            "no feature either": target,
            "a data alert without job": {
                k: v
                for k, v in _data("VitalsScoreDrift", "score_drift", "fg", "v1", "*").items()
                if k != "job"
            },
        },
        set(),
    )
