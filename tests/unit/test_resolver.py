"""Resolver rules, one at a time, on hand-written streams."""

from __future__ import annotations

import doctest
import json
import math
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

import monitor.core.resolver
from monitor.core.contract import Feedback, Outcome, Suggestion
from monitor.core.records import Flag, Resolution
from monitor.core.resolver import CLOCK_KEY, COUNTERS, Resolver, ResolverConfig

T0 = 1_767_600_000.0  # 2026-01-05T08:00:00Z
# deadline = shown + 100; results final once clock > at + 15 (lateness 10 + skew 5)
CFG = ResolverConfig(
    decision_timeout=100,
    allowed_lateness=10,
    clock_skew=5,
    dedup_retention=50,
    feedback_retention=200,
)


def _at(t: float) -> datetime:
    return datetime.fromtimestamp(T0 + t, UTC)


def sug(sid: str, t: float, eid: str | None = None, **kw: object) -> Suggestion:
    fields = {"feature": "note-draft", "model_version": "v1", "site": "a"} | kw
    return Suggestion(
        schema_version=1,
        type="suggestion",
        event_id=eid or f"s-{sid}",
        suggestion_id=sid,
        occurred_at=_at(t),
        **fields,
    )


def out(sid: str, t: float, kind: str = "accepted", eid: str | None = None, **kw: object):
    return Outcome(
        schema_version=1,
        type="outcome",
        event_id=eid or f"o-{sid}-{t}",
        suggestion_id=sid,
        occurred_at=_at(t),
        outcome=kind,
        **kw,
    )


def fb(sid: str, t: float, category: str = "unsafe", eid: str | None = None) -> Feedback:
    return Feedback(
        schema_version=1,
        type="feedback",
        event_id=eid or f"f-{sid}-{t}",
        suggestion_id=sid,
        occurred_at=_at(t),
        category=category,
    )


def run(events, cfg: ResolverConfig = CFG, *, finish: bool = True, until=None, resolver=None):
    """Process events, then advance the clock to T0 + until, then finish."""
    r = resolver or Resolver(cfg)
    emitted = []
    for ev in events:
        emitted.extend(r.process(ev))
    if until is not None:
        emitted.extend(r.advance(T0 + until))
    if finish:
        emitted.extend(r.finish())
    return emitted, r.counters, r


def resolutions(emitted) -> list[Resolution]:
    return [e for e in emitted if isinstance(e, Resolution)]


def flags(emitted) -> list[Flag]:
    return [e for e in emitted if isinstance(e, Flag)]


def rel(at: float) -> float:
    return round(at - T0, 6)


# -- configuration ------------------------------------------------------------


def test_config_defaults():
    cfg = ResolverConfig()
    assert cfg.decision_timeout == 4 * 3600
    assert cfg.allowed_lateness == 600
    assert cfg.dedup_retention == 86400
    assert cfg.feedback_retention == 7 * 86400


@pytest.mark.parametrize(
    "kw",
    [
        {"decision_timeout": 0},
        {"decision_timeout": -1},
        {"allowed_lateness": -1},
        {"clock_skew": -1},
        {"dedup_retention": 0},
        {"feedback_retention": -5},
        {"decision_timeout": math.inf},
        {"allowed_lateness": 100, "dedup_retention": 50},
        {"allowed_lateness": 100, "dedup_retention": 100, "feedback_retention": 99},
        {"unknown": 1},
        {"feature_timeouts": {"note-draft": 0}},
        {"feature_timeouts": {"note-draft": math.inf}},
    ],
)
def test_config_rejects(kw):
    with pytest.raises(ValidationError):
        ResolverConfig(**kw)


