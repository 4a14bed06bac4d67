"""The worker's stage-2 outbox bookkeeping (streams.outbox.Outbox), no broker.

The resolve agent flushes when ``Outbox.count`` reaches PACK_ITEMS, so the running
count must equal the entries actually held, through packing, a revoked partition
and a flush.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from faust.types import TP

from streams.outbox import PACK_BYTES, PACK_ITEMS, Outbox
from streams.settings import WorkerSettings
from streams.state import ResolvePart
from streams.topology import Worker, create_app
from tests.unit.test_stream_state import _items


def _held(outbox: Outbox) -> int:
    return sum(len(e) for out in outbox.entries.values() for e in out.values())


def _sent_to(outbox: Outbox) -> list[tuple[int, bytes]]:
    sent: list[tuple[int, bytes]] = []

    async def send(topic: str, p: int, value: bytes, headers: Any = None, key: Any = None) -> None:
        sent.append((p, value))

    outbox.send = send  # type: ignore[method-assign]
    return sent


def test_outbox_count_follows_packing_revocation_and_flush(tmp_path: Any) -> None:
    settings = WorkerSettings(data_dir=tmp_path, assess_partitions=4)
    w: Worker = create_app(settings, input_partitions=2).vitals
    outbox = w.outbox
    items = _items()
    assert len(items) > 20
    for p, chunk in ((0, items[::2]), (1, items[1::2])):
        part = w.resolve.parts[p] = ResolvePart(p, w.resolve.config)
        for item in chunk:
            outbox.add(part, item)
    assert outbox.count == _held(outbox) > len(items)  # up to 4 destinations per item

    w.on_revoked({TP(w.input_topic.get_topic_name(), 0)})
    assert 0 not in outbox.entries and 0 not in w.resolve.parts
    assert outbox.count == _held(outbox) > 0

    sent = _sent_to(outbox)
    held = outbox.count
    asyncio.run(outbox.flush())
    assert outbox.count == 0 and not outbox.entries
    assert sum(len(json.loads(value)) for _, value in sent) == held


def test_packs_are_capped_by_entries_and_by_bytes(tmp_path: Any) -> None:
    """Large resolutions (many inputs) must not make a pack the producer refuses;
    entries keep their order across packs."""
    outbox = create_app(WorkerSettings(data_dir=tmp_path), input_partitions=1).vitals.outbox
    big = [b'["%s",[[%d,"f|v|s"]]]' % (b"x" * 5000, i) for i in range(400)]  # 2 MB
    small = [b'["y",[[%d,"f|v|s"]]]' % i for i in range(1000)]
    sent = _sent_to(outbox)
    outbox.entries = {0: {0: big, 1: small}}
    asyncio.run(outbox.flush())
    packs = {p: [json.loads(v) for q, v in sent if q == p] for p in (0, 1)}
    assert all(len(v) <= PACK_BYTES for p, v in sent if p == 0) and len(packs[0]) == 4
    assert [len(pack) for pack in packs[1]] == [PACK_ITEMS, PACK_ITEMS, 200]
    for p, entries in ((0, big), (1, small)):
        seqs = [entry[1][0][0] for pack in packs[p] for entry in pack]
        assert seqs == list(range(len(entries)))


def test_a_partition_with_records_waiting_is_never_announced_idle(tmp_path: Any) -> None:
    """Idle = drained and silent for idle_after: a busy worker's backlog on one input
    partition must not let stage 2's watermark pass its results (issue 18)."""
    settings = WorkerSettings(data_dir=tmp_path, idle_after=1.0)
    w: Worker = create_app(settings, input_partitions=1).vitals
    sent = _sent_to(w.outbox)
    part = w.resolve.parts[0] = ResolvePart(0, w.resolve.config)
    part.last_input -= 10.0  # silent for 10 s
    ends = {0: 100}
    w.resolve.highwater = ends.get
    part.offset = 41  # records 42..99 wait in the consumer
    asyncio.run(w.resolve.announce_idle(part))
    assert not part.idle and not sent
    ends.clear()  # end offset not known yet
    asyncio.run(w.resolve.announce_idle(part))
    assert not part.idle and not sent
    ends[0], part.offset = 100, 99  # drained
    asyncio.run(w.resolve.announce_idle(part))
    assert part.idle and len(sent) == settings.assess_partitions  # Idle to every one
