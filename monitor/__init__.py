"""Vitals: the pure engine in :mod:`monitor.core`; beside it the outer layers (replay
reader, CLI, reports, plots, simulate, scoring, the Prometheus collector). No Kafka
imports anywhere in this package."""

__version__ = "0.1.0"
