"""Checkpoint and restore of the worker's stage-2 state (streams.state.AssessPart), no broker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.assess import Assessor
from monitor.contract import InvalidEvent, parse_event
from monitor.resolver import Resolver, ResolverConfig
from streams.state import AssessPart, ResolvePart, split_key

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
    monkeypatch.setattr(AssessPart, "CHUNK", 2048)


def test_restore_reproduces_state_across_chunks(small_chunks) -> None:
    items = _items()
    half = len(items) // 2
    part = AssessPart(0, Assessor, sources=1, lag=60.0)
    table: dict = {}
    _feed(part, items[:half], items[half // 2].at)
    writes = part.checkpoint()
    assert sum(1 for k in writes if b"/g/" in k) > 1, "the state spans several chunks"
    assert all(v is None or len(v) <= AssessPart.CHUNK for v in writes.values())
    _apply(table, writes)
    restored = AssessPart(0, Assessor, _entries(table), sources=1, lag=60.0)
    assert _state(restored) == _state(part)
    assert restored.assessor.clock_state()["queue"], "queued items are part of the state"

    # the next generation replaces the previous one's records
    _feed(part, items[half:], items[-1].at + 7200)
    _apply(table, part.checkpoint())
    assert not [k for k in table if k.startswith(b"0/g/1/")]
    restored = AssessPart(0, Assessor, _entries(table), sources=1, lag=60.0)
    assert _state(restored) == _state(part)


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

    # the restored part writes its next generation over the unfinished one, then cleans up
    _feed(restored, items[half:], items[-1].at + 7200)
    _apply(table, restored.checkpoint())
    gens = {split_key(k)[2].split("/")[0] for k in table if b"/g/" in k}
    assert gens == {"2"}
    again = AssessPart(0, Assessor, _entries(table), sources=1, lag=60.0)
    assert _state(again) == _state(restored)


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


@pytest.mark.parametrize("cut", [0.0, 0.3, 0.7, 0.99])
def test_resolve_checkpoint_cut_by_a_crash_restores_the_previous_one(cut: float) -> None:
    events = _events()
    a, b = len(events) // 3, 2 * len(events) // 3
    part = ResolvePart(0, ResolverConfig())  # keeps its own store of written records
    _resolve(part, events[:a], 0)
    part.checkpoint()
    committed = json.dumps(_resolver_state(part), sort_keys=True)
    durable = dict(part.store)

    _resolve(part, events[a:b], a)
    writes = list(part.checkpoint().items())
    assert writes[-1][0] == b"0/c/"
    assert any(v is not None and b'"v":null' in v for _, v in writes), "some deletions"
    # crash: only a prefix of the writes is durable, never the c record
    _apply(durable, dict(writes[: int(cut * (len(writes) - 1))]))
    restored = ResolvePart(0, ResolverConfig(), _entries(durable), store=durable)
    assert json.dumps(_resolver_state(restored), sort_keys=True) == committed

    # re-processing from the committed offset gives what an uninterrupted run gives
    reference = ResolvePart(0, ResolverConfig())
    want = _resolve(reference, events, 0)
    got = _resolve(ResolvePart(0, ResolverConfig()), events[:a], 0)  # emitted before
    got += _resolve(restored, events[a:], a)
    assert got == want
    assert restored.resolver.counters == reference.resolver.counters

    # its next checkpoints leave a store that restores exactly, without stale records
    _apply(durable, restored.checkpoint())
    _apply(durable, restored.checkpoint())  # (nothing changed: nothing written)
    again = ResolvePart(0, ResolverConfig(), _entries(durable), store=durable)
    assert _resolver_state(again) == _resolver_state(restored)
    live = sum(len(m) for m in restored.maps.values())
    assert len(durable) <= live + len(again.tombstones) + 1


def test_offset_gap_seeks_back_once_then_accepts_a_real_gap() -> None:
    from streams.app import REWIND_WAIT, offset_gap

    for part in (ResolvePart(0, ResolverConfig()), AssessPart(0, Assessor)):
        part.offset = 788  # 789 was skipped by the consumer: 790 comes next
        assert offset_gap(part, 790, now=100.0) == (True, 789)  # skip it, seek back
        assert offset_gap(part, 791, now=100.5) == (True, None)  # in flight before the seek
        # 789 never comes (a real gap): after REWIND_WAIT it is accepted up to 790
        assert offset_gap(part, 792, now=100.5 + REWIND_WAIT) == (True, 790)
        assert part.offset == 789 and part.rewound_to is None  # 790, next, is in order


def test_assess_checkpoint_keeps_the_offset() -> None:
    part = AssessPart(0, Assessor)
    part.offset, part.changed = 41, True
    restored = AssessPart(0, Assessor, _entries(dict(part.checkpoint())))
    assert restored.offset == 41
