"""Stage 2 core: route resolutions to their series, in event-time order, and raise alerts.

The :class:`Assessor` owns a set of :class:`~monitor.core.series.SeriesState`. Items
(resolutions and flags) arrive with the series key they are meant for; they
are buffered and applied in a canonical order, ``(at, kind, suggestion_id)``,
once the watermark passed to :meth:`Assessor.advance` is beyond them, with the
clock ticks (every ``tick_interval`` of event time) interleaved at their own
times. So the alert timeline depends only on the events, not on how the
engine (replay or Kafka partitions) delivered them.

Baselines: when a detector of a per-version series finishes its warm-up, its
frozen state is written to ``baselines`` (any mutable mapping; a dict in
replay, a global table in the worker). A series of a new model version starts
from the frozen state of the version it replaces (configured in ``lineage``,
or else the most recently established version of the feature) at the same
site, so a version that is worse from its first day is compared with what it
replaced rather than with itself.

Per-feature lateness: a feature allowed ``d`` more lateness than the default
(``features.<f>.allowed_lateness``) has its resolutions emitted ``d`` later by the
resolver; here its items, clock ticks and held answers are keyed ``d`` later too, so
within each series the order is the same, and the other features are not held back.

Cardinality: an engine holds at most ``max_series`` series (config). Past that, a
delivery for a series it does not hold goes to one overflow series,
:data:`OVERFLOW_KEY` (every label ``vitals-overflow``, a slug; no detectors, so no
alerts), and is counted in :attr:`Assessor.overflowed`, with a warning logged. The
series already held, rollups included, keep counting every event; only the
breakdown of the new ones is lost. The overflow series counts deliveries: an event
whose exact and site series are both refused is counted there twice. Which series
are refused depends on the order they arrive at each engine, so past the cap a
replay and a worker (one engine per assess partition) can fold different ones.

Response: ``response_rate`` observes every suggestion at its decision timeout
after it was shown, when whether it was answered in time is known. An expiry
arrives then; an answer arrives early, and is held in its series until the
first clock tick at or after that time (:meth:`SeriesState.defer_response`).
Observed at the answer's time instead, a day's answers and the expiries of
suggestions shown hours before would mix by time of day, and the rate would
swing with the diurnal volume (daily false alarms with a long timeout).
"""

from __future__ import annotations

import heapq
import json
import logging
import math
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

from monitor.core.config import MonitorConfig
from monitor.core.detectors.base import Detector, ObservationDetector
from monitor.core.panel import FeaturePanel
from monitor.core.records import ALL, DECIDED, Alert, Flag, Resolution, SeriesKey, rollup_names
from monitor.core.series import DETECTOR_CLASSES, SeriesState
from monitor.core.signals import SIGNAL_SPECS, role

MAX_TICK_GAP = 7 * 86400.0
"""Ticks run over at most the last week of a gap in event time: a stream that jumps
by years (a bad timestamp) would otherwise tick every series every minute of it.
A week of silence has long raised no_data; the ticks skipped would only have taught
no_data more silent hours and decayed site_outlier's counts further."""
_Target = str | tuple[str, ...]  # a queued item's series: one, or all its rollups
_VERSIONS = "versions|"  # baselines key prefix: feature|version -> event time it was established
_TICKING = frozenset({"site", "feature"})  # roles with time-driven signals (no_data, site_outlier)
_LINEAGE = "lineage|"  # baselines key prefix: feature|version -> inferred predecessor ("" none)
OVERFLOW = "vitals-overflow"
"""The label value of every field of the overflow series (a slug, as labels must be)."""
OVERFLOW_KEY = str(SeriesKey(OVERFLOW, OVERFLOW, OVERFLOW))

log = logging.getLogger("vitals.assessor")


