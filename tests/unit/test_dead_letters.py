"""Dead-letter records (streams.dead_letters): whole when they fit, cut to fit when not."""

from __future__ import annotations

from types import SimpleNamespace

from streams.dead_letters import RECORD_OVERHEAD, dead_letter

LIMIT = 1_000_000  # faust's producer_max_request_size default


def _msg(value: bytes | None, key: bytes | None = b"k", headers: list | None = None) -> object:
    return SimpleNamespace(
        topic="ehr.ai.events",
        partition=3,
        offset=42,
        key=key,
        value=value,
        headers=headers if headers is not None else [("origin", b"bridge"), ("vitals-src", "1")],
    )


def _size(key: bytes | None, value: bytes | None, headers: list) -> int:
    return len(key or b"") + len(value or b"") + sum(len(k) + len(v) for k, v in headers)


def test_a_record_that_fits_keeps_its_bytes_and_headers_and_gains_the_reason() -> None:
    key, value, headers = dead_letter(_msg(b"{bad"), "invalid_json", "Expecting value", LIMIT)
    h = dict(headers)
    assert (key, value) == (b"k", b"{bad")
    assert h["origin"] == b"bridge" and "vitals-src" not in h  # ours are not passed on
    assert h["vitals-reason"] == b"invalid_json"
    assert (h["vitals-source-partition"], h["vitals-source-offset"]) == (b"3", b"42")
    assert "vitals-truncated" not in h


def test_a_value_too_large_to_forward_is_cut_to_fit_and_marked() -> None:
    big = b"x" * 999_990
    key, value, headers = dead_letter(_msg(big), "invalid_json", "d" * 500, LIMIT)
    h = dict(headers)
    assert h["vitals-truncated"] == b"value; value was 999990 bytes"
    assert key == b"k" and h["origin"] == b"bridge"
    assert big.startswith(value) and len(value) > LIMIT // 2
    assert _size(key, value, headers) <= LIMIT - RECORD_OVERHEAD
    assert len(h["vitals-detail"]) == 200


def test_oversized_key_and_headers_are_dropped_when_they_are_the_bulk() -> None:
    headers_in = [(f"h{i}", b"v" * 10_000) for i in range(60)]  # 600 kB of headers
    msg = _msg(b"y" * 600_000, key=b"z" * 1000, headers=headers_in)
    key, value, headers = dead_letter(msg, "undecodable", "UnicodeDecodeError", LIMIT)
    h = dict(headers)
    assert key is None and "h0" not in h
    assert h["vitals-truncated"] == b"value,key,headers; value was 600000 bytes"
    assert value == b"y" * len(value) and _size(key, value, headers) <= LIMIT - RECORD_OVERHEAD


def test_a_tombstone_stays_a_tombstone() -> None:
    assert dead_letter(_msg(None), "undecodable", "empty", LIMIT)[1] is None
