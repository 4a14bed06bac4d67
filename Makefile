# Vitals developer entry points. On a fresh machine: `make demo`, `make test`.
SHELL := /bin/bash
KAFKA_VERSION ?= 4.1.1
KAFKA_PORT ?= 19092
export KAFKA_VERSION KAFKA_PORT
VENV := .venv/bin

.PHONY: setup demo test unit lint bench kafka-start kafka-stop schema clean

setup:
	tools/bootstrap.sh

demo: setup
	$(VENV)/vitals demo

# Full suite: unit, property, and integration tests against a real local Kafka
# broker started (and stopped) here.
test: setup
	@tools/kafka/kafka.sh start
	@set -o pipefail; status=0; \
	VITALS_KAFKA_BOOTSTRAP=127.0.0.1:$(KAFKA_PORT) $(VENV)/python -m pytest $(PYTEST_ARGS) || status=$$?; \
	tools/kafka/kafka.sh stop; exit $$status

unit: setup
	$(VENV)/python -m pytest tests/unit $(PYTEST_ARGS)

lint: setup
	$(VENV)/ruff check . && $(VENV)/ruff format --check .

bench: setup
	@tools/kafka/kafka.sh start
	@for b in bench/bench_*.py; do echo "== $$b"; \
	  VITALS_KAFKA_BOOTSTRAP=127.0.0.1:$(KAFKA_PORT) $(VENV)/python $$b || exit 1; done; \
	tools/kafka/kafka.sh stop

kafka-start:
	tools/kafka/kafka.sh start

kafka-stop:
	tools/kafka/kafka.sh stop

schema: setup
	$(VENV)/vitals schema --out schemas
