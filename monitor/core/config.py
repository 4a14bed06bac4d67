"""Monitor configuration: YAML validated by pydantic, with per-feature overrides.

Layering, most specific last: built-in signal defaults → top-level ``signals``
→ ``features.<feature>.signals`` → ``features.<feature>.versions.<version>.signals``.
Each signal's block holds ``enabled`` plus the parameters of its detector
(validated against that detector's params model, so a typo is an error that
names the signal and the field). Durations, detector ones such as ``warmup_seconds``
included, accept seconds or ``30s``/``10m``/``4h``/``7d``.

Example
-------
.. code-block:: yaml

    resolver: {decision_timeout: 4h, allowed_lateness: 10m}
    timezone: America/New_York   # local time of the sites: what counts as a weekend
    holidays: [2026-11-26, 2026-12-25]   # local dates staffed like a weekend
    signals:
      acceptance_rate: {min_effect: 0.05}
    features:
      note-draft:
        decision_timeout: 24h
        allowed_lateness: 2h     # its bridge sends hourly batches; the others keep 10m
        signals:
          input_drift: {enabled: false}
        versions:
          note-3.1: {signals: {acceptance_rate: {min_effect: 0.05}}}
    lineage:
      inbasket-reply: {reply-2.1: reply-2.0}   # new version -> the one it replaces
    max_series: 10000   # per engine; past it new series fold into 'vitals-overflow'
"""

from __future__ import annotations

from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from monitor.core.contract import SLUG_PATTERN, error_message
from monitor.core.detectors.base import DetectorParams, LocalTimeParams
from monitor.core.durations import Seconds
from monitor.core.resolver import ResolverConfig
from monitor.core.signals import CONFIG_BLOCKS
from monitor.core.timezones import Zone

Duration = Annotated[Seconds, Field(gt=0)]
Slug = Annotated[str, Field(pattern=SLUG_PATTERN)]
SignalBlocks = dict[str, dict[str, Any]]


def _check_signal_blocks(blocks: SignalBlocks, where: str) -> None:
    for name, block in blocks.items():
        if name not in CONFIG_BLOCKS:
            known = ", ".join(CONFIG_BLOCKS)
            raise ValueError(f"{where}: unknown signal {name!r} (known: {known})")
        if not isinstance(block, dict):
            raise ValueError(f"{where}.{name}: expected a mapping of parameters")
        if "enabled" in block and not isinstance(block["enabled"], bool):
            # YAML 'false' is a bool; "false" or "no" in quotes is a string, and
            # a non-empty string would have switched the signal on
            raise ValueError(f"{where}.{name}.enabled: expected true or false (unquoted)")
        params = {k: v for k, v in block.items() if k != "enabled"}
        try:
            model, defaults = CONFIG_BLOCKS[name]
            model(**{**defaults, **params})
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            loc = ".".join(str(p) for p in err["loc"])
            raise ValueError(f"{where}.{name}.{loc}: {error_message(err)}") from None


class VersionConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    signals: SignalBlocks = {}


class FeatureConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision_timeout: Duration | None = None
    allowed_lateness: Annotated[Seconds, Field(ge=0)] | None = None
    """This feature's own allowance (a batch bridge); its results are final that much
    after its events' time, without holding back the other features'."""
    signals: SignalBlocks = {}
    versions: dict[Slug, VersionConfig] = {}


class ResolverSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision_timeout: Duration = 4 * 3600.0
    allowed_lateness: Annotated[Seconds, Field(ge=0)] = 600.0
    clock_skew: Annotated[Seconds, Field(ge=0)] = 60.0
    dedup_retention: Duration = 86400.0
    feedback_retention: Duration = 7 * 86400.0


class PanelSettings(BaseModel):
    """The feature panel's time grid and learning (``monitor.core.panel``)."""

    model_config = ConfigDict(extra="forbid")
    bucket_seconds: Annotated[Seconds, Field(ge=60.0)] = 900.0
    """Width of the newest buckets: scans run at every bucket boundary."""
    per_level: Annotated[int, Field(ge=2, le=64)] = 8
    """Buckets per width before two merge into one twice as wide."""
    horizon: Annotated[Seconds, Field(ge=86400.0)] = 35 * 86400.0
    """History kept: a change is compared with at most this much before it."""
    calendar_half_life: Duration = 14 * 86400.0
    """Memory of the calendar strata's offsets (night, weekend, holiday staff)."""
    stratum_prior: Annotated[float, Field(ge=0.0)] = 200.0
    """Observations a stratum needs before half its own offset is removed."""
    version_established: Annotated[int, Field(ge=1)] = 500
    """Resolutions after which a version is the one a newer version is compared with."""
    max_sites: Annotated[int, Field(ge=1)] = 500
    max_versions: Annotated[int, Field(ge=1)] = 16
    max_inputs: Annotated[int, Field(ge=0)] = 16
    max_codes: Annotated[int, Field(ge=1, le=32)] = 8
    """Codes of a coded input tracked one by one; rarer or later ones count as one."""
    robust_sample: Annotated[int, Field(ge=20)] = 200
    """First values of a measurement that set its robust range (winsorizing)."""
    winsor_sd: Annotated[float, Field(gt=0.0)] = 5.0


