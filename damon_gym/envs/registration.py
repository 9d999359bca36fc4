"""Registration of the DamonGym ids with Gymnasium (idempotent, JSON-serialisable kwargs).

* ``DamonGym/Interleave-v0``, ``DamonGym/Tiering-v0``, ``DamonGym/Joint-v0`` on each task's
  default scenario (``interleave-default``, ``tiering-default``, ``joint-default``);
* one id per task and scenario in configs/scenarios: ``DamonGym/<Task>-<Scenario>-v0`` with the
  scenario name in CamelCase (``masim-stairs`` -> ``MasimStairs``), as Minigrid registers its
  presets in a loop.

``max_episode_steps`` is the scenario's episode length, ``min(300, duration / 1 s - 1)`` (the
envs truncate there themselves too; with ``suite=`` or another ``horizon`` the env's own
truncation decides).

Registration runs when Gymnasium is imported (see ``damon_gym/__init__``), so it reads the
scenario files with the YAML reader alone and imports neither the scenarios' models nor the
envs nor the simulator (the entry points are strings, loaded by ``gym.make``).
"""

from __future__ import annotations

import gymnasium as gym

from damon_gym.configs import SCENARIO_DIR
from damon_gym.safe_yaml import YamlError, read_yaml
from damon_gym.units import UnitError, parse_seconds

TASKS = {
    "Interleave": "damon_gym.envs.tasks:InterleaveEnv",
    "Tiering": "damon_gym.envs.tasks:TieringEnv",
    "Joint": "damon_gym.envs.tasks:JointEnv",
}


def camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.replace("_", "-").split("-") if part)


def env_ids() -> list[str]:
    from damon_gym.scenario import scenario_names

    own = scenarios_with_migration()
    ids = [f"DamonGym/{t}-v0" for t in TASKS]
    ids += [f"DamonGym/{t}-{camel(s)}-v0" for t in TASKS for s in scenario_names()
            if s not in own]
    return ids


#: each task's default scenario (the ``DEFAULT_SCENARIO`` of its class)
DEFAULT_SCENARIOS = {"Interleave": "interleave-default", "Tiering": "tiering-default",
                     "Joint": "joint-default"}
HORIZON = 300  # the envs' default horizon (steps of 1 s)


def max_episode_steps(duration_s: float, step_s: float = 1.0, horizon: int = HORIZON) -> int:
    """``min(horizon, duration / step_s - 1)``: an episode's steps (the warm-up interval of the
    reset is the first of the scenario's ``duration / step_s``; see ``DamonEnv.episode_steps``)."""
    return max(1, min(horizon, int(duration_s / step_s + 1e-9) - 1))


def register_envs() -> None:
    durations = scenario_durations()
    own = scenarios_with_migration()
    for task, entry in TASKS.items():
        default = DEFAULT_SCENARIOS[task]
        _register(f"DamonGym/{task}-v0", entry, {"scenario": default},
                  durations.get(default))
        for s, d in durations.items():
            if s not in own:  # the tasks add their migration schemes themselves
                _register(f"DamonGym/{task}-{camel(s)}-v0", entry, {"scenario": s}, d)


def _register(env_id: str, entry: str, kwargs: dict, duration_s: float | None) -> None:
    if env_id in gym.registry:
        return
    steps = max_episode_steps(duration_s) if duration_s is not None else HORIZON
    gym.register(id=env_id, entry_point=entry, kwargs=kwargs, max_episode_steps=steps)


def _raw_scenarios() -> dict[str, dict]:
    raw: dict[str, dict] = {}
    for p in SCENARIO_DIR.glob("*.yaml"):
        try:
            data = read_yaml(p)
        except YamlError:
            data = None
        raw[p.stem] = data if isinstance(data, dict) else {}
    return raw


def scenarios_with_migration() -> set[str]:
    """Shipped scenarios whose own ``damon:`` block (through the ``extends`` chain) already
    has a ``migrate_*`` scheme: the tasks refuse them (``envs.recipes``), so they get no task
    ids. They are scenarios for the simulator and the CLI (e.g. the kernel-fidelity set)."""
    raw = _raw_scenarios()

    def damon_of(name: str, seen: tuple = ()) -> object:
        data = raw.get(name, {})
        if "damon" in data:
            return data["damon"]
        parent = data.get("extends")
        if isinstance(parent, str) and parent in raw and parent not in seen:
            return damon_of(parent, (*seen, name))
        return None

    def migrates(doc: object) -> bool:
        if not isinstance(doc, dict):
            return False  # none, or a file reference: the env says so when it is made
        for kd in doc.get("kdamonds") or []:
            for ctx in (kd or {}).get("contexts") or [] if isinstance(kd, dict) else []:
                for sch in (ctx or {}).get("schemes") or [] if isinstance(ctx, dict) else []:
                    if isinstance(sch, dict) and str(sch.get("action", "")).startswith("migrate"):
                        return True
        return False

    return {name for name in raw if migrates(damon_of(name))}


def scenario_durations() -> dict[str, float]:
    """Every shipped scenario's duration in seconds, from the files alone (``duration``
    through the ``extends`` chain; 10 s when none sets it), without validating the scenarios:
    cheap enough for env registration at import."""
    raw = _raw_scenarios()

    def duration(name: str, seen: tuple = ()) -> float:
        data = raw.get(name, {})
        if "duration" in data:
            try:
                return parse_seconds(data["duration"]) / 1e6
            except (UnitError, ValueError, TypeError):
                return 10.0
        parent = data.get("extends")
        if isinstance(parent, str) and parent in raw and parent not in seen:
            return duration(parent, (*seen, name))
        return 10.0

    return {name: duration(name) for name in sorted(raw)}


# importing this module registers the ids (what ``import damon_gym`` relies on, also when
# this module is the one that imports Gymnasium; registering twice changes nothing)
register_envs()
