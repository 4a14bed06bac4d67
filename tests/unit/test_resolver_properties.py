"""Resolver properties: order independence, a reference model, snapshots, bounded state."""

from __future__ import annotations

import json
import random
from collections.abc import MutableMapping
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core.contract import Feedback, Outcome, Suggestion
from monitor.core.records import Flag, Resolution
from monitor.core.resolver import Resolver, ResolverConfig

T0 = 1_767_600_000.0
CFG = ResolverConfig(
    decision_timeout=100,
    allowed_lateness=10,
    clock_skew=5,
    dedup_retention=20,
    feedback_retention=60,
)
SLOW = CFG.model_copy(update={"feature_lateness": {"slow": 40.0}, "dedup_retention": 60})
"""A second feature allowed 30 s more lateness than the default (note-draft)."""
KINDS = ("accepted", "edited", "rejected", "dismissed")
MAPPINGS = ("suggestions", "outcomes", "feedback", "seen", "resolved", "counters")


def _event(kind: str, eid: str, sid: str, t: float, **kw):
    model = {"suggestion": Suggestion, "outcome": Outcome, "feedback": Feedback}[kind]
    at = datetime.fromtimestamp(T0 + t, UTC)
    return model(schema_version=1, type=kind, event_id=eid, suggestion_id=sid, occurred_at=at, **kw)


@st.composite
def streams(draw, max_suggestions: int = 12, cfg: ResolverConfig = CFG):
    """Events (with duplicates) and an arrival order that stays within the lateness allowance
    (of each suggestion's feature: with ``cfg.feature_lateness``, a feature is drawn)."""
    events = []
    features = ["note-draft", *cfg.feature_lateness]
    feature_of: dict[str, str] = {}
    n = draw(st.integers(0, max_suggestions))
    for i in range(n):
        sid = f"s{i}"
        feature_of[sid] = draw(st.sampled_from(features)) if len(features) > 1 else features[0]
        shown = draw(st.integers(0, 300))
        if draw(st.booleans()) or i == 0:
            events.append(
                _event(
                    "suggestion",
                    f"S{i}",
                    sid,
                    shown,
                    feature=feature_of[sid],
                    model_version=draw(st.sampled_from(["v1", "v2"])),
                    site="a",
                    draft_length=draw(st.none() | st.integers(0, 50)),
                    score=draw(st.none() | st.sampled_from([0.0, 0.5, 1.0])),
                )
            )
        for j in range(draw(st.integers(0, 3))):
            offset = draw(st.integers(-8, 110) | st.sampled_from([-5, 0, 100, 160, 161]))
            extra = {}
            if draw(st.booleans()):
                extra = {"edit_distance": draw(st.integers(0, 20))}
            events.append(
                _event(
                    "outcome",
                    draw(st.sampled_from([f"O{i}.{j}", f"o{i}.{j}"])),
                    sid,
                    shown + offset,
                    outcome=draw(st.sampled_from(KINDS)),
                    **extra,
                )
            )
        for j in range(draw(st.integers(0, 2))):
            offset = draw(st.integers(-8, 170))
            cat = draw(st.sampled_from(["unsafe", "biased"]))
            events.append(_event("feedback", f"F{i}.{j}", sid, shown + offset, category=cat))
    dups = [e for e in events if draw(st.integers(0, 9)) == 0]
    stream = events + dups
    # arrive at event time + delay, delay <= allowed_lateness: never too late
    lateness = {f: cfg.allowed_lateness + cfg.shift(f) for f in features}
    delays = [draw(st.integers(0, int(lateness[feature_of[e.suggestion_id]]))) for e in stream]
    ties = draw(st.permutations(range(len(stream))))
    order = sorted(
        range(len(stream)),
        key=lambda k: (stream[k].occurred_at.timestamp() + delays[k], ties[k]),
    )
    return events, [stream[k] for k in order]


def run(stream, cfg: ResolverConfig = CFG, **mappings):
    r = Resolver(cfg, **mappings)
    emitted = []
    for ev in stream:
        emitted.extend(r.process(ev))
    emitted.extend(r.finish())
    return emitted, r.counters


