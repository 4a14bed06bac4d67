"""Cost of one /metrics scrape of the monitor's state, against the bare exposition.

Replays seeds/quick/scenario.yaml, then times ``generate_latest`` of the
:class:`~monitor.collector.MonitorCollector` (walking every series and detector) and,
as the baseline in the same run, of a registry holding the same samples already
built (prometheus-client's text rendering alone). Prints both and their ratio.

    .venv/bin/python bench/bench_scrape.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.registry import Collector

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import best_of
from monitor.collector import MonitorCollector
from monitor.core.config import MonitorConfig
from monitor.replay import replay_file
from monitor.simulate import load_scenario, simulate

SEED = Path(__file__).resolve().parents[1] / "seeds" / "quick" / "scenario.yaml"


class Frozen(Collector):
    """The same metric families, built once: rendering is all that is left."""

    def __init__(self, families: list) -> None:
        self.families = families

    def collect(self):  # type: ignore[no-untyped-def]
        return iter(self.families)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        sim = simulate(load_scenario(SEED), tmp)
        engine, _ = replay_file(sim.events_path, MonitorConfig())
    collector = MonitorCollector(lambda: [engine.assessor])
    live = CollectorRegistry(auto_describe=False)
    live.register(collector)
    frozen = CollectorRegistry(auto_describe=False)
    families = list(collector.collect())
    frozen.register(Frozen(families))
    samples = sum(len(f.samples) for f in families)
    t_live = best_of(20, lambda: generate_latest(live))
    t_base = best_of(20, lambda: generate_latest(frozen))
    print(f"series {len(engine.assessor.series)}, samples {samples}")
    print(f"scrape {t_live * 1e3:.2f} ms; rendering alone {t_base * 1e3:.2f} ms")
    print(f"ratio {t_live / t_base:.2f} (collection + rendering / rendering alone)")


if __name__ == "__main__":
    main()
