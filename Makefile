# Two commands a newcomer types:  `make run`  and  `make test`.
# Both create .venv in the repository root on first use and install the project into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONSTRAINTS ?= constraints.txt
ENV ?= DamonGym/Interleave-v0
POLICY ?= bandwidth-weights
SCENARIO ?= default
SECONDS ?= 20

.PHONY: setup run record test bench lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-install when the project's metadata or the constraints change.
$(VENV)/.installed: pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e ".[dev,rl]"
	touch $@

setup: $(VENV)/.installed

# the main job: one episode of the env on the default scenario with a built-in policy
run: setup
	$(BIN)/damon-gym run --env $(ENV) --policy $(POLICY) --episodes 1

record: setup
	$(BIN)/damon-gym record --scenario $(SCENARIO) --seconds $(SECONDS) --out out/$(SCENARIO).damon.data

test: setup
	$(BIN)/python -m pytest -n 2 tests

bench: setup
	$(BIN)/python benchmarks/run_all.py

lint: setup
	$(BIN)/ruff check damon_gym agents tests scripts benchmarks

clean:
	rm -rf $(VENV) out .pytest_cache
