"""Scenario simulator: synthetic EHR AI event streams with known ground truth.

A scenario YAML (see ``seeds/``) describes features, sites, model versions,
clinician behaviour, nuisance variation and injected degradations;
:func:`simulate` writes ``events.jsonl`` (contract v1, plus a few deliberately
malformed lines) and ``truth.json`` (what was injected, where, when, and which
signals count as detecting it). Output is a pure function of the spec.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> spec = parse_scenario({
...     "name": "tiny", "seed": 7, "start": "2026-01-05T00:00:00Z", "days": 1,
...     "features": [{"name": "inbasket-reply", "daily_volume": 200,
...                   "model_versions": ["reply-2.0"], "sites": ["clinic-a"],
...                   "outcomes": {"accepted": .3, "edited": .3, "rejected": .2,
...                                "dismissed": .2}}]})
>>> with tempfile.TemporaryDirectory() as tmp:
...     result = simulate(spec, Path(tmp))
...     result.lines == len(Path(tmp, "events.jsonl").read_text().splitlines())
True
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.simulate.render import Stream, render
from monitor.simulate.spec import ScenarioError, ScenarioSpec, load_scenario, parse_scenario

__all__ = [
    "ScenarioError",
    "ScenarioSpec",
    "SimulationResult",
    "iter_events",
    "iter_lines",
    "load_scenario",
    "parse_scenario",
    "render",
    "simulate",
]


@dataclass(frozen=True)
class SimulationResult:
    """Where a simulation was written and what it contains."""

    events_path: Path
    truth_path: Path
    lines: int
    """Lines in events.jsonl, malformed ones included."""
    events: int
    """Valid event lines (duplicates included)."""
    suggestions: int
    duplicates: int
    malformed: int
    degradations: int
    seconds: float
    """Wall time spent generating and writing."""

    @property
    def lines_per_second(self) -> float:
        return self.lines / self.seconds if self.seconds > 0 else float("inf")


def simulate(spec: ScenarioSpec, out_dir: str | Path) -> SimulationResult:
    """Generate the scenario into ``out_dir/events.jsonl`` and ``out_dir/truth.json``."""
    began = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stream = render(spec)
    events_path = out / "events.jsonl"
    truth_path = out / "truth.json"
    with events_path.open("w", encoding="utf-8", newline="\n") as fh:
        fh.write("\n".join(stream.lines))
        if stream.lines:
            fh.write("\n")
    truth_path.write_text(json.dumps(stream.truth, indent=2) + "\n", encoding="utf-8")
    t = stream.truth
    return SimulationResult(
        events_path=events_path,
        truth_path=truth_path,
        lines=t["lines"],
        events=t["events"],
        suggestions=t["suggestions"],
        duplicates=t["duplicates"],
        malformed=len(t["malformed_lines"]),
        degradations=len(t["degradations"]),
        seconds=time.perf_counter() - began,
    )


def iter_lines(spec: ScenarioSpec) -> Iterator[str]:
    """Every line of the stream in file order (malformed ones included), no newline."""
    yield from render(spec).lines


def iter_events(spec: ScenarioSpec) -> Iterator[dict[str, Any]]:
    """The valid events in file order as dicts (duplicates included, malformed skipped)."""
    stream: Stream = render(spec)
    bad = set(stream.truth["malformed_lines"])
    for number, line in enumerate(stream.lines, start=1):
        if number not in bad:
            yield json.loads(line)
