"""Scenario specs: the YAML that describes a simulated event stream.

A spec names the features (their sites, model versions, outcome mix and the
distributions of every monitored quantity), the nuisance variation that is
always present in real traffic, and the degradations injected on top. The
pydantic models are closed (unknown keys are errors) and cross-checked
(a degradation must name a known feature, site, version and input), and
:func:`load_scenario` reports every problem with its field path.

Examples
--------
>>> spec = ScenarioSpec.model_validate({
...     "name": "tiny", "seed": 1, "start": "2026-01-05T00:00:00Z", "days": 1,
...     "features": [{"name": "note-draft", "daily_volume": 100,
...                   "model_versions": {"note-1": 1}, "sites": {"a": 1, "b": 2},
...                   "outcomes": {"accepted": .4, "edited": .3, "rejected": .2,
...                                "dismissed": .1}}]})
>>> spec.features[0].base_acceptance
0.7
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from monitor.core.contract import (
    MAX_INPUTS,
    SLUG_PATTERN,
    TOKEN_PATTERN,
    CareSetting,
    FeedbackCategory,
)

Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN)]
Token = Annotated[str, StringConstraints(pattern=TOKEN_PATTERN)]
SlugOrAll = Slug | Literal["*"]
Probability = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
Positive = Annotated[float, Field(gt=0.0, allow_inf_nan=False)]
Finite = Annotated[float, Field(allow_inf_nan=False)]
Delta = Annotated[float, Field(ge=-1.0, le=1.0, allow_inf_nan=False)]

DEFAULT_HOURLY_PROFILE: tuple[float, ...] = (
    # 00    01    02    03    04    05    06    07    08    09    10    11
    0.12, 0.08, 0.06, 0.06, 0.08, 0.15, 0.35, 0.70, 0.95, 1.00, 1.00, 0.95,
    # 12    13    14    15    16    17    18    19    20    21    22    23
    0.75, 0.90, 0.95, 0.95, 0.85, 0.65, 0.45, 0.35, 0.28, 0.22, 0.18, 0.15,
)  # fmt: skip
"""Relative volume by local hour of day: clinic hours peak, nights are quiet."""

DEFAULT_FEEDBACK: dict[str, float] = {
    "inaccurate": 0.45,
    "irrelevant": 0.25,
    "unsafe": 0.10,
    "biased": 0.05,
    "other": 0.15,
}


class ScenarioError(ValueError):
    """A scenario spec that cannot be used; the message lists each bad field."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_distribution(values: dict[str, float], what: str) -> dict[str, float]:
    total = sum(values.values())
    if not values or abs(total - 1.0) > 1e-3:
        raise ValueError(f"{what} probabilities must sum to 1 (got {total:.4g})")
    return values


class LogNormal(_Model):
    """Log-normal by its median and the sigma of its logarithm."""

    median: Positive
    sigma: Annotated[float, Field(ge=0.0, le=3.0)] = 0.5


class BetaDist(_Model):
    """Beta(a, b); mean a / (a + b)."""

    a: Positive
    b: Positive

    @property
    def mean(self) -> float:
        return self.a / (self.a + self.b)


class BetaMean(_Model):
    """Beta by its mean and concentration (a + b); larger is tighter."""

    mean: Annotated[float, Field(gt=0.0, lt=1.0)]
    concentration: Positive = 15.0


class NormalInput(_Model):
    """A numeric input drawn from a (clipped) normal."""

    kind: Literal["normal"]
    mean: Finite
    sd: Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
    min: Finite | None = None
    max: Finite | None = None
    decimals: Annotated[int, Field(ge=0, le=6)] = 1


class LogNormalInput(_Model):
    """A positive numeric input drawn from a log-normal."""

    kind: Literal["lognormal"]
    median: Positive
    sigma: Annotated[float, Field(ge=0.0, le=3.0)] = 0.5
    decimals: Annotated[int, Field(ge=0, le=6)] = 1


