"""The PromQL behind the committed dashboards, for tests that evaluate it.

Reads the JSON (what Grafana would load), not the generator, and expands Grafana's
template variables the way Grafana would for one selection.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

DASHBOARDS = Path(__file__).resolve().parent / "dashboards"
RATE_INTERVAL = "1m"
"""What ``$__rate_interval`` stands for in evaluation (4 scrapes of a 15 s scrape)."""


@dataclass(frozen=True)
class Query:
    dashboard: str
    panel: str
    ref: str
    expr: str


def dashboard_queries(folder: Path = DASHBOARDS) -> list[Query]:
    """Every panel target and annotation query of every dashboard in *folder*."""
    out = []
    for path in sorted(folder.glob("*.json")):
        doc = json.loads(path.read_text())
        title = doc["title"]
        for panel in doc.get("panels", []):
            for target in panel.get("targets") or []:
                out.append(Query(title, panel["title"], target["refId"], target["expr"]))
        for ann in doc.get("annotations", {}).get("list", []):
            if "expr" in ann:
                out.append(Query(title, f"annotation: {ann['name']}", "-", ann["expr"]))
    return out


def variables(folder: Path = DASHBOARDS) -> dict[str, list[str]]:
    """Template variable name -> the ``label_values`` queries that define it."""
    out: dict[str, list[str]] = {}
    for path in sorted(folder.glob("*.json")):
        for var in json.loads(path.read_text()).get("templating", {}).get("list", []):
            out.setdefault(var["name"], []).append(var["query"])
    return out


def expand(expr: str, values: dict[str, str]) -> str:
    """*expr* with ``$name`` replaced by ``values[name]`` and Grafana's interval variables
    by :data:`RATE_INTERVAL`; an unknown variable is an error."""
    expr = expr.replace("$__rate_interval", RATE_INTERVAL).replace("$__interval", RATE_INTERVAL)

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in values:
            raise KeyError(f"no value for ${name} in {expr!r}")
        return values[name]

    return re.sub(r"\$([a-z_]+)", sub, expr)
