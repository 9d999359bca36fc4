"""Gymnasium environments over the DAMON/DAMOS simulation (the only layer that imports
gymnasium). ``import damon_gym`` registers every id (see ``registration``).

The env classes are in ``damon_gym.envs.tasks`` (``InterleaveEnv``, ``TieringEnv``,
``JointEnv``) and ``damon_gym.envs.base`` (``DamonEnv``); this package does not import them,
so registering the ids (which imports this package) does not load the simulator.
"""

from __future__ import annotations

from damon_gym.envs.registration import env_ids, register_envs

__all__ = ["env_ids", "register_envs"]