def reference(events, cfg: ResolverConfig = CFG):
    """The resolver's semantics as a pure function of the event set (no event too late)."""
    timeout, skew, keep = cfg.decision_timeout, cfg.clock_skew, cfg.feedback_retention
    clock = max((e.occurred_at.timestamp() for e in events), default=None)
    shown = {e.suggestion_id: e for e in events if e.type == "suggestion"}
    counts = dict.fromkeys(
        ("conflicting_outcomes", "late_outcomes", "orphaned_outcomes", "orphaned_feedback"), 0
    )
    counts |= dict.fromkeys(("resolved", "expired", "flags", "negative_decision_time"), 0)
    keyed = []
    winners: dict[str, tuple[float, str, Outcome]] = {}
    flagged: set[str] = set()

    def joins(sid, t):
        s = shown.get(sid)
        if s is None:
            return False
        ts = s.occurred_at.timestamp()
        return ts - skew <= t <= ts + timeout + keep

    for e in sorted(events, key=lambda e: (e.occurred_at.timestamp(), e.event_id)):
        t = e.occurred_at.timestamp()
        if e.type == "outcome":
            if not joins(e.suggestion_id, t):
                counts["orphaned_outcomes"] += 1
            elif t > shown[e.suggestion_id].occurred_at.timestamp() + timeout:
                counts["late_outcomes"] += 1
            elif e.suggestion_id in winners:
                counts["conflicting_outcomes"] += 1
            else:
                winners[e.suggestion_id] = (t, e.event_id, e)
        elif e.type == "feedback":
            if not joins(e.suggestion_id, t):
                counts["orphaned_feedback"] += 1
                continue
            s = shown[e.suggestion_id]
            first = e.suggestion_id not in flagged
            flagged.add(e.suggestion_id)
            counts["flags"] += 1
            flag = Flag(s.suggestion_id, s.feature, s.model_version, s.site, t, e.category, first)
            keyed.append(((t, 1, s.suggestion_id, e.event_id), flag))
    for sid, s in shown.items():
        ts = s.occurred_at.timestamp()
        if sid in winners:
            t, _, o = winners[sid]
            seconds = t - ts
            if seconds < 0:
                counts["negative_decision_time"] += 1
                seconds = 0.0
            burden = None
            if o.outcome in ("accepted", "edited") and o.edit_distance is not None:
                burden = o.edit_distance / max(s.draft_length or 0, o.final_length or 0, 1)
            status, at = o.outcome, t
        elif ts + timeout < clock:
            status, at, seconds, burden = "expired", ts + timeout, None, None
            counts["expired"] += 1
        else:
            continue
        counts["resolved"] += 1
        res = Resolution(
            sid, s.feature, s.model_version, s.site, s.care_setting, ts, at, status, seconds,
            burden, s.score, s.inputs,
        )  # fmt: skip
        keyed.append(((at, 0, sid, ""), res))
    keyed.sort(key=lambda kv: kv[0])
    return [item for _, item in keyed], counts


@settings(max_examples=300, deadline=None)
@given(streams())
def test_arrival_order_within_allowance_does_not_change_results(case):
    events, shuffled = case
    in_order = sorted(events, key=lambda e: e.occurred_at.timestamp())
    expected, expected_counts = run(in_order)
    got, counts = run(shuffled)
    assert got == expected  # same items, even in the same order
    assert counts.pop("duplicates") == len(shuffled) - len(events)
    assert counts.pop("events") == len(shuffled)
    expected_counts.pop("duplicates")
    expected_counts.pop("events")
    assert counts == expected_counts
    assert counts["too_late"] == 0


@settings(max_examples=300, deadline=None)
@given(streams())
def test_results_match_the_reference_model(case):
    events, shuffled = case
    got, counts = run(shuffled)
    expected, expected_counts = reference(events)
    assert got == expected
    assert {k: counts[k] for k in expected_counts} == expected_counts


@settings(max_examples=200, deadline=None)
@given(streams(), st.data())
def test_snapshot_and_restore_continues_identically(case, data):
    _, stream = case
    cut = data.draw(st.integers(0, len(stream)))
    expected = run(stream)

    state = {name: {} for name in MAPPINGS}
    first = Resolver(CFG, **state)
    emitted = []
    for ev in stream[:cut]:
        emitted.extend(first.process(ev))
    snapshot = json.loads(json.dumps(state))  # what a changelog would hold
    second = Resolver(CFG, **snapshot)
    assert second.watermark == first.watermark
    for ev in stream[cut:]:
        emitted.extend(second.process(ev))
    emitted.extend(second.finish())
    assert (emitted, second.counters) == expected


def _long_stream(rng: random.Random, n: int, rate: float = 2.0):
    """n suggestions over n / rate seconds, with outcomes, feedback and redeliveries."""
    events = []
    for i in range(n):
        t = i / rate
        sid = f"s{i}"
        events.append(
            _event(
                "suggestion", f"S{i}", sid, t, feature="note-draft", model_version="v1", site="a"
            )
        )
        if rng.random() < 0.8:
            events.append(
                _event("outcome", f"O{i}", sid, t + rng.uniform(-3, 120), outcome="accepted")
            )
        if rng.random() < 0.05:
            events.append(
                _event("feedback", f"F{i}", sid, t + rng.uniform(0, 90), category="other")
            )
        if rng.random() < 0.03:
            events.append(_event("outcome", f"X{i}", f"ghost{i}", t, outcome="dismissed"))
    events.sort(key=lambda e: e.occurred_at.timestamp() + rng.uniform(0, 10))
    redelivered = []
    for e in events:
        redelivered.append(e)
        if rng.random() < 0.02:
            redelivered.append(e)
    return redelivered


def _sizes(r: Resolver) -> dict[str, int]:
    return {
        "suggestions": len(r._suggestions),
        "outcomes": len(r._outcomes),
        "feedback": len(r._feedback),
        "seen": len(r._seen),
        "resolved": len(r._resolved),
        "heap": len(r._heap),
    }


