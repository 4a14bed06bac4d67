"""Event contract v1: strict validation, named fields, JSON round trip."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.core.contract import (
    MAX_EVENT_BYTES,
    MAX_INPUTS,
    Feedback,
    InvalidEvent,
    Outcome,
    Suggestion,
    dump_event,
    parse_event,
    validate_event,
)

slugs = st.from_regex(r"\A[a-z0-9][a-z0-9._-]{0,63}\Z")
ids = st.from_regex(r"\A[!-~]{1,128}\Z")
tokens = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:/+-]{0,63}\Z")
offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda m: timezone(timedelta(minutes=m))
)
timestamps = st.builds(
    lambda dt, tz: dt.replace(tzinfo=UTC).astimezone(tz).isoformat(),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31, 23, 59)),
    offsets,
)
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
counts = st.integers(min_value=0, max_value=10**9)


def common(kind: str) -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries(
        {
            "schema_version": st.just(1),
            "type": st.just(kind),
            "event_id": ids,
            "suggestion_id": ids,
            "occurred_at": timestamps,
        }
    )


def with_optional(base, required: dict, optional: dict):
    return st.tuples(base, st.fixed_dictionaries(required, optional=optional)).map(
        lambda t: {**t[0], **t[1]}
    )


suggestions = with_optional(
    common("suggestion"),
    {"feature": slugs, "model_version": slugs, "site": slugs},
    {
        "care_setting": st.sampled_from(
            ["outpatient", "inpatient", "emergency", "telehealth", "other"]
        ),
        "score": st.floats(min_value=0, max_value=1),
        "draft_length": counts,
        "inputs": st.dictionaries(slugs, finite | tokens, max_size=MAX_INPUTS),
    },
)
outcomes = with_optional(
    common("outcome"),
    {"outcome": st.sampled_from(["accepted", "edited", "rejected", "dismissed"])},
    {"edit_distance": counts, "final_length": counts, "override_reason": slugs},
)
feedbacks = with_optional(
    common("feedback"),
    {"category": st.sampled_from(["unsafe", "inaccurate", "irrelevant", "biased", "other"])},
    {},
)
valid_events = suggestions | outcomes | feedbacks


@settings(max_examples=300)
@given(valid_events)
def test_valid_events_round_trip_through_json(obj: dict) -> None:
    event = parse_event(json.dumps(obj).encode())
    assert parse_event(dump_event(event)) == event
    assert event.suggestion_id == obj["suggestion_id"]
    assert event.occurred_at == datetime.fromisoformat(obj["occurred_at"])
    again = json.loads(dump_event(event))
    for key, value in obj.items():
        if key == "occurred_at":
            assert datetime.fromisoformat(again[key]) == datetime.fromisoformat(value)
        elif isinstance(value, float):
            assert math.isclose(again[key], value)
        elif key == "inputs":
            assert again[key].keys() == value.keys()
        else:
            assert again[key] == value


# (field, bad value) pairs; each must be rejected naming that field.
BAD_COMMON = [
    ("event_id", ""),
    ("event_id", "x" * 129),
    ("event_id", "has space"),
    ("event_id", 17),
    ("suggestion_id", None),
    ("occurred_at", "2026-01-05T09:00:00"),  # naive
    ("occurred_at", "yesterday"),
    ("occurred_at", 1767600000),
    ("occurred_at", "2026-01-05"),
]
BAD_SUGGESTION = [
    ("feature", "Note Draft"),
    ("feature", "-leading-dash"),
    ("feature", "a" * 65),
    ("model_version", ""),
    ("site", "St. Mary's"),
    ("care_setting", "icu"),
    ("score", 1.5),
    ("score", -0.1),
    ("score", "0.5"),
    ("score", True),
    ("draft_length", -1),
    ("draft_length", 3.5),
    ("draft_length", True),
    ("draft_length", "12"),
    ("inputs", {f"k{i}": 1 for i in range(MAX_INPUTS + 1)}),
    ("inputs", [1, 2]),
    ("inputs.note", "patient reports chest pain"),
    ("inputs.flag", True),
    ("inputs.big", "x" * 65),
]
BAD_OUTCOME = [
    ("outcome", "overridden"),
    ("edit_distance", -3),
    ("final_length", 1.5),
    ("override_reason", "Patient refused"),
]


@pytest.mark.parametrize(("field", "bad"), BAD_COMMON + BAD_SUGGESTION)
@given(event=suggestions)
@settings(max_examples=10)
def test_invalid_suggestion_field_is_named(field: str, bad: object, event: dict) -> None:
    _assert_rejected(event, field, bad)


@pytest.mark.parametrize(("field", "bad"), BAD_COMMON + BAD_OUTCOME)
@given(event=outcomes)
@settings(max_examples=10)
def test_invalid_outcome_field_is_named(field: str, bad: object, event: dict) -> None:
    _assert_rejected(event, field, bad)


def _assert_rejected(event: dict, field: str, bad: object) -> None:
    obj = dict(event)
    if field.startswith("inputs."):
        obj["inputs"] = {field.split(".", 1)[1]: bad}
    else:
        obj[field] = bad
    with pytest.raises(InvalidEvent) as info:
        validate_event(obj)
    assert info.value.reason == "contract_violation"
    assert info.value.field is not None
    assert info.value.field.split(".")[0] == field.split(".")[0]
    assert field.split(".")[0] in str(info.value)


@given(event=valid_events, name=st.from_regex(r"\A[a-z_]{1,20}\Z"))
@settings(max_examples=100)
def test_unknown_fields_are_rejected(event: dict, name: str) -> None:
    if name in event:
        return
    with pytest.raises(InvalidEvent) as info:
        validate_event({**event, name: "x"})
    assert info.value.field == name


@given(event=valid_events, version=st.sampled_from([0, 2, 99, "1", 1.5, 1.0, True, None]))
@settings(max_examples=50)
def test_unknown_schema_version_has_its_own_reason(event: dict, version: object) -> None:
    with pytest.raises(InvalidEvent) as info:
        validate_event({**event, "schema_version": version})
    assert info.value.reason == "unsupported_schema_version"
    assert info.value.field == "schema_version"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\xff\xfe{}", "undecodable"),
        (b"{not json", "invalid_json"),
        (b"", "invalid_json"),
        (b"[1, 2]", "contract_violation"),
        (
            b'{"schema_version":1,"type":"suggestion","event_id":"e","suggestion_id":"s",'
            b'"occurred_at":"2026-01-05T09:00:00Z","feature":"f","model_version":"v",'
            b'"site":"s","score":NaN}',
            "contract_violation",
        ),
        (
            b'{"schema_version":1,"type":"suggestion","event_id":"e","suggestion_id":"s",'
            b'"occurred_at":"2026-01-05T09:00:00Z","feature":"f","model_version":"v",'
            b'"site":"s","inputs":{"x":Infinity}}',
            "contract_violation",
        ),
        (b'{"schema_version":1,"type":"alert"}', "contract_violation"),
        (b'{"schema_version":1}', "contract_violation"),
    ],
)
def test_raw_bytes_rejections(raw: bytes, reason: str) -> None:
    with pytest.raises(InvalidEvent) as info:
        parse_event(raw)
    assert info.value.reason == reason


def test_types_and_defaults() -> None:
    ev = parse_event(
        b'{"schema_version":1,"type":"suggestion","event_id":"e","suggestion_id":"s",'
        b'"occurred_at":"2026-01-05T09:00:00+02:00","feature":"f","model_version":"v","site":"s"}'
    )
    assert isinstance(ev, Suggestion)
    assert ev.care_setting == "other"
    assert ev.occurred_at.utcoffset() == timedelta(hours=2)
    assert isinstance(validate_event({**_outcome(), "outcome": "accepted"}), Outcome)
    fb = {**_outcome(), "type": "feedback", "category": "unsafe"}
    del fb["outcome"]
    assert isinstance(validate_event(fb), Feedback)


def _outcome() -> dict:
    return {
        "schema_version": 1,
        "type": "outcome",
        "event_id": "e2",
        "suggestion_id": "s",
        "occurred_at": "2026-01-05T09:01:00Z",
        "outcome": "edited",
    }


free_text = st.from_regex(r"\A[A-Z][a-z]{2,8} [A-Z][a-z]{2,8}( [A-Za-z0-9]{1,6}){0,3}\Z")
"""Text such as a name or a note: what must never be echoed back."""
TEXT_FIELDS = (
    "schema_version", "type", "event_id", "suggestion_id", "occurred_at", "feature",
    "model_version", "site", "care_setting", "outcome", "override_reason", "category",
)  # fmt: skip


@given(
    event=valid_events,
    text=free_text,
    where=st.sampled_from([*TEXT_FIELDS, "(key)", "(input name)", "(input value)"]),
)
@settings(max_examples=300)
def test_rejections_never_echo_the_senders_text(event: dict, text: str, where: str) -> None:
    """The reason and message go to stderr, logs and dead-letter headers: PHI placed
    anywhere in an event (a value, a key, an input) must not come back in them."""
    obj = dict(event)
    if where == "(key)":
        obj[text] = 1
    elif where == "(input name)":
        obj["inputs"] = {text: 1.0}
    elif where == "(input value)":
        obj["inputs"] = {"age": text}
    else:
        obj[where] = text
    with pytest.raises(InvalidEvent) as info:
        parse_event(json.dumps(obj).encode())
    assert text not in str(info.value) and text not in (info.value.field or "")


def test_an_oversized_event_is_rejected_unparsed() -> None:
    raw = b'{"schema_version":1,"pad":"' + b"x" * MAX_EVENT_BYTES + b'"}'
    with pytest.raises(InvalidEvent, match=f"larger than {MAX_EVENT_BYTES} bytes") as info:
        parse_event(raw)
    assert info.value.reason == "contract_violation"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"[" * 5000 + b"]" * 5000, "invalid_json"),  # RecursionError in the fallback parse
        (
            b'{"schema_version":1,"type":"outcome","event_id":"e","suggestion_id":"s",'
            b'"occurred_at":"2026-01-05T09:00:00Z","outcome":"edited","edit_distance":1'
            + b"0" * 400
            + b"}",
            "contract_violation",
        ),
    ],
    ids=["deeply-nested", "huge-count"],
)
def test_inputs_that_used_to_escape_as_exceptions(raw: bytes, reason: str) -> None:
    with pytest.raises(InvalidEvent) as info:
        parse_event(raw)
    assert info.value.reason == reason


@pytest.mark.parametrize(
    "stamp",
    [
        "1",  # epoch seconds, as pydantic alone reads it
        "1767600000000",  # epoch milliseconds
        "2026-01-05 09:00:00Z",
        "2026-01-05_09:00:00Z",
        "2026-01-05T09:00:00+23:59",
        "0001-01-01T00:00:00+14:00",  # a UTC year 0
        "1999-12-31T23:59:59Z",
        "2100-01-01T00:00:00Z",
    ],
)
def test_occurred_at_is_a_plausible_rfc3339_time(stamp: str) -> None:
    event = {"schema_version": 1, "type": "feedback", "event_id": "e", "suggestion_id": "s",
             "occurred_at": stamp, "category": "unsafe"}  # fmt: skip
    with pytest.raises(InvalidEvent) as info:
        validate_event(event)
    assert info.value.field == "occurred_at" and "Value error" not in str(info.value)
    ok = validate_event({**event, "occurred_at": "2026-01-05t09:00:00.123456789z"})
    assert ok.occurred_at == datetime(2026, 1, 5, 9, 0, 0, 123456, tzinfo=UTC)


def test_occurred_at_built_in_python_is_range_checked_too() -> None:
    fields = {"schema_version": 1, "type": "feedback", "event_id": "e", "suggestion_id": "s",
              "category": "unsafe"}  # fmt: skip
    assert Feedback(**fields, occurred_at=datetime(2026, 1, 5, tzinfo=UTC)).occurred_at.year == 2026
    with pytest.raises(ValueError, match="from 2000 to 2099"):
        Feedback(**fields, occurred_at=datetime(1970, 1, 1, tzinfo=UTC))


# -- keys named twice ----------------------------------------------------------------------


def _with_repeat(obj: dict, key: str, value: object, *, inner: bool, ensure_ascii: bool) -> str:
    """*obj* as JSON text with *key* named a second time, first or last in its object."""
    text = json.dumps(obj, ensure_ascii=ensure_ascii)
    extra = f"{json.dumps(key)}: {json.dumps(value)}, "
    if inner:
        at = text.index('"inputs": {') + len('"inputs": {')
        return text[:at] + extra + text[at:]
    return "{" + extra + text[1:]


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])  # (a busy machine)
@given(valid_events, st.data(), st.booleans())
def test_a_key_named_twice_is_rejected_naming_it(obj: dict, data, ensure_ascii: bool) -> None:
    inner = bool(obj.get("inputs")) and data.draw(st.booleans())
    pool = obj["inputs"] if inner else obj
    key = data.draw(st.sampled_from(sorted(pool)))
    # the same value again: each of the two alone is valid (a first value that is not
    # fails validation before the repeat is seen, as any contract_violation)
    text = _with_repeat(obj, key, pool[key], inner=inner, ensure_ascii=ensure_ascii)
    with pytest.raises(InvalidEvent) as info:
        parse_event(text.encode())
    assert info.value.reason == "duplicate_key"
    assert info.value.field == (f"inputs.{key}" if inner else key)
    assert "twice" in str(info.value)


EXAMPLE_FEEDBACK = {
    "schema_version": 1,
    "type": "feedback",
    "event_id": "e1",
    "suggestion_id": "s1",
    "occurred_at": "2026-01-05T09:00:00Z",
    "category": "unsafe",
}


def test_a_key_repeated_through_an_escape_is_still_a_repeat() -> None:
    text = json.dumps(EXAMPLE_FEEDBACK)
    text = text.replace('"category"', '"c\\u0061tegory": "other", "category"')
    with pytest.raises(InvalidEvent, match="twice") as info:
        parse_event(text)
    assert (info.value.reason, info.value.field) == ("duplicate_key", "category")


def test_two_different_values_for_one_key_are_rejected_whichever_would_win() -> None:
    text = json.dumps(EXAMPLE_FEEDBACK).replace('"unsafe"', '"unsafe", "category": "other"')
    with pytest.raises(InvalidEvent) as info:
        parse_event(text)
    assert (info.value.reason, info.value.field) == ("duplicate_key", "category")


def test_values_equal_to_key_names_are_not_repeats() -> None:
    # the cheap check counts quotes: a value spelled like a key must not fool it
    obj = {**EXAMPLE_FEEDBACK, "event_id": "category", "suggestion_id": '"type"\\'}
    assert parse_event(json.dumps(obj)).suggestion_id == '"type"\\'


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(valid_events, st.booleans())
def test_events_without_escapes_take_the_cheap_path(obj: dict, compact: bool) -> None:
    from monitor.core.contract import _no_duplicate_keys, _validate

    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":") if compact else None)
    text, event = _validate(text)
    assert _no_duplicate_keys(text, event) == ("\\" not in text)
