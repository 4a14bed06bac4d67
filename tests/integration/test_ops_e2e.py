"""End to end on real servers: Debian's Prometheus and Alertmanager with the project's
own rules and Alertmanager config (tools/stack.py renders loopback copies).

Prometheus scrapes two Vitals engines of job ``vitals``: ``vitals demo --keep-serving``
replaying seeds/quick/scenario.yaml at 3600x (an acceptance drop at riverside
from day 4), and a worker on the real local Kafka fed seeds/sample (so the
pipeline metrics exist; its in-basket feature is renamed, so each series lives on one
engine). Then:

* the acceptance alert becomes firing in Prometheus and reaches a local webhook
  receiver through Alertmanager with its labels and annotations;
* Alertmanager inhibits the per-site alert of a version-wide one;
* the worker is killed: VitalsWorkerDown fires and inhibits every data alert;
* every PromQL expression of the rules and dashboards evaluates without error and
  returns data, except those listed in EXPECTED_EMPTY with the reason.

Every wait polls a condition with a deadline. The figures (delays in event and wall
time, each dashboard query's result) are printed and written to ``e2e-report.json``
in the test's temporary directory.
"""

from __future__ import annotations

import json
import signal
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from worker_harness import WorkerProcess, free_port, parse_samples, worker_config

from dashboards.grafana.queries import dashboard_queries, expand
from tools.stack import ROOT, SCENARIO, Stack, get, wait_until
from tools.webhook_receiver import WebhookReceiver

pytestmark = [pytest.mark.kafka, pytest.mark.prometheus, pytest.mark.slow]

SPEED = 3600.0
"""Event seconds replayed per wall second (one event hour a second)."""
INTERVAL = "1s"
"""Scrape and rule evaluation interval of the test's Prometheus."""
ALERT = "VitalsAcceptanceRateDrop"
RULES = ROOT / "dashboards" / "prometheus" / "rules"
SAMPLE = ROOT / "seeds" / "sample" / "events.jsonl"

EXPECTED_EMPTY: dict[str, str] = {
    # alert expressions whose condition the scenario never meets
    "VitalsResponseRateDrop": "the seed degrades acceptance only",
    "VitalsFlagRateRise": "the seed degrades acceptance only",
    "VitalsCorrectionBurdenRise": "the seed degrades acceptance only",
    "VitalsDecisionTimeRise": "the seed degrades acceptance only",
    "VitalsScoreDrift": "the seed degrades acceptance only",
    "VitalsInputDrift": "the seed degrades acceptance only",
    "VitalsNoData": "no site goes silent in the seed",
    "VitalsSiteOutlier": "the funnel's 3-day window with a 2-point spread floor (z 3.5,"
    " decision 0024) is not crossed in the hours the test replays after the drop; the"
    " panel's site row alerts on it",
    "VitalsWorkerDown": "evaluated while both targets are up (the worker-down case"
    " follows, and checks this alert fires)",
    "VitalsWorkerStalled": "the worker processes its input",
    "VitalsConsumerLagHigh": "lag stays far below 10,000 messages",
    "VitalsDeadLetters": "3 of 354 sample lines are dead-lettered (0.8%), under the 1% alarm",
    "VitalsPartitionStuckCatchingUp": "no partition is catching up",
    "VitalsCheckpointFailing": "checkpoints complete",
    "VitalsWorkerRestarting": "the worker started once",
    "VitalsRecordsLostToRetention": "retention deleted nothing",
}


@dataclass
class Run:
    prometheus: str
    alertmanager: str
    demo: str
    worker: WorkerProcess
    receiver: WebhookReceiver
    stack: Stack
    tmp: Path
    truth: dict[str, Any]
    report: dict[str, Any] = field(default_factory=dict)


def _prom(url: str, path: str, **params: str) -> Any:
    status, body = get(f"{url}{path}?{urllib.parse.urlencode(params)}", timeout=30)
    assert status == 200, (path, params, status, body[:500])
    doc = json.loads(body)
    assert doc["status"] == "success", doc
    return doc["data"]


