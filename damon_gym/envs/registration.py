"""Registration of the DamonGym ids with Gymnasium (idempotent, JSON-serialisable kwargs).

* ``DamonGym/Interleave-v0``, ``DamonGym/Tiering-v0``, ``DamonGym/Joint-v0`` on the default
  scenario;
* one id per task and scenario in configs/scenarios: ``DamonGym/<Task>-<Scenario>-v0`` with the
  scenario name in CamelCase (``masim-stairs`` -> ``MasimStairs``), as Minigrid registers its
  presets in a loop.
"""

from __future__ import annotations

import gymnasium as gym

TASKS = {
    "Interleave": "damon_gym.envs.tasks:InterleaveEnv",
    "Tiering": "damon_gym.envs.tasks:TieringEnv",
    "Joint": "damon_gym.envs.tasks:JointEnv",
}
VECTOR_ENTRY_POINTS = {t: f"damon_gym.envs.vector:{t}VectorEnv" for t in TASKS}


def camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.replace("_", "-").split("-") if part)


def env_ids() -> list[str]:
    from damon_gym.scenario import scenario_names

    ids = [f"DamonGym/{t}-v0" for t in TASKS]
    ids += [f"DamonGym/{t}-{camel(s)}-v0" for t in TASKS for s in scenario_names()]
    return ids


def register_envs() -> None:
    from damon_gym.scenario import scenario_names

    for task, entry in TASKS.items():
        _register(f"DamonGym/{task}-v0", entry, {"scenario": "default"}, task)
        for s in scenario_names():
            _register(f"DamonGym/{task}-{camel(s)}-v0", entry, {"scenario": s}, task)


def _register(env_id: str, entry: str, kwargs: dict, task: str) -> None:
    if env_id in gym.registry:
        return
    gym.register(id=env_id, entry_point=entry, kwargs=kwargs,
                 vector_entry_point=VECTOR_ENTRY_POINTS[task])
