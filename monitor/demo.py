"""``vitals demo``: simulate a seed scenario, replay it with live /metrics, score it.

No broker: the replay engine runs in process while prometheus-client serves
the monitor's current state on ``/metrics``; a live table shows the series
with firing alerts, and the run ends with the alert timeline against the
scenario's ground truth, how close each signal came to firing, and a plot per
signal in ``<out>/plots``. With ``keep_serving`` it then goes on serving the final state
until interrupted, so a Prometheus scraping it keeps its alerts (``make stack``).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from monitor.collector import MonitorCollector
from monitor.core.config import MonitorConfig
from monitor.core.records import Alert, to_rfc3339
from monitor.metrics_server import serve_metrics
from monitor.pacing import Pacer
from monitor.replay import Replay, read_lines
from monitor.report import print_peaks, print_score, print_summary, print_timeline
from monitor.scoring import load_truth
from monitor.simulate import ScenarioSpec, simulate
from monitor.trace import Trace
from monitor.web_config import WebConfig

DEFAULT_SCENARIO = Path(__file__).resolve().parents[1] / "seeds" / "config-break.yaml"
"""The embedded default: the checkout's seed, whatever the working directory."""


PACE_EVERY = 200
"""Lines between two checks of the replay's pace against ``speed``."""


class ReplayClock(Collector):
    """The event time the replay has read up to: what "now" is in accelerated time."""

    def __init__(self, engine: Replay) -> None:
        self._engine = engine

    def collect(self) -> Iterator[Metric]:
        clock = self._engine.resolver.clock
        gauge = GaugeMetricFamily(
            "vitals_replay_event_time_seconds", "Event time of the newest event the replay read."
        )
        if clock > 0:
            gauge.add_metric([], clock)
        yield gauge


def _live_view(engine: Replay, alerts: list[Alert]) -> Group:
    clock = engine.resolver.clock
    head = Table.grid()
    head.add_row(
        f"event time {to_rfc3339(clock) if clock > 0 else '-'}   events {engine.result.events}"
        f"   series {len(engine.assessor.series)}   alerts {len(alerts)}"
    )
    firing = Table(title="firing now")
    for col in ("series", "signal", "value", "detector"):
        firing.add_column(col)
    for _key, state in sorted(engine.assessor.series.items()):
        for view in state.firing():
            firing.add_row(view.series, view.slot, f"{view.value:.4g}", view.detector)
    return Group(head, firing)


def run_demo(
    spec: ScenarioSpec,
    port: int,
    speed: float,
    config: MonitorConfig,
    out_dir: Path,
    out: Console,
    web_config: WebConfig | None = None,
    keep_serving: bool = False,
) -> int:
    sim = simulate(spec, out_dir)
    out.print(f"simulated {spec.name}: {sim.lines} lines -> {sim.events_path}", markup=False)
    alerts: list[Alert] = []
    trace = Trace()
    engine = Replay(config, on_alert=alerts.append, trace=trace)
    registry = CollectorRegistry()
    registry.register(MonitorCollector(lambda: [engine.assessor]))
    registry.register(ReplayClock(engine))
    server, _thread = serve_metrics(registry, "127.0.0.1", port, web_config)
    scheme = "https" if web_config and web_config.tls_server_config else "http"
    auth = " (basic auth)" if web_config and web_config.basic_auth_users else ""
    out.print(f"Prometheus metrics on {scheme}://127.0.0.1:{port}/metrics{auth}")
    pacer = Pacer(speed)
    try:
        with Live(_live_view(engine, alerts), console=out, refresh_per_second=4) as live:
            for lineno, raw in enumerate(read_lines(sim.events_path), start=1):
                engine.feed_line(lineno, raw)
                if lineno % 2000 == 0:
                    live.update(_live_view(engine, alerts))
                if lineno % PACE_EVERY == 0:
                    pacer.wait(engine.resolver.clock)
            result = engine.finish()
            live.update(_live_view(engine, alerts))
        print_summary(out, engine, result)
        print_timeline(out, [a for a in result.alerts])
        truth = load_truth(sim.truth_path)
        print_score(out, sim.events_path, config, result, sim.truth_path, truth)
        _plots(trace, result.alerts, out_dir / "plots", truth, out)
        if keep_serving:
            out.print("replay done; still serving /metrics (Ctrl-C to stop)", markup=False)
            _wait_for_interrupt()
    finally:
        server.shutdown()
    return 0


def _wait_for_interrupt() -> None:
    """Block until SIGINT or SIGTERM."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()


def _plots(trace: Trace, alerts: list[Alert], where: Path, truth: dict, out: Console) -> None:
    from monitor import plots

    print_peaks(out, trace.peaks(), alerts)
    if not plots.available():
        out.print(f"plots skipped: {plots.INSTALL_HINT}", markup=False)
        return
    paths = plots.plot_signals(trace, alerts, where, truth)
    out.print(f"plots: {len(paths)} PNG files in {where}", markup=False)