class Assessor:
    """Per-series state and detectors for the series this engine owns.

    Parameters
    ----------
    config
        Monitor configuration (signal parameters, lineage, tick interval).
    override
        (observation detector class, signals): run that class at defaults for those signals
        only, instead of the configured detectors (the river yardstick).
    baselines
        Shared store of frozen detector states, keyed ``"<series>|<slot>"``.
    """

    def __init__(
        self,
        config: MonitorConfig | None = None,
        *,
        baselines: MutableMapping[str, Any] | None = None,
        override: tuple[type[ObservationDetector], frozenset[str]] | None = None,
    ) -> None:
        self.config = config or MonitorConfig()
        self._override = override
        self.baselines: MutableMapping[str, Any] = {} if baselines is None else baselines
        self.series: dict[str, SeriesState] = {}
        self.changed: set[str] = set()  # series changed since take_changed() (checkpoints)
        self._unrecorded: dict[str, list[str]] = {}
        """Per series: the slots whose baseline is not yet recorded, so only detectors
        still in warm-up are looked at after each item (new ones come from
        :attr:`SeriesState.created`: linear in the detectors, however many inputs)."""
        self._queue: list[tuple[float, int, str, int, _Target, Resolution | Flag]] = []
        self._seq = 0
        self._tick = self.config.tick_interval
        self._outlier_every = self.config.outlier_interval
        self._half_life = self.config.outlier_half_life
        self._next_tick = -math.inf
        self.watermark = -math.inf
        self._due: list[tuple[float, str]] = []
        """(tick, series) with answered suggestions waiting for ``response_rate``; rebuilt
        from the series on :meth:`load` (an entry whose series has none left is skipped)."""
        self._timeout_of = self.config.resolver_config.timeout
        self._shifts = self.config.resolver_config.shifts  # feature -> shift; absent: 0
        self._tick_limit = math.inf  # set by flush(): no tick past the end of the stream
        self._max_series = self.config.max_series
        self.overflowed = 0
        """Deliveries folded into the overflow series (checkpointed with the clock)."""

    # -- input ------------------------------------------------------------------------------

    def process(self, item: Resolution | Flag, key: SeriesKey | str | tuple[str, ...]) -> None:
        """Queue an item for one of the series it rolls up to, or for several (a tuple of
        their names, applied in that order) as one queue entry (applied by :meth:`advance`)."""
        self._push(item, key if type(key) is tuple else str(key))

    def process_rollups(self, item: Resolution | Flag) -> None:
        """Queue an item for every series it rolls up to, as one queue entry: the same
        order of application as :meth:`process` per rollup key, for a quarter of the
        queue work (the in-process replay; the worker receives one key per delivery)."""
        self._push(item, rollup_names(item.feature, item.model_version, item.site))

    def _push(self, item: Resolution | Flag, skeys: _Target) -> None:
        """Queue in the canonical order: (at, resolutions before flags, suggestion, arrival);
        ``at`` shifted by the feature's extra lateness (the same for all its items)."""
        kind = 0 if isinstance(item, Resolution) else 1
        self._seq += 1
        key = item.at + self._shifts.get(item.feature, 0.0)
        heapq.heappush(self._queue, (key, kind, item.suggestion_id, self._seq, skeys, item))

    def advance(self, watermark: float) -> list[Alert]:
        """Apply queued items and clock ticks up to *watermark*, in event-time order."""
        if watermark <= self.watermark:
            return []
        self.watermark = watermark
        alerts: list[Alert] = []
        queue = self._queue
        if self._next_tick == -math.inf:
            if not queue:  # nothing seen yet: no series to tick
                return alerts
            # Ticks sit on the epoch-aligned grid, from the first item on.
            self._next_tick = (queue[0][0] // self._tick + 1) * self._tick
        while True:
            next_item = queue[0][0] if queue else math.inf
            horizon = min(next_item, watermark)
            gap = horizon - self._next_tick
            if gap > MAX_TICK_GAP:  # skip to the last MAX_TICK_GAP of it, on the grid
                self._next_tick += (gap - MAX_TICK_GAP) // self._tick * self._tick
            if self._next_tick <= horizon and self._next_tick < next_item:
                alerts.extend(self._on_tick(self._next_tick))
                self._next_tick += self._tick
                continue
            if next_item > watermark:
                break
            _, _, _, _, skey, item = heapq.heappop(queue)
            if type(skey) is str:
                alerts.extend(self._apply(item, skey))
            else:
                for k in skey:
                    alerts.extend(self._apply(item, k))
        return alerts

    def flush(self, end: float = math.inf) -> list[Alert]:
        """Apply everything still queued (end of a replay, whose last event time is *end*).

        No series ticks past *end* in its own time, and answers whose decision timeout is
        after the last item stay held, as the resolver keeps suggestions still open then:
        running a feature's clock on (to their timeout, or to where a feature allowed
        more lateness ends) would be hours of silence no stream had (``no_data``)."""
        if not self._queue:
            return []
        self._tick_limit = end
        try:
            return self.advance(max(entry[0] for entry in self._queue))
        finally:
            self._tick_limit = math.inf

    # -- application --------------------------------------------------------------------------

    def _apply(self, item: Resolution | Flag, skey: str) -> list[Alert]:
        state = self.series.get(skey)
        if state is None:
            if len(self.series) >= self._max_series:
                skey = self._overflow(skey)
                state = self.series.get(skey)
            if state is None:
                state = self.series[skey] = self._new_series(skey)
        self.changed.add(skey)
        if isinstance(item, Resolution):
            alerts = state.observe(item, self._factory)
            if state.per_series and item.status in DECIDED:
                self._defer(state, skey, item)
        else:
            alerts = state.observe_flag(item, self._factory)
        self._after(state, skey, item.at)
        return alerts

    def _new_series(self, skey: str) -> SeriesState:
        state = SeriesState(SeriesKey.parse(skey))
        if self._override is not None:
            state.per_series = True
        elif state.role == "feature":
            state.panel = FeaturePanel(state.key.feature, self.config)
        return state

    def _overflow(self, skey: str) -> str:
        """Count a delivery for a series past the cap; the key to apply it to instead."""
        self.overflowed += 1
        if self.overflowed == 1 or self.overflowed % 100_000 == 0:
            log.warning(
                "series cap reached (max_series=%d): %d deliveries for new series folded "
                "into %s so far (e.g. %s)",
                self._max_series,
                self.overflowed,
                OVERFLOW_KEY,
                skey,
            )
        return OVERFLOW_KEY

    def _after(self, state: SeriesState, skey: str, at: float) -> None:
        """Baseline bookkeeping after a series' detectors were fed."""
        if state.role in ("exact", "version"):
            self._record_baselines(state, skey, at)
        elif state.created:  # no baselines in this role
            state.created.clear()

    def _defer(self, state: SeriesState, skey: str, res: Resolution) -> None:
        """Hold an answer for ``response_rate`` until the tick at or after its timeout."""
        timeout = self._timeout_of(res.feature)
        tick = math.ceil((res.shown_at + timeout) / self._tick) * self._tick
        if state.defer_response(tick):
            heapq.heappush(self._due, (tick + self._shifts.get(res.feature, 0.0), skey))

    def _on_tick(self, at: float) -> list[Alert]:
        alerts: list[Alert] = []
        due, later = self._due, []
        shifts, limit = self._shifts, self._tick_limit
        while due and due[0][0] <= at:
            key, skey = heapq.heappop(due)
            state = self.series.get(skey)
            if state is None:
                continue
            tick = key - shifts.get(state.key.feature, 0.0)
            if tick > limit:
                later.append((key, skey))
                continue
            n = state.responses.pop(tick, 0)
            if n:
                self.changed.add(skey)
                alerts.extend(state.observe_responses(n, tick, self._factory))
                self._after(state, skey, tick)
        for entry in later:
            heapq.heappush(due, entry)
        for skey, state in self.series.items():
            if state.role in _TICKING:
                # a feature with extra lateness ticks that much behind (on the grid too)
                local = at - shifts.get(state.key.feature, 0.0)
                if local > limit:
                    continue
                self.changed.add(skey)
                alerts.extend(
                    state.tick(local, self._factory, self._outlier_every, self._half_life)
                )
        return alerts

    def _factory(self, signal: str, key: SeriesKey, input_name: str | None, x: Any) -> Any:
        if self._override is not None:  # yardstick runs: one detector class everywhere
            cls, signals = self._override
            return cls() if signal in signals else None
        spec = SIGNAL_SPECS.get(signal)
        if spec is None or role(key) not in spec.roles or key.feature == OVERFLOW:
            return None
        enabled, params = self.config.signal(signal, key.feature, key.model_version)
        if not enabled:
            return None
        slot = signal if input_name is None else f"{signal}:{input_name}"
        inherited = self._inherit(key, slot)
        if inherited is not None:
            return inherited
        return spec.detector(params)

    # -- baselines ---------------------------------------------------------------------------

    def _inherit(self, key: SeriesKey, slot: str) -> Detector | None:
        if key.model_version == ALL:
            return None
        pred = self.config.predecessor(key.feature, key.model_version)
        if pred is None:
            # Decided once per version, when it is first seen, and remembered: the
            # version established most recently before it (none if it is the first).
            lkey = f"{_LINEAGE}{key.feature}|{key.model_version}"
            pred = self.baselines.get(lkey)
            if pred is None:
                versions = self._established(key.feature)
                others = [v for v in versions if v != key.model_version]
                pred = others[-1] if others and key.model_version not in versions else ""
                self.baselines[lkey] = pred
            if not pred:
                return None
        saved = self.baselines.get(f"{SeriesKey(key.feature, pred, key.site)}|{slot}")
        if saved is None:
            return None
        return DETECTOR_CLASSES[saved[0]].from_state(saved[1])

    def _established(self, feature: str) -> list[str]:
        """The feature's established versions, oldest first. Each has its own key, so
        workers establishing versions at once never overwrite each other's; a list
        under ``versions|<feature>`` (the layout before) counts as older than those."""
        prefix = f"{_VERSIONS}{feature}|"
        keyed = sorted(
            (self.baselines[k], k[len(prefix) :])
            for k in list(self.baselines)
            if k.startswith(prefix)
        )
        legacy = self.baselines.get(_VERSIONS + feature) or []
        return [*legacy, *(v for _, v in keyed if v not in legacy)]

    def _record_baselines(self, state: SeriesState, skey: str, at: float) -> None:
        dets = state.detectors
        slots = self._unrecorded.get(skey)
        if slots is None:
            slots = self._unrecorded[skey] = []
        if state.created:
            slots.extend(
                slot
                for slot in state.created
                if (det := dets.get(slot)) is not None and det.learns_baseline
            )
            state.created.clear()
        if not slots:
            return
        waiting = []
        for slot in slots:
            det = dets.get(slot)
            if det is None:
                continue
            status = det.baseline_status()
            if status == "learning":
                waiting.append(slot)
                continue
            bkey = f"{skey}|{slot}"
            saved = self.baselines.get(bkey)
            # A stratum (weekends) may still learn its reference: such a baseline is
            # recorded now, marked provisional, so a new version inherits the weekday
            # reference; it is recorded again, final, once the stratum is learned.
            provisional = status == "provisional"
            if provisional:
                waiting.append(slot)
            if saved is not None and (provisional or len(saved) == 2):
                continue  # nothing new: still learning, or already final
            # Frozen as of now: to_state() shares the detector's lists, which keep
            # changing (and a worker's copy is the JSON of this, read by any worker).
            entry = [type(det).__name__, json.loads(json.dumps(det.to_state()))]
            if provisional:
                entry.append(True)  # a third item: provisional
            self.baselines[bkey] = entry
            if state.role == "version" and slot == "acceptance_rate":
                vkey = f"{_VERSIONS}{state.key.feature}|{state.key.model_version}"
                if vkey not in self.baselines:
                    self.baselines[vkey] = at
        slots[:] = waiting

    def established(self) -> dict[tuple[str, str], float]:
        """(feature, model_version) -> event time its acceptance baseline was established
        (the phased-rollout milestones; versions of the legacy list layout have none)."""
        out: dict[tuple[str, str], float] = {}
        for k in list(self.baselines):
            if k.startswith(_VERSIONS) and k.count("|") == 2:
                _, feature, version = k.split("|")
                out[feature, version] = float(self.baselines[k])
        return out

    # -- ownership and state -----------------------------------------------------------------

    def keys(self) -> list[SeriesKey]:
        return [s.key for s in self.series.values()]

    def export(self, keys: Iterable[SeriesKey | str] | None = None) -> dict[str, bytes]:
        """Serialized state per series (all series by default)."""
        wanted = self.series.keys() if keys is None else [str(k) for k in keys]
        return {
            k: json.dumps(self.series[k].to_state(), separators=(",", ":")).encode()
            for k in wanted
            if k in self.series
        }

    def load(self, blobs: Mapping[str, bytes | dict[str, Any]]) -> None:
        """Restore series exported by :meth:`export` (bytes, or their parsed JSON)."""
        for k, blob in blobs.items():
            state = json.loads(blob) if isinstance(blob, bytes | str) else blob
            self.series[k] = series = SeriesState.from_state(state, self.config)
            self._unrecorded.pop(k, None)
            shift = self._shifts.get(series.key.feature, 0.0)
            for tick in series.responses:
                heapq.heappush(self._due, (tick + shift, k))

    def drop(self, keys: Iterable[SeriesKey | str]) -> None:
        for k in keys:
            self.series.pop(str(k), None)
            self._unrecorded.pop(str(k), None)
            self.changed.discard(str(k))

    def take_changed(self) -> set[str]:
        """Keys of the series changed since the last call (for incremental checkpoints)."""
        changed, self.changed = self.changed, set()
        return changed

    def clock_state(self) -> dict[str, Any]:
        """The non-series state (watermark, tick position, queue) for checkpoints."""
        return {
            "wm": self.watermark if math.isfinite(self.watermark) else None,
            "next": self._next_tick if math.isfinite(self._next_tick) else None,
            "seq": self._seq,
            "overflowed": self.overflowed,
            "queue": [[e[0], e[1], e[2], e[3], e[4], type(e[5]).__name__, list(e[5])]
                      for e in self._queue],
        }  # fmt: skip

    def load_clock_state(self, state: dict[str, Any]) -> None:
        self.watermark = -math.inf if state["wm"] is None else state["wm"]
        self._next_tick = -math.inf if state["next"] is None else state["next"]
        self._seq = state["seq"]
        self.overflowed = state.get("overflowed", 0)  # (absent from checkpoints before the cap)
        kinds = {"Resolution": Resolution, "Flag": Flag}
        self._queue = [(e[0], e[1], e[2], e[3], e[4], kinds[e[5]](*e[6])) for e in state["queue"]]
        heapq.heapify(self._queue)
