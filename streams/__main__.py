"""``python -m streams worker --config FILE``: run a Vitals streaming worker."""

from __future__ import annotations

import argparse
from pathlib import Path

from streams.settings import WorkerSettings
from streams.topology import run_worker


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m streams")
    sub = parser.add_subparsers(dest="command", required=True)
    worker = sub.add_parser("worker", help="run a worker until SIGINT/SIGTERM")
    worker.add_argument(
        "--config", type=Path, help="worker settings (YAML/JSON); see examples/worker.yaml"
    )
    args = parser.parse_args(argv)
    try:
        settings = WorkerSettings.load(args.config)
    except ValueError as exc:
        parser.exit(2, f"{exc}\n")
    run_worker(settings)


if __name__ == "__main__":
    main()
