"""Environment speed, as ratios to Gymnasium's CartPole-v1 measured in the same run.

* single env: steps/s of DamonGym/Interleave-v0 (default scenario, random actions) and of
  CartPole-v1, and the cost ratio (how many CartPole steps one DamonGym step costs);
* Gymnasium's SyncVectorEnv: env-steps/s for 1, 16 and 64 sub-environments on one core.
"""

from __future__ import annotations

import time

import gymnasium as gym

import damon_gym  # noqa: F401

ENV_ID = "DamonGym/Interleave-v0"


def play(env, n: int, seed: int = 0, clock=time.perf_counter) -> float:
    """Seconds on ``clock`` of ``n`` random steps (actions drawn beforehand; at an episode's
    end the env resets without a seed, as training's envs do)."""
    env.reset(seed=seed)
    env.action_space.seed(seed)
    acts = [env.action_space.sample() for _ in range(n)]
    t0 = clock()
    for a in acts:
        _, _, te, tr, _ = env.step(a)
        if te or tr:
            env.reset()
    return clock() - t0


def _steps_per_s(env, n: int) -> float:
    return n / play(env, n)


def cartpole_steps_per_s(n: int = 20000) -> float:
    return _steps_per_s(gym.make("CartPole-v1"), n)


def single_steps_per_s(n: int = 200) -> float:
    env = gym.make(ENV_ID)
    _steps_per_s(env, 5)  # warm-up (numba compile, first X*)
    return _steps_per_s(env, n)


def vector_steps_per_s(num_envs: int, n_steps: int) -> float:
    v = gym.make_vec(ENV_ID, num_envs=num_envs, vectorization_mode="sync")
    v.reset(seed=0)
    v.action_space.seed(0)
    v.step(v.action_space.sample())
    t0 = time.perf_counter()
    for _ in range(n_steps):
        v.step(v.action_space.sample())
    return num_envs * n_steps / (time.perf_counter() - t0)


def run(quick: bool = False) -> dict:
    cp = cartpole_steps_per_s()
    single = single_steps_per_s(60 if quick else 200)
    out = {"cartpole_steps_per_s": cp, "single_steps_per_s": single,
           "single_cost_in_cartpole_steps": cp / single, "vector": []}
    for n, steps in ((1, 30), (16, 4), (64, 2)) if quick else ((1, 100), (16, 20), (64, 6)):
        sps = vector_steps_per_s(n, steps)
        out["vector"].append({"num_envs": n, "env_steps_per_s": sps,
                              "cost_in_cartpole_steps": cp / sps})
    return out


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
