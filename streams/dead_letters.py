"""Dead-letter records: the original bytes and headers, the reason, the source.

A dead letter must always be writable, or the event it stands for is lost: a
record the producer refuses (over its ``max_request_size``) would fail the
stage instead. So a record that would not fit is cut to fit. Its value keeps
its first bytes, and ``vitals-truncated`` says what was cut. When the original
key and headers alone leave no room, they are dropped too. The original is still
in the source topic at ``vitals-source-offset`` (until that topic's retention).
"""

from __future__ import annotations

from typing import Any

Headers = list[tuple[str, bytes]]

RECORD_OVERHEAD = 4096
"""Bytes kept free of a request for the record and batch framing (aiokafka's
size estimate adds well under 100 bytes per record)."""


def source_headers(message: Any) -> Headers:
    """A faust/aiokafka message's headers as (str, bytes) pairs."""
    h = message.headers or []
    items = h.items() if isinstance(h, dict) else h
    return [(k, v if isinstance(v, bytes) else str(v).encode()) for k, v in items]


def _size(headers: Headers) -> int:
    return sum(len(k.encode()) + len(v) for k, v in headers)


def dead_letter(
    message: Any, reason: str, detail: str, max_request_size: int
) -> tuple[bytes | None, bytes | None, Headers]:
    """(key, value, headers) of the dead letter for *message*, at most
    ``max_request_size`` bytes in all (see the module docstring)."""
    theirs = [h for h in source_headers(message) if not h[0].startswith("vitals-")]
    ours = [
        ("vitals-reason", reason.encode()),
        ("vitals-detail", detail[:200].encode("utf-8", "replace")),
        ("vitals-source-topic", message.topic.encode()),
        ("vitals-source-partition", str(message.partition).encode()),
        ("vitals-source-offset", str(message.offset).encode()),
    ]
    key, value = message.key, message.value
    budget = max_request_size - RECORD_OVERHEAD - _size(ours) - 64  # room for the mark
    kept = len(key or b"") + _size(theirs)
    if kept + len(value or b"") <= budget:
        return key, value, theirs + ours
    cut = ["value"]
    if kept > budget // 2:  # the key and headers themselves are the bulk: drop them
        key, theirs, kept = None, [], 0
        cut += ["key", "headers"]
    value = value or b""
    mark = f"{','.join(cut)}; value was {len(value)} bytes".encode()
    return key, value[: budget - kept], [*theirs, *ours, ("vitals-truncated", mark)]
