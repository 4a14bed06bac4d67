"""The calibrated monitor config as commented YAML (what ``vitals replay --config`` reads).

The thresholds go on top of a base config (``--config``: time zone, holidays, lineage,
switched-off signals, other parameters), whose settings are kept: each unit's own
threshold in ``signals``, and a feature's where it has one of its own in
``features.<feature>.signals``. A panel signal's threshold is its scan's ``z``, rounded
up; ``site_outlier``'s is the funnel's ``z``; the silence detector's (``no_data``) is
``p_alarm = exp(-z^2 / 2)``, rounded down.
"""

from __future__ import annotations

import copy
import math
import textwrap
from pathlib import Path
from typing import Any

import yaml

from monitor.calibrate.run import Calibration, default_z
from monitor.calibrate.thresholds import Choice
from monitor.core.config import MonitorConfig
from monitor.core.records import ALL
from monitor.core.signals import PANEL_SPECS

__all__ = ["render_config", "threshold_value", "write_config"]

_DECISION = "docs/decisions/0022-calibration-to-a-false-alarm-budget.md"


def threshold_value(unit: str, z: float) -> tuple[str, float]:
    """The config key and value of a unit's threshold ``z``, rounded towards fewer alarms."""
    if unit == "no_data":
        p = math.exp(-z * z / 2.0)
        digits = 2 - math.floor(math.log10(p))
        return "p_alarm", math.floor(p * 10**digits) / 10**digits
    return "z", math.ceil(z * 100.0 - 1e-9) / 100.0


def _flow(block: dict[str, Any]) -> str:
    return yaml.safe_dump(block, default_flow_style=True, width=10_000, sort_keys=False).strip()


def _what(unit: str) -> str:
    if unit in PANEL_SPECS:
        signal = PANEL_SPECS[unit].signal
        alias = "" if signal == unit else f" ({signal} alerts)"
        return f"{unit}{alias}: change-point scan"
    if unit == "site_outlier":
        return "site_outlier: funnel control limit"
    return "no_data: silence, fires when P(a gap this long) < p_alarm"


def _comment(cal: Calibration, c: Choice, config: MonitorConfig, indent: str) -> list[str]:
    """Comment lines above a threshold: what it is expected to cost and how it was found."""
    period = _period(cal)
    was = default_z(config, c.unit, c.feature or ALL)
    how = {"peaks": "read off the peaks", "tail": "tail fit", "floor": "the floor",
           "nominal": "nominal tail: too few peaks to fit"}[c.method]  # fmt: skip
    where = f"{c.rows:.0f} series" + ("" if c.feature else " of all features")
    first = _what(c.unit) if c.feature is None else c.unit
    text = (
        f"{first}: {cal.per_period(c.expected):.2g} false alarms per {period} expected on "
        f"{where} (allotted {cal.per_period(c.target):.2g}; {how}; z was {was:.2f})"
    )
    head, *rest = textwrap.wrap(text, width=88 - len(indent))
    return [f"{indent}# {head}", *(f"{indent}#   {line}" for line in rest)]


def _period(cal: Calibration) -> str:
    text = str(cal.budget)
    return text.split(" per ", 1)[1]


def _paragraph(text: str) -> list[str]:
    first, *rest = textwrap.wrap(text, width=86)
    return [f"# {first}", *(f"#   {line}" for line in rest)]


