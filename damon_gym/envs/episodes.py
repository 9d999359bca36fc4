"""Which episode a DamonGym reset plays: one scenario, a suite, or the reset's ``options``.

* ``gym.make(id, scenario=NAME_OR_PATH)``: ``reset(seed=K)`` plays the scenario's episode K --
  ``load_scenario(NAME).resolved(K)``, the content hash ``damon-gym scenarios show NAME --seed
  K`` prints, and the suites' (NAME, K) -- and ``reset()`` without a seed draws K from the
  env's generator.
* ``gym.make(id, suite=NAME)``: every reset draws one (scenario, seed) entry of the suite
  (uniformly, from the env's generator, which ``reset(seed=...)`` seeds) and plays it. A suite
  entry may list the tasks it is meant for; the env keeps the entries of its own task.
* ``reset(options={"scenario": NAME_OR_PATH, "seed": K})`` plays exactly that episode on any
  env (``seed`` defaults to the scenario's own); any other option key is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from damon_gym.scenario import Scenario, load_scenario
from damon_gym.suites import SuiteEntry, load_suite

OPTION_KEYS = ("scenario", "seed")
MAX_SEED = 2**31 - 1


def _episode_seed(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{where}: {value!r} is not allowed; expected an int >= 0")
    return int(value)


class EpisodeSource:
    """The scenarios an env plays (see the module docstring); ``overrides`` replace whole
    fields of every scenario (``load_scenario(..., **overrides)``)."""

    def __init__(self, scenario: str | Path | dict | None, *, suite: str | None = None,
                 overrides: dict | None = None, task: str | None = None) -> None:
        self.overrides = dict(overrides or {})
        self._cache: dict[str, Scenario] = {}
        self.entries: list[SuiteEntry] | None = None
        self.suite = suite
        if suite is not None:
            entries = load_suite(suite, task=task)
            if not entries:
                raise ValueError(f"suite {suite!r}: no entry for the {task} task")
            self.entries = entries
            self.base = self.load(entries[0].scenario)
        else:
            if scenario is None:
                raise ValueError("scenario: give a scenario name, a YAML path or a mapping")
            self.base = self.load(scenario)

    def load(self, name_or_path: str | Path | dict) -> Scenario:
        """A scenario by name, path or mapping (names and paths cached)."""
        if isinstance(name_or_path, dict):
            return load_scenario(name_or_path, **self.overrides)
        if not isinstance(name_or_path, (str, Path)):
            raise ValueError(f"scenario: {name_or_path!r} is not allowed; expected a scenario "
                             "name, a YAML path or a mapping")
        key = str(name_or_path)
        sc = self._cache.get(key)
        if sc is None:
            sc = self._cache[key] = load_scenario(name_or_path, **self.overrides)
        return sc

    def first(self) -> Scenario:
        """The first episode's scenario when no seed is given (for checks at construction)."""
        if self.entries is not None:
            return self.base.resolved(self.entries[0].seed)
        return self.base.resolved() if self.base.is_randomized else self.base

    def pick(self, rng: np.random.Generator, seed: int | None,
             options: dict | None) -> Scenario:
        """The concrete scenario of the next episode."""
        opts = dict(options or {})
        unknown = sorted(set(opts) - set(OPTION_KEYS))
        if unknown:
            raise ValueError(f"options: unknown key(s) {unknown}; allowed: "
                             f"{', '.join(repr(k) for k in OPTION_KEYS)}")
        if "scenario" in opts:
            base = self.load(opts["scenario"])
            k = _episode_seed(opts.get("seed", base.seed), "options['seed']")
            return base.resolved(k)
        if "seed" in opts:
            if self.entries is not None:
                raise ValueError("options['seed'] on a suite env: give options['scenario'] too "
                                 "(a suite's episodes are (scenario, seed) pairs)")
            return self.base.resolved(_episode_seed(opts["seed"], "options['seed']"))
        if self.entries is not None:
            name, k = self.entries[int(rng.integers(len(self.entries)))]
            return self.load(name).resolved(k)
        k = seed if seed is not None else int(rng.integers(0, MAX_SEED))
        return self.base.resolved(_episode_seed(k, "seed"))