class CategoricalInput(_Model):
    """A coded input: code -> probability (codes are short tokens, never text)."""

    kind: Literal["categorical"]
    values: dict[Token, Probability]

    @field_validator("values")
    @classmethod
    def _sums_to_one(cls, v: dict[str, float]) -> dict[str, float]:
        return _check_distribution(v, "category")


InputSpec = Annotated[NormalInput | LogNormalInput | CategoricalInput, Field(discriminator="kind")]


class OutcomeMix(_Model):
    """Base outcome probabilities among decided suggestions (sum to 1)."""

    accepted: Probability
    edited: Probability
    rejected: Probability
    dismissed: Probability

    @model_validator(mode="after")
    def _sums_to_one(self) -> OutcomeMix:
        _check_distribution(self.model_dump(), "outcome")
        if self.accepted + self.edited <= 0 or self.rejected + self.dismissed <= 0:
            raise ValueError("outcomes need some acceptance (accepted+edited) and some refusal")
        return self


class FeatureSpec(_Model):
    """One AI feature: where it runs, how clinicians respond, what it sends."""

    name: Slug
    daily_volume: Positive = Field(description="Suggestions on a weekday, all sites, scale 1.")
    model_versions: dict[Slug, Positive] = Field(description="Version -> traffic share.")
    sites: dict[Slug, Positive] = Field(description="Site -> relative volume.")
    care_settings: dict[CareSetting, Probability] = Field(default_factory=lambda: {"other": 1.0})
    outcomes: OutcomeMix
    no_response: Probability = 0.05
    decision_time: LogNormal = LogNormal(median=60.0, sigma=0.9)
    draft_length: LogNormal | None = None
    correction_burden: BetaMean | None = None
    score: BetaDist | None = None
    flag_probability: Probability = 0.003
    feedback_categories: dict[FeedbackCategory, Probability] = Field(
        default_factory=lambda: dict(DEFAULT_FEEDBACK)
    )
    override_reasons: dict[Slug, Probability] = Field(
        default_factory=dict, description="Reason code -> probability given rejected (sum <= 1)."
    )
    inputs: Annotated[dict[Slug, InputSpec], Field(max_length=MAX_INPUTS)] = Field(
        default_factory=dict
    )
    hourly_profile: (
        Annotated[list[Annotated[float, Field(ge=0)]], Field(min_length=24, max_length=24)] | None
    ) = None
    site_acceptance: dict[Slug, Delta] = Field(
        default_factory=dict,
        description="Site -> offset of its clinicians' base acceptance (site heterogeneity).",
    )

    @field_validator("model_versions", "sites")
    @classmethod
    def _not_empty(cls, v: dict[str, float]) -> dict[str, float]:
        if not v:
            raise ValueError("at least one entry is required")
        return v

    @field_validator("model_versions", "sites", mode="before")
    @classmethod
    def _list_means_equal(cls, v: Any) -> Any:
        return dict.fromkeys(v, 1.0) if isinstance(v, list) else v

    @field_validator("care_settings", "feedback_categories")
    @classmethod
    def _distribution(cls, v: dict[str, float]) -> dict[str, float]:
        return _check_distribution(v, "the")

    @field_validator("override_reasons")
    @classmethod
    def _at_most_one(cls, v: dict[str, float]) -> dict[str, float]:
        if sum(v.values()) > 1 + 1e-9:
            raise ValueError("override reason probabilities must sum to at most 1")
        return v

    @model_validator(mode="after")
    def _burden_needs_drafts(self) -> FeatureSpec:
        if self.correction_burden is not None and self.draft_length is None:
            raise ValueError("correction_burden needs draft_length (burden is edits / length)")
        return self

    @model_validator(mode="after")
    def _site_offsets(self) -> FeatureSpec:
        for site, offset in self.site_acceptance.items():
            if site not in self.sites:
                raise ValueError(f"site_acceptance: {site!r} is not one of the sites")
            if not 0.0 < self.base_acceptance + offset < 1.0:
                raise ValueError(
                    f"site_acceptance.{site}: base acceptance + offset must be in (0, 1)"
                )
        return self

    @property
    def base_acceptance(self) -> float:
        """(accepted + edited) share among decided suggestions."""
        return round(self.outcomes.accepted + self.outcomes.edited, 12)

    def site_base_acceptance(self, site: str) -> float:
        """The base acceptance of one site's clinicians (base plus the site's offset)."""
        return self.base_acceptance + self.site_acceptance.get(site, 0.0)