def _header(cal: Calibration, config: MonitorConfig) -> list[str]:
    ref = cal.reference
    days = ref.blocks.days
    units = sorted({c.unit for c in cal.choices})
    share = cal.budget.count / max(len(units), 1)
    paragraphs = [
        f"Budget: {cal.budget} false alarms, every series and signal together "
        f"({cal.budget.expected(ref.seconds):.3g} in the reference's {len(days)} days). "
        f"Split equally over the {len(units)} detectors that watch something in the "
        f"reference ({share:.3g} per {_period(cal)} each), and a detector's share over "
        "its features in proportion to their series, so every series of a detector gets "
        f"the same share ({_DECISION}).",
        f"Reference: {ref.path.name}, {len(days)} whole days in {config.timezone}, "
        f"{days[0].date} to {days[-1].date} ({len(ref.blocks.weekdays)} weekdays, "
        f"{len(ref.blocks.weekends)} weekend days), resampled {cal.resamples} times by "
        "whole days (each day drawn from the days of its kind: weekdays, or weekends and "
        f"holidays; seed {cal.seed}), each resample replayed once.",
        "A threshold is the least expected to stay within its share: read off the "
        "resamples' excursion peaks where enough lie above it, else from the fitted tail "
        "of the highest peaks; never below a floor (z 4 for the scans). A feature "
        "without a threshold of its own (too few excursions, or the same as the "
        "signal's) takes the signal's.",
        "z (panel signals): the change-point scan fires when the z of its best split "
        "(the signed root of the likelihood ratio) reaches z, and resolves below "
        "z_resolve. site_outlier z: the funnel's control limit on a site's "
        "over-dispersion-adjusted z against the other sites. no_data p_alarm: the "
        "silence detector fires when a gap had less than this probability at the site's "
        "usual volume (z = sqrt(-2 ln p_alarm)).",
        "'expected': false alarms per budget period on the resamples at that threshold.",
    ]
    lines = ["# Monitor config written by `vitals calibrate`: thresholds for a false-alarm budget."]
    for text in paragraphs:
        lines.append("#")
        lines.extend(_paragraph(text))
    return lines


def render_config(cal: Calibration, config: MonitorConfig, base: dict[str, Any]) -> str:
    """The YAML text: ``base`` (the base config's document) with the thresholds."""
    doc = copy.deepcopy(base)
    base_signals: dict[str, Any] = doc.pop("signals", None) or {}
    base_features: dict[str, Any] = doc.pop("features", None) or {}
    lines = _header(cal, config)
    if doc:
        lines.append(yaml.safe_dump(doc, sort_keys=False, default_flow_style=False).rstrip())
    own = {c.unit: c for c in cal.choices if c.feature is None}
    per_feature: dict[str, dict[str, Choice]] = {}
    for c in cal.choices:
        if c.feature is None or c.method == "pooled":
            continue
        if threshold_value(c.unit, c.z) != threshold_value(c.unit, own[c.unit].z):
            per_feature.setdefault(c.feature, {})[c.unit] = c
    lines.append("signals:")
    for unit in sorted(set(base_signals) | set(own)):
        block = dict(base_signals.get(unit) or {})
        choice = own.get(unit)
        if choice is None:
            lines.append(f"  {unit}: {_flow(block)}")
            continue
        key, value = threshold_value(unit, choice.z)
        block[key] = value
        lines.extend(_comment(cal, choice, config, "  "))
        lines.append(f"  {unit}: {_flow(block)}")
    names = sorted(set(base_features) | set(per_feature))
    if names:
        lines.append("features:")
    for name in names:
        fdoc = dict(base_features.get(name) or {})
        fsignals: dict[str, Any] = fdoc.pop("signals", None) or {}
        lines.append(f"  {name}:")
        for key, value in fdoc.items():
            text = yaml.safe_dump({key: value}, sort_keys=False, default_flow_style=False)
            lines.extend("    " + line for line in text.rstrip().splitlines())
        chosen = per_feature.get(name, {})
        units = sorted(set(fsignals) | set(chosen))
        if not units:
            continue
        lines.append("    signals:")
        for unit in units:
            block = dict(fsignals.get(unit) or {})
            if unit in chosen:
                key, value = threshold_value(unit, chosen[unit].z)
                block[key] = value
                lines.extend(_comment(cal, chosen[unit], config, "      "))
            lines.append(f"      {unit}: {_flow(block)}")
    return "\n".join(lines) + "\n"


def write_config(path: Path, cal: Calibration, config: MonitorConfig, base: dict[str, Any]) -> str:
    """Write :func:`render_config` to ``path``; return the text."""
    text = render_config(cal, config, base)
    Path(path).write_text(text)
    return text
