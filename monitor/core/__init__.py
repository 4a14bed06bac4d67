"""The pure engine: event contract, resolver, per-series state, signals and detectors.

Nothing here imports Kafka, Faust or an HTTP server; replay (``monitor.replay``) and
the worker (``streams``) both drive these classes.
"""
