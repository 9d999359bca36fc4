"""Vector environments: a native ``gymnasium.vector.VectorEnv`` and an adapter to
stable-baselines3's ``VecEnv``.

``DamonVectorEnv`` holds N simulations of one task and steps them in one call, returning
batched arrays; it follows Gymnasium's NEXT_STEP autoreset (the step after an episode ends
resets that sub-environment and returns its first observation with reward 0). Seeding matches
``SyncVectorEnv``: ``reset(seed=s)`` seeds sub-environment i with ``s + i``, so the same seeds
give the same trajectories in single, Sync and native modes.

``SB3VecEnv`` wraps a list of single environments in SB3's protocol (same-step autoreset with
``terminal_observation`` in the info, ``TimeLimit.truncated`` for truncations).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space


class DamonVectorEnv(VectorEnv):
    """``DamonVectorEnv(num_envs, task="Interleave", **env_kwargs)`` or
    ``DamonVectorEnv(num_envs, env_id="DamonGym/Interleave-v0")``; ``gym.make_vec(id,
    num_envs, vectorization_mode="vector_entry_point")`` builds the task's subclass."""

    task: str | None = None
    metadata = {"render_modes": ["ansi", "rgb_array"], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, num_envs: int = 1, *, env_id: str | None = None, task: str | None = None,
                 render_mode: str | None = None, **kwargs: Any) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs: {num_envs} must be >= 1")
        from damon_gym.envs.registration import TASKS

        task = task or self.task
        if env_id is None and task is None:
            raise ValueError("give env_id (a registered DamonGym id) or task")
        if env_id is not None:
            spec = gym.spec(env_id)
            entry = spec.entry_point
            kw = dict(spec.kwargs, **kwargs)
        else:
            if task not in TASKS:
                raise ValueError(f"task: {task!r}; allowed: {', '.join(TASKS)}")
            entry, kw = TASKS[task], dict(kwargs)
        # Gymnasium passes the registration's max_episode_steps along; the envs truncate
        # themselves (DamonEnv.episode_steps), so it only caps the horizon
        steps = kw.pop("max_episode_steps", None)
        if steps is not None:
            kw.setdefault("horizon", int(steps))
        module, cls = entry.split(":")
        env_cls = getattr(__import__(module, fromlist=[cls]), cls)
        self.envs = [env_cls(render_mode=render_mode, **kw) for _ in range(num_envs)]
        self.num_envs = num_envs
        self.render_mode = render_mode
        self.single_observation_space = self.envs[0].observation_space
        self.single_action_space = self.envs[0].action_space
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.spec = None
        self._autoreset = np.zeros(num_envs, dtype=bool)

    def reset(self, *, seed: int | list[int | None] | None = None, options: dict | None = None):
        if seed is None or isinstance(seed, int):
            seeds = [None if seed is None else seed + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
        obs, infos = [], {}
        for i, (env, s) in enumerate(zip(self.envs, seeds, strict=True)):
            o, info = env.reset(seed=s, options=options)
            obs.append(o)
            infos = self._add_info(infos, info, i)
        self._autoreset[:] = False
        return np.stack(obs), infos

    def step(self, actions):
        actions = np.asarray(actions)
        want = (self.num_envs, *self.single_action_space.shape)
        if actions.shape != want:
            raise ValueError(f"actions: shape {actions.shape}; expected {want} (one action per "
                             f"sub-environment)")
        obs = np.empty((self.num_envs, *self.single_observation_space.shape), np.float32)
        rew = np.zeros(self.num_envs, np.float64)
        term = np.zeros(self.num_envs, bool)
        trunc = np.zeros(self.num_envs, bool)
        infos: dict[str, Any] = {}
        for i, env in enumerate(self.envs):
            if self._autoreset[i]:
                obs[i], info = env.reset()
            else:
                obs[i], rew[i], term[i], trunc[i], info = env.step(actions[i])
            infos = self._add_info(infos, info, i)
        self._autoreset = term | trunc
        return obs, rew, term, trunc, infos

    def render(self):
        return tuple(env.render() for env in self.envs)

    def close_extras(self, **kwargs: Any) -> None:
        for env in self.envs:
            env.close()


class InterleaveVectorEnv(DamonVectorEnv):
    task = "Interleave"


class TieringVectorEnv(DamonVectorEnv):
    task = "Tiering"


class JointVectorEnv(DamonVectorEnv):
    task = "Joint"


def sb3_vec_env(vec: DamonVectorEnv):
    """stable-baselines3's ``VecEnv`` view of a ``DamonVectorEnv`` (SB3 is imported only here).

    SB3 resets a finished sub-environment in the same step and passes the last observation as
    ``info["terminal_observation"]``; truncation is flagged as ``info["TimeLimit.truncated"]``.
    Seeds given to ``seed(s)`` apply at the next reset, sub-environment i getting ``s + i``."""
    from stable_baselines3.common.vec_env.base_vec_env import VecEnv

    class DamonSB3VecEnv(VecEnv):
        def __init__(self, inner: DamonVectorEnv) -> None:
            self.inner = inner
            super().__init__(inner.num_envs, inner.single_observation_space,
                             inner.single_action_space)
            self._actions = None
            self._seeds: list[int | None] = [None] * inner.num_envs

        def reset(self):
            obs = []
            self.reset_infos = []
            for i, env in enumerate(self.inner.envs):
                o, info = env.reset(seed=self._seeds[i])
                obs.append(o)
                self.reset_infos.append(info)
            self._seeds = [None] * self.num_envs
            return np.stack(obs)

        def step_async(self, actions) -> None:
            self._actions = actions

        def step_wait(self):
            obs = np.empty((self.num_envs, *self.observation_space.shape), np.float32)
            rew = np.zeros(self.num_envs, np.float32)
            dones = np.zeros(self.num_envs, bool)
            infos = []
            for i, env in enumerate(self.inner.envs):
                o, r, te, tr, info = env.step(self._actions[i])
                info = dict(info)
                if te or tr:
                    info["terminal_observation"] = o
                    info["TimeLimit.truncated"] = bool(tr and not te)
                    o, _ = env.reset()
                obs[i], rew[i], dones[i] = o, r, te or tr
                infos.append(info)
            return obs, rew, dones, infos

        def seed(self, seed: int | None = None):
            self._seeds = [None if seed is None else seed + i for i in range(self.num_envs)]
            return self._seeds

        def close(self) -> None:
            self.inner.close()

        def get_attr(self, attr_name, indices=None):
            return [getattr(self.inner.envs[i], attr_name) for i in self._get_indices(indices)]

        def set_attr(self, attr_name, value, indices=None) -> None:
            for i in self._get_indices(indices):
                setattr(self.inner.envs[i], attr_name, value)

        def env_method(self, method_name, *args, indices=None, **kwargs):
            return [getattr(self.inner.envs[i], method_name)(*args, **kwargs)
                    for i in self._get_indices(indices)]

        def env_is_wrapped(self, wrapper_class, indices=None):
            return [isinstance(self.inner.envs[i], wrapper_class) for i in self._get_indices(indices)]

        def get_images(self):
            return [env.render() for env in self.inner.envs]

    return DamonSB3VecEnv(vec)


def make_sb3_vec_env(env_id: str, num_envs: int, seed: int | None = None, **kwargs: Any):
    """An SB3 VecEnv over a native vector env of ``num_envs`` copies of ``env_id``."""
    v = sb3_vec_env(DamonVectorEnv(num_envs, env_id=env_id, **kwargs))
    if seed is not None:
        v.seed(seed)
    return v