def test_docstring_example_runs():
    result = doctest.testmod(monitor.core.resolver, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0


# -- de-duplication -----------------------------------------------------------


def test_duplicate_event_ids_are_dropped():
    events = [sug("s1", 0), sug("s1", 0), out("s1", 5, eid="o1"), out("s1", 5, eid="o1")]
    emitted, c, _ = run(events)
    [res] = resolutions(emitted)
    assert res.status == "accepted"
    assert c["events"] == 4
    assert c["duplicates"] == 2
    assert c["conflicting_outcomes"] == 0


def test_duplicate_with_same_id_but_other_content_is_still_a_duplicate():
    events = [out("s1", 5, "rejected", eid="o1"), sug("s1", 0), out("s1", 5, eid="o1")]
    [res] = resolutions(run(events)[0])
    assert res.status == "rejected"


def test_seen_ids_are_pruned_after_dedup_retention():
    events = [sug("s1", 0), out("s1", 1, eid="o1")]
    _, _, r = run(events, finish=False)
    r.advance(T0 + 1 + 10 + 50 + 50)  # watermark - dedup_retention well past t=1
    assert "o1" not in r._seen
    # now a copy of o1 is older than the watermark and no longer known: too late
    r.process(out("s1", 1, eid="o1"))
    assert r.counters["too_late"] == 1
    assert r.counters["duplicates"] == 0


# -- joins and outcomes ---------------------------------------------------------


def test_first_outcome_by_event_time_wins_even_if_it_arrives_later():
    events = [sug("s1", 0), out("s1", 20, "rejected"), out("s1", 15, "edited")]
    emitted, c, _ = run(events)
    [res] = resolutions(emitted)
    assert (res.status, rel(res.at), res.decision_seconds) == ("edited", 15, 15.0)
    assert c["conflicting_outcomes"] == 1
    assert c["resolved"] == 1


def test_outcome_ties_are_broken_by_event_id():
    events = [sug("s1", 0), out("s1", 7, "rejected", eid="b"), out("s1", 7, "dismissed", eid="a")]
    [res] = resolutions(run(events)[0])
    assert res.status == "dismissed"
    events = [sug("s1", 0), out("s1", 7, "dismissed", eid="a"), out("s1", 7, "rejected", eid="b")]
    [res] = resolutions(run(events)[0])
    assert res.status == "dismissed"


def test_outcome_after_finalization_is_conflicting_and_changes_nothing():
    r = Resolver(CFG)
    r.process(sug("s1", 0))
    r.process(out("s1", 10, "accepted"))
    [res] = r.advance(T0 + 10 + 15.5)
    assert res.status == "accepted"
    assert r.process(out("s1", 30, "rejected")) == []
    assert r.finish() == []
    assert r.counters["conflicting_outcomes"] == 1
    assert r.counters["resolved"] == 1


def test_result_waits_for_watermark_plus_skew():
    r = Resolver(CFG)
    r.process(sug("s1", 0))
    r.process(out("s1", 10))
    assert r.advance(T0 + 25) == []  # watermark 15 - skew 5 = 10, not past 10
    assert r.watermark == T0 + 15
    [res] = r.advance(T0 + 25.5)
    assert rel(res.at) == 10
    assert res.at < r.horizon == r.watermark - CFG.clock_skew


def test_unanswered_suggestion_expires_at_deadline():
    r = Resolver(CFG)
    r.process(sug("s1", 0))
    assert r.advance(T0 + 115) == []
    [res] = r.advance(T0 + 115.001)
    assert res.status == "expired"
    assert rel(res.at) == 100
    assert res.decision_seconds is None
    assert res.burden is None
    assert r.counters["expired"] == 1
    assert r.counters["resolved"] == 1


def test_decision_timeout_per_feature():
    """A reply draft may wait longer than a note draft: each expires at its own deadline,
    in time order, and an outcome inside the longer timeout still decides."""
    cfg = CFG.model_copy(update={"feature_timeouts": {"inbasket-reply": 300.0}})
    events = [
        sug("r1", 0, feature="inbasket-reply"),
        sug("n1", 1),
        sug("r2", 2, feature="inbasket-reply"),
        sug("n2", 3),
        out("r2", 250, "edited"),
    ]
    emitted, c, _ = run(events, cfg, until=400)
    got = [(res.suggestion_id, res.status, rel(res.at)) for res in resolutions(emitted)]
    assert got == [
        ("n1", "expired", 101),
        ("n2", "expired", 103),
        ("r2", "edited", 250),
        ("r1", "expired", 300),
    ]
    assert c["late_outcomes"] == 0
    # the same deadlines after a restore from a snapshot
    r2 = Resolver(cfg, **json.loads(json.dumps(Resolver(cfg).export())))
    for ev in events[:4]:
        r2.process(ev)
    snap = Resolver(cfg, **json.loads(json.dumps(r2.export())))
    late = [(res.suggestion_id, rel(res.at)) for res in resolutions(snap.advance(T0 + 400))]
    assert late == [("n1", 101), ("n2", 103), ("r1", 300), ("r2", 302)]


def test_feature_timeouts_come_from_the_monitor_config():
    from monitor.core.config import MonitorConfig

    cfg = MonitorConfig.model_validate(
        {
            "resolver": {"decision_timeout": "4h"},
            "features": {"inbasket-reply": {"decision_timeout": "24h"}},
        }
    ).resolver_config
    assert cfg.timeout("inbasket-reply") == 86400
    assert cfg.timeout("note-draft") == 4 * 3600


def test_outcome_exactly_at_deadline_decides():
    [res] = resolutions(run([sug("s1", 0), out("s1", 100, "rejected")])[0])
    assert (res.status, res.decision_seconds) == ("rejected", 100.0)


def test_outcome_after_deadline_is_late_and_does_not_change_expiry():
    emitted, c, _ = run([sug("s1", 0), out("s1", 101)], until=200)
    [res] = resolutions(emitted)
    assert (res.status, rel(res.at)) == ("expired", 100)
    assert c["late_outcomes"] == 1
    assert c["conflicting_outcomes"] == 0


def test_late_outcome_after_expiry_was_emitted():
    r = Resolver(CFG)
    r.process(sug("s1", 0))
    [res] = r.advance(T0 + 120)
    assert res.status == "expired"
    r.process(out("s1", 112))
    assert r.counters["late_outcomes"] == 1


def test_outcome_waits_for_its_suggestion():
    emitted, c, _ = run([out("s1", 8, "edited"), sug("s1", 2)])
    [res] = resolutions(emitted)
    assert (res.status, res.decision_seconds) == ("edited", 6.0)
    assert c["orphaned_outcomes"] == 0


def test_outcome_without_suggestion_is_orphaned_when_watermark_passes():
    r = Resolver(CFG)
    r.process(out("s1", 0))
    r.advance(T0 + 15)
    assert r.counters["orphaned_outcomes"] == 0
    r.advance(T0 + 15.5)
    assert r.counters["orphaned_outcomes"] == 1
    assert not r._outcomes
    # the suggestion still arrives in time, but too far after the outcome: no join
    r.process(sug("s1", 6))
    [res] = r.finish() + r.advance(T0 + 200)
    assert res.status == "expired"


def test_outcome_without_suggestion_is_orphaned_at_finish():
    emitted, c, _ = run([out("nobody", 0)])
    assert emitted == []
    assert c["orphaned_outcomes"] == 1


def test_outcome_slightly_before_suggestion_clamps_decision_time():
    emitted, c, _ = run([out("s1", 0, "accepted"), sug("s1", 4)])
    [res] = resolutions(emitted)
    assert res.decision_seconds == 0.0
    assert rel(res.at) == 0
    assert c["negative_decision_time"] == 1


def test_outcome_more_than_skew_before_suggestion_is_orphaned():
    for order in ([out("s1", 0), sug("s1", 6)], [sug("s1", 6), out("s1", 0)]):
        emitted, c, _ = run(order, until=200)
        [res] = resolutions(emitted)
        assert res.status == "expired"
        assert c["orphaned_outcomes"] == 1


def test_second_suggestion_with_same_id_is_ignored():
    emitted, c, _ = run([sug("s1", 0), sug("s1", 1, eid="other", site="b"), out("s1", 2)])
    [res] = resolutions(emitted)
    assert (res.site, rel(res.shown_at)) == ("a", 0)
    assert c["conflicting_suggestions"] == 1


# -- resolution fields -----------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "draft", "outcome_kw", "burden"),
    [
        ("edited", 100, {"edit_distance": 20}, 0.2),
        ("edited", 100, {"edit_distance": 30, "final_length": 150}, 0.2),
        ("accepted", 50, {"edit_distance": 0}, 0.0),
        ("edited", None, {"edit_distance": 7}, 7.0),  # max(..., 1)
        ("edited", 0, {"edit_distance": 3, "final_length": 0}, 3.0),
        ("accepted", 50, {}, None),  # no distance: unknown, not 0
        ("rejected", 50, {"edit_distance": 10}, None),
        ("dismissed", 50, {"edit_distance": 10}, None),
    ],
)
def test_burden(kind, draft, outcome_kw, burden):
    events = [sug("s1", 0, draft_length=draft), out("s1", 3, kind, **outcome_kw)]
    [res] = resolutions(run(events)[0])
    assert res.status == kind
    assert res.burden == burden


