"""The Grafana dashboards: the committed JSON is what the generator writes, and every
query is valid PromQL on the provisioned datasource (the end-to-end test evaluates
them against a real Prometheus)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import yaml

from dashboards.grafana import generate
from dashboards.grafana.queries import DASHBOARDS, dashboard_queries, expand, variables

ROOT = Path(__file__).resolve().parents[2]
PROVISIONING = ROOT / "dashboards" / "grafana" / "provisioning"


def test_committed_json_is_what_the_generator_writes(tmp_path: Path) -> None:
    written = generate.main(tmp_path)
    assert {p.name for p in written} == {p.name for p in DASHBOARDS.glob("*.json")}
    for path in written:
        committed = (DASHBOARDS / path.name).read_text()
        assert path.read_text() == committed, f"{path.name}: run `make dashboards` and commit"


def test_every_panel_queries_the_provisioned_datasource() -> None:
    ds = yaml.safe_load((PROVISIONING / "datasources" / "vitals.yml").read_text())
    uid = ds["datasources"][0]["uid"]
    assert uid == generate.DATASOURCE.uid
    for path in DASHBOARDS.glob("*.json"):
        doc = json.loads(path.read_text())
        for panel in doc["panels"]:
            if panel["type"] == "row":
                continue
            assert panel["datasource"]["uid"] == uid, panel["title"]
            assert panel["targets"], panel["title"]
            assert all(t["datasource"]["uid"] == uid for t in panel["targets"])
    provider = yaml.safe_load((PROVISIONING / "dashboards" / "vitals.yml").read_text())
    assert provider["providers"][0]["options"]["path"].endswith("/vitals")


def test_the_three_dashboards_have_what_the_issue_lists() -> None:
    docs = {
        json.loads(p.read_text())["uid"]: json.loads(p.read_text())
        for p in DASHBOARDS.glob("*.json")
    }
    assert set(docs) == {"vitals-overview", "vitals-feature", "vitals-pipeline"}
    rows = {uid: [p["title"] for p in d["panels"] if p["type"] == "row"] for uid, d in docs.items()}
    assert rows["vitals-overview"] == ["Adoption", "Safety", "Human experience", "Alerts"]
    names = [v["name"] for v in docs["vitals-feature"]["templating"]["list"]]
    assert names == ["feature", "model_version", "site"]
    for uid in ("vitals-overview", "vitals-feature"):
        anns = [a["name"] for a in docs[uid]["annotations"]["list"]]
        assert anns == ["Model version first seen", "Model version baseline established"]


def test_every_query_is_valid_promql(tmp_path: Path) -> None:
    """promtool parses each expression as a recording rule (variables expanded)."""
    assert set(variables()) == {"feature", "model_version", "site"}
    values = {"feature": "inbasket-reply", "model_version": ".*", "site": ".*"}
    rules = [
        {"record": f"dashboard:query_{i}", "expr": expand(q.expr, values)}
        for i, q in enumerate(dashboard_queries())
    ]
    assert len(rules) > 30
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    promtool = shutil.which("promtool")
    assert promtool, "promtool is not installed: tools/bootstrap.sh --system installs it"
    out = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
