"""Local Apache Kafka broker for development and tests (see kafka.sh)."""
