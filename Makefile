# Entry points: `make run` sets up and starts the product, `make test` sets up and runs the tests.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup run test lint bench clean images

setup:
	bash scripts/setup.sh

run: setup
	$(VENV)/bin/kvtui up

lint: setup
	$(VENV)/bin/ruff check kvtui cluster launcher tests bench
	$(VENV)/bin/lint-imports

test: lint
	$(PY) -m pytest $(PYTEST_ARGS)

bench: setup
	$(PY) -m bench

# Container images for a real cluster (podman or docker); see images/build.sh.
images: setup
	bash images/build.sh $(TAG)

clean:
	rm -rf $(VENV) .pytest_cache
