"""Bridge helpers keep text on the EHR side."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.cdshooks import outcome_from_feedback, reason_slug
from bridge.edits import measure_edits, outcome_kind
from monitor.core.contract import InvalidEvent, dump_event


@given(st.text(max_size=200), st.text(max_size=200))
def test_edit_measure_bounds(draft: str, final: str) -> None:
    m = measure_edits(draft, final)
    assert abs(len(draft) - len(final)) <= m.edit_distance <= max(len(draft), len(final))
    assert (m.edit_distance == 0) == (draft == final)
    assert 0.0 <= m.burden <= 1.0
    assert set(m.outcome_fields()) == {"edit_distance", "final_length"}


def test_edit_measure_known_value() -> None:
    assert measure_edits("kitten", "sitting").edit_distance == 3
    assert outcome_kind("a", "a") == "accepted"
    assert outcome_kind("a", "b") == "edited"
    assert outcome_kind("a", None) == "rejected"


def _entry(**kw):
    base = {"card": "card-1", "outcome": "accepted", "outcomeTimestamp": "2026-01-05T09:00:00Z"}
    return {**base, **kw}


def test_cds_hooks_accepted() -> None:
    ev = outcome_from_feedback(_entry(acceptedSuggestions=[{"id": "x"}]), event_id="f1")
    assert (ev.outcome, ev.suggestion_id, ev.override_reason) == ("accepted", "card-1", None)


def test_cds_hooks_overridden_drops_user_comment() -> None:
    secret = "Pt John Doe refused, MRN 123"
    entry = _entry(
        outcome="overridden",
        overrideReason={
            "reason": {"code": "Patient_Refused", "system": "http://example.org"},
            "userComment": secret,
        },
    )
    ev = outcome_from_feedback(entry, event_id="f2", suggestion_id="sug-9")
    assert ev.outcome == "rejected"
    assert ev.override_reason == "patient_refused"
    assert ev.suggestion_id == "sug-9"
    assert b"John" not in dump_event(ev)


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        (_entry(outcome="ignored"), "outcome"),
        (_entry(outcomeTimestamp="2026-01-05 09:00"), "occurred_at"),
        (_entry(card=None), "suggestion_id"),
    ],
)
def test_cds_hooks_bad_entries(entry: dict, field: str) -> None:
    with pytest.raises(InvalidEvent) as info:
        outcome_from_feedback(entry, event_id="f3")
    assert info.value.field == field


def test_reason_slug() -> None:
    assert reason_slug("  Not Clinically Appropriate ") == "not-clinically-appropriate"
    with pytest.raises(InvalidEvent):
        reason_slug("***")
