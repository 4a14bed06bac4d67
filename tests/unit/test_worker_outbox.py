"""The worker's stage-2 outbox bookkeeping (streams.app.Worker), no broker.

The resolve agent flushes when ``outbox_entries`` reaches PACK_ITEMS, so the
running count must equal the entries actually held, through packing, a
revoked partition and a flush.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from faust.types import TP

from streams.app import PACK_BYTES, PACK_ITEMS, Worker, create_app
from streams.settings import WorkerSettings
from streams.state import ResolvePart
from tests.unit.test_stream_state import _items


def _held(w: Worker) -> int:
    return sum(len(e) for out in w.outbox.values() for e in out.values())


def test_outbox_count_follows_packing_revocation_and_flush(tmp_path: Any) -> None:
    settings = WorkerSettings(data_dir=tmp_path, assess_partitions=4)
    w: Worker = create_app(settings, input_partitions=2).vitals  # type: ignore[attr-defined]
    items = _items()
    assert len(items) > 20
    for p, chunk in ((0, items[::2]), (1, items[1::2])):
        part = w.resolve_parts[p] = ResolvePart(p, w.resolver_config)
        w.pack(part, chunk, w.outbox.setdefault(p, {}))
    assert w.outbox_entries == _held(w) > len(items)  # up to 4 destinations per item

    tp = TP(w.input_topic.get_topic_name(), 0)
    w.on_revoked({tp})
    assert 0 not in w.outbox
    assert w.outbox_entries == _held(w) > 0

    sent: list[tuple[int, bytes]] = []

    async def produce(topic: str, p: int, value: bytes, headers: Any = None) -> None:
        sent.append((p, value))

    w.produce = produce  # type: ignore[method-assign]
    held = w.outbox_entries
    asyncio.run(w.flush())
    assert w.outbox_entries == 0 and not w.outbox
    assert sum(len(json.loads(value)) for _, value in sent) == held


def test_packs_are_capped_by_entries_and_by_bytes(tmp_path: Any) -> None:
    """Large resolutions (many inputs) must not make a pack the producer refuses;
    entries keep their order across packs."""
    w: Worker = create_app(WorkerSettings(data_dir=tmp_path), input_partitions=1).vitals  # type: ignore[attr-defined]
    big = [b'["%s",[[%d,"f|v|s"]]]' % (b"x" * 5000, i) for i in range(400)]  # 2 MB
    small = [b'["y",[[%d,"f|v|s"]]]' % i for i in range(1000)]
    sent: list[tuple[int, bytes]] = []

    async def produce(topic: str, p: int, value: bytes, headers: Any = None) -> None:
        sent.append((p, value))

    w.produce = produce  # type: ignore[method-assign]
    asyncio.run(w.send_packs(0, {0: big, 1: small}))
    packs = {p: [json.loads(v) for q, v in sent if q == p] for p in (0, 1)}
    assert all(len(v) <= PACK_BYTES for p, v in sent if p == 0) and len(packs[0]) == 4
    assert [len(pack) for pack in packs[1]] == [PACK_ITEMS, PACK_ITEMS, 200]
    for p, entries in ((0, big), (1, small)):
        seqs = [entry[1][0][0] for pack in packs[p] for entry in pack]
        assert seqs == list(range(len(entries)))
