"""Vitals monitor core: contract, resolver, signals, detectors, replay. No Kafka imports."""

__version__ = "0.1.0"
