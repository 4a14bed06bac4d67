"""Map a CDS Hooks 2.0 feedback entry to a Vitals outcome event.

CDS Hooks reports what a clinician did with a card through the feedback
endpoint: ``outcome`` is ``accepted`` or ``overridden`` (mapped to
``rejected``), ``overrideReason.reason`` is a Coding whose ``code`` becomes
``override_reason``, and ``outcomeTimestamp`` is the event time.
``overrideReason.userComment`` is free text and is dropped here, always.
Ignored cards are never reported by CDS Hooks: the denominator must come from
suggestion events the service emits for every card it issues.

Examples
--------
>>> entry = {"card": "card-7", "outcome": "overridden",
...          "overrideReason": {"reason": {"code": "pt-refused", "system": "urn:x"},
...                             "userComment": "free text never leaves"},
...          "outcomeTimestamp": "2026-01-05T09:00:00Z"}
>>> ev = outcome_from_feedback(entry, event_id="fb-1")
>>> ev.outcome, ev.override_reason, ev.suggestion_id
('rejected', 'pt-refused', 'card-7')
"""

from __future__ import annotations

import re
from typing import Any

from monitor.core.contract import SLUG_PATTERN, InvalidEvent, Outcome, validate_event

_OUTCOMES = {"accepted": "accepted", "overridden": "rejected"}
_SLUG = re.compile(SLUG_PATTERN)


def reason_slug(code: str) -> str:
    """Normalise a Coding code to a contract slug (lower case, unsafe characters to '-')."""
    slug = re.sub(r"[^a-z0-9._-]+", "-", code.strip().lower()).strip("-._")[:64]
    if not _SLUG.match(slug):
        raise InvalidEvent(
            "contract_violation", f"cannot make a slug of {code!r}", "override_reason"
        )
    return slug


def outcome_from_feedback(
    entry: dict[str, Any],
    *,
    event_id: str,
    suggestion_id: str | None = None,
) -> Outcome:
    """Build a validated outcome event from one CDS Hooks feedback entry.

    Parameters
    ----------
    entry
        One element of the feedback request's ``feedback`` array.
    event_id
        Unique id for this event (e.g. derived from the feedback request id).
    suggestion_id
        Defaults to the card's uuid (``entry["card"]``); pass the issued
        suggestion's id if the bridge keyed suggestions differently.
    """
    kind = entry.get("outcome")
    if kind not in _OUTCOMES:
        raise InvalidEvent(
            "contract_violation",
            f"CDS Hooks outcome must be accepted or overridden, not {kind!r}",
            "outcome",
        )
    fields: dict[str, Any] = {
        "schema_version": 1,
        "type": "outcome",
        "event_id": event_id,
        "suggestion_id": suggestion_id or entry.get("card"),
        "occurred_at": entry.get("outcomeTimestamp"),
        "outcome": _OUTCOMES[kind],
    }
    reason = ((entry.get("overrideReason") or {}).get("reason") or {}).get("code")
    if kind == "overridden" and reason:
        fields["override_reason"] = reason_slug(reason)
    event = validate_event(fields)
    assert isinstance(event, Outcome)
    return event
