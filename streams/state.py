"""Per-partition state of the two stages and its checkpoint encoding.

The engine's stages keep their state in plain in-memory dicts, one set per Kafka
partition (docs/decisions/0003). This module adds what the worker needs around them:

- :class:`DirtyDict`, a ``dict`` that remembers which keys changed since the
  last checkpoint (the resolver re-assigns every value it changes), so a
  checkpoint writes only changed entries, once each, however often they
  changed in between;
- :class:`ResolvePart` / :class:`AssessPart`: one partition's state, with
  ``checkpoint()`` returning the ``{table key: bytes | None}`` writes (``None``
  is a tombstone) and ``restore()`` rebuilding the state from the table entries
  of that partition.

Table keys are ``b"<partition>/<map>/<key>"``: the partition is part of the key
so the entries of one partition can be found in the local store regardless of
the store's layout.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any, ClassVar

from monitor.core.assessor import Assessor
from monitor.core.engine import AssessStage
from monitor.core.resolver import Resolver, ResolverConfig

_MISSING = object()
_dumps = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


class DirtyDict(dict):
    """A dict that records the keys set or deleted since :meth:`take_dirty`."""

    __slots__ = ("dirty",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.dirty: set[Any] = set()

    def __setitem__(self, key: Any, value: Any) -> None:
        dict.__setitem__(self, key, value)
        self.dirty.add(key)

    def __delitem__(self, key: Any) -> None:
        dict.__delitem__(self, key)
        self.dirty.add(key)

    def pop(self, key: Any, *default: Any) -> Any:
        value = dict.pop(self, key, _MISSING)
        if value is _MISSING:
            if default:
                return default[0]
            raise KeyError(key)
        self.dirty.add(key)
        return value

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return dict.__getitem__(self, key)

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        for k, v in dict(*args, **kwargs).items():
            self[k] = v

    def take_dirty(self) -> set[Any]:
        dirty, self.dirty = self.dirty, set()
        return dirty


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


class ChunkLog:
    """A partition's checkpoint as a log of JSON documents in chunked records.

    Each checkpoint appends a *delta* (what changed since the last one) under
    ``<p>/d/<gen>/<i>``; once the deltas outgrow the last *base* (a document of
    the whole state, ``<p>/b/<gen>/<i>``; floor :attr:`MIN_BASE` bytes) a new
    base replaces them. Records are at most :attr:`CHUNK` bytes. The owner writes
    the chunks, then its commit record naming :attr:`log`, then the deletions,
    so a crash mid-checkpoint leaves the previous commit record and its log
    intact; chunks outside the committed log are deleted by the next checkpoint
    (generation numbers are never reused). A restore reads at most about twice
    the live state, and a checkpoint writes what changed, not the whole state.
    """

    CHUNK: ClassVar[int] = 256 * 1024
    MIN_BASE: ClassVar[int] = 1 << 20

    def __init__(
        self, partition: int, gen: int, log: list[list[Any]], chunks: dict[str, bytes]
    ) -> None:
        self.partition = partition
        self.gen = gen
        self.log = log  # [kind, generation, chunks, bytes] of the committed base and deltas
        live = {f"{k}/{g}/{i}" for k, g, n, _ in log for i in range(n)}
        self.stale: set[str] = {k for k in chunks if k not in live}
        self._next_gen = max([gen, *(int(k.split("/")[1]) for k in chunks)]) + 1

    @staticmethod
    def documents(log: list[list[Any]], chunks: dict[str, bytes]) -> list[Any]:
        """The committed documents, oldest (the base) first."""
        return [
            json.loads(b"".join(chunks[f"{k}/{g}/{i}"] for i in range(n))) for k, g, n, _ in log
        ]

    def append(
        self, delta: bytes, whole: Callable[[], bytes], *, base: bool = False
    ) -> tuple[dict[bytes, bytes | None], dict[bytes, None]]:
        """The chunks of the next generation (``delta``, or ``whole()`` when a base is
        due or ``base``) and the deletions to write after the commit record; advances
        :attr:`gen` and :attr:`log`."""
        p, gen = self.partition, self._next_gen
        bases = [e[3] for e in self.log if e[0] == "b"]
        deltas = sum(e[3] for e in self.log if e[0] == "d") + len(delta)
        dropped: list[list[Any]] = []
        kind = "d"
        if base or deltas > max(self.MIN_BASE, bases[0] if bases else 0):
            delta, kind = whole(), "b"
            dropped, self.log = self.log, []
        size = self.CHUNK
        n = max(1, -(-len(delta) // size))
        out: dict[bytes, bytes | None] = {
            f"{p}/{kind}/{gen}/{i}".encode(): delta[i * size : (i + 1) * size] for i in range(n)
        }
        self.log.append([kind, gen, n, len(delta)])
        deletes: dict[bytes, None] = {
            f"{p}/{k}/{g}/{i}".encode(): None for k, g, m, _ in dropped for i in range(m)
        }
        # (a stale chunk's generation is below ``gen``: never one just written)
        deletes.update({f"{p}/{k}".encode(): None for k in self.stale})
        self.stale = set()
        self.gen, self._next_gen = gen, gen + 1
        return out, deletes


def _legacy_value(raw: bytes, gen: int) -> Any:
    """Value of a record of the old one-record-per-entry stage-1 layout as of the
    committed generation ``gen`` (``None`` = absent)."""
    if not raw.startswith(b'{"g":'):
        return json.loads(raw)
    env = json.loads(raw)
    return env["v"] if env["g"] <= gen else env["o"]


class CatchUp:
    """Whether a partition rebuilt from its checkpoint has re-applied every record
    its topic held when it was rebuilt.

    Until then its counts may be below the ones scraped from this or another
    worker before a crash (the state is the last checkpoint's, or empty), and
    Prometheus reads any drop of a counter as a reset to zero: ``rate()`` would
    count everything again. So /metrics leaves the partition's counts out until
    it has caught up with ``target``, the topic's end offset when first known.
    """

    __slots__ = ("done", "target")

    def __init__(self) -> None:
        self.target: int | None = None
        self.done = False

    def check(
        self,
        offset: int | None,
        end: int | None,
        *,
        no_records: Callable[[int, int], bool] | None = None,
        idle: bool = False,
    ) -> bool:
        """Done once ``offset`` (the last applied, None for none) reaches the end
        offset first seen, or the offsets left hold no record (``no_records(start,
        stop)``: a transaction's commit marker ends the topic), or the consumer has
        had nothing to deliver for a while (``idle``)."""
        if self.done:
            return True
        if self.target is None:
            if end is None:
                return False
            self.target = end
        start = (-1 if offset is None else offset) + 1
        self.done = (
            idle
            or start >= self.target
            or (no_records is not None and no_records(start, self.target))
        )
        return self.done


class ResolvePart:
    """Stage-1 state of one input partition: a Resolver over DirtyDicts, plus
    ``seq`` (messages emitted to stage 2 so far; stage 2 drops re-sent ones).

    Checkpoint layout: a :class:`ChunkLog` of documents ``{map: {key: value |
    null}}`` (``null`` = deleted; a delta holds the entries changed since the
    previous checkpoint), then the ``<p>/c/`` commit record: counters, seq,
    input offset, generation and the log (docs/decisions/0007). The
    one-record-per-entry layout of earlier versions is still read, and rewritten
    as a base.
    """

    MAPS = ("suggestions", "outcomes", "feedback", "seen", "resolved")
    _SHORT: ClassVar[dict[str, str]] = {
        "suggestions": "s",
        "outcomes": "o",
        "feedback": "f",
        "seen": "e",
        "resolved": "r",
    }

    def __init__(
        self,
        partition: int,
        config: ResolverConfig,
        entries: Iterable[tuple[str, str, bytes]] = (),
    ) -> None:
        self.partition = partition
        self.last_input = time.monotonic()  # wall clock of the last input (or of creation)
        self.idle = False  # announced idle to stage 2 (see streams.resolve)
        self.maps = {name: DirtyDict() for name in self.MAPS}
        by_short = {v: k for k, v in self._SHORT.items()}
        counters: dict[str, Any] = {}
        meta: dict[str, Any] = {}
        chunks: dict[str, bytes] = {}  # "b/<gen>/<i>" or "d/<gen>/<i>" → chunk
        legacy: list[tuple[str, str, bytes]] = []  # the one-record-per-entry layout
        for kind, key, raw in entries:
            if kind == "c":
                blob = json.loads(raw)
                counters, meta = blob["counters"], blob["meta"]
            elif kind in ("b", "d"):
                chunks[f"{kind}/{key}"] = bytes(raw)
            else:
                legacy.append((kind, key, bytes(raw)))
        gen = meta.get("gen", 0)
        log = meta.get("log", [])
        for doc in ChunkLog.documents(log, chunks):
            for short, changes in doc.items():
                table = self.maps[by_short[short]]
                for key, value in changes.items():
                    if value is None:
                        dict.pop(table, key, None)
                    else:
                        dict.__setitem__(table, key, value)
        for kind, key, raw in legacy:
            value = _legacy_value(raw, gen)
            if value is not None:
                dict.__setitem__(self.maps[by_short[kind]], key, value)
        self.chunks = ChunkLog(partition, gen, log, chunks)
        self.chunks.stale |= {f"{kind}/{key}" for kind, key, _ in legacy}
        self._base_due = bool(legacy)  # rewrite the old layout as a base
        self.counters: dict[str, Any] = counters
        self.seq: int = meta.get("seq", 0)
        self.last_tick: float = -math.inf
        self.resolver = Resolver(config, counters=counters, **self.maps)
        self.stage: Any = None  # its monitor.core.engine.ResolveStage (streams.resolve)
        self.changed = False  # counters/seq changed since the last checkpoint
        self.offset: int | None = meta.get("offset")  # last input offset applied
        self.catch_up = CatchUp()

    def checkpoint(self) -> dict[bytes, bytes | None]:
        """Writes for everything changed since the last call, in order: the new
        chunks, the ``c`` record, then deletions of records no longer needed."""
        dirty = {name: table.take_dirty() for name, table in self.maps.items()}
        log = self.chunks
        if not (self.changed or log.stale or self._base_due or any(dirty.values())):
            return {}
        delta = {
            self._SHORT[name]: {key: self.maps[name].get(key) for key in keys}
            for name, keys in dirty.items()
            if keys
        }
        out, deletes = log.append(
            _dumps(delta).encode(),
            lambda: _dumps({self._SHORT[n]: t for n, t in self.maps.items() if t}).encode(),
            base=self._base_due,
        )
        blob = {
            "counters": dict(self.counters),
            "meta": {"seq": self.seq, "offset": self.offset, "gen": log.gen, "log": log.log},
        }
        out[f"{self.partition}/c/".encode()] = _dumps(blob).encode()
        out.update(deletes)
        self._base_due = self.changed = False
        return out


class AssessPart(AssessStage):
    """Stage-2 state of one assess partition: the engine's
    :class:`~monitor.core.engine.AssessStage` (an Assessor and the watermark of every
    stage-1 source), plus the last sequence number applied per source (messages
    re-sent by a restarted stage 1 have ``seq <= last`` and are dropped, so a crash
    never double-counts a resolution) and the last assess-topic offset applied.

    Checkpoint layout: a :class:`ChunkLog` of documents ``{"meta": ..., "series":
    {key: state}}``; a delta holds the series changed since the previous
    checkpoint (items applied, or ticked) and the whole meta (sequence numbers,
    watermarks, the clock with its queue of items waiting for the watermark,
    the offset); then the ``<p>/m/`` commit record (generation and log). The
    layouts of earlier versions (one document per generation, or one record
    per series) are still read, and rewritten as a base.
    """

    def __init__(
        self,
        partition: int,
        make_assessor: Callable[[], Assessor],
        entries: Iterable[tuple[str, str, bytes]] = (),
        *,
        sources: int = 0,
        lag: float = 0.0,
    ) -> None:
        self.partition = partition
        assessor = make_assessor()
        blobs: dict[str, bytes] = {}  # one record per series (earliest layout)
        chunks: dict[str, bytes] = {}
        commit: dict[str, Any] = {}
        for kind, key, raw in entries:
            if kind == "m":
                commit = json.loads(raw)
            elif kind == "k":
                blobs[key] = raw
            elif kind in ("b", "d", "g"):
                chunks[f"{kind}/{key}"] = bytes(raw)
        series: dict[str, Any] = {}
        meta: dict[str, Any] = {}
        log: list[list[Any]] = commit.get("log", [])
        if "log" in commit:
            for doc in ChunkLog.documents(log, chunks):
                series.update(doc["series"])
                meta = doc["meta"]
        elif "gen" in commit:  # one whole document per generation
            doc = ChunkLog.documents([["g", commit["gen"], commit["chunks"], 0]], chunks)[0]
            series, meta = doc["series"], doc["meta"]
        else:
            series = {k: json.loads(v) for k, v in blobs.items()}
        self.chunks = ChunkLog(partition, commit.get("gen", 0), log, chunks)
        self.chunks.stale |= {f"k/{k}" for k in blobs}
        self._base_due = bool(series) and "log" not in commit
        if series:
            assessor.load(series)
        if meta.get("clock") is not None:
            assessor.load_clock_state(meta["clock"])
        advanced = meta.get("advanced")
        super().__init__(
            assessor,
            sources=sources,
            lag=lag,
            ticks={int(k): v for k, v in meta.get("ticks", {}).items()},
            idle={int(s) for s in meta.get("idle", [])},
            advanced=-math.inf if advanced is None else advanced,
            has_items=bool(meta.get("has_items", False)),
        )
        self.last_seq: dict[int, int] = {int(k): v for k, v in meta.get("last_seq", {}).items()}
        self.changed = False
        self.offset: int | None = meta.get("offset")  # last assess-topic offset applied
        self.catch_up = CatchUp()

    def checkpoint(self) -> dict[bytes, bytes | None]:
        """Writes, in order: the new generation's chunks, the ``m`` record, deletions."""
        log = self.chunks
        if not (self.changed or log.stale or self._base_due):
            return {}
        self.changed = False
        assessor = self.assessor
        meta = {
            "last_seq": self.last_seq,
            "ticks": self.ticks,
            "idle": sorted(self.idle),
            "advanced": _finite(self.advanced),
            "has_items": self.has_items,
            "offset": self.offset,
            "clock": assessor.clock_state(),  # queued items, tick position
        }
        head = b'{"meta":' + _dumps(meta).encode() + b',"series":{'
        changed = assessor.take_changed()

        def document(keys: Any) -> bytes:
            blobs = assessor.export(keys) if keys is None or keys else {}
            body = b",".join(_dumps(k).encode() + b":" + bytes(v) for k, v in blobs.items())
            return head + body + b"}}"

        # every series changed: a delta would be a base, and make the log before it dead
        whole = len(changed) >= len(assessor.series)
        out, deletes = log.append(
            b"" if whole else document(changed),
            lambda: document(None),
            base=self._base_due or whole,
        )
        out[f"{self.partition}/m/".encode()] = _dumps({"gen": log.gen, "log": log.log}).encode()
        out.update(deletes)
        self._base_due = False
        return out


class Baselines(MutableMapping):
    """Frozen detector baselines shared by every series of every partition, and by
    every worker: a new version's series may live on another worker than its
    predecessor's.

    Reads see this worker's writes not yet checkpointed, else the global table's
    local store, which every worker keeps reading from the changelog (the table
    synchronizes all its partitions), so another worker's baselines arrive
    within a checkpoint interval. Nothing read from the store is kept beyond the
    bytes it was parsed from. Writes are written to the global table by the
    checkpoint.
    """

    def __init__(self, store: Any) -> None:
        self.store = store
        self.local = DirtyDict()  # written since the last checkpoint
        self._parsed: dict[str, tuple[bytes, Any]] = {}  # key -> (stored bytes, value)

    def __getitem__(self, key: str) -> Any:
        if key in self.local:
            return dict.__getitem__(self.local, key)
        raw = self.store.get(key.encode())
        if raw is None:
            raise KeyError(key)
        hit = self._parsed.get(key)
        if hit is not None and hit[0] is raw:
            return hit[1]
        value = json.loads(raw)
        self._parsed[key] = (raw, value)
        return value

    def __setitem__(self, key: str, value: Any) -> None:
        self.local[key] = value

    def __delitem__(self, key: str) -> None:
        self.local.pop(key, None)

    def __iter__(self) -> Any:
        keys = {k.decode() for k in list(self.store.keys())} | set(self.local)
        return iter(keys)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def checkpoint(self) -> dict[bytes, bytes | None]:
        """The writes since the last checkpoint, as changelog records; the caller
        applies them to the store, so reads go there from now on."""
        out: dict[bytes, bytes | None] = {}
        for key in self.local.take_dirty():
            value = self.local.get(key, _MISSING)
            out[key.encode()] = None if value is _MISSING else _dumps(value).encode()
        self.local.clear()
        return out


def split_key(raw: bytes) -> tuple[int, str, str]:
    """``b"3/s/abc"`` → ``(3, "s", "abc")``."""
    text = raw.decode() if isinstance(raw, bytes | bytearray) else str(raw)
    p, kind, key = text.split("/", 2)
    return int(p), kind, key
