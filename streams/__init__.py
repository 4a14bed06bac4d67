"""Vitals streaming engine: the Faust app over Kafka (stage 1 resolve, stage 2 assess)."""
