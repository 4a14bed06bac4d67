"""Checkpoint and restore of the worker's stage-2 state (streams.state.AssessPart), no broker."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from monitor.core.assessor import Assessor
from monitor.core.contract import InvalidEvent, parse_event
from monitor.core.records import Resolution
from monitor.core.resolver import Resolver, ResolverConfig
from streams.state import AssessPart, CatchUp, ChunkLog, ResolvePart, split_key

SAMPLE = Path(__file__).resolve().parents[2] / "seeds" / "sample" / "events.jsonl"


def _items() -> list:
    resolver = Resolver()
    out = []
    for raw in SAMPLE.read_bytes().splitlines():
        try:
            out += resolver.process(parse_event(raw))
        except InvalidEvent:
            continue
    return out + resolver.finish()


def _apply(table: dict, writes: dict) -> None:
    for key, value in writes.items():
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value


def _entries(table: dict, p: int = 0) -> list:
    out = []
    for raw, value in table.items():
        q, kind, key = split_key(raw)
        if q == p:
            out.append((kind, key, value))
    return out


def _state(part: AssessPart) -> tuple:
    a = part.assessor
    series = {k: json.loads(v) for k, v in a.export().items()}
    return series, a.clock_state(), part.last_seq, part.ticks, part.advanced, part.has_items


def _feed(part: AssessPart, items: list, upto: float) -> None:
    for item in items:
        for key in item.key.rollups():
            part.assessor.process(item, key)
        part.last_seq[0] = part.last_seq.get(0, 0) + 1
    part.ticks[0] = upto
    part.advanced = part.watermark
    part.has_items = True
    part.assessor.advance(part.watermark)
    part.changed = True


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ChunkLog, "CHUNK", 2048)


def _only_live_records(table: dict, part: AssessPart) -> bool:
    live = {f"0/{k}/{g}/{i}".encode() for k, g, n, _ in part.chunks.log for i in range(n)}
    return set(table) == live | {b"0/m/"}


def test_restore_reproduces_state_across_chunks(small_chunks) -> None:
    items = _items()
    half = len(items) // 2
    part = AssessPart(0, Assessor, sources=1, lag=60.0)
    table: dict = {}
    _feed(part, items[:half], items[half // 2].at)
    writes = part.checkpoint()
    assert sum(1 for k in writes if b"/b/" in k) > 1, "the state spans several chunks"
    assert all(v is None or len(v) <= ChunkLog.CHUNK for v in writes.values())
    _apply(table, writes)
    restored = AssessPart(0, Assessor, _entries(table), sources=1, lag=60.0)
    assert _state(restored) == _state(part)
    assert restored.assessor.clock_state()["queue"], "queued items are part of the state"

    # the next checkpoint (every series changed: a new base) restores the whole state
    _feed(part, items[half:], items[-1].at + 7200)
    _apply(table, part.checkpoint())
    assert [k for k, *_ in part.chunks.log] == ["b"]
    restored = AssessPart(0, Assessor, _entries(table), sources=1, lag=60.0)
    assert _state(restored) == _state(part)
    assert _only_live_records(table, part)


def test_assess_deltas_hold_only_changed_series_and_restore_exactly(small_chunks) -> None:
    """Checkpoints after every slice of items (a base once the deltas outgrow it):
    the records always restore the live state, and an idle checkpoint writes no series."""
    items = _items()
    part = AssessPart(0, Assessor, sources=1, lag=60.0)
    part.chunks.MIN_BASE = (
        4_000_000  # the feature panels change every slice: a base at once otherwise
    )
    table: dict = {}
    step = max(1, len(items) // 12)
    logs: list[str] = []
    for i in range(0, len(items), step):
        _feed(part, items[i : i + step], items[min(i + step, len(items) - 1)].at)
        _apply(table, part.checkpoint())
        restored = AssessPart(0, Assessor, _entries(table), sources=1, lag=60.0)
        assert json.dumps(_state(restored), sort_keys=True, default=str) == json.dumps(
            _state(part), sort_keys=True, default=str
        )
        assert _only_live_records(table, part)
        logs.append("".join(k for k, *_ in part.chunks.log))
    assert any("d" in k for k in logs), logs  # deltas of the series changed
    assert logs[-1].startswith("b"), logs  # and bases that replaced them
    part.changed = True  # only the offset moved: no series changed
    writes = part.checkpoint()
    doc = b"".join(v for k, v in writes.items() if v is not None and b"/m/" not in k)
    assert json.loads(doc)["series"] == {}


def test_interrupted_checkpoint_restores_the_previous_one(small_chunks) -> None:
    items = _items()
    half = len(items) // 2
    part = AssessPart(0, Assessor, sources=1, lag=60.0)
    table: dict = {}
    _feed(part, items[:half], items[half // 2].at)
    _apply(table, part.checkpoint())
    before = json.dumps(_state(part), sort_keys=True, default=str)

    _feed(part, items[half:], items[-1].at + 7200)
    writes = list(part.checkpoint().items())
    meta_at = next(i for i, (k, _) in enumerate(writes) if k == b"0/m/")
    _apply(table, dict(writes[: meta_at - 1]))  # crash: some chunks durable, not the meta
    restored = AssessPart(0, Assessor, _entries(table), sources=1, lag=60.0)
    assert json.dumps(_state(restored), sort_keys=True, default=str) == before

    # the restored part writes a new generation and deletes the unfinished one
    _feed(restored, items[half:], items[-1].at + 7200)
    _apply(table, restored.checkpoint())
    assert _only_live_records(table, restored)
    again = AssessPart(0, Assessor, _entries(table), sources=1, lag=60.0)
    assert _state(again) == _state(restored)


def test_assess_reads_the_one_document_per_generation_layout() -> None:
    """Written by the previous version: ``<p>/g/<gen>/<i>`` chunks of one document
    (meta and every series) and ``<p>/m/`` naming the generation."""
    items = _items()
    part = AssessPart(0, Assessor, sources=1, lag=60.0)
    _feed(part, items, items[-1].at + 60)
    meta = {"last_seq": part.last_seq, "ticks": part.ticks, "advanced": part.advanced,
            "has_items": True, "offset": 9, "clock": part.assessor.clock_state()}  # fmt: skip
    series = {k: json.loads(v) for k, v in part.assessor.export().items()}
    doc = json.dumps({"meta": meta, "series": series}).encode()
    old = {b"0/g/4/0": doc[:1000], b"0/g/4/1": doc[1000:], b"0/m/": b'{"gen":4,"chunks":2}'}
    restored = AssessPart(0, Assessor, _entries(old), sources=1, lag=60.0)
    assert _state(restored) == _state(part) and restored.offset == 9
    _apply(old, restored.checkpoint())
    assert [k for k, *_ in restored.chunks.log] == ["b"] and _only_live_records(old, restored)
    assert _state(AssessPart(0, Assessor, _entries(old), sources=1, lag=60.0)) == _state(part)


def test_watermark_waits_for_every_source() -> None:
    part = AssessPart(0, Assessor, sources=2, lag=60.0)
    part.ticks[0] = 1000.0
    assert part.watermark == float("-inf")
    part.ticks[1] = 900.0
    assert part.watermark == 840.0


def _events() -> list:
    out = []
    for raw in SAMPLE.read_bytes().splitlines():
        try:
            out.append(parse_event(raw))
        except InvalidEvent:
            continue
    return out


def _resolve(part: ResolvePart, events: list, first_offset: int) -> list:
    out = []
    for i, ev in enumerate(events):
        part.offset = first_offset + i
        part.changed = True
        out += part.resolver.process(ev)
    return out


def _resolver_state(part: ResolvePart) -> tuple:
    return (
        {name: dict(m) for name, m in part.maps.items()},
        part.resolver.counters,
        part.offset,
        part.seq,
    )


def _small(part: ResolvePart, *, base_every_time: bool = False) -> ResolvePart:
    """Tiny chunks (so documents span many records) and, optionally, a base each time."""
    part.chunks.CHUNK = 700
    if base_every_time:
        part.chunks.MIN_BASE = -1
    return part


def _restored(durable: dict) -> ResolvePart:
    return _small(ResolvePart(0, ResolverConfig(), _entries(durable)))


@pytest.mark.parametrize("base", [False, True])
@pytest.mark.parametrize("cut", [0.0, 0.3, 0.7, 0.99, 1.0])
def test_resolve_checkpoint_cut_by_a_crash_restores_one_whole_checkpoint(
    cut: float, base: bool
) -> None:
    events = _events()
    a, b = len(events) // 3, 2 * len(events) // 3
    part = _small(ResolvePart(0, ResolverConfig()), base_every_time=base)
    durable: dict = {}
    _resolve(part, events[:a], 0)
    _apply(durable, part.checkpoint())
    committed = json.dumps(_resolver_state(part), sort_keys=True)

    _resolve(part, events[a:b], a)
    writes = list(part.checkpoint().items())
    c_at = [k for k, _ in writes].index(b"0/c/")
    assert c_at >= 2, "the state spans several chunk records"
    assert all(v is None for _, v in writes[c_at + 1 :]), "only deletions after the c record"
    assert len(writes) > c_at + 1 if base else len(writes) == c_at + 1
    newer = json.dumps(_resolver_state(part), sort_keys=True)
    # crash: only a prefix of the writes is durable
    upto = int(cut * len(writes))
    _apply(durable, dict(writes[:upto]))
    restored = _restored(durable)
    want_state = newer if upto > c_at else committed
    assert json.dumps(_resolver_state(restored), sort_keys=True) == want_state

    # re-processing from the restored offset gives what an uninterrupted run gives
    reference = ResolvePart(0, ResolverConfig())
    want = _resolve(reference, events, 0)
    resume = restored.offset + 1
    got = _resolve(ResolvePart(0, ResolverConfig()), events[:resume], 0)  # emitted before
    got += _resolve(restored, events[resume:], resume)
    assert got == want
    assert restored.resolver.counters == reference.resolver.counters

    # its next checkpoint deletes what the cut left behind: the store then holds
    # exactly the records of the committed log
    _apply(durable, restored.checkpoint())
    assert restored.checkpoint() == {}  # nothing changed: nothing written
    again = _restored(durable)
    assert _resolver_state(again) == _resolver_state(restored)
    live = sum(n for _, _, n, _ in again.chunks.log)
    assert len(durable) == live + 1


def test_resolve_log_stays_proportional_to_the_state() -> None:
    """Many small checkpoints: deltas accumulate until they outgrow the base,
    then one base replaces them; the records restore the exact state."""
    events = _events()
    part = _small(ResolvePart(0, ResolverConfig()))
    part.chunks.MIN_BASE = 2000
    durable: dict = {}
    kinds = []
    for i in range(0, len(events), 25):
        _resolve(part, events[i : i + 25], i)
        _apply(durable, part.checkpoint())
        kinds.append("".join(k for k, *_ in part.chunks.log))
        restored = _restored(durable)
        assert _resolver_state(restored) == _resolver_state(part)
        base = sum(e[3] for e in part.chunks.log if e[0] == "b")
        deltas = sum(e[3] for e in part.chunks.log if e[0] == "d")
        assert deltas <= max(part.chunks.MIN_BASE, base) or part.chunks.log[-1][0] == "b"
        assert sum(len(v) for v in durable.values()) <= 3 * max(part.chunks.MIN_BASE, base) + 2000
    assert any(k == "b" for k in kinds) and any(k.startswith("bd") for k in kinds)


def test_resolve_restores_the_one_record_per_entry_layout() -> None:
    """State written by the previous layout (one record per entry, with generation
    envelopes) is read, then rewritten as a base and its records deleted."""
    events = _events()
    part = ResolvePart(0, ResolverConfig())
    _resolve(part, events, 0)
    old: dict = {}
    for name, short in ResolvePart._SHORT.items():
        for key, value in part.maps[name].items():
            old[f"0/{short}/{key}".encode()] = (
                b'{"g":3,"v":%s,"o":null}' % json.dumps(value).encode()
            )
    old[b"0/e/not-committed"] = b'{"g":4,"v":1.0,"o":null}'  # cut checkpoint: absent
    meta = {"seq": part.seq, "offset": part.offset, "gen": 3}
    old[b"0/c/"] = json.dumps({"counters": part.counters, "meta": meta}).encode()
    restored = ResolvePart(0, ResolverConfig(), _entries(old))
    assert _resolver_state(restored) == _resolver_state(part)
    writes = restored.checkpoint()
    assert [e[0] for e in restored.chunks.log] == ["b"]
    assert all(writes.get(k, b"") is None for k in old if k != b"0/c/")
    _apply(old, writes)
    assert _resolver_state(ResolvePart(0, ResolverConfig(), _entries(old))) == _resolver_state(part)


def test_assess_checkpoint_keeps_the_offset() -> None:
    part = AssessPart(0, Assessor)
    part.offset, part.changed = 41, True
    restored = AssessPart(0, Assessor, _entries(dict(part.checkpoint())))
    assert restored.offset == 41


def test_idle_sources_leave_the_watermark_and_the_checkpoint_keeps_them() -> None:
    part = AssessPart(0, Assessor, sources=3, lag=60.0)
    part.ticks.update({0: 1000.0, 1: 2000.0})
    assert part.watermark == -math.inf  # source 2 never reported
    part.idle.add(2)
    assert part.watermark == 1000.0 - 60.0
    part.idle.add(0)
    assert part.watermark == 2000.0 - 60.0
    part.idle.add(1)
    assert part.watermark == -math.inf  # all idle: nothing to advance on
    part.idle.discard(1)
    part.changed = True
    table: dict = {}
    _apply(table, part.checkpoint())
    restored = AssessPart(0, Assessor, _entries(table), sources=3, lag=60.0)
    assert restored.idle == {0, 2} and restored.watermark == 2000.0 - 60.0


def _feed_one(assessor: Assessor, i: int, version: str, accepted: bool, t: float) -> None:
    status = "accepted" if accepted else "rejected"
    res = Resolution(f"s{i}", "f", version, "a", "other", t, t + 30, status, 30.0, None, None,
                     None)  # fmt: skip
    for key in res.key.rollups():
        assessor.process(res, key)
    assessor.advance(t - 120)


def test_a_rebuilt_partition_is_caught_up_only_past_the_end_first_seen() -> None:
    c = CatchUp()
    assert not c.check(None, None)  # end unknown: not yet
    assert not c.check(None, 100)  # end 100 noted, nothing applied
    assert not c.check(98, 250)  # still short of the end first seen (not the new one)
    assert c.check(99, 250) and c.check(10, None)  # reached: latched


def test_a_partition_ending_in_a_transaction_marker_is_caught_up() -> None:
    c = CatchUp()
    assert not c.check(97, 100, no_records=lambda start, stop: False)
    assert c.check(97, 100, no_records=lambda start, stop: (start, stop) == (98, 100))
    assert CatchUp().check(5, 100, idle=True)
