# Two commands a newcomer types:  `make run`  and  `make test`.
# Both create .venv in the repository root on first use and install the project into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONSTRAINTS ?= constraints.txt
ENV ?= DamonGym/Interleave-v0
# empty: `make run` plays the env's own scenario with the default policies of `damon-gym run`
SCENARIO ?=
POLICIES ?=
SECONDS ?= 20

.PHONY: setup run record typecheck test test-slow test-rllib bench eval lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-install when the project's metadata or the constraints change.
$(VENV)/.installed: pyproject.toml setup.py $(CONSTRAINTS) | $(BIN)/python
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e ".[dev,rl]"
	touch $@

setup: $(VENV)/.installed

# the main job: one episode of the env (its own scenario unless SCENARIO is set) with the
# built-in policies side by side (POLICIES=a,b to choose)
run: setup
	$(BIN)/damon-gym run --env $(ENV)$(if $(SCENARIO), --scenario $(SCENARIO))$(if $(POLICIES), --policies $(POLICIES))

# record defaults to the scenario `default`
RECORD_SCENARIO = $(or $(SCENARIO),default)
record: setup
	$(BIN)/damon-gym record --scenario $(RECORD_SCENARIO) --seconds $(SECONDS) --out out/$(RECORD_SCENARIO).damon.data

# mypy on the package ([tool.mypy] in pyproject.toml); .mypy_cache makes a rerun take seconds
typecheck: setup
	$(BIN)/python -m mypy

# the type check first, so a type error fails CI (.ci/run runs `make test`, then the slow
# integration tests and the RLlib ones). The suite leaves out the tests marked slow: those
# drive other systems end to end (Ray, rl-zoo3, a wheel installed into a fresh venv, PPO
# learning), tens of seconds each; `make test-slow` runs them.
test: setup typecheck
	$(BIN)/python -m pytest -n 2 -m "not slow" tests

test-slow: setup
	$(BIN)/python -m pytest -n 2 -m slow tests

bench: setup
	$(BIN)/python benchmarks/run_all.py

# every registered agent on the smoke suite (1 seed): out/eval-smoke/results.jsonl, summary, plots
eval: setup
	rm -rf out/eval-smoke
	$(BIN)/damon-gym eval --task Interleave --suite smoke --agents all --seeds 1 --out out/eval-smoke

# RLlib (scripts/train_rllib.py) pins an older gymnasium than .venv has: its own environment,
# where damon-gym must work too (tests/test_rllib.py; skipped in .venv)
RLLIB_VENV := .venv-rllib
$(RLLIB_VENV)/.installed: pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(RLLIB_VENV)
	$(RLLIB_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(RLLIB_VENV)/bin/python -m pip install --quiet -c $(CONSTRAINTS) -e ".[rl]" "ray[rllib]" pytest
	touch $@

test-rllib: $(RLLIB_VENV)/.installed
	$(RLLIB_VENV)/bin/python -m pytest tests/test_rllib.py

lint: setup
	$(BIN)/ruff check damon_gym agents tests scripts benchmarks

clean:
	rm -rf $(VENV) $(RLLIB_VENV) out .pytest_cache .mypy_cache
