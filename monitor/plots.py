"""PNG plots of a replay: per signal, each detector's statistic / threshold over
event time, the alerts it raised, and the injected degradations of a truth file.

matplotlib is imported here only (the ``plots`` extra), never by the worker.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitor.core.records import Alert
from monitor.scoring import truth_time
from monitor.trace import Trace, label

INSTALL_HINT = "pip install 'vitals[plots]'"


def available() -> bool:
    """Whether matplotlib (the ``plots`` extra) is installed."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


SHOWN = 6
"""Series drawn in colour and named per plot (those that came closest to firing);
the others are drawn in grey."""
Y_MAX = 3.0  # ratios above are clipped: a firing CUSUM keeps climbing, and 1 must stay readable


def plot_signals(
    trace: Trace,
    alerts: list[Alert],
    out_dir: Path,
    truth: dict[str, Any] | None = None,
) -> list[Path]:
    """Write ``<out_dir>/<signal>.png`` for every traced signal; return the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for signal, keys in sorted(trace.signals().items()):
        keys.sort(key=lambda k: max(trace.series[k][1], default=0.0), reverse=True)
        seeing = [k for k in keys[:SHOWN] if k in trace.detectable]
        if seeing:
            fig, (ax, low) = plt.subplots(
                2, 1, figsize=(12, 7), layout="constrained", sharex=True,
                gridspec_kw={"height_ratios": [3, 2]},
            )  # fmt: skip
            _plot_detectable(low, trace, seeing)
        else:
            fig, ax = plt.subplots(figsize=(12, 4.5), layout="constrained")
        for rank, key in enumerate(reversed(keys)):  # the closest to firing drawn last, on top
            times, ratios = trace.series[key]
            x = [_dt(t) for t in times]
            y = [min(r, Y_MAX) for r in ratios]
            if len(keys) - rank <= SHOWN:
                ax.plot(x, y, lw=1.3, label=label(key))
            else:
                ax.plot(x, y, lw=0.6, color="0.8")
        ax.axhline(1.0, color="red", ls="--", lw=1.0, label="statistic = threshold")
        fired = [a for a in alerts if a.signal == signal and a.state == "firing"]
        if fired:
            ax.plot([_dt(a.at) for a in fired], [1.0] * len(fired), "v", color="red",
                    ms=8, label=f"alert fired ({len(fired)})")  # fmt: skip
        for d in (truth or {}).get("degradations", []):
            if signal in d.get("signals", []):
                end = min(truth_time(d.get("end")), trace_end(trace))
                ax.axvspan(_dt(truth_time(d["start"])), _dt(end), color="orange", alpha=0.15)
                ax.annotate(d["id"], (_dt(truth_time(d["start"])), Y_MAX * 0.95), fontsize=8)
        ax.set_ylim(0, Y_MAX)
        ax.set_ylabel("statistic / threshold")
        ax.set_title(
            f"{signal}: {len(keys)} detectors (an alert needs the statistic at the threshold"
            " and the detector's gates: minimum effect, enough recent data)",
            fontsize=10,
        )
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%b %d"))
        ax.legend(loc="upper left", fontsize=8)
        path = out_dir / f"{signal}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written


def _plot_detectable(ax: Any, trace: Trace, keys: list[tuple[str, str]]) -> None:
    """What each shown series could detect over time: above 2x its minimum effect it is
    still learning (too little data, or too few observations a day)."""
    for key in keys:
        times = trace.series[key][0]
        det = trace.detectable[key]
        x = [_dt(t) for t in times[-len(det) :]]
        ax.plot(x, [min(v, 50.0) for v in det], lw=1.1, label=label(key))
    ax.axhline(1.0, color="green", ls="--", lw=1.0, label="minimum effect")
    ax.axhspan(2.0, 50.0, color="0.92", label="learning")
    ax.set_yscale("log")
    ax.set_ylim(0.5, 50.0)
    ax.set_ylabel("detectable within a day\n(x minimum effect)")
    ax.legend(loc="upper right", fontsize=7)


def trace_end(trace: Trace) -> float:
    return max((points[0][-1] for points in trace.series.values() if points[0]), default=0.0)


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)
