"""What replay reads: a byte-order mark, CRLF, and a line too long to be an event."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitor.core.contract import MAX_EVENT_BYTES
from monitor.replay import read_lines, replay_file

EXAMPLES = Path(__file__).resolve().parents[2] / "schemas" / "examples"


def _line(name: str) -> bytes:
    return json.dumps(json.loads((EXAMPLES / name).read_text())).encode()


def test_bom_crlf_and_a_huge_line(tmp_path: Path) -> None:
    huge = b'{"schema_version":1,"x":"' + b"y" * (3 * MAX_EVENT_BYTES) + b'"}'
    path = tmp_path / "events.jsonl"
    path.write_bytes(
        b"\xef\xbb\xbf" + _line("suggestion.json") + b"\r\n" + huge + b"\n" + _line("outcome.json")
    )
    lines = list(read_lines(path))
    assert len(lines) == 3 and lines[0].startswith(b"{")  # the mark is dropped
    assert len(lines[1]) == MAX_EVENT_BYTES + 1  # cut, the rest of it skipped
    _, result = replay_file(path)
    assert result.events == 2  # the first event counts despite the mark
    assert result.malformed == {"contract_violation": 1}
    assert result.malformed_examples[0][0] == 2  # reported at its line number


def _pair(i: int, t: float) -> list[bytes]:
    """Suggestion i at time t, accepted 30 s later."""

    def stamp(x: float) -> str:
        return datetime.fromtimestamp(x, UTC).isoformat().replace("+00:00", "Z")

    base = {"schema_version": 1, "suggestion_id": f"s{i}"}
    return [
        json.dumps({**base, "type": "suggestion", "event_id": f"e{i}", "occurred_at": stamp(t),
                    "feature": "f", "model_version": "v1", "site": "a"}).encode(),
        json.dumps({**base, "type": "outcome", "event_id": f"o{i}", "occurred_at": stamp(t + 30),
                    "outcome": "accepted"}).encode(),
    ]  # fmt: skip


def _replay(tmp_path: Path, lines: list[bytes]) -> Any:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return replay_file(path)[1]


T0 = datetime(2026, 3, 2, 9, tzinfo=UTC).timestamp()


def test_one_event_from_a_wrong_clock_does_not_make_the_rest_too_late(tmp_path: Path) -> None:
    lines = [ln for i in range(300) for ln in _pair(i, T0 + 60 * i)]
    wrong = _pair(999, T0 + 20 * 86400)[0]  # a bridge clock 20 days ahead
    result = _replay(tmp_path, [*lines[:100], wrong, *lines[100:]])
    assert result.resolver_counters["too_late"] == 0
    assert result.resolver_counters["resolved"] == 300
    assert result.malformed == {"future_time": 1}
    assert result.malformed_examples[0][:2] == (101, "future_time")
    assert result.events == len(lines)


def test_a_stream_that_resumes_after_a_long_silence_loses_nothing(tmp_path: Path) -> None:
    before = [ln for i in range(50) for ln in _pair(i, T0 + 60 * i)]
    after = [ln for i in range(50, 400) for ln in _pair(i, T0 + 3 * 86400 + 60 * i)]  # a weekend
    result = _replay(tmp_path, before + after)
    assert not result.malformed and result.events == len(before) + len(after)
    assert result.resolver_counters["too_late"] == 0


def test_a_lone_event_ahead_at_the_end_is_applied(tmp_path: Path) -> None:
    lines = [ln for i in range(20) for ln in _pair(i, T0 + 60 * i)]
    result = _replay(tmp_path, [*lines, _pair(99, T0 + 5 * 86400)[0]])
    assert not result.malformed and result.events == len(lines) + 1
