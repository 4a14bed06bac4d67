"""streams.gaps.SkippedOffsets: noted by aiokafka's thread, looked up by the worker's."""

from __future__ import annotations

import threading

from streams.gaps import SkippedOffsets


def test_covers_only_what_one_noted_range_holds() -> None:
    skipped = SkippedOffsets(keep=3)
    skipped.note("t", 0, 10, 12)
    skipped.note("t", 0, 20, 25)
    assert skipped.covers("t", 0, 10, 12) and skipped.covers("t", 0, 21, 23)
    assert not skipped.covers("t", 0, 11, 13)  # offset 12 was a record
    assert not skipped.covers("t", 1, 10, 12)  # another partition
    skipped.note("t", 0, 30, 31)
    skipped.note("t", 0, 40, 41)  # keep=3: the oldest range is dropped
    assert not skipped.covers("t", 0, 10, 12) and skipped.covers("t", 0, 20, 25)
    skipped.forget("t", 0)
    assert not skipped.covers("t", 0, 40, 41)


def test_lookups_while_another_thread_notes() -> None:
    """Iterating a deque another thread appends to raises; the lookups must not."""
    skipped = SkippedOffsets(keep=4096)
    done = threading.Event()

    def fetcher() -> None:
        for i in range(200_000):
            skipped.note("t", 0, 2 * i, 2 * i + 1)
        done.set()

    thread = threading.Thread(target=fetcher)
    thread.start()
    found = 0
    while not done.is_set():
        found += skipped.covers("t", 0, 0, 1)  # noted first, soon dropped: a full scan
    thread.join()
    assert skipped.covers("t", 0, 2 * 199_999, 2 * 199_999 + 1)
    assert not skipped.covers("t", 0, 0, 1)
