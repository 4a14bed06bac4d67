"""What replay reads: a byte-order mark, CRLF, and a line too long to be an event."""

from __future__ import annotations

import json
from pathlib import Path

from monitor.contract import MAX_EVENT_BYTES
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