class Nuisance(_Model):
    """Variation present in every real stream; ``enabled: false`` turns all of it off."""

    enabled: bool = True
    utc_offset_hours: Annotated[float, Field(ge=-14, le=14)] | None = Field(
        default=None, description="Local time for diurnal/weekend effects; default: start's offset."
    )
    hourly_profile: Annotated[
        list[Annotated[float, Field(ge=0)]], Field(min_length=24, max_length=24)
    ] = Field(default_factory=lambda: list(DEFAULT_HOURLY_PROFILE))
    weekend_factor: Annotated[float, Field(ge=0, le=2)] = 0.4
    daily_noise: Annotated[float, Field(ge=0, le=1)] = 0.08
    clinicians_per_site: Annotated[int, Field(ge=1, le=10_000)] = 40
    suggestions_per_clinician: Positive | None = Field(
        default=None,
        description="When set, a site has weekday volume / this many clinicians (at least 2), "
        "instead of clinicians_per_site: a 20-a-day clinic has a handful, a hospital hundreds.",
    )
    clinician_concentration: Positive = 40.0
    night_staff_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.3
    off_shift_acceptance_delta: Delta = -0.05
    day_shift_night_staff_share: Probability = 0.15
    off_shift_night_staff_share: Probability = 0.8
    burst_probability: Probability = 0.004
    burst_multiplier: Annotated[float, Field(ge=1, le=20)] = 3.0
    duplicate_rate: Annotated[float, Field(ge=0, le=0.2)] = 0.005
    duplicate_window_seconds: Annotated[float, Field(gt=0, le=3600)] = 600.0
    arrival_jitter_seconds: Annotated[float, Field(ge=0, le=3600)] = 300.0
    late_fraction: Probability = 0.05
    malformed_rate: Annotated[float, Field(ge=0, le=0.01)] = 2e-5
    min_malformed: Annotated[int, Field(ge=0)] = 3
    holidays: list[date] = Field(
        default_factory=list,
        description="Local dates with weekend volume and weekend staffing (public holidays).",
    )


class _Degradation(_Model):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    id: Slug
    feature: Slug
    model_version: SlugOrAll = "*"
    site: SlugOrAll = "*"
    sites: Annotated[list[Slug], Field(min_length=1)] | None = Field(
        default=None, description="A subset of sites (instead of one ``site``)."
    )
    start: AwareDatetime
    end: AwareDatetime | None = None
    description: str | None = None
    label: Slug | None = Field(
        default=None,
        alias="class",
        description="Class of the degradation (the scenario family's); truth.json then "
        "also carries its magnitude and the oracle's parameters.",
    )
    magnitude: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = Field(
        default=None, description="Size in units of the signal's minimum effect (family)."
    )

    @model_validator(mode="after")
    def _ordered(self) -> _Degradation:
        if self.end is not None and self.end <= self.start:
            raise ValueError("end must be after start")
        if self.sites is not None and self.site != "*":
            raise ValueError("give either site or sites, not both")
        return self

    def site_list(self, all_sites: list[str]) -> list[str]:
        """The sites this degradation touches."""
        if self.sites is not None:
            return list(self.sites)
        return list(all_sites) if self.site == "*" else [self.site]