def test_resolution_carries_suggestion_fields():
    events = [
        sug(
            "s1",
            0,
            feature="inbasket-reply",
            model_version="reply-2.0",
            site="north",
            care_setting="inpatient",
            score=0.75,
            inputs={"age-band": "65+", "n-meds": 12.0},
        ),
        out("s1", 42.5, "accepted"),
    ]
    [res] = resolutions(run(events)[0])
    assert res == Resolution(
        "s1",
        "inbasket-reply",
        "reply-2.0",
        "north",
        "inpatient",
        T0,
        T0 + 42.5,
        "accepted",
        42.5,
        None,
        0.75,
        {"age-band": "65+", "n-meds": 12.0},
    )
    assert str(res.key) == "inbasket-reply|reply-2.0|north"


# -- feedback -------------------------------------------------------------------


def test_feedback_becomes_flags_first_by_event_time():
    events = [sug("s1", 0), fb("s1", 25, "biased"), out("s1", 16), fb("s1", 20, "unsafe")]
    emitted, c, _ = run(events)
    fl = flags(emitted)
    assert [(rel(f.at), f.category, f.first) for f in fl] == [
        (20, "unsafe", True),
        (25, "biased", False),
    ]
    assert fl[0].key == resolutions(emitted)[0].key
    assert c["flags"] == 2


