"""Event contract v1: the JSON objects EHR bridges publish to ``ehr.ai.events``.

The pydantic models here are the single source of truth; the JSON Schema that
bridges validate against (``schemas/event-v1.json``) is generated from them.

Every model is strict and closed: wrong JSON types, unknown fields, non-slug
labels, NaN/inf, naive timestamps, oversize strings, keys named twice and
unknown schema versions are rejected, and the rejection names the field. No field can hold
free text, so PHI has no way in.

Examples
--------
>>> ev = parse_event(b'{"schema_version": 1, "type": "feedback", "event_id": "e1",'
...                  b' "suggestion_id": "s1", "occurred_at": "2026-01-05T09:00:00Z",'
...                  b' "category": "unsafe"}')
>>> ev.category
'unsafe'
>>> try:
...     parse_event(b'{"schema_version": 2}')
... except InvalidEvent as exc:
...     print(exc.reason)
unsupported_schema_version
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    field_validator,
)

SCHEMA_VERSION: Final = 1

SLUG_PATTERN: Final = r"^[a-z0-9][a-z0-9._-]{0,63}$"
"""Label values (feature, model_version, site, input names, reasons)."""

ID_PATTERN: Final = r"^[!-~]{1,128}$"
"""Identifiers: 1–128 printable ASCII characters, no whitespace (an ID is never text)."""

TOKEN_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._:/+-]{0,63}$"
"""Categorical input values: short codes, no whitespace (never free text)."""

MAX_INPUTS: Final = 32

_RFC3339: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-](0\d|1[0-4]):[0-5]\d)"
)
EARLIEST: Final = datetime(2000, 1, 1, tzinfo=UTC)
LATEST: Final = datetime(2100, 1, 1, tzinfo=UTC)

MAX_EVENT_BYTES: Final = 65536
"""Larger events are rejected unparsed (a valid one, 32 inputs and all, is under 8 KiB)."""

Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN)]
Identifier = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
Token = Annotated[str, StringConstraints(pattern=TOKEN_PATTERN)]
FiniteNumber = Annotated[float, Field(allow_inf_nan=False)]
MAX_COUNT: Final = 10**9
Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]  # characters or edits: a billion is plenty

CareSetting = Literal["outpatient", "inpatient", "emergency", "telehealth", "other"]
OutcomeKind = Literal["accepted", "edited", "rejected", "dismissed"]
FeedbackCategory = Literal["unsafe", "inaccurate", "irrelevant", "biased", "other"]


class _EventBase(BaseModel):
    """Fields common to every event type."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    schema_version: Literal[1] = Field(description="Contract version; only 1 exists.")
    event_id: Identifier = Field(description="Unique per event; duplicates are dropped.")
    suggestion_id: Identifier = Field(
        description="Kafka key; correlates suggestion, outcome and feedback."
    )
    occurred_at: AwareDatetime = Field(
        description="Event time, RFC 3339 with a UTC offset (e.g. 2026-01-05T09:00:00Z)."
    )

    @field_validator("occurred_at", mode="before")
    @classmethod
    def _rfc3339(cls, value: Any) -> Any:
        # pydantic alone also takes "1" (epoch seconds), "1767600000000" (ms), a
        # space or "_" for the "T", and offsets up to +-23:59
        if isinstance(value, datetime):  # built in Python (bridges): checked as such
            return value
        if not isinstance(value, str) or not _RFC3339.fullmatch(value):
            raise ValueError("expected an RFC 3339 time with an offset, e.g. 2026-01-05T09:00:00Z")
        return datetime.fromisoformat(value.upper())

    @field_validator("occurred_at")
    @classmethod
    def _plausible(cls, value: datetime) -> datetime:
        if not EARLIEST <= value < LATEST:  # one bad clock must not move the watermark by ages
            raise ValueError(f"expected a time from {EARLIEST.year} to {LATEST.year - 1}")
        return value

    @field_validator("schema_version", mode="before")
    @classmethod
    def _integer_version(cls, value: Any) -> Any:
        # JSON true and 1.0 both equal 1 in Python; neither is the version's integer
        if isinstance(value, bool | float):
            raise ValueError("schema_version must be the integer 1")
        return value


class Suggestion(_EventBase):
    """The AI showed something to a clinician (the denominator of every rate)."""

    type: Literal["suggestion"]
    feature: Slug = Field(description="AI feature, e.g. note-draft, inbasket-reply.")
    model_version: Slug = Field(description="Model version, e.g. reply-2.0.")
    site: Slug = Field(description="Facility or clinic.")
    care_setting: CareSetting = "other"
    score: Annotated[FiniteNumber, Field(ge=0.0, le=1.0)] | None = Field(
        default=None, description="Model confidence in [0, 1]."
    )
    draft_length: Count | None = Field(default=None, description="Characters of the AI draft.")
    inputs: Annotated[dict[Slug, FiniteNumber | Token], Field(max_length=MAX_INPUTS)] | None = (
        Field(
            default=None,
            description="Monitored inputs for drift: slug -> number or short code. Never text.",
        )
    )


