"""Gymnasium environments over the DAMON/DAMOS simulation (the only layer that imports
gymnasium). ``import damon_gym`` registers every id (see ``registration``)."""

from __future__ import annotations

from damon_gym.envs.base import DamonEnv
from damon_gym.envs.registration import env_ids, register_envs
from damon_gym.envs.tasks import InterleaveEnv, JointEnv, TieringEnv

__all__ = ["DamonEnv", "InterleaveEnv", "TieringEnv", "JointEnv", "env_ids", "register_envs"]
