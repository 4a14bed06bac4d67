"""Hostile input at volume through the worker on the real broker (the suite's size;
``bench/bench_hostile.py`` runs 100k+ bad messages with the same checks).

Every class of bad message (``bench.hostile.CLASSES``) is mixed with good events:
nothing may crash, every bad message must be in the dead-letter topic with the
contract's reason and its original bytes, every good event must be counted, and no
label on /metrics may leave the slug pattern.
"""

from __future__ import annotations

import pytest

from bench.hostile import CLASSES, run_hostile

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(600)]


def test_hostile_input_is_dead_lettered_and_nothing_is_lost(kafka_bootstrap: str) -> None:
    report = run_hostile(kafka_bootstrap, n_bad=4000, n_good_pairs=1000)
    assert report.alive, "the worker died"
    assert set(report.bad_sent) == set(CLASSES)
    n_bad = sum(report.bad_sent.values())
    assert report.good_counted == report.good_sent == 2000
    assert report.dead_letters == n_bad
    assert report.missing == 0 and not report.wrong_reason
    assert report.altered == 0 and report.leaked_detail == 0
    assert sum(report.dead_by_reason.values()) == n_bad
    assert report.bad_labels == []
    assert report.series == 12  # 5 sites of one feature and version, with rollups
    assert report.rss_end < 1024**3
