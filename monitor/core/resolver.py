"""Stage 1 core: join suggestions, outcomes and feedback by event time.

The :class:`Resolver` is a deterministic state machine over the three event
types of the contract. It drops duplicate ``event_id``s, joins events by
``suggestion_id``, expires unanswered suggestions by event time and emits one
:class:`~monitor.core.records.Resolution` per suggestion plus a
:class:`~monitor.core.records.Flag` per joined feedback. It has no Kafka imports:
the Faust worker (stage 1) and the in-process replay engine both drive it.

Semantics
---------
Let ``t`` be an event's time, ``clock`` the largest event time seen,
``watermark = clock - allowed_lateness``, ``T = decision_timeout``,
``K = clock_skew`` and ``R = feedback_retention`` (``T`` may be set per
feature). For a suggestion shown at ``s`` (deadline ``D = s + T``) an outcome
or feedback *joins* it when
``s - K <= t <= D + R``; otherwise it is orphaned.

- Events with ``t < watermark`` are ``too_late`` (dropped) unless their id is
  still in the seen set (then ``duplicates``).
- Joined outcomes with ``t <= D`` compete; the smallest ``(t, event_id)`` wins
  and every other one counts as ``conflicting_outcomes``. Joined outcomes with
  ``t > D`` count as ``late_outcomes`` and change nothing.
- A suggestion resolves at ``at`` = the winner's time, or ``D`` (``expired``)
  without one. Feedback becomes a flag at ``at`` = its time; the first flag of a
  suggestion by ``(t, event_id)`` has ``first=True``.
- Every result is emitted once ``watermark > at + K``: no later-arriving event
  within the allowance can change it then. The emitted sequence is sorted by
  ``(at, kind, suggestion_id, event_id)``, so it does not depend on arrival
  order within the allowance, nor on batching or restarts.
- A feature may have its own allowance ``L_f`` (a batch bridge's feature arrives
  hours late). Its events are too late once ``t < clock - L_f``, and its results
  are emitted once ``watermark > at + K + (L_f - allowed_lateness)``: shifted by
  the difference, so the other features' results are not held back. Per feature
  the order above holds. An outcome or feedback whose suggestion is not known yet
  is judged with the largest allowance.

Examples
--------
See :class:`Resolver`.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import MutableMapping
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, model_validator

from monitor.core.contract import Feedback, Outcome, Suggestion
from monitor.core.records import ACCEPTED, Flag, Resolution

__all__ = ["CLOCK_KEY", "COUNTERS", "Resolver", "ResolverConfig"]

COUNTERS: Final = (
    "events",
    "duplicates",
    "too_late",
    "conflicting_suggestions",
    "conflicting_outcomes",
    "late_outcomes",
    "orphaned_outcomes",
    "orphaned_feedback",
    "resolved",
    "expired",
    "flags",
    "negative_decision_time",
)
"""Cumulative counters kept in the ``counters`` mapping (all start at 0)."""

CLOCK_KEY: Final = "max_event_time"
"""Key of the event-time clock (largest event time seen) in the ``counters`` mapping."""

# Pending suggestion record (a flat JSON-able list), indices:
_T, _FEATURE, _VERSION, _SITE, _CARE, _SCORE, _DRAFT, _INPUTS = range(8)
_OID, _OT, _OKIND, _OEDIT, _OFINAL, _FLAGGED = range(8, 14)
# Resolved index entry: [shown_at, feature, model_version, site, flagged] (same
# first four fields as a pending record).
_R_FLAGGED = 4
# Heap entry kinds; at equal times resolutions come before flags.
_RESOLVE, _FLAG, _ORPHAN = 0, 1, 2
_BUCKETS: Final = 16  # pruning granularity: retention / _BUCKETS

Emitted = Resolution | Flag
_new_tuple = tuple.__new__
_heappush, _heappop = heapq.heappush, heapq.heappop


class _TimeBuckets:
    """In-memory index of keys by ``floor(time / width)``, to prune state by time."""

    __slots__ = ("_last", "_last_keys", "buckets", "due", "width")

    def __init__(self, width: float) -> None:
        self.width = width
        self.buckets: dict[float, list[str]] = {}
        self.due = math.inf
        """End of the earliest bucket: nothing can expire before this cutoff."""
        self._last: float | None = None
        self._last_keys: list[str] = []

    def add(self, key: str, t: float) -> None:
        b = t // self.width
        if b == self._last:
            self._last_keys.append(key)
            return
        keys = self.buckets.get(b)
        if keys is None:
            keys = self.buckets[b] = []
            self.due = min(self.due, (b + 1) * self.width)
        keys.append(key)
        self._last, self._last_keys = b, keys

    def expire(self, cutoff: float) -> list[str]:
        """Remove and return the keys of every bucket that ends at or before cutoff."""
        out: list[str] = []
        buckets = self.buckets
        for b in sorted(buckets):
            if (b + 1) * self.width > cutoff:
                break
            out.extend(buckets.pop(b))
        self.due = (min(buckets) + 1) * self.width if buckets else math.inf
        self._last = None
        return out


class ResolverConfig(BaseModel):
    """Resolver settings; all durations in seconds of event time.

    ``clock_skew`` is how far an outcome or feedback may precede its suggestion
    and still join it (the bridges' clocks differ); results are emitted that
    much after the watermark passes them.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    decision_timeout: float = Field(4 * 3600.0, gt=0, allow_inf_nan=False)
    allowed_lateness: float = Field(600.0, ge=0, allow_inf_nan=False)
    clock_skew: float = Field(60.0, ge=0, allow_inf_nan=False)
    dedup_retention: float = Field(86400.0, gt=0, allow_inf_nan=False)
    feedback_retention: float = Field(7 * 86400.0, gt=0, allow_inf_nan=False)
    feature_timeouts: dict[str, float] = Field(default_factory=dict)
    """Per-feature ``decision_timeout`` (a reply draft may wait a day, a note draft hours)."""
    feature_lateness: dict[str, float] = Field(default_factory=dict)
    """Per-feature ``allowed_lateness`` (see the module docstring)."""

    @model_validator(mode="after")
    def _retention_covers_lateness(self) -> ResolverConfig:
        for feature, lateness in self.feature_lateness.items():
            if not (math.isfinite(lateness) and lateness >= 0):
                raise ValueError(f"feature_lateness.{feature} must be a number >= 0")
        for name in ("dedup_retention", "feedback_retention"):
            if getattr(self, name) < self.max_lateness:
                raise ValueError(f"{name} must be >= allowed_lateness (of every feature)")
        for feature, timeout in self.feature_timeouts.items():
            if not (math.isfinite(timeout) and timeout > 0):
                raise ValueError(f"feature_timeouts.{feature} must be a positive number")
        return self

    def timeout(self, feature: str) -> float:
        """The decision timeout of ``feature``."""
        return self.feature_timeouts.get(feature, self.decision_timeout)

    def shift(self, feature: str) -> float:
        """``feature``'s allowed lateness minus the default one: how much later than the
        watermark its events are still accepted and its results final."""
        return self.feature_lateness.get(feature, self.allowed_lateness) - self.allowed_lateness

    @property
    def shifts(self) -> dict[str, float]:
        """:meth:`shift` of every feature with its own lateness (the others': 0)."""
        return {feature: self.shift(feature) for feature in self.feature_lateness}

    @property
    def max_lateness(self) -> float:
        return max([self.allowed_lateness, *self.feature_lateness.values()])


class Resolver:
    """Resolve suggestions into outcomes, expiries and flags by event time.

    Parameters
    ----------
    config
        Timeouts and retentions (default :class:`ResolverConfig`).
    suggestions
        Pending suggestions: ``suggestion_id -> record`` (flat list).
    outcomes
        Outcomes waiting for their suggestion: ``suggestion_id -> [[event_id, t, ...]]``.
    feedback
        Feedback waiting to become a flag: ``suggestion_id -> [[event_id, t, category]]``.
    seen
        De-duplication set: ``event_id -> event time``.
    resolved
        Resolved suggestions kept for late events:
        ``suggestion_id -> [shown_at, feature, model_version, site, flagged]``.
    counters
        :data:`COUNTERS` and the event-time clock under :data:`CLOCK_KEY`.

    Every mapping may be any ``MutableMapping`` (e.g. a Faust table); values are
    JSON-able lists and numbers, and a changed value is always re-assigned.
    Passing mappings that hold state (a snapshot) restores the resolver: the
    in-memory indexes are rebuilt here and it continues exactly as the one that
    wrote them. A snapshot must take all six mappings at the same point between
    two calls (build the resolver after a Faust table recovery, not before).

    Examples
    --------
    >>> from monitor.core.contract import validate_event
    >>> r = Resolver(ResolverConfig(decision_timeout=3600, allowed_lateness=60))
    >>> def event(kind, eid, at, **fields):
    ...     return validate_event({"schema_version": 1, "type": kind, "event_id": eid,
    ...                            "suggestion_id": "s1", "occurred_at": at, **fields})
    >>> r.process(event("suggestion", "e1", "2026-01-05T09:00:00Z", feature="note-draft",
    ...                 model_version="v1", site="a", draft_length=100))
    []
    >>> r.process(event("outcome", "e2", "2026-01-05T09:00:30Z", outcome="edited",
    ...                 edit_distance=20))
    []
    >>> r.process(event("outcome", "e2", "2026-01-05T09:00:30Z", outcome="edited",
    ...                 edit_distance=20))  # at-least-once delivery: a duplicate
    []
    >>> [res] = r.advance(r.clock + 200)  # watermark passes 09:00:30 + clock_skew
    >>> res.status, res.decision_seconds, res.burden
    ('edited', 30.0, 0.2)
    >>> r.counters["duplicates"], r.counters["resolved"], r.counters["open"]
    (1, 1, 0)
    """

    def __init__(
        self,
        config: ResolverConfig | None = None,
        *,
        suggestions: MutableMapping[str, list[Any]] | None = None,
        outcomes: MutableMapping[str, list[list[Any]]] | None = None,
        feedback: MutableMapping[str, list[list[Any]]] | None = None,
        seen: MutableMapping[str, float] | None = None,
        resolved: MutableMapping[str, list[Any]] | None = None,
        counters: MutableMapping[str, Any] | None = None,
    ) -> None:
        self.config = cfg = config or ResolverConfig()
        self._timeout_of = cfg.timeout  # decision timeout per feature
        self._max_timeout = max([cfg.decision_timeout, *cfg.feature_timeouts.values()])
        self._lateness = cfg.allowed_lateness
        self._shifts = cfg.shifts  # feature -> shift; absent: 0
        self._max_shift = cfg.max_lateness - cfg.allowed_lateness  # >= 0
        self._skew = cfg.clock_skew
        self._dedup = cfg.dedup_retention
        self._retention = cfg.feedback_retention
        self._suggestions = {} if suggestions is None else suggestions
        self._outcomes = {} if outcomes is None else outcomes
        self._feedback = {} if feedback is None else feedback
        self._seen = {} if seen is None else seen
        self._resolved = {} if resolved is None else resolved
        self._counters = {} if counters is None else counters
        self._restore()

    # -- public API -----------------------------------------------------------

    @property
    def clock(self) -> float:
        """Largest event time seen (``-inf`` before the first event)."""
        return self._clock

    @property
    def watermark(self) -> float:
        """``clock - allowed_lateness``: events older than this are too late."""
        return self._wm

    @property
    def horizon(self) -> float:
        """``watermark - clock_skew``: every result with ``at`` below it has been emitted,
        and every later result will have ``at`` at or above it."""
        return self._wm - self._skew

    @property
    def counters(self) -> dict[str, int]:
        """Snapshot of :data:`COUNTERS` plus ``open`` (pending suggestions, a gauge)."""
        c = self._counters
        out = {name: c[name] for name in COUNTERS}
        out["open"] = len(self._suggestions)
        return out

    def export(self) -> dict[str, dict[str, Any]]:
        """A copy of the six state mappings, by the keyword names the constructor takes:
        ``Resolver(config, **json.loads(json.dumps(r.export())))`` continues like ``r``."""
        return {
            "suggestions": dict(self._suggestions),
            "outcomes": dict(self._outcomes),
            "feedback": dict(self._feedback),
            "seen": dict(self._seen),
            "resolved": dict(self._resolved),
            "counters": dict(self._counters),
        }

    def process(self, event: Suggestion | Outcome | Feedback) -> list[Emitted]:
        """Apply one event; return the results its watermark advance finalized."""
        c = self._counters
        c["events"] += 1
        eid = event.event_id
        seen = self._seen
        if eid in seen:
            c["duplicates"] += 1
            return []
        t = event.occurred_at.timestamp()
        if t < self._wm - self._max_shift or (
            self._shifts and t + self._event_shift(event) < self._wm
        ):
            c["too_late"] += 1
            return []
        seen[eid] = t
        self._seen_index.add(eid, t)
        kind = event.type
        if kind == "outcome":
            self._on_outcome(event, eid, t)  # type: ignore[arg-type]
        elif kind == "suggestion":
            self._on_suggestion(event, t)  # type: ignore[arg-type]
        else:
            self._on_feedback(event, eid, t)  # type: ignore[arg-type]
        if t > self._clock:
            return self._advance_to(t)
        return []

    def _event_shift(self, event: Suggestion | Outcome | Feedback) -> float:
        """The shift of the event's feature; the largest while its suggestion is unknown."""
        if event.type == "suggestion":
            return self._shifts.get(event.feature, 0.0)  # type: ignore[union-attr]
        return self._sid_shift(event.suggestion_id)

    def _sid_shift(self, sid: str) -> float:
        if not self._shifts:
            return 0.0
        rec = self._suggestions.get(sid) or self._resolved.get(sid)
        return self._max_shift if rec is None else self._shifts.get(rec[_FEATURE], 0.0)

    def advance(self, event_time: float) -> list[Emitted]:
        """Move the clock to ``event_time`` (epoch s) without an event: a clock tick.

        The watermark becomes ``event_time - allowed_lateness``. A time at or
        below the current clock does nothing.
        """
        if not math.isfinite(event_time):
            raise ValueError(f"event_time must be finite, got {event_time!r}")
        if event_time > self._clock:
            return self._advance_to(float(event_time))
        return []

    def finish(self) -> list[Emitted]:
        """End of input: finalize everything that is decided.

        Decided suggestions resolve, suggestions whose deadline is before the
        clock expire, waiting feedback becomes a flag or is orphaned, and
        outcomes still waiting for their suggestion are orphaned. Undecided
        suggestions whose deadline is not yet past stay pending (``open``).
        Meant as the last call of a replay.
        """
        self._stage_expiries(math.inf)
        return self._pop(math.inf, final=True)

    # -- event handlers -------------------------------------------------------

    def _on_suggestion(self, ev: Suggestion, t: float) -> None:
        sid = ev.suggestion_id
        if sid in self._suggestions or sid in self._resolved:
            self._counters["conflicting_suggestions"] += 1
            return
        rec: list[Any] = [
            t,
            ev.feature,
            ev.model_version,
            ev.site,
            ev.care_setting,
            ev.score,
            ev.draft_length,
            ev.inputs,
            None,
            None,
            None,
            None,
            None,
            0,
        ]
        waiting = self._outcomes.pop(sid, None)
        if waiting:
            for item in waiting:
                self._offer(rec, *item)
        self._suggestions[sid] = rec
        shift = self._shifts.get(ev.feature, 0.0)
        if rec[_OT] is None:
            timeout = self._timeout_of(ev.feature)
            self._queue(timeout).append((t + timeout + shift, sid))
        else:
            _heappush(self._heap, (rec[_OT] + shift, _RESOLVE, sid, ""))
        if shift != self._max_shift and sid in self._feedback:
            # feedback that came first waits with the largest shift: due sooner now
            for eid, ft, _ in self._feedback[sid]:
                _heappush(self._heap, (ft + shift, _FLAG, sid, eid))

    def _queue(self, timeout: float) -> deque[tuple[float, str]]:
        """The arrival-ordered expiry queue of one timeout (deadlines in it are nearly sorted)."""
        q = self._expiries.get(timeout)
        if q is None:
            q = self._expiries[timeout] = deque()
        return q

    def _on_outcome(self, ev: Outcome, eid: str, t: float) -> None:
        sid = ev.suggestion_id
        rec = self._suggestions.get(sid)
        if rec is not None:
            shown = rec[_T]
            timeout = self._timeout_of(rec[_FEATURE])
            key = t + self._shifts.get(rec[_FEATURE], 0.0)  # if this outcome wins
            if rec[_OT] is None and shown - self._skew <= t <= shown + timeout:
                # the common case, inlined: the first outcome, within the timeout
                rec[_OID : _OFINAL + 1] = (eid, t, ev.outcome, ev.edit_distance, ev.final_length)
                self._suggestions[sid] = rec
                _heappush(self._heap, (key, _RESOLVE, sid, ""))
            elif self._offer(rec, eid, t, ev.outcome, ev.edit_distance, ev.final_length):
                self._suggestions[sid] = rec
                _heappush(self._heap, (key, _RESOLVE, sid, ""))
            return
        done = self._resolved.get(sid)
        if done is not None:
            shown = done[_T]
            deadline = shown + self._timeout_of(done[_FEATURE])
            c = self._counters
            if t < shown - self._skew or t > deadline + self._retention:
                c["orphaned_outcomes"] += 1
            elif t > deadline:
                c["late_outcomes"] += 1
            else:
                c["conflicting_outcomes"] += 1
            return
        item = [eid, t, ev.outcome, ev.edit_distance, ev.final_length]
        self._append(self._outcomes, sid, item)
        _heappush(self._heap, (t + self._max_shift, _ORPHAN, sid, eid))

    def _on_feedback(self, ev: Feedback, eid: str, t: float) -> None:
        sid = ev.suggestion_id
        self._append(self._feedback, sid, [eid, t, ev.category])
        _heappush(self._heap, (t + self._sid_shift(sid), _FLAG, sid, eid))

    @staticmethod
    def _append(table: MutableMapping[str, list[Any]], key: str, item: list[Any]) -> None:
        items = table.get(key)
        if items is None:
            table[key] = [item]
        else:
            items.append(item)
            table[key] = items

    def _offer(self, rec: list[Any], eid: str, t: float, kind: str, edit: Any, final: Any) -> bool:
        """Classify an outcome for a pending suggestion; True if it is the new winner."""
        shown = rec[_T]
        deadline = shown + self._timeout_of(rec[_FEATURE])
        c = self._counters
        if t < shown - self._skew or t > deadline + self._retention:
            c["orphaned_outcomes"] += 1
            return False
        if t > deadline:
            c["late_outcomes"] += 1
            return False
        best = rec[_OT]
        if best is not None:
            c["conflicting_outcomes"] += 1
            if (t, eid) >= (best, rec[_OID]):
                return False
        rec[_OID : _OFINAL + 1] = (eid, t, kind, edit, final)
        return True

    # -- watermark ------------------------------------------------------------

    def _advance_to(self, t: float) -> list[Emitted]:
        self._clock = t
        self._counters[CLOCK_KEY] = t
        self._wm = wm = t - self._lateness
        horizon = wm - self._skew
        stage = horizon + self._lateness + self._max_shift
        for q in self._expiries.values():
            if q and q[0][0] < stage:
                self._stage_expiries(stage)
                break
        heap = self._heap
        out = self._pop(horizon, final=False) if heap and heap[0][0] < horizon else []
        low = wm - self._max_shift  # the watermark of the latest-allowed feature
        if low - self._dedup >= self._seen_index.due:
            self._prune_seen(low - self._dedup)
        cutoff = low - self._skew - self._retention - self._max_timeout
        if cutoff >= self._resolved_index.due:
            self._prune_resolved(cutoff)
        return out

    def _stage_expiries(self, before: float) -> None:
        """Move expiry deadlines < before from the arrival-ordered queue to the heap.

        A suggestion arrives no earlier than ``clock - allowed_lateness`` (its
        feature's; its deadline key carries the same shift), so a deadline behind
        the queue's head is at most the largest allowance smaller than the head's
        (one queue per timeout, so this holds within each): staging up to
        ``horizon + `` that allowance puts every deadline due before the horizon
        in the heap. Answered suggestions are skipped, so the heap stays small.
        """
        pending = self._suggestions
        heap = self._heap
        for expiries in self._expiries.values():
            while expiries and expiries[0][0] < before:
                deadline, sid = expiries.popleft()
                rec = pending.get(sid)
                if rec is not None and rec[_OT] is None:
                    _heappush(heap, (deadline, _RESOLVE, sid, ""))

    def _pop(self, horizon: float, *, final: bool) -> list[Emitted]:
        """Finalize heap entries with time < horizon, in (time, kind, sid, eid) order."""
        heap = self._heap
        pending = self._suggestions
        timeout_of = self._timeout_of
        shifts = self._shifts
        resolve = self._resolve
        out: list[Emitted] = []
        keep = []
        while heap and heap[0][0] < horizon:
            entry = _heappop(heap)
            key, kind, sid, eid = entry
            if kind == _RESOLVE:
                rec = pending.get(sid)
                if rec is None:
                    continue
                best = rec[_OT]
                shift = shifts.get(rec[_FEATURE], 0.0)
                if best is None:
                    deadline = rec[_T] + timeout_of(rec[_FEATURE])
                    if deadline + shift != key:
                        continue
                    if final and deadline >= self._clock:
                        keep.append(entry)
                        continue
                elif best + shift != key:
                    continue
                out.append(resolve(sid, rec))
            elif kind == _FLAG:
                flag = self._flag(sid, eid)
                if flag is not None:
                    out.append(flag)
            else:
                item = self._take(self._outcomes, sid, eid)
                if item is not None:
                    self._counters["orphaned_outcomes"] += 1
        for entry in keep:
            _heappush(heap, entry)
        return out

    @staticmethod
    def _take(table: MutableMapping[str, list[Any]], sid: str, eid: str) -> list[Any] | None:
        items = table.get(sid)
        if not items:
            return None
        for i, item in enumerate(items):
            if item[0] == eid:
                del items[i]
                if items:
                    table[sid] = items
                else:
                    del table[sid]
                return item
        return None

    def _resolve(self, sid: str, rec: list[Any]) -> Resolution:
        c = self._counters
        shown = rec[_T]
        when = rec[_OT]
        burden = None
        if when is None:
            status = "expired"
            when = shown + self._timeout_of(rec[_FEATURE])
            seconds = None
            c["expired"] += 1
        else:
            status = rec[_OKIND]
            seconds = when - shown
            if seconds < 0:
                seconds = 0.0
                c["negative_decision_time"] += 1
            edit = rec[_OEDIT]
            if edit is not None and status in ACCEPTED:
                burden = edit / max(rec[_DRAFT] or 0, rec[_OFINAL] or 0, 1)
        c["resolved"] += 1
        del self._suggestions[sid]
        self._resolved[sid] = [shown, rec[_FEATURE], rec[_VERSION], rec[_SITE], rec[_FLAGGED]]
        self._resolved_index.add(sid, shown)
        return _new_tuple(  # = Resolution(...), minus a Python-level __new__
            Resolution,
            (
                sid,
                rec[_FEATURE],
                rec[_VERSION],
                rec[_SITE],
                rec[_CARE],
                shown,
                when,
                status,  # type: ignore[arg-type]
                seconds,
                burden,
                rec[_SCORE],
                rec[_INPUTS],
            ),
        )

    def _flag(self, sid: str, eid: str) -> Flag | None:
        item = self._take(self._feedback, sid, eid)
        if item is None:
            return None
        _, t, category = item
        table: MutableMapping[str, list[Any]] = self._suggestions
        flagged = _FLAGGED
        rec = table.get(sid)
        if rec is None:
            table, flagged = self._resolved, _R_FLAGGED
            rec = table.get(sid)
        c = self._counters
        if rec is None or not (
            rec[_T] - self._skew <= t <= rec[_T] + self._timeout_of(rec[_FEATURE]) + self._retention
        ):
            c["orphaned_feedback"] += 1
            return None
        first = not rec[flagged]
        if first:
            rec[flagged] = 1
            table[sid] = rec
        c["flags"] += 1
        return _new_tuple(Flag, (sid, rec[_FEATURE], rec[_VERSION], rec[_SITE], t, category, first))

    # -- pruning --------------------------------------------------------------

    def _prune_seen(self, cutoff: float) -> None:
        """Forget ids with time < cutoff (whole buckets, so up to 1/16 retention later)."""
        seen = self._seen
        for eid in self._seen_index.expire(cutoff):
            t = seen.get(eid)
            if t is not None and t < cutoff:
                del seen[eid]

    def _prune_resolved(self, cutoff: float) -> None:
        """Forget resolved suggestions shown before cutoff.

        ``cutoff = watermark - clock_skew - feedback_retention - decision_timeout`` (the
        longest of the per-feature timeouts):
        every event that could still join them has arrived or would be too late.
        """
        resolved = self._resolved
        for sid in self._resolved_index.expire(cutoff):
            entry = resolved.get(sid)
            if entry is not None and entry[_T] < cutoff:
                del resolved[sid]

    # -- restore --------------------------------------------------------------

    def _restore(self) -> None:
        """Rebuild the in-memory indexes (deadline heap and queue, prune buckets)."""
        c = self._counters
        for name in COUNTERS:
            if name not in c:
                c[name] = 0
        clock = c.get(CLOCK_KEY)
        self._clock = -math.inf if clock is None else float(clock)
        self._seen_index = _TimeBuckets(self._dedup / _BUCKETS)
        for eid, t in self._seen.items():
            self._seen_index.add(eid, t)
            if t > self._clock:
                self._clock = t
        self._wm = self._clock - self._lateness
        self._resolved_index = _TimeBuckets(self._retention / _BUCKETS)
        for sid, entry in self._resolved.items():
            self._resolved_index.add(sid, entry[_T])
        heap: list[tuple[float, int, str, str]] = []
        expiries: dict[float, list[tuple[float, str]]] = {}
        for sid, rec in self._suggestions.items():
            shift = self._shifts.get(rec[_FEATURE], 0.0)
            if rec[_OT] is None:
                timeout = self._timeout_of(rec[_FEATURE])
                expiries.setdefault(timeout, []).append((rec[_T] + timeout + shift, sid))
            else:
                heap.append((rec[_OT] + shift, _RESOLVE, sid, ""))
        self._expiries: dict[float, deque[tuple[float, str]]] = {
            timeout: deque(sorted(q)) for timeout, q in expiries.items()
        }
        for sid, items in self._feedback.items():
            shift = self._sid_shift(sid)
            heap.extend((item[1] + shift, _FLAG, sid, item[0]) for item in items)
        for sid, items in self._outcomes.items():
            heap.extend((item[1] + self._max_shift, _ORPHAN, sid, item[0]) for item in items)
        heapq.heapify(heap)
        self._heap = heap
