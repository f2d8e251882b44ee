# Kombu, as a plugin-based framework. `make demo` runs the main job, `make test` the tests.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DISTS  := kombu-core kombu-transport-amqp kombu-transport-redis kombu-transport-sqs \
          kombu-transport-mongodb kombu-transport-couchdb kombu-transport-beanstalk
STAMP  := $(VENV)/.installed
# Every server a test suite talks to; `make services SERVICES="redis"` starts fewer.
SERVICES ?= redis rabbitmq beanstalkd sqs mongodb couchdb

.PHONY: install demo services test lint bench reference celery kombu57 clean

install: $(STAMP)

$(STAMP): requirements-dev.txt $(foreach d,$(DISTS),$(d)/pyproject.toml)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements-dev.txt $(foreach d,$(DISTS),-e ./$(d))
	touch $@

demo: install
	$(BIN)/python kombu-core/examples/demo.py

services:
	bash scripts/services.sh $(SERVICES)

reference:
	bash scripts/reference-venv.sh

# Celery 5.7.0 on this project in .venv-celery (the README's way), for celery-tests/.
celery:
	bash scripts/celery-venv.sh

# Every suite, in parallel groups (scripts/run-tests.sh): the project's pytest suites,
# Kombu 5.7.0's own integration tests (kombu57-integration/), Celery, the bounded chaos run.
test: install services reference celery
	bash scripts/run-tests.sh

# Kombu 5.7.0's t/integration against this project (sdist fetched at run time).
kombu57: install services
	$(BIN)/python kombu57-integration/run.py $(KOMBU57_TARGETS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The documentation site (mkdocs.yml, docs/) into the ignored site/, warnings as errors.
# Pages include the repository's READMEs, docstrings and the tutorial's tested code.
.PHONY: docs
docs: install
	$(BIN)/mkdocs build --strict

bench: install services reference
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# The chaos suite (chaos/README.md): 5,000 numbered messages per fault and transport, on
# private servers; prints the table, fails on any loss. CHAOS_ARGS="--targets redis --n 1000".
.PHONY: chaos
chaos: install
	$(BIN)/python -m chaos $(CHAOS_ARGS)

clean:
	-bash scripts/services.sh --stop
	rm -rf $(VENV) .venv-kombu57 .venv-celery .venv-clients-low .services .kombu57-sdist .test-logs site
