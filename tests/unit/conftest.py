"""Fixtures of the unit tests: a small stream with one injected drop."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from monitor.simulate import parse_scenario, simulate
from tests.unit.test_simulate import FEATURE as BASE

FEATURE = {**copy.deepcopy(BASE), "daily_volume": 2400, "flag_probability": 0.004}
del FEATURE["inputs"]  # input drift is not what these tests look at, and slows the replays
DROP_AT = "2026-01-08T12:00:00+00:00"


@pytest.fixture(scope="session")
def stream(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six days at two sites; acceptance at site-b falls 15 points on day 4 at noon."""
    out = tmp_path_factory.mktemp("drop")
    doc = {
        "name": "drop",
        "seed": 5,
        "start": "2026-01-05T00:00:00+00:00",
        "days": 6,
        "features": [copy.deepcopy(FEATURE)],
        "degradations": [{"id": "site-b-drop", "kind": "rate_shift", "feature": "inbasket-reply",
                          "site": "site-b", "start": DROP_AT, "delta": -0.15}],
    }  # fmt: skip
    simulate(parse_scenario(doc, "drop"), out)
    return out


@pytest.fixture(scope="session")
def drop_at() -> str:
    return DROP_AT
