"""Publishing side for EHR bridges: validated Kafka publisher, topic admin, text-free helpers."""