def test_state_stays_bounded_as_the_watermark_advances():
    rng = random.Random(7)
    stream = _long_stream(rng, 20_000)  # ~2.8 h of event time at 2 suggestions/s
    r = Resolver(CFG)
    peak: dict[str, int] = {}
    for k, ev in enumerate(stream):
        r.process(ev)
        if k % 500 == 0:
            for name, size in _sizes(r).items():
                peak[name] = max(peak.get(name, 0), size)
    # windows (seconds of event time) each kind of state must cover, at 2 sugg./s
    timeout, lateness, skew = CFG.decision_timeout, CFG.allowed_lateness, CFG.clock_skew
    bucketed = 1 + 1 / 16
    assert peak["suggestions"] <= 2 * (timeout + lateness + skew + 10)
    assert peak["outcomes"] <= 10  # only orphans wait: ~0.06/s for lateness + skew
    assert peak["feedback"] <= 20
    assert peak["seen"] <= 2 * 2.2 * (CFG.dedup_retention * bucketed + lateness + 130)
    retained = timeout + CFG.feedback_retention + lateness + skew + timeout
    assert peak["resolved"] <= 2 * retained * bucketed
    assert peak["heap"] <= 2 * 3 * (timeout + lateness + skew + 10)
    assert r.counters["duplicates"] > 0
    assert r.counters["orphaned_outcomes"] > 0
    assert r.counters["too_late"] == 0


class JsonTable(MutableMapping):
    """A store that keeps serialized values, like a Faust table's changelog: a value
    mutated in place without being re-assigned is lost."""

    def __init__(self) -> None:
        self.data: dict[str, str] = {}

    def __getitem__(self, key):
        return json.loads(self.data[key])

    def __setitem__(self, key, value) -> None:
        self.data[key] = json.dumps(value, allow_nan=False)

    def __delitem__(self, key) -> None:
        del self.data[key]

    def __iter__(self):
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


@settings(max_examples=150, deadline=None)
@given(streams())
def test_serializing_store_gives_the_same_results(case):
    _, stream = case
    tables = {name: JsonTable() for name in MAPPINGS}
    assert run(stream, **tables) == run(stream)


def test_long_stream_snapshots_continue_identically():
    stream = _long_stream(random.Random(3), 6_000)
    expected = run(stream)
    for cut in (1, 2_000, 4_321, len(stream) - 1):
        state = {name: {} for name in MAPPINGS}
        r = Resolver(CFG, **state)
        emitted = [e for ev in stream[:cut] for e in r.process(ev)]
        r = Resolver(CFG, **json.loads(json.dumps(state)))
        emitted += [e for ev in stream[cut:] for e in r.process(ev)]
        emitted += r.finish()
        assert (emitted, r.counters) == expected, cut


@settings(max_examples=300, deadline=None)
@given(streams(cfg=SLOW))
def test_a_feature_allowed_more_lateness_keeps_its_late_events(case):
    """Events of "slow" arrive up to 40 s late, the others up to 10 s: nothing is too late,
    results equal the in-order run and the reference model, and each feature's results
    come out in the order of ``at + shift``."""
    events, shuffled = case
    got, counts = run(shuffled, SLOW)
    in_order, _ = run(sorted(events, key=lambda e: e.occurred_at.timestamp()), SLOW)
    assert got == in_order
    assert counts["too_late"] == 0
    expected, expected_counts = reference(events, SLOW)
    assert sorted(map(repr, got)) == sorted(map(repr, expected))
    assert {k: counts[k] for k in expected_counts} == expected_counts
    keys = [item.at + SLOW.shift(item.feature) for item in got]
    assert keys == sorted(keys)


def test_a_late_event_is_judged_by_its_features_allowance():
    """25 s late: kept for "slow" (40 s), too late for note-draft (10 s); note-draft's
    result is not held back by slow's allowance."""
    r = Resolver(SLOW)
    out = []
    for feature, sid in (("note-draft", "a"), ("slow", "b")):
        out += r.process(_event("suggestion", f"S{sid}", sid, 0, feature=feature,
                                model_version="v1", site="x"))  # fmt: skip
        out += r.process(_event("outcome", f"O{sid}", sid, 2, outcome="accepted"))
    out += r.advance(T0 + 2 + 10 + 5 + 0.5)  # note-draft's outcome is final
    assert [x.suggestion_id for x in out] == ["a"]
    r.advance(T0 + 30)
    for feature, sid in (("note-draft", "c"), ("slow", "d")):
        out += r.process(_event("suggestion", f"S{sid}", sid, 5, feature=feature,
                                model_version="v1", site="x"))  # fmt: skip
    assert r.counters["too_late"] == 1  # c
    assert "d" in r.export()["suggestions"]
    out += r.advance(T0 + 2 + 40 + 5 + 0.5)  # slow's, 30 s later
    assert [x.suggestion_id for x in out] == ["a", "b"]
