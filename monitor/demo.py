"""``vitals demo``: simulate a seed scenario, replay it with live /metrics, score it.

No broker: the replay engine runs in process while prometheus-client serves
the monitor's current state on ``/metrics``; a live table shows the series
with firing alerts, and the run ends with the alert timeline against the
scenario's ground truth, how close each signal came to firing, and a plot per
signal in ``<out>/plots``.
"""

from __future__ import annotations

import time
from pathlib import Path

from prometheus_client import CollectorRegistry
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from monitor.collector import MonitorCollector
from monitor.core.config import MonitorConfig
from monitor.core.records import Alert, to_rfc3339
from monitor.metrics_server import serve_metrics
from monitor.replay import Replay, read_lines
from monitor.report import print_peaks, print_score, print_summary, print_timeline
from monitor.scoring import load_truth
from monitor.simulate import ScenarioSpec, simulate
from monitor.trace import Trace
from monitor.web_config import WebConfig

DEFAULT_SCENARIO = Path(__file__).resolve().parents[1] / "seeds" / "config-break.yaml"
"""The embedded default: the checkout's seed, whatever the working directory."""


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
) -> int:
    sim = simulate(spec, out_dir)
    out.print(f"simulated {spec.name}: {sim.lines} lines -> {sim.events_path}", markup=False)
    alerts: list[Alert] = []
    trace = Trace()
    engine = Replay(config, on_alert=alerts.append, trace=trace)
    registry = CollectorRegistry()
    registry.register(MonitorCollector(lambda: [engine.assessor]))
    server, _thread = serve_metrics(registry, "127.0.0.1", port, web_config)
    scheme = "https" if web_config and web_config.tls_server_config else "http"
    auth = " (basic auth)" if web_config and web_config.basic_auth_users else ""
    out.print(f"Prometheus metrics on {scheme}://127.0.0.1:{port}/metrics{auth}")
    wall0, event0 = time.monotonic(), None
    try:
        with Live(_live_view(engine, alerts), console=out, refresh_per_second=4) as live:
            for lineno, raw in enumerate(read_lines(sim.events_path), start=1):
                engine.feed_line(lineno, raw)
                if lineno % 2000 == 0:
                    live.update(_live_view(engine, alerts))
                    if speed > 0 and engine.resolver.clock > 0:
                        event0 = event0 or engine.resolver.clock
                        ahead = (engine.resolver.clock - event0) / speed - (
                            time.monotonic() - wall0
                        )
                        if ahead > 0:
                            time.sleep(ahead)
            result = engine.finish()
            live.update(_live_view(engine, alerts))
        print_summary(out, engine, result)
        print_timeline(out, [a for a in result.alerts])
        truth = load_truth(sim.truth_path)
        print_score(out, sim.events_path, config, result, sim.truth_path, truth)
        _plots(trace, result.alerts, out_dir / "plots", truth, out)
    finally:
        server.shutdown()
    return 0


def _plots(trace: Trace, alerts: list[Alert], where: Path, truth: dict, out: Console) -> None:
    from monitor import plots

    print_peaks(out, trace.peaks(), alerts)
    if not plots.available():
        out.print(f"plots skipped: {plots.INSTALL_HINT}", markup=False)
        return
    paths = plots.plot_signals(trace, alerts, where, truth)
    out.print(f"plots: {len(paths)} PNG files in {where}", markup=False)