def test_feedback_for_resolved_suggestion_within_retention():
    r = Resolver(CFG)
    r.process(sug("s1", 0))
    r.process(out("s1", 5))
    [res] = r.advance(T0 + 30)
    assert res.status == "accepted"
    r.process(fb("s1", 290))  # deadline 100 + retention 200 = 300
    r.process(fb("s1", 301))
    r.process(fb("s1", 295, eid="late-but-first-flag?"))
    emitted = r.finish()
    assert [(rel(f.at), f.first) for f in flags(emitted)] == [(290, True), (295, False)]
    assert r.counters["orphaned_feedback"] == 1


def test_feedback_before_suggestion_within_skew_is_joined():
    emitted, c, _ = run([fb("s1", 0), sug("s1", 3)])
    [f] = flags(emitted)
    assert f.first and f.site == "a"
    assert c["orphaned_feedback"] == 0


def test_feedback_for_unknown_suggestion_is_orphaned():
    r = Resolver(CFG)
    r.process(fb("ghost", 0))
    assert r.advance(T0 + 15.5) == []
    assert r.counters["orphaned_feedback"] == 1
    assert not r._feedback


def test_feedback_after_resolved_index_was_pruned_is_orphaned():
    r = Resolver(CFG)
    r.process(sug("s1", 0))
    r.advance(T0 + 2000)
    assert "s1" not in r._resolved
    r.process(fb("s1", 1995))
    r.finish()
    assert r.counters["orphaned_feedback"] == 1
    assert r.counters["flags"] == 0


