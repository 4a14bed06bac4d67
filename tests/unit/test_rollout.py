"""The rollout scorecard names the burden increase of seeds/new-version-burden, and only it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner

from monitor.cli import app
from monitor.rollout import METRICS, OVERALL, Scorecard, print_scorecard, rollout_file
from monitor.simulate import parse_scenario, simulate
from tests.browser import render

SEEDS = Path(__file__).resolve().parents[2] / "seeds"


def _short_cut(tmp: Path) -> Path:
    """new-version-burden in 12 days at half volume: the same three phases, 2 days apart,
    after 4 days of note-2.1 alone (the full 30 days take a minute to resolve)."""
    doc = yaml.safe_load((SEEDS / "new-version-burden.yaml").read_text())
    doc["days"], doc["volume_scale"] = 12, 0.5
    phases = doc["degradations"][0]["phases"]
    for phase, day in zip(phases, ("06", "08", "10"), strict=True):
        phase["at"] = f"2026-02-{day}T07:00:00-05:00"
    simulate(parse_scenario(doc, "new-version-burden (12 days)"), tmp)
    return tmp / "events.jsonl"


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _short_cut(tmp_path_factory.mktemp("nvb"))


@pytest.fixture(scope="module")
def card(events: Path) -> Scorecard:
    return rollout_file(events, "note-draft", "note-2.1", "note-3.0")[0]


def test_the_scorecard_names_the_burden_increase_with_its_interval(card: Scorecard) -> None:
    assert card.sites == ["lakeview", "main-campus", "north-clinic", "riverside", "westpark"]
    for comp in ("concurrent", "before_after"):
        cell = card.cells[comp, OVERALL, "correction_burden"]
        iv = cell.interval
        assert cell.verdict == "worse" and iv is not None
        # edited drafts 0.12 -> 0.22, and edited are 60% of the accepted + edited: about +0.06
        assert 0.0 < iv.low < 0.06 < iv.high < 0.12, iv
    # Nothing else was injected: with the simultaneous intervals no other cell has a verdict.
    others = {
        key: cell.verdict
        for key, cell in card.cells.items()
        if key[2] != "correction_burden" and cell.verdict in ("better", "worse")
    }
    assert others == {}
    # The phase-1 sites have note-3.0 from the first phase on; the others join in phase 2.
    assert card.cells["concurrent", "main-campus", "acceptance_rate"].interval is not None
    assert card.tested == sum(c.interval is not None for c in card.cells.values()) > 40
    assert 1 - card.level == pytest.approx(0.05 / card.tested)
    lines = card.findings()
    assert any(ln.startswith("correction burden worse overall") for ln in lines)
    assert all(ln.startswith("correction burden worse") for ln in lines)


def test_the_terminal_table_and_the_cli(card: Scorecard, events: Path, tmp_path: Path) -> None:
    console = Console(record=True, width=240)
    print_scorecard(console, card)
    text = console.export_text()
    assert "no detectable difference at this volume (±" in text
    assert "Bonferroni" in text and "Newcombe" in text
    assert len(METRICS) * (len(card.sites) + 1) <= text.count(" -> ")
    report = tmp_path / "rollout.html"
    args = ["rollout", str(events), "--feature", "note-draft", "--from", "note-2.1",
            "--to", "note-3.0", "--report", str(report)]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "correction burden worse overall" in result.output
    html = report.read_text()
    assert "correction burden" in html and "worse" in html and "<table" in html
    page = render(report, tmp_path / "rollout.png")
    assert page.errors == [] and page.requests == [] and page.ragged == [] and page.ready == "0"


def test_unknown_feature_or_version_is_a_clear_error(events: Path) -> None:
    base = ["rollout", str(events), "--feature", "note-draft", "--from", "note-2.1"]
    result = CliRunner().invoke(app, [*base, "--to", "note-9"])
    assert result.exit_code == 2 and "--to note-9: note-draft has no such version" in result.output
    result = CliRunner().invoke(app, ["rollout", str(events), "--feature", "notes",
                                      "--from", "a", "--to", "b"])  # fmt: skip
    assert result.exit_code == 2 and "no suggestion of feature 'notes'" in result.output