def _am_alerts(url: str, **filters: str) -> list[dict]:
    query = urllib.parse.urlencode([("filter", f'{k}="{v}"') for k, v in filters.items()])
    status, body = get(f"{url}/api/v2/alerts?{query}", timeout=30)
    assert status == 200, body[:500]
    return json.loads(body)


def _firing(url: str, name: str) -> list[dict]:
    alerts = _prom(url, "/api/v1/alerts")["alerts"]
    return [a for a in alerts if a["labels"]["alertname"] == name and a["state"] == "firing"]


def _demo_clock(url: str) -> float:
    status, body = get(f"{url}/metrics")
    if status != 200:
        return 0.0
    samples = parse_samples(body.decode())
    return samples.get(("vitals_replay_event_time_seconds", ()), 0.0)


def _publish(bootstrap: str, topic: str, path: Path) -> int:
    """The sample's lines, its in-basket feature renamed: the demo owns inbasket-reply,
    and a series lives on one engine only (as on one worker of a group)."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    sent = 0
    for line in path.read_bytes().replace(b'"inbasket-reply"', b'"worker-reply"').splitlines():
        if not line.strip():
            continue
        try:
            key = json.loads(line)["suggestion_id"].encode()
        except (ValueError, KeyError, TypeError, AttributeError):
            key = b"malformed"
        producer.send(topic, key=key, value=line)
        sent += 1
    producer.flush()
    producer.close()
    return sent


def _topics(bootstrap: str, names: dict[str, int]) -> Any:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="vitals-e2e")
    admin.create_topics(
        {n: {"num_partitions": p, "replication_factor": 1} for n, p in names.items()},
        wait_for_metadata=True,
    )
    return admin


@pytest.fixture(scope="module")
def run(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tmp = tmp_path_factory.mktemp("ops-e2e")
    tag = uuid.uuid4().hex[:8]
    input_topic, dlq = f"vitals-e2e-in-{tag}", f"vitals-e2e-dlq-{tag}"
    admin = _topics(kafka_bootstrap, {input_topic: 2, dlq: 1})
    ports = {name: free_port() for name in ("demo", "prometheus", "alertmanager", "webhook")}
    worker_port = free_port()
    config = tmp / "worker.yaml"
    config.write_text(
        json.dumps(
            worker_config(
                kafka_bootstrap, input_topic, dlq, f"vitals-e2e-{tag}", worker_port, tmp / "data"
            )
        )
    )
    receiver = WebhookReceiver(ports["webhook"]).start()
    worker = WorkerProcess(config, worker_port, tmp / "worker.log")
    stack = Stack(tmp)
    try:
        am = stack.alertmanager(ports["alertmanager"], f"http://127.0.0.1:{ports['webhook']}")
        worker.start()
        targets = [f"127.0.0.1:{ports['demo']}", f"127.0.0.1:{worker_port}"]
        prom = stack.prometheus(
            ports["prometheus"], targets, f"127.0.0.1:{ports['alertmanager']}", INTERVAL
        )
        worker.wait(lambda m: m.get("vitals_worker_ready") == 1.0, timeout=180)
        sent = _publish(kafka_bootstrap, input_topic, SAMPLE)
        worker.wait(
            lambda m: (
                m.get("vitals_resolver_events_total", 0)
                + m.get("vitals_worker_dead_letters_total", 0)
                >= sent - 10
            ),  # (duplicates are counted by the resolver as well)
            timeout=180,
        )
        demo = stack.demo(ports["demo"], SCENARIO, SPEED)
        truth = json.loads((tmp / "demo" / "truth.json").read_text())
        yield Run(prom, am, demo, worker, receiver, stack, tmp, truth)
    finally:
        stack.stop()
        worker.stop(signal.SIGKILL)
        receiver.stop()
        try:
            admin.delete_topics([input_topic, dlq])
        finally:
            admin.close()


@pytest.fixture(scope="module")
def fired(run: Run) -> dict[str, Any]:
    """Wait for the degradation to begin in the replay, then for the alert to fire."""
    (deg,) = run.truth["degradations"]
    start = _ts(deg["start"])
    began = wait_until(
        "the replay to reach the degradation",
        lambda: time.monotonic() if _demo_clock(run.demo) >= start else None,
        timeout=600,
        poll=0.1,
    )
    alerts = wait_until(
        f"{ALERT} firing in Prometheus",
        lambda: _firing(run.prometheus, ALERT),
        timeout=600,
        poll=0.2,
    )
    firing_wall = time.monotonic()
    first = min(alerts, key=lambda a: a["activeAt"])
    lab = first["labels"]
    since = _prom(
        run.prometheus,
        "/api/v1/query",
        query="max(vitals_alert_firing_since_timestamp_seconds{"
        + ",".join(f'{k}="{lab[k]}"' for k in ("feature", "model_version", "site", "signal"))
        + "})",
    )["result"]
    assert since, "the firing series has its since-time"
    event_delay = float(since[0]["value"][1]) - start
    run.report["fired"] = {
        "alert": ALERT,
        "series": {k: lab[k] for k in ("feature", "model_version", "site")},
        "degradation_start": deg["start"],
        "event_time_delay_hours": round(event_delay / 3600, 2),
        "wall_time_delay_seconds": round(firing_wall - began, 1),
        "speed": SPEED,
    }
    return {"alerts": alerts, "first": first, "event_delay": event_delay}


def _ts(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_the_acceptance_alert_fires_in_prometheus_on_the_degraded_series(run, fired) -> None:
    first = fired["first"]
    lab = first["labels"]
    assert lab["feature"] == "inbasket-reply" and lab["site"] == "riverside"
    assert lab["severity"] == "warning" and lab["signal"] == "acceptance_rate"
    assert lab["job"] == "vitals" and "instance" not in lab
    # detection after the degradation began, within a day of event time
    assert 0 < fired["event_delay"] < 86400
    print(json.dumps(run.report["fired"], indent=2))


def test_alertmanager_delivers_it_with_labels_and_annotations(run, fired) -> None:
    def delivered() -> list[dict]:
        out = []
        for note in run.receiver.received():
            for alert in note["payload"]["alerts"]:
                if alert["labels"]["alertname"] == ALERT and alert["status"] == "firing":
                    out.append({**alert, "path": note["path"]})
        return out

    alerts = wait_until("the webhook to receive the alert", delivered, timeout=300)
    alert = next(a for a in alerts if a["labels"]["site"] == "riverside")
    assert alert["path"] == "/ticket"  # severity warning -> vitals-tickets
    assert {"feature", "model_version", "site", "signal", "severity", "role", "job"} <= set(
        alert["labels"]
    )
    ann = alert["annotations"]
    assert ann["summary"] == "Clinicians accept fewer AI suggestions than the baseline."
    assert ann["description"].startswith("Acceptance of inbasket-reply (")
    assert "unknown" not in ann["description"], ann["description"]
    assert "level of concern" in ann["description"] and "(event time)" in ann["description"]
    assert ann["runbook_url"] == "docs/runbook.md#vitalsacceptanceratedrop"
    run.report["delivered"] = {"path": alert["path"], "labels": alert["labels"], **ann}


def test_a_version_wide_alert_inhibits_its_per_site_alert(run, fired) -> None:
    """The scenario's drop is at riverside only, so Vitals fires per site (reply-2.0 at
    riverside, and all versions at riverside) and rightly not version-wide. The
    version-wide source is posted to the real Alertmanager as Prometheus would send it;
    what is under test is the project's inhibition rule acting on Vitals' real alert."""

    def per_site() -> list[dict]:
        return _am_alerts(
            run.alertmanager, alertname=ALERT, model_version="reply-2.0", site="riverside"
        )

    wait_until("the per-site alert in Alertmanager", per_site, timeout=300)
    source = {"alertname": ALERT, "job": "vitals", "feature": "inbasket-reply",
              "model_version": "reply-2.0", "site": "*", "role": "version",
              "signal": "acceptance_rate", "severity": "warning"}  # fmt: skip
    ends = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 600))
    body = json.dumps([{"labels": source, "endsAt": ends}]).encode()
    req = urllib.request.Request(
        f"{run.alertmanager}/api/v2/alerts", body, {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 200

    def inhibited() -> list[dict]:
        return [a for a in per_site() if a["status"]["inhibitedBy"]]

    (alert,) = wait_until("the version-wide alert to inhibit", inhibited, timeout=300)
    (wide,) = _am_alerts(run.alertmanager, alertname=ALERT, model_version="reply-2.0", site="*")
    assert alert["status"]["state"] == "suppressed"
    assert alert["status"]["inhibitedBy"] == [wide["fingerprint"]]
    # the all-versions riverside alert has no feature-wide source: still delivered
    (free,) = _am_alerts(run.alertmanager, alertname=ALERT, model_version="*", site="riverside")
    assert free["status"]["state"] == "active"


def _queries() -> list[tuple[str, str]]:
    out = []
    for path in sorted(RULES.glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                out.append((rule.get("alert") or rule["record"], rule["expr"]))
    values = {"feature": "inbasket-reply", "model_version": ".*", "site": ".*"}
    for q in dashboard_queries():
        out.append((f"{q.dashboard} | {q.panel}#{q.ref}", expand(q.expr, values)))
    return out


def test_every_rule_and_dashboard_query_evaluates_and_returns_data(run, fired) -> None:
    # the 1d recording rules need two evaluations with data
    wait_until(
        "the recording rules",
        lambda: _prom(run.prometheus, "/api/v1/query", query="feature:vitals_flags:rate1d")[
            "result"
        ],
        timeout=120,
    )
    results: dict[str, dict[str, Any]] = {}
    for name, expr in _queries():
        data = _prom(run.prometheus, "/api/v1/query", query=expr)  # an error fails here
        result = data["result"]
        results[name] = {
            "expr": expr,
            "series": len(result) if isinstance(result, list) else 1,
            "sample": _summarize(result),
        }
    run.report["queries"] = results
    (run.tmp / "e2e-report.json").write_text(json.dumps(run.report, indent=2))
    print(json.dumps(results, indent=1))
    empty = {n for n, r in results.items() if r["series"] == 0}
    assert empty == set(EXPECTED_EMPTY), {
        "empty but expected data": sorted(empty - set(EXPECTED_EMPTY)),
        "data but expected empty": sorted(set(EXPECTED_EMPTY) - empty),
    }


def _summarize(result: Any) -> str:
    if not isinstance(result, list):
        return str(result)
    parts = []
    for item in result[:4]:
        labels = {k: v for k, v in item["metric"].items() if k not in ("job", "__name__")}
        parts.append(f"{labels} {float(item['value'][1]):.4g}")
    return "; ".join(parts) + (f" (+{len(result) - 4} more)" if len(result) > 4 else "")


def test_worker_down_fires_and_inhibits_the_data_alerts(run, fired) -> None:
    """Runs last (file order): it kills the worker."""
    run.worker.stop(signal.SIGKILL)
    down = wait_until(
        "VitalsWorkerDown firing", lambda: _firing(run.prometheus, "VitalsWorkerDown"), 180
    )
    assert down[0]["labels"]["instance"] == f"127.0.0.1:{run.worker.port}"
    assert down[0]["labels"]["severity"] == "critical"

    def all_inhibited() -> list[dict]:
        (source,) = _am_alerts(run.alertmanager, alertname="VitalsWorkerDown") or [None]
        if source is None:
            return []
        data = [a for a in _am_alerts(run.alertmanager, alertname=ALERT)]
        if data and all(source["fingerprint"] in a["status"]["inhibitedBy"] for a in data):
            return data
        return []

    data = wait_until("the data alerts to be inhibited", all_inhibited, timeout=180)
    assert all(a["status"]["state"] == "suppressed" for a in data)
    # the data alerts still fire in Prometheus (the demo is up): only notifications wait
    assert _firing(run.prometheus, ALERT)
    pages = wait_until(
        "the page for the worker",
        lambda: [
            n
            for n in run.receiver.received()
            if n["path"] == "/page"
            and any(a["labels"]["alertname"] == "VitalsWorkerDown" for a in n["payload"]["alerts"])
        ],
        timeout=180,
    )
    assert pages
    run.report["worker_down"] = {"inhibited": len(data), "paged": True}
    (run.tmp / "e2e-report.json").write_text(json.dumps(run.report, indent=2))
