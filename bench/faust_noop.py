"""A faust agent that only counts: the floor under any faust worker's cost a message.

    .venv/bin/python bench/faust_noop.py HOST:PORT TOPIC N

Reads TOPIC from the start in a fresh consumer group, as ``bench_worker.py``'s
worker does, and prints ``<seconds> <cpu seconds> <messages>`` once N messages
arrived: the time from the first message to the N-th, and the CPU time this process
used meanwhile. The worker cannot be faster than this.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

import faust


def main() -> None:
    servers, topic, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    app = faust.App(
        f"bench-noop-{os.getpid()}",
        broker=[f"kafka://{s}" for s in servers.split(",")],
        store="memory://",
        datadir=tempfile.mkdtemp(prefix="faust-noop-"),
        web_enabled=False,
        autodiscover=False,
        consumer_auto_offset_reset="earliest",
    )
    source = app.topic(
        topic, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )
    seen = {"n": 0, "t0": 0.0, "c0": 0.0}

    @app.agent(source)
    async def count(stream):  # type: ignore[no-untyped-def]
        async for _ in stream.events():
            if not seen["n"]:
                seen["t0"], seen["c0"] = time.perf_counter(), time.process_time()
            seen["n"] += 1
            if seen["n"] >= n:
                took = time.perf_counter() - seen["t0"]
                cpu = time.process_time() - seen["c0"]
                os.write(
                    1, f"{took:.6f} {cpu:.6f} {seen['n']}\n".encode()
                )  # (faust redirects print)
                os._exit(0)

    faust.Worker(app, loglevel="warning", quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
