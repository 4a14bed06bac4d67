"""Per-partition state of the two stages and its checkpoint encoding.

The monitor core (:class:`~monitor.resolver.Resolver`, the Assessor) keeps its
state in plain in-memory dicts, one set per Kafka partition. This module adds
the two things the streaming worker needs around them:

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
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any, ClassVar

from monitor.resolver import Resolver, ResolverConfig

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


def _chunks(prefix: str, doc: bytes, size: int) -> dict[bytes, bytes]:
    """``doc`` cut into records of at most ``size`` bytes: ``<prefix>/<i>`` → chunk."""
    n = max(1, -(-len(doc) // size))
    return {f"{prefix}/{i}".encode(): doc[i * size : (i + 1) * size] for i in range(n)}


def _legacy_value(raw: bytes, gen: int) -> Any:
    """Value of a record of the old one-record-per-entry stage-1 layout as of the
    committed generation ``gen`` (``None`` = absent)."""
    if not raw.startswith(b'{"g":'):
        return json.loads(raw)
    env = json.loads(raw)
    return env["v"] if env["g"] <= gen else env["o"]


class ResolvePart:
    """Stage-1 state of one input partition: a Resolver over DirtyDicts, plus
    ``seq`` (messages emitted to stage 2 so far; stage 2 drops re-sent ones).

    Checkpoint layout: a log of JSON documents ``{map: {key: value | null}}``
    (``null`` = deleted), each cut into records of at most :attr:`CHUNK` bytes:

    - ``<p>/d/<gen>/<i>``: a *delta*, the entries changed since the previous
      checkpoint;
    - ``<p>/b/<gen>/<i>``: a *base*, the whole state, written instead of a delta
      once the deltas since the last base outgrow it (so a restore reads at most
      about twice the live state, and the writes stay proportional to changes);
    - ``<p>/c/``, written after the chunks: counters, seq, input offset, the
      generation and the *log* (base and deltas, in order) that make the state.

    Restart time is then bounded by the bytes of the state, not by one changelog
    record per pending suggestion and remembered event id (a million records
    took minutes to recover through Faust). A crash can cut a checkpoint before
    its ``c`` record: the chunks it wrote are not in the committed log, so a
    restore ignores them and the next checkpoint deletes them (generation
    numbers are never reused). Records replaced by a base are deleted after the
    ``c`` record that no longer names them.
    """

    MAPS = ("suggestions", "outcomes", "feedback", "seen", "resolved")
    _SHORT: ClassVar[dict[str, str]] = {
        "suggestions": "s",
        "outcomes": "o",
        "feedback": "f",
        "seen": "e",
        "resolved": "r",
    }
    CHUNK: ClassVar[int] = 256 * 1024
    MIN_BASE: ClassVar[int] = 1 << 20  # deltas below this size never trigger a base

    def __init__(
        self,
        partition: int,
        config: ResolverConfig,
        entries: Iterable[tuple[str, str, bytes]] = (),
    ) -> None:
        self.partition = partition
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
        self.gen: int = meta.get("gen", 0)
        # [kind, generation, chunks, bytes] of the committed base and deltas
        self.log: list[list[Any]] = meta.get("log", [])
        for kind, g, n, _ in self.log:
            doc = json.loads(b"".join(chunks[f"{kind}/{g}/{i}"] for i in range(n)))
            for short, changes in doc.items():
                table = self.maps[by_short[short]]
                for key, value in changes.items():
                    if value is None:
                        dict.pop(table, key, None)
                    else:
                        dict.__setitem__(table, key, value)
        for kind, key, raw in legacy:
            value = _legacy_value(raw, self.gen)
            if value is not None:
                dict.__setitem__(self.maps[by_short[kind]], key, value)
        live = {f"{kind}/{g}/{i}" for kind, g, n, _ in self.log for i in range(n)}
        # records to delete at the next checkpoint: cut checkpoints, the old layout
        self.stale: set[str] = {k for k in chunks if k not in live}
        self.stale |= {f"{kind}/{key}" for kind, key, _ in legacy}
        self._base_due = bool(legacy)  # rewrite the old layout as a base
        gens = [int(k.split("/")[1]) for k in chunks]
        self._next_gen = max([self.gen, *gens]) + 1
        self.counters: dict[str, Any] = counters
        self.seq: int = meta.get("seq", 0)
        self.last_tick: float = -math.inf
        self.resolver = Resolver(config, counters=counters, **self.maps)
        self.changed = False  # counters/seq changed since the last checkpoint
        self.offset: int | None = meta.get("offset")  # last input offset applied
        # Messages at or before the checkpointed offset are already in this state
        # (redelivered when the crash came between checkpoint and commit): skip.
        self.applied: int = -1 if self.offset is None else self.offset

    def checkpoint(self) -> dict[bytes, bytes | None]:
        """Writes for everything changed since the last call, in order: the new
        chunks, the ``c`` record, then deletions of records no longer needed."""
        dirty = {name: table.take_dirty() for name, table in self.maps.items()}
        if not (self.changed or self.stale or self._base_due or any(dirty.values())):
            return {}
        p, gen = self.partition, self._next_gen
        delta = {
            self._SHORT[name]: {key: self.maps[name].get(key) for key in keys}
            for name, keys in dirty.items()
            if keys
        }
        doc = _dumps(delta).encode() if delta else b""
        base = [e for e in self.log if e[0] == "b"]
        deltas = sum(e[3] for e in self.log if e[0] == "d") + len(doc)
        dropped: list[list[Any]] = []
        if self._base_due or deltas > max(self.MIN_BASE, base[0][3] if base else 0):
            doc = _dumps({self._SHORT[n]: t for n, t in self.maps.items() if t}).encode()
            dropped, self.log = self.log, []
            kind = "b"
        else:
            kind = "d"
        out: dict[bytes, bytes | None] = {}
        if doc:
            out.update(_chunks(f"{p}/{kind}/{gen}", doc, self.CHUNK))
            self.log.append([kind, gen, len(out), len(doc)])
        blob = {
            "counters": dict(self.counters),
            "meta": {"seq": self.seq, "offset": self.offset, "gen": gen, "log": self.log},
        }
        out[f"{p}/c/".encode()] = _dumps(blob).encode()
        for k, g, n, _ in dropped:
            for i in range(n):
                out[f"{p}/{k}/{g}/{i}".encode()] = None
        for key in self.stale:
            out.setdefault(f"{p}/{key}".encode(), None)
        self.stale = set()
        self._base_due = self.changed = False
        self.gen, self._next_gen = gen, gen + 1
        return out


class AssessPart:
    """Stage-2 state of one assess partition: an Assessor, the watermark
    reported by every stage-1 source, and the last sequence number applied per
    source (messages re-sent by a restarted stage 1 have ``seq <= last`` and are
    dropped, so a crash never double-counts a resolution).

    ``sources`` is the number of stage-1 partitions and ``lag`` the resolver's
    ``clock_skew``: stage 2 may apply items up to the resolvers' *horizon*,
    ``min(watermark over all sources) - clock_skew`` (every result before it has
    been emitted, as in replay); until every source has reported, nothing is due.

    Checkpoint layout: the whole partition state (series, queued items, clock,
    sequence numbers) is one JSON document, cut into records of at most
    :attr:`CHUNK` bytes under keys ``<p>/g/<generation>/<i>``, then the
    ``<p>/m/`` record naming the generation and its chunk count, then
    tombstones for the previous generation. A checkpoint interrupted by a crash
    leaves the previous generation intact (its meta record still names it), so a
    restore never mixes two checkpoints, and no record exceeds Kafka's message
    size however long the queue of items waiting for the watermark grows.
    """

    CHUNK: ClassVar[int] = 256 * 1024

    def __init__(
        self,
        partition: int,
        make_assessor: Callable[[], Any],
        entries: Iterable[tuple[str, str, bytes]] = (),
        *,
        sources: int = 0,
        lag: float = 0.0,
    ) -> None:
        self.partition = partition
        self.sources = sources
        self.lag = lag
        self.assessor = make_assessor()
        blobs: dict[str, bytes] = {}
        chunks: dict[str, bytes] = {}
        meta: dict[str, Any] = {}
        for kind, key, raw in entries:
            if kind == "m":
                meta = json.loads(raw)
            elif kind == "k":  # layout of one record per series (before generations)
                blobs[key] = raw
            elif kind == "g":
                chunks[key] = raw
        self.gen: int = meta.get("gen", 0)
        self.chunks: int = meta.get("chunks", 0)
        if "gen" in meta:
            doc = json.loads(b"".join(chunks[f"{self.gen}/{i}"] for i in range(self.chunks)))
            meta = doc["meta"]
            series = {k: _dumps(v).encode() for k, v in doc["series"].items()}
        else:
            series = blobs
        # records to delete at the next checkpoint: older layouts, unfinished generations
        self.stale: set[str] = {f"k/{k}" for k in blobs} | {
            f"g/{k}" for k in chunks if not k.startswith(f"{self.gen}/")
        }
        if series:
            self.assessor.load(series)
        if meta.get("clock") is not None and hasattr(self.assessor, "load_clock_state"):
            self.assessor.load_clock_state(meta["clock"])
        self.last_seq: dict[int, int] = {int(k): v for k, v in meta.get("last_seq", {}).items()}
        self.ticks: dict[int, float] = {int(k): v for k, v in meta.get("ticks", {}).items()}
        advanced = meta.get("advanced")
        self.advanced: float = -math.inf if advanced is None else advanced
        self.has_items: bool = bool(meta.get("has_items", False))
        self.changed = False
        self.offset: int | None = meta.get("offset")  # last assess-topic offset applied

    @property
    def watermark(self) -> float:
        """Horizon of stage 1: min watermark over all its sources minus ``lag``
        (-inf until every source has reported).

        Not just the sources heard from: a source that has not reported yet may
        still send results from before the others' watermarks, and a result
        applied after a later one or after a later clock tick changes the
        detectors' sequence (the replay applies them in event-time order).
        """
        if not self.ticks or len(self.ticks) < self.sources:
            return -math.inf
        return min(self.ticks.values()) - self.lag

    def checkpoint(self) -> dict[bytes, bytes | None]:
        """Writes, in order: the new generation's chunks, the meta record, tombstones."""
        if not self.changed:
            return {}
        self.changed = False
        p = self.partition
        meta = {
            "last_seq": self.last_seq,
            "ticks": self.ticks,
            "advanced": _finite(self.advanced),
            "has_items": self.has_items,
            "offset": self.offset,
        }
        if hasattr(self.assessor, "clock_state"):  # queued items, tick position
            meta["clock"] = self.assessor.clock_state()
        keys = list(self.assessor.keys())
        blobs = self.assessor.export(keys) if keys else {}
        doc = b"".join(
            [
                b'{"meta":',
                _dumps(meta).encode(),
                b',"series":{',
                b",".join(_dumps(k).encode() + b":" + bytes(v) for k, v in blobs.items()),
                b"}}",
            ]
        )
        gen = self.gen + 1
        out: dict[bytes, bytes | None] = dict(_chunks(f"{p}/g/{gen}", doc, self.CHUNK))
        n = len(out)
        out[f"{p}/m/".encode()] = _dumps({"gen": gen, "chunks": n}).encode()
        for i in range(self.chunks if self.gen else 0):
            out[f"{p}/g/{self.gen}/{i}".encode()] = None
        for key in self.stale:  # (an unfinished generation may have the new number)
            out.setdefault(f"{p}/{key}".encode(), None)
        self.stale = set()
        self.gen, self.chunks = gen, n
        return out


class Baselines(MutableMapping):
    """Frozen detector baselines shared by every series of every partition.

    Reads fall through to the global table's local store (replicated to every
    worker); writes are kept in a :class:`DirtyDict` and written to the global
    table by the checkpoint.
    """

    def __init__(self, store: Any) -> None:
        self.store = store
        self.local = DirtyDict()

    def __getitem__(self, key: str) -> Any:
        try:
            return dict.__getitem__(self.local, key)
        except KeyError:
            raw = self.store.get(key.encode())
            if raw is None:
                raise KeyError(key) from None
            value = json.loads(raw)
            dict.__setitem__(self.local, key, value)
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
        out: dict[bytes, bytes | None] = {}
        for key in self.local.take_dirty():
            value = self.local.get(key, _MISSING)
            out[key.encode()] = None if value is _MISSING else _dumps(value).encode()
        return out


def split_key(raw: bytes) -> tuple[int, str, str]:
    """``b"3/s/abc"`` → ``(3, "s", "abc")``."""
    text = raw.decode() if isinstance(raw, bytes | bytearray) else str(raw)
    p, kind, key = text.split("/", 2)
    return int(p), kind, key
