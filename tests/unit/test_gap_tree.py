"""streams.gaps.add_gap keeps the same gap tree as faust's own procedure (no broker)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from intervaltree import IntervalTree

from streams.gaps import add_gap


def _faust_add_gap(gaps: IntervalTree, committed: int | None, frm: int, to: int) -> None:
    """faust 0.15.3 ``Consumer._add_gap`` without its ``await asyncio.sleep(0)``."""
    if committed is not None:
        frm = max(frm, committed + 1)
    if frm <= to:
        gaps.addi(frm, to + 1)
        gaps.merge_overlaps()


steps = st.lists(
    st.tuples(
        st.integers(0, 8),  # distance from the last read offset (0: a seek back)
        st.integers(1, 6),  # gap length
        st.booleans(),  # seek back before this gap
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(steps=steps, committed=st.one_of(st.none(), st.integers(0, 30)))
def test_same_tree_as_faust(steps: list[tuple[int, int, bool]], committed: int | None) -> None:
    ours, theirs = IntervalTree(), IntervalTree()
    read = 0
    for skip, length, back in steps:
        if back:
            read = max(0, read - 15)
        frm = read + skip
        to = frm + length - 1
        add_gap(ours, committed, frm, to)
        _faust_add_gap(theirs, committed, frm, to)
        read = to + 1
    assert sorted(ours) == sorted(theirs)


def test_in_order_gaps_are_not_merged_again() -> None:
    gaps = IntervalTree()
    for k in range(1000):  # a marker every 6 offsets, as a transactional topic has
        add_gap(gaps, None, 6 * k + 5, 6 * k + 5)
    assert len(gaps) == 1000 and gaps.end() == 6 * 999 + 6
    add_gap(gaps, None, 7, 12)  # a seek back overlaps: merged as faust would
    assert {(i.begin, i.end) for i in gaps.overlap(5, 18)} == {(5, 6), (7, 13), (17, 18)}