def test_flag_first_survives_resolution():
    r = Resolver(CFG)
    r.process(sug("s1", 0))
    r.process(fb("s1", 1))
    r.process(out("s1", 2))
    emitted = r.advance(T0 + 50)
    assert [type(e).__name__ for e in emitted] == ["Flag", "Resolution"]
    r.process(fb("s1", 60))
    [f] = r.finish()
    assert f.first is False


# -- watermark and lateness -------------------------------------------------------


def test_event_older_than_watermark_is_too_late():
    r = Resolver(CFG)
    r.process(sug("s1", 100))
    r.process(sug("s2", 90))  # exactly at the watermark: accepted
    r.process(sug("s3", 89.9))
    assert r.counters["too_late"] == 1
    assert r.counters["open"] == 2


def test_duplicate_is_counted_before_too_late():
    r = Resolver(CFG)
    r.process(sug("s1", 0))
    r.process(sug("s2", 40))
    r.process(sug("s1", 0))
    assert (r.counters["duplicates"], r.counters["too_late"]) == (1, 0)


def test_advance_backwards_is_a_no_op_and_watermark_starts_at_minus_inf():
    r = Resolver(CFG)
    assert r.watermark == -math.inf
    r.process(sug("s1", 50))
    assert r.watermark == T0 + 40
    assert r.advance(T0) == []
    assert r.clock == T0 + 50
    with pytest.raises(ValueError):
        r.advance(math.inf)


def test_emission_sorted_by_time_within_one_advance():
    events = [sug("a", 0), sug("b", 1), sug("c", 4), out("a", 12), fb("a", 3), out("b", 2)]
    early, _, r = run(events, finish=False)
    assert early == []
    emitted = r.advance(T0 + 1000)
    assert [(type(e).__name__, e.suggestion_id, rel(e.at)) for e in emitted] == [
        ("Resolution", "b", 2),
        ("Flag", "a", 3),
        ("Resolution", "a", 12),
        ("Resolution", "c", 104),
    ]


# -- finish ----------------------------------------------------------------------


def test_finish_resolves_decided_and_leaves_undecided_open():
    events = [sug("old", 0), sug("done", 5), sug("new", 10), out("done", 15), sug("tick", 105)]
    emitted, c, r = run(events)
    got = {e.suggestion_id: e.status for e in resolutions(emitted)}
    assert got == {"done": "accepted", "old": "expired"}  # old: 100 < clock 105 <= 110
    assert c["open"] == 2
    assert set(r._suggestions) == {"new", "tick"}
    # time moves on after finish: the open ones expire normally
    late = r.advance(T0 + 500)
    assert {e.suggestion_id: e.status for e in late} == {"new": "expired", "tick": "expired"}


# -- state -------------------------------------------------------------------------


def test_state_is_json_and_counters_are_complete():
    mappings = {k: {} for k in ("suggestions", "outcomes", "feedback", "seen", "resolved")}
    counters: dict = {}
    r = Resolver(CFG, counters=counters, **mappings)
    events = [sug("s1", 0, inputs={"x": 1.0}), fb("s1", 1), out("s2", 2), sug("s3", 3)]
    run([*events, out("s3", 4)], finish=False, resolver=r)
    assert all(mappings[k] for k in ("suggestions", "outcomes", "feedback", "seen"))
    json.dumps({"counters": counters, **mappings}, allow_nan=False)
    r.advance(T0 + 20)
    assert mappings["resolved"]
    text = json.dumps({"counters": counters, **mappings}, allow_nan=False)
    assert json.loads(text)["counters"][CLOCK_KEY] == T0 + 20
    assert set(r.counters) == {*COUNTERS, "open"}