class RateShift(_Degradation):
    """Acceptance rate changes by ``delta`` (points as a fraction) from ``start``."""

    kind: Literal["rate_shift"]
    delta: Delta


class Gradual(_Degradation):
    """Acceptance declines linearly by ``delta`` over ``over_days``, then holds."""

    kind: Literal["gradual"]
    delta: Delta
    over_days: Positive


class Phase(_Model):
    """From ``at``, the new version serves ``traffic`` of the replaced version's traffic."""

    at: AwareDatetime
    traffic: Probability
    sites: list[Slug] | Literal["*"] = "*"


class NewVersion(_Degradation):
    """A new model version rolled out in phases, with different properties."""

    kind: Literal["new_version"]
    model_version: Slug
    replaces: Slug
    phases: Annotated[list[Phase], Field(min_length=1)]
    start: AwareDatetime | None = None  # type: ignore[assignment]
    acceptance_delta: Delta = 0.0
    correction_burden: BetaMean | None = None
    decision_time: LogNormal | None = None
    score: BetaDist | None = None
    flag_probability: Probability | None = None
    no_response: Probability | None = None

    @model_validator(mode="before")
    @classmethod
    def _start_from_phases(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("start") is None and data.get("phases"):
            first = data["phases"][0]
            if isinstance(first, dict) and "at" in first:
                data = {**data, "start": first["at"]}
        return data

    @model_validator(mode="after")
    def _phases_ordered(self) -> NewVersion:
        times = [p.at for p in self.phases]
        if times != sorted(times):
            raise ValueError("phases must be in time order")
        if self.start != times[0]:
            raise ValueError("start, when given, must equal the first phase's 'at'")
        if self.site != "*":
            raise ValueError("site: a rollout is scoped by its phases' sites; leave site as '*'")
        return self


class ScoreShift(_Degradation):
    """The score distribution becomes ``score``."""

    kind: Literal["score_shift"]
    score: BetaDist


class InputDrift(_Degradation):
    """Input ``input`` is drawn from ``distribution`` instead."""

    kind: Literal["input_drift"]
    input: Slug
    distribution: InputSpec


class FlagSpike(_Degradation):
    """The flag (feedback) probability becomes ``flag_probability``."""

    kind: Literal["flag_spike"]
    flag_probability: Probability


class Silence(_Degradation):
    """Nothing arrives for the series between ``start`` and ``end`` (or ever after)."""

    kind: Literal["silence"]


class ResponseDrop(_Degradation):
    """The no-response probability becomes ``no_response``."""

    kind: Literal["response_drop"]
    no_response: Probability


class VolumeLoss(_Degradation):
    """A ``fraction`` of the suggestions (with their outcomes and feedback) never arrives:
    a bridge that drops part of a clinic's traffic."""

    kind: Literal["volume_loss"]
    fraction: Annotated[float, Field(gt=0.0, le=1.0)]


class BurdenShift(_Degradation):
    """The correction burden of edited drafts is drawn from ``correction_burden``."""

    kind: Literal["burden_shift"]
    correction_burden: BetaMean


class DecisionTimeShift(_Degradation):
    """Decision times are drawn from ``decision_time``."""

    kind: Literal["decision_time_shift"]
    decision_time: LogNormal


Degradation = Annotated[
    RateShift
    | Gradual
    | NewVersion
    | ScoreShift
    | InputDrift
    | FlagSpike
    | Silence
    | ResponseDrop
    | VolumeLoss
    | BurdenShift
    | DecisionTimeShift,
    Field(discriminator="kind"),
]


class ScenarioSpec(_Model):
    """A complete scenario: features, nuisance, injected degradations, seed."""

    name: Slug
    description: str = ""
    seed: Annotated[int, Field(ge=0)]
    start: AwareDatetime
    days: Annotated[float, Field(gt=0, le=366)]
    volume_scale: Positive = 1.0
    nuisance: Nuisance = Nuisance()
    features: Annotated[list[FeatureSpec], Field(min_length=1)]
    degradations: list[Degradation] = Field(default_factory=list)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.days)

    def feature(self, name: str) -> FeatureSpec:
        return next(f for f in self.features if f.name == name)

    @model_validator(mode="after")
    def _cross_check(self) -> ScenarioSpec:
        errors: list[str] = []
        names = [f.name for f in self.features]
        if len(set(names)) != len(names):
            errors.append("features: feature names must be unique")
        ids = [d.id for d in self.degradations]
        if len(set(ids)) != len(ids):
            errors.append("degradations: ids must be unique")
        features = {f.name: f for f in self.features}
        new_versions = {
            (d.feature, d.model_version) for d in self.degradations if isinstance(d, NewVersion)
        }
        for i, d in enumerate(self.degradations):
            where = f"degradations.{i}"
            feat = features.get(d.feature)
            if feat is None:
                errors.append(f"{where}.feature: unknown feature {d.feature!r} (have {names})")
                continue
            if d.site != "*" and d.site not in feat.sites:
                errors.append(f"{where}.site: {d.site!r} is not a site of {d.feature}")
            for s in d.sites or []:
                if s not in feat.sites:
                    errors.append(f"{where}.sites: {s!r} is not a site of {d.feature}")
            if isinstance(d, BurdenShift) and feat.correction_burden is None:
                errors.append(f"{where}: {d.feature} has no correction_burden to shift")
            assert d.start is not None
            if not (self.start <= d.start < self.end):
                errors.append(f"{where}.start: {d.start.isoformat()} is outside the scenario")
            if isinstance(d, NewVersion):
                if d.sites is not None:
                    errors.append(f"{where}.sites: a rollout is scoped by its phases' sites")
                if d.model_version in feat.model_versions:
                    errors.append(f"{where}.model_version: {d.model_version!r} already exists")
                if d.replaces not in feat.model_versions:
                    errors.append(
                        f"{where}.replaces: {d.replaces!r} is not a version of {d.feature}"
                    )
                for j, p in enumerate(d.phases):
                    for s in [] if p.sites == "*" else p.sites:
                        if s not in feat.sites:
                            errors.append(f"{where}.phases.{j}.sites: unknown site {s!r}")
            elif d.model_version != "*" and (
                d.model_version not in feat.model_versions
                and (d.feature, d.model_version) not in new_versions
            ):
                errors.append(f"{where}.model_version: unknown version {d.model_version!r}")
            if isinstance(d, InputDrift):
                spec = feat.inputs.get(d.input)
                if spec is None:
                    errors.append(f"{where}.input: {d.feature} has no input {d.input!r}")
                elif (spec.kind == "categorical") != (d.distribution.kind == "categorical"):
                    errors.append(f"{where}.distribution: kind must stay numeric or categorical")
            if isinstance(d, Gradual | RateShift) and not math.isfinite(d.delta):
                errors.append(f"{where}.delta: must be finite")
        if errors:
            raise ValueError("; ".join(errors))
        return self


def _format_errors(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if not loc:
            lines.extend(f"  {part}" for part in msg.split("; "))
        else:
            lines.append(f"  {loc}: {msg}")
    return "\n".join(lines)


def parse_scenario(data: Any, source: str = "scenario") -> ScenarioSpec:
    """Validate a scenario given as a mapping; raise :class:`ScenarioError`."""
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: a scenario must be a YAML mapping")
    try:
        return ScenarioSpec.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(f"{source}: invalid scenario\n{_format_errors(exc)}") from None


def load_scenario(path: str | Path) -> ScenarioSpec:
    """Read and validate a scenario YAML file; raise :class:`ScenarioError`."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: a date such as 2026-02-30
        raise ScenarioError(f"{path}: not valid YAML: {exc}") from None
    return parse_scenario(data, str(path))
