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

from streams.app import Worker, create_app
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
