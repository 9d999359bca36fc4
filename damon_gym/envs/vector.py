"""Vector environments: Gymnasium's and stable-baselines3's own, no hand-written copy.

A DamonGym step is a few hundred microseconds of simulation behind one Python call; a vector
env that loops over sub-environments in Python (as ``SyncVectorEnv`` does) cannot step them
any faster than single envs, and this package has no batched simulation core that would
(docs/performance.md, issue 11). So:

* ``gym.make_vec(id, num_envs=N, vectorization_mode="sync")`` steps N envs in this process;
  ``vectorization_mode="async"`` runs them in worker processes (``AsyncVectorEnv``), which is
  what spreads a vector env over several cores. ``reset(seed=s)`` seeds sub-environment i
  with ``s + i``: the same seeds give the same trajectories as N single envs.
* :func:`make_sb3_vec_env` gives stable-baselines3 its ``DummyVecEnv`` (or ``SubprocVecEnv``)
  of the registered env, seeded the same way (``seed(s)``: sub-environment i gets ``s + i``
  at its next reset).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym


def make_sb3_vec_env(env_id: str, num_envs: int, seed: int | None = None, *,
                     subproc: bool = False, **kwargs: Any):
    """A stable-baselines3 ``VecEnv`` of ``num_envs`` copies of ``env_id`` made with
    ``gym.make(env_id, **kwargs)``: ``DummyVecEnv`` (one process) or, with ``subproc``,
    ``SubprocVecEnv`` (one worker process per copy)."""
    if not isinstance(num_envs, int) or num_envs < 1:
        raise ValueError(f"num_envs: {num_envs!r} must be an integer >= 1")
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    fns = [_maker(env_id, kwargs) for _ in range(num_envs)]
    vec = SubprocVecEnv(fns) if subproc else DummyVecEnv(fns)
    if seed is not None:
        vec.seed(seed)
    return vec


def _maker(env_id: str, kwargs: dict[str, Any]):
    def make() -> gym.Env:
        import damon_gym  # noqa: F401  (registers the ids in a fresh worker process)

        return gym.make(env_id, **kwargs)

    return make


__all__ = ["make_sb3_vec_env"]
