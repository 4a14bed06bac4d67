"""BernoulliCUSUM with a weekend reference: quiet on a weekly cycle, still detects."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import numpy as np
import pytest
from pydantic import ValidationError

from monitor.core.config import MonitorConfig
from monitor.core.detectors import BernoulliCUSUM

MONDAY = datetime(2026, 2, 2, tzinfo=UTC).timestamp()
HOUR = 3600.0


def week_stream(
    rng: np.random.Generator,
    weeks: int,
    weekday: float = 0.60,
    weekend: float = 0.54,
    drop_from: float | None = None,
    drop: float = 0.0,
    weekend_only: bool = False,
    holidays: tuple[int, ...] = (),
) -> list[tuple[bool, float]]:
    """100 observations an hour on weekdays, 80 on weekends and ``holidays`` (day
    indices from the start; UTC), from a Monday."""
    out = []
    for h in range(weeks * 168):
        t0 = MONDAY + h * HOUR
        is_weekend = (h // 24) % 7 >= 5 or h // 24 in holidays
        p, n = (weekend, 80) if is_weekend else (weekday, 100)
        if drop_from is not None and t0 >= drop_from and (is_weekend or not weekend_only):
            p -= drop
        times = t0 + HOUR * np.arange(n) / n
        out += list(zip((rng.random(n) < p).tolist(), times.tolist(), strict=True))
    return out


def alarms(det: BernoulliCUSUM, stream: list[tuple[bool, float]]) -> list[float]:
    return [t for x, t in stream if det.update(x, t) and det.firing]


def make(**kw: object) -> BernoulliCUSUM:
    return BernoulliCUSUM(direction="down", warmup_seconds=3 * 86400, **kw)  # type: ignore[arg-type]


def test_weekday_reference_alarms_on_weekends_and_the_weekend_one_does_not() -> None:
    """Weekends 6 points lower, every week: a nuisance, not a degradation."""
    stream = week_stream(np.random.default_rng(1), weeks=5)
    plain = alarms(make(), stream)
    assert plain and all(datetime.fromtimestamp(t, UTC).weekday() >= 5 for t in plain)
    det = make(strata="weekend")
    assert alarms(det, stream) == []
    assert det.reference == pytest.approx(0.60, abs=0.015)
    assert det.weekend_reference == pytest.approx(0.54, abs=0.056)  # 2.5 SE of 500
    assert not det.learning


@pytest.mark.parametrize("weekend_only", [False, True])
def test_drops_are_still_caught_on_weekdays_and_on_weekends(weekend_only: bool) -> None:
    start = MONDAY + 21 * 86400 + (5 * 86400 if weekend_only else 0)  # week 4
    # the weekend reference, learned from 500 observations, is the less precise one
    drop = 0.10 if weekend_only else 0.08
    stream = week_stream(np.random.default_rng(2), weeks=5, drop_from=start, drop=drop,
                         weekend_only=weekend_only)  # fmt: skip
    det = make(strata="weekend")
    found, bounds = [], []
    for x, t in stream:
        if det.update(x, t) and det.firing:
            found.append(t)
            bounds.append(det.bound)
    within = 48 * HOUR if weekend_only else 24 * HOUR  # that weekend / that day
    assert found and start < found[0] < start + within
    # the alert's level of concern is that stratum's reference less the minimum effect
    ref = det.weekend_reference if weekend_only else det.reference
    assert ref is not None and bounds[0] == pytest.approx(ref - 0.03)


def test_holidays_are_scored_like_weekends() -> None:
    """Two weekday holidays staffed like a weekend, 9 points below a weekday."""
    days = (23, 24)  # Wednesday and Thursday of week 4
    stream = week_stream(np.random.default_rng(4), weeks=5, weekend=0.51, holidays=days)
    first = MONDAY + days[0] * 86400
    found = alarms(make(strata="weekend"), stream)
    assert found and first <= found[0] < first + 2 * 86400
    dates = [datetime.fromtimestamp(MONDAY + d * 86400, UTC).date() for d in days]
    det = make(strata="weekend", holidays=dates)
    assert alarms(det, stream) == []
    restored = BernoulliCUSUM.from_state(json.loads(json.dumps(det.to_state())))
    assert restored.params.holidays == tuple(dates)


def test_weekend_is_local_time() -> None:
    """Saturday 02:00 UTC is Friday evening in New York: weekday there."""
    saturday_2am = MONDAY + 5 * 86400 + 2 * HOUR
    rng = np.random.default_rng(3)
    for tz, weekend in (("UTC", True), ("America/New_York", False)):
        det = BernoulliCUSUM(p0=0.6, phi=1.0, warmup=0, strata="weekend", timezone=tz)
        for x in rng.random(600) < 0.6:
            det.update(bool(x), saturday_2am)
        assert (det.weekend_reference is not None) is weekend
        assert det.learning is not weekend


def test_time_zone_is_validated_and_set_once_in_the_config() -> None:
    with pytest.raises(ValidationError, match="unknown time zone 'Mars/Olympus'"):
        BernoulliCUSUM(timezone="Mars/Olympus")
    with pytest.raises(ValidationError, match=r"timezone\n.*unknown time zone 'Mars/Olympus'"):
        MonitorConfig(timezone="Mars/Olympus")
    cfg = MonitorConfig.model_validate(
        {"timezone": "America/Chicago",
         "features": {"f": {"signals": {"acceptance_rate": {"timezone": "Asia/Kolkata"}}}}}
    )  # fmt: skip
    assert cfg.signal("acceptance_rate", "f", "v")[1].timezone == "Asia/Kolkata"  # type: ignore[attr-defined]
    assert cfg.signal("acceptance_rate", "g", "v")[1].timezone == "America/Chicago"  # type: ignore[attr-defined]
    assert cfg.signal("flag_rate", "g", "v")[1].strata == "none"
    dated = MonitorConfig.model_validate({"holidays": ["2026-11-26"]})
    for signal in ("acceptance_rate", "no_data"):
        assert dated.signal(signal, "f", "v")[1].holidays == (date(2026, 11, 26),)  # type: ignore[attr-defined]  # type: ignore[attr-defined]
