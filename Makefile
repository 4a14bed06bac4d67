# Vitals developer entry points. On a fresh machine: `make demo`, `make test`.
SHELL := /bin/bash
KAFKA_VERSION ?= 4.1.1
KAFKA_PORT ?= 19092
export KAFKA_VERSION KAFKA_PORT
VENV := .venv/bin
STACK_ARGS ?=

.PHONY: setup setup-system demo stack test unit lint bench dashboards kafka-start kafka-stop \
	schema clean

# The Python venv only (no root, no Java, no apt): enough for the demo.
setup:
	tools/bootstrap.sh

# Also the Debian packages the tests, the local stack and the benchmarks need.
setup-system:
	tools/bootstrap.sh --system

demo: setup
	$(VENV)/vitals demo

# Prometheus + Alertmanager (Debian's) on loopback ports with the project's rules and
# config, scraping `vitals demo` in accelerated time (tools/stack.py; Ctrl-C stops it).
stack: setup-system
	$(VENV)/python -m tools.stack $(STACK_ARGS)

# Full suite: unit, property, and integration tests against a real local Kafka
# broker started (and stopped) here, and real Prometheus and Alertmanager.
test: setup-system
	@tools/kafka/kafka.sh start
	@set -o pipefail; status=0; \
	VITALS_KAFKA_BOOTSTRAP=127.0.0.1:$(KAFKA_PORT) $(VENV)/python -m pytest $(PYTEST_ARGS) || status=$$?; \
	tools/kafka/kafka.sh stop; exit $$status

unit: setup-system
	$(VENV)/python -m pytest tests/unit $(PYTEST_ARGS)

lint: setup
	$(VENV)/ruff check . && $(VENV)/ruff format --check .

bench: setup-system
	@tools/kafka/kafka.sh start
	@for b in bench/bench_*.py; do echo "== $$b"; \
	  VITALS_KAFKA_BOOTSTRAP=127.0.0.1:$(KAFKA_PORT) $(VENV)/python $$b || exit 1; done; \
	tools/kafka/kafka.sh stop

# Regenerate the Grafana dashboards' JSON (commit it: a test compares).
dashboards: setup
	$(VENV)/python -m dashboards.grafana.generate

kafka-start:
	tools/kafka/kafka.sh start

kafka-stop:
	tools/kafka/kafka.sh stop

schema: setup
	$(VENV)/vitals schema --out schemas