class MonitorConfig(BaseModel):
    """Everything the monitor core needs; the replay engine and the worker share it."""

    model_config = ConfigDict(extra="forbid")

    resolver: ResolverSettings = ResolverSettings()
    panel: PanelSettings = PanelSettings()
    signals: SignalBlocks = {}
    features: dict[Slug, FeatureConfig] = {}
    lineage: dict[Slug, dict[Slug, Slug]] = Field(
        default={}, description="feature -> {new model_version: the version it replaces}"
    )
    timezone: Zone = Field(
        "UTC",
        description="IANA time zone of the sites' local time (weekend references); "
        "a signal block may override it.",
    )
    holidays: list[date] = Field(
        default=[],
        description="Local dates staffed like a weekend (public holidays); "
        "rates with a weekend reference use it on them.",
    )
    tick_interval: Annotated[Seconds, Field(ge=1.0)] = Field(
        60.0, description="Event-time step of clock ticks (at least 1 s)."
    )
    outlier_interval: Annotated[Seconds, Field(ge=60.0)] = Field(
        3600.0, description="How often site_outlier is assessed (at least 60 s)."
    )
    outlier_half_life: Duration = Field(
        3 * 86400.0, description="Half-life of the per-site counts that site_outlier compares."
    )
    max_series: int = Field(
        10_000,
        ge=4,
        description="Series one engine holds at most (replay: in all; the worker: per assess "
        "partition), rollups included. Past it, new series are folded into the overflow "
        "series 'vitals-overflow' and counted (vitals_series_overflow_total).",
    )

    @model_validator(mode="after")
    def _validate_signal_blocks(self) -> MonitorConfig:
        _check_signal_blocks(self.signals, "signals")
        for fname, feat in self.features.items():
            _check_signal_blocks(feat.signals, f"features.{fname}.signals")
            for vname, ver in feat.versions.items():
                _check_signal_blocks(ver.signals, f"features.{fname}.versions.{vname}.signals")
        for fname, feat in self.features.items():
            if feat.allowed_lateness is None:
                continue
            diff = feat.allowed_lateness - self.resolver.allowed_lateness
            if diff % self.tick_interval:
                raise ValueError(
                    f"features.{fname}.allowed_lateness must differ from "
                    f"resolver.allowed_lateness by a multiple of tick_interval "
                    f"({self.tick_interval:g} s); it differs by {diff:g} s"
                )
        self.resolver_config  # noqa: B018  (validates the resolver settings together)
        return self

    @cached_property
    def resolver_config(self) -> ResolverConfig:
        """Resolver settings, with the per-feature decision timeouts and lateness."""
        feats = self.features.items()
        return ResolverConfig(
            **self.resolver.model_dump(),
            feature_timeouts={
                n: f.decision_timeout for n, f in feats if f.decision_timeout is not None
            },
            feature_lateness={
                n: f.allowed_lateness for n, f in feats if f.allowed_lateness is not None
            },
        )

    @cached_property
    def _cache(self) -> dict[tuple[str, str, str], tuple[bool, DetectorParams]]:
        return {}

    def signal(self, name: str, feature: str, model_version: str) -> tuple[bool, DetectorParams]:
        """(enabled, detector params) of signal *name* for a feature and version."""
        cache_key = (name, feature, model_version)
        hit = self._cache.get(cache_key)
        if hit is not None:
            return hit
        model, defaults = CONFIG_BLOCKS[name]
        merged: dict[str, Any] = {"enabled": True, **defaults}
        if issubclass(model, LocalTimeParams):
            merged["timezone"] = self.timezone
            merged["holidays"] = tuple(self.holidays)
        merged.update(self.signals.get(name, {}))
        feat = self.features.get(feature)
        if feat is not None:
            merged.update(feat.signals.get(name, {}))
            ver = feat.versions.get(model_version)
            if ver is not None:
                merged.update(ver.signals.get(name, {}))
        enabled = bool(merged.pop("enabled"))
        result = (enabled, model(**merged))
        self._cache[cache_key] = result
        return result

    def predecessor(self, feature: str, model_version: str) -> str | None:
        """The version *model_version* replaces, when configured."""
        return self.lineage.get(feature, {}).get(model_version)


def load_config(path: Path | None) -> MonitorConfig:
    """Read and validate a YAML config; ``None`` gives the defaults."""
    if path is None:
        return MonitorConfig()
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: a date such as 2026-02-30
        raise ValueError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    try:
        return MonitorConfig(**data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors(include_url=False):
            loc = ".".join(str(p) for p in err["loc"])
            lines.append(f"  {loc}: {error_message(err)}" if loc else f"  {error_message(err)}")
        raise ValueError(f"{path}: invalid config\n" + "\n".join(lines)) from None
