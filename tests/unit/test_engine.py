"""The engine loop (monitor.core.engine): clock policies, the stage-2 watermark, and
the two stages joined by hand giving what Engine gives."""

from __future__ import annotations

import doctest
import json
from datetime import UTC, datetime
from typing import Any

import monitor.core.engine
from monitor.core.assessor import Assessor
from monitor.core.config import MonitorConfig
from monitor.core.engine import AssessStage, Engine, HoldAndConfirm, ResolveStage, WallClock
from monitor.core.records import rollup_names
from monitor.core.resolver import Resolver

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC).timestamp()


def _stamp(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def _pair(i: int, t: float, outcome: str = "accepted") -> list[bytes]:
    base = {"schema_version": 1, "suggestion_id": f"s{i}"}
    return [
        json.dumps({**base, "type": "suggestion", "event_id": f"e{i}", "occurred_at": _stamp(t),
                    "feature": "f", "model_version": "v1", "site": f"site-{i % 3}",
                    "draft_length": 100}).encode(),
        json.dumps({**base, "type": "outcome", "event_id": f"o{i}",
                    "occurred_at": _stamp(t + 30), "outcome": outcome,
                    "edit_distance": 10}).encode(),
    ]  # fmt: skip


def test_doctests() -> None:
    assert doctest.testmod(monitor.core.engine).failed == 0


def test_wall_clock_rejects_what_is_too_far_ahead_of_now() -> None:
    applied: list[Any] = []
    stage = ResolveStage(Resolver(), WallClock(3600.0, now=lambda: T0), applied.append)
    ahead, now = _pair(1, T0 + 7200)[0], _pair(2, T0 + 60)[0]
    [rejected] = stage.feed(ahead, ref="m1")
    assert rejected.ref == "m1" and rejected.reason == "future_time"
    assert "7200 s ahead" in rejected.detail
    assert stage.feed(now, ref="m2") == [] and stage.applied == 1


def test_an_unparseable_event_is_rejected_with_its_reason() -> None:
    stage = ResolveStage(Resolver(), WallClock(3600.0), lambda item: None)
    assert [r.reason for r in stage.feed(b"\xff\xfe", ref=0)] == ["undecodable"]
    assert [r.reason for r in stage.feed(b"{", ref=0)] == ["invalid_json"]
    assert stage.applied == 0


def test_hold_and_confirm_drops_a_contradicted_event_and_applies_a_confirmed_one() -> None:
    policy = HoldAndConfirm(ahead=86400.0, contradicted_after=5)
    stage = ResolveStage(Resolver(), policy, lambda item: None)
    assert stage.feed(_pair(0, T0)[0]) == []
    wrong = _pair(1, T0 + 20 * 86400)[0]
    assert stage.feed(wrong, ref="wrong") == [] and len(policy.held) == 1
    dropped = [r for i in range(2, 7) for r in stage.feed(_pair(i, T0 + 60 * i)[0])]
    assert [(r.ref, r.reason) for r in dropped] == [("wrong", "future_time")]
    # a silence (a weekend) then the stream goes on: the second event confirms the first
    assert stage.feed(_pair(7, T0 + 3 * 86400)[0]) == [] and policy.held
    assert stage.feed(_pair(8, T0 + 3 * 86400 + 60)[0]) == [] and not policy.held
    assert stage.applied == 8


def test_the_watermark_waits_for_every_source_and_leaves_idle_ones_out() -> None:
    stage = AssessStage(Assessor(), sources=3, lag=60.0)
    assert stage.report(0, 1000.0) and stage.report(1, 900.0)
    assert stage.watermark == float("-inf")  # source 2 not heard from
    stage.mark_idle(2)
    assert stage.watermark == 840.0
    assert not stage.report(1, 800.0)  # no progress: ignored
    assert stage.report(2, 700.0) and 2 not in stage.idle  # back: it holds the others
    assert stage.watermark == 640.0
    for s in (0, 1, 2):
        stage.mark_idle(s)
    assert stage.watermark == float("-inf")  # every source idle: nothing new to apply


def test_two_sources_by_hand_give_what_the_engine_gives() -> None:
    """Stage 1 per "partition" (suggestion ids split in two), stage 2 fed each item for
    each rollup key as the worker does, the watermark advanced from both sources:
    the same alerts and series state as the one-process Engine."""
    config = MonitorConfig()
    lines = [
        ln
        for i in range(1500)
        for ln in _pair(i, T0 + 40 * i, "accepted" if (i % 5 or i < 900) else "rejected")
    ]
    engine = Engine(config)
    alerts: list[Any] = []
    engine.on_alerts = alerts.extend
    for raw in lines:
        engine.feed(raw)
    engine.finish()

    assess = AssessStage(Assessor(config), sources=2, lag=config.resolver.clock_skew)
    got: list[Any] = []

    def fan_out(item: Any) -> None:
        for key in rollup_names(item.feature, item.model_version, item.site):
            assess.put(item, key)

    stages = [ResolveStage(Resolver(config.resolver_config), WallClock(1e12), fan_out)]
    stages.append(ResolveStage(Resolver(config.resolver_config), WallClock(1e12), fan_out))
    for n, raw in enumerate(lines):
        source = (n // 2) % 2  # both events of a suggestion on one source
        stages[source].feed(raw)
        assess.report(source, stages[source].watermark)
        got.extend(assess.advance())
    for stage in stages:
        stage.finish()
    got.extend(assess.assessor.flush(max(s.resolver.clock for s in stages)))
    assert alerts and got == alerts
    assert assess.assessor.export() == engine.assessor.export()