class Outcome(_EventBase):
    """What the clinician did with a suggestion; the first outcome wins."""

    type: Literal["outcome"]
    outcome: OutcomeKind = Field(description="CDS Hooks 'overridden' maps to 'rejected'.")
    edit_distance: Count | None = Field(
        default=None, description="Character edits from draft to final text (EHR side)."
    )
    final_length: Count | None = Field(default=None, description="Characters of the final text.")
    override_reason: Slug | None = Field(
        default=None, description="CDS Hooks overrideReason.reason.code."
    )


class Feedback(_EventBase):
    """A clinician flags a suggestion, at any time."""

    type: Literal["feedback"]
    category: FeedbackCategory


Event = Annotated[Suggestion | Outcome | Feedback, Field(discriminator="type")]
EVENT_ADAPTER: Final[TypeAdapter[Suggestion | Outcome | Feedback]] = TypeAdapter(Event)

REASONS: Final = (
    "undecodable",
    "invalid_json",
    "unsupported_schema_version",
    "contract_violation",
    "duplicate_key",  # a key named twice in one object (parsers differ on which wins)
    "future_time",  # the worker only: occurred_at beyond its clock (see max_ahead)
)
"""Why an event is rejected; used as the dead-letter reason and metric label."""


class InvalidEvent(ValueError):
    """An event that breaks the contract.

    ``reason`` is one of :data:`REASONS`; ``field`` names the offending field
    (dotted path) when there is one; ``str(exc)`` is a one-line explanation.
    """

    def __init__(self, reason: str, detail: str, field: str | None = None) -> None:
        super().__init__(f"{field}: {detail}" if field else detail)
        self.reason = reason
        self.field = field
        self.detail = detail


_UNION_MEMBERS: Final = frozenset({"float", "int", "str", "constrained-str", "bool", "none"})


def _field_path(loc: tuple[int | str, ...]) -> str:
    # A discriminated union prefixes the location with the tag ("suggestion");
    # plain unions append the member tried ("float", "constrained-str").
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("suggestion", "outcome", "feedback"):
        parts = parts[1:]
    parts = [p for p in parts if p not in _UNION_MEMBERS and "[" not in p]
    return ".".join(parts) or "type"


def error_message(err: Any) -> str:
    """A pydantic error's message without the "Value error, " of a validator's raise."""
    return str(err["msg"]).removeprefix("Value error, ")


_FIELD_NAME: Final = re.compile(r"[a-z_][a-z0-9_]{0,63}")
"""An unknown field is named when its name looks like one (a bridge's code), not text."""


def _describe(err: Any) -> tuple[str, str]:
    """(field, message) of one pydantic error, never quoting the input: a value, an
    invalid input name, a wrong ``type`` tag, or an unknown field's name unless it
    looks like a field name, is the sender's text (PHI can hide there)."""
    loc, kind = err["loc"], err["type"]
    if kind == "extra_forbidden":
        name = str(loc[-1])
        name = name if _FIELD_NAME.fullmatch(name) else "(unknown)"
        parent = _field_path(loc[:-1]) if len(loc) > 2 else ""
        return (
            f"{parent}.{name}" if parent else name,
            "unknown field: only the fields of schemas/event-v1.json are allowed",
        )
    if "[key]" in loc:
        return _field_path(loc[: loc.index("[key]") - 1]), (
            "an input name must be a slug (a-z, 0-9, '.', '_', '-'; at most 64 characters)"
        )
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        return "type", "type must be one of 'suggestion', 'outcome', 'feedback'"
    field = _field_path(loc)
    if field.startswith("inputs.") and field.count(".") == 1:
        return (
            field,
            "an input value must be a finite number or a short code (no spaces, <= 64 chars)",
        )
    return field, error_message(err)


def _from_validation_error(exc: ValidationError, raw: Any) -> InvalidEvent:
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    if errors[0]["type"] == "json_invalid":
        return InvalidEvent("invalid_json", errors[0]["msg"])
    field, msg = _describe(errors[0])
    if field == "schema_version":
        return InvalidEvent("unsupported_schema_version", msg, field)
    others = {_describe(e)[0] for e in errors[1:]} - {field}
    more = f" (also invalid: {', '.join(sorted(others))})" if others else ""
    return InvalidEvent("contract_violation", msg + more, field)


def _check_version(raw: bytes | str) -> None:
    """Give an unknown schema_version precedence over other violations."""
    try:
        obj = json.loads(raw)
    except ValueError as exc:
        raise InvalidEvent("invalid_json", str(exc)) from None
    except RecursionError:
        raise InvalidEvent("invalid_json", "nested too deeply") from None
    if not isinstance(obj, dict):
        raise InvalidEvent("contract_violation", "an event must be a JSON object")
    version = obj.get("schema_version")
    if version != SCHEMA_VERSION or type(version) is not int:
        # quoted only when it is a number: a string here is the sender's text
        got = repr(version) if type(version) in (int, float) else f"a JSON {_json_type(version)}"
        raise InvalidEvent(
            "unsupported_schema_version",
            f"unsupported schema_version {got} (this worker reads {SCHEMA_VERSION})",
            "schema_version",
        )


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "boolean", str: "string", list: "array", dict: "object"}.get(
        type(value), type(value).__name__
    )


def parse_event(raw: bytes | str) -> Suggestion | Outcome | Feedback:
    """Decode and validate one event from its JSON bytes; raise :class:`InvalidEvent`.

    A key named twice in one object is rejected (``duplicate_key``): JSON parsers
    disagree on which of the two wins, so a bridge and Vitals could read
    different events from the same bytes.
    """
    text, event = _validate(raw)
    if not _no_duplicate_keys(text, event):
        _reject_duplicate_keys(text)
    return event


_REQUIRED_STRINGS: Final[dict[type[BaseModel], int]] = {Suggestion: 7, Outcome: 5, Feedback: 5}
"""Per event type, its required fields whose JSON value is a string (type, the two ids,
occurred_at and: feature, model_version, site; outcome; category)."""


def _no_duplicate_keys(text: str, event: Suggestion | Outcome | Feedback) -> bool:
    """A cheap proof that *text* names no key twice (False: no proof, not a duplicate).

    Without a backslash, every ``"`` of JSON text delimits a string, and a valid
    event's strings are its keys and its string values: one pair of quotes each.
    The validated event (last key wins) has each key once, so text with exactly
    the quotes of its keys and string values repeats none; a repeated key adds
    a pair.
    """
    if "\\" in text:
        return False
    fields = event.model_fields_set
    kind = type(event)
    strings = len(fields) + _REQUIRED_STRINGS[kind]  # keys, required string values
    if kind is Suggestion:
        if "care_setting" in fields:
            strings += 1
        inputs = event.inputs  # type: ignore[union-attr]
        if inputs:
            strings += len(inputs)
            for value in inputs.values():
                if type(value) is str:
                    strings += 1
    elif kind is Outcome and event.override_reason is not None:  # type: ignore[union-attr]
        strings += 1
    return text.count('"') == 2 * strings


def _reject_duplicate_keys(text: str) -> None:
    """Raise :class:`InvalidEvent` naming a key that *text* repeats in an object."""
    repeated: list[tuple[int, str]] = []  # (object number, key); objects close inner first
    objects = 0

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal objects
        objects += 1
        seen: set[str] = set()
        for key, _ in items:
            if key in seen:
                repeated.append((objects, key))
            seen.add(key)
        return dict(items)

    json.loads(text, object_pairs_hook=pairs)
    if not repeated:
        return
    number, key = repeated[0]
    # The event validated: its keys are field names, and the inner object's (the
    # only one, which closes first) input names, slugs.
    field = key if number == objects else f"inputs.{key}"
    raise InvalidEvent(
        "duplicate_key", "this key appears twice in one object; name each key once", field
    )


def _validate(raw: bytes | str) -> tuple[str, Suggestion | Outcome | Feedback]:
    """(the text, the event) of *raw* decoded and validated, repeated keys aside."""
    if len(raw) > MAX_EVENT_BYTES:  # (str: characters, at most 4 bytes each, still bounded)
        raise InvalidEvent(
            "contract_violation", f"event larger than {MAX_EVENT_BYTES} bytes: not parsed"
        )
    if isinstance(raw, bytes | bytearray | memoryview):
        try:
            raw = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidEvent(
                "undecodable", f"not UTF-8: {exc.reason} at byte {exc.start}"
            ) from None
    try:
        return raw, EVENT_ADAPTER.validate_json(raw)
    except ValidationError as exc:
        _check_version(raw)
        raise _from_validation_error(exc, raw) from None


def validate_event(obj: dict[str, Any]) -> Suggestion | Outcome | Feedback:
    """Validate an event given as a dict, exactly as if it had arrived as JSON."""
    try:
        text = json.dumps(obj, allow_nan=False, default=_json_default)
    except ValueError as exc:
        raise InvalidEvent("contract_violation", f"not representable as JSON: {exc}") from None
    return parse_event(text)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dump_event(event: Suggestion | Outcome | Feedback) -> bytes:
    """Serialize an event to its compact JSON wire form (absent optionals omitted)."""
    return event.model_dump_json(exclude_none=True).encode()
