"""Behaviour cloning: a policy's starting point taken from an agent's play
(``damon-gym train --imitate AGENT``).

PPO trained from scratch on Tiering and Joint settles on "migrate almost nothing" (B0's play)
and never leaves it: the actions that make the tiering schemes move pages at the right
moments are a small corner of the action box (docs/training.md). Starting from a policy
that already plays like a good agent removes that exploration problem. ``collect`` plays
the agent (any registered agent, ``NAME:ARG`` forms and trained models included) on the
training suite and records each observation with the agent's action; ``clone`` fits the
policy's action mean to those actions (mean squared error, Adam; the value function and the
action noise ``log_std`` are left as they are, so the reinforcement learning that follows
explores around the cloned play as it would around a fresh one). The teacher may read what
the student cannot (the oracles read ``info["f_star"]``, the optimum): the student sees only
the observation, so it learns what of the teacher's play the observation predicts.

A teacher that mostly holds and acts only now and then (the burst oracle moves pages at
about 1 % of its steps) leaves the acting steps a sliver of a plain mean squared error: the
fitted mean holds everywhere. ``balance`` (``--imitate-balance SHARE``) weighs the samples
so that those where the teacher leaves its holding value in some action dimension
(``acting``) carry ``SHARE`` of the loss and the others the rest, as class weights do for a
rare class.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: algorithms whose policy has an action distribution with a mean to fit (on-policy, SB3)
IMITATE_ALGOS = ("ppo", "a2c")
BATCH_SIZE = 256
LEARNING_RATE = 1e-3
VALIDATION_SHARE = 0.1


def collect(env_id: str, agent: str, suite: str, steps: int, seed: int,
            env_kwargs: dict[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """(observations, the agent's actions, episodes begun) over ``steps`` steps of ``agent``
    on ``suite``'s episodes of ``env_id`` (the first reset seeded with ``seed``, the next
    ones drawn by the env, as training's envs do)."""
    import gymnasium as gym

    from damon_gym.agents.registry import make_agent
    from damon_gym.envs.registration import HORIZON

    env = gym.make(env_id, suite=suite, max_episode_steps=HORIZON, disable_env_checker=True,
                   **(env_kwargs or {}))
    try:
        teacher = make_agent(agent, env)
        obs_list, act_list = [], []
        obs, info = env.reset(seed=seed)
        teacher.reset(seed)
        episodes = 1
        for _ in range(steps):
            action = np.asarray(teacher.act(obs, info), dtype=np.float32)
            obs_list.append(np.asarray(obs, dtype=np.float32))
            act_list.append(action)
            obs, _, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                obs, info = env.reset()
                teacher.reset(None)
                episodes += 1
    finally:
        env.close()
    return np.stack(obs_list), np.stack(act_list), episodes


def acting(actions: np.ndarray) -> np.ndarray:
    """Per sample, whether the teacher acts: whether, in any action dimension that holds one
    value (compared at 1e-4) at least half of the time -- the teacher's holding value there --
    the sample differs from it. Dimensions the teacher sets anew at every step (Joint's
    interleave weights beside its tiering controls) have no such value and do not count."""
    if len(actions) == 0:
        return np.zeros(0, dtype=bool)
    out = np.zeros(len(actions), dtype=bool)
    for col in np.round(np.asarray(actions, dtype=np.float64), 4).T:
        values, counts = np.unique(col, return_counts=True)
        k = int(np.argmax(counts))
        if counts[k] * 2 >= len(col):
            out |= col != values[k]
    return out


def sample_weights(act: np.ndarray, balance: float | None) -> np.ndarray | None:
    """Weights (mean 1) giving the acting samples (``act``, the mask ``acting`` returns)
    ``balance`` of the total and the holding ones the rest; None (plain mean) without
    ``balance`` or when every sample is of one kind."""
    if balance is None:
        return None
    if not 0.0 < balance < 1.0:
        raise ValueError(f"imitate-balance: {balance!r}; allowed: a share in (0, 1)")
    share = float(act.mean()) if len(act) else 0.0
    if share in (0.0, 1.0):
        return None
    return np.where(act, balance / share, (1.0 - balance) / (1.0 - share))


def clone(policy: Any, obs: np.ndarray, actions: np.ndarray, *, epochs: int, seed: int,
          batch_size: int = BATCH_SIZE, learning_rate: float = LEARNING_RATE,
          balance: float | None = None) -> dict[str, float]:
    """Fit ``policy``'s action mean to ``actions`` (an SB3 ``ActorCriticPolicy``, changed in
    place) for ``epochs`` passes over 90 % of the pairs in shuffled batches; the other 10 %
    measure it. ``balance``: the acting samples' share of the loss (``sample_weights``).
    Returns the mean squared errors before and after on both parts (unweighted), and on the
    acting samples of both parts."""
    import torch as th

    act = acting(actions)
    w_np = sample_weights(act, balance)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(obs))
    n_val = max(1, int(len(obs) * VALIDATION_SHARE)) if len(obs) > 1 else 0
    val, fit = order[:n_val], order[n_val:]
    o = th.as_tensor(obs, dtype=th.float32)
    a = th.as_tensor(actions, dtype=th.float32)
    w = None if w_np is None else th.as_tensor(w_np, dtype=th.float32)
    act_idx = np.flatnonzero(act)
    # the actor: everything but the value function and the action noise
    params = [p for name, p in policy.named_parameters()
              if name != "log_std" and not name.startswith(("value_net", "mlp_extractor.value"))]
    opt = th.optim.Adam(params, lr=learning_rate)

    def mse(idx: np.ndarray) -> float:
        if len(idx) == 0:
            return float("nan")
        with th.no_grad():
            mean = policy.get_distribution(o[idx]).distribution.mean
            return float(((mean - a[idx]) ** 2).mean())

    before = {"fit_mse_before": mse(fit), "validation_mse_before": mse(val)}
    if len(act_idx):  # (none when the teacher never leaves its holding values)
        before["acting_mse_before"] = mse(act_idx)
    policy.set_training_mode(True)
    for _ in range(epochs):
        rng.shuffle(fit)
        for b in range(0, len(fit), batch_size):
            idx = fit[b:b + batch_size]
            mean = policy.get_distribution(o[idx]).distribution.mean
            err = (mean - a[idx]) ** 2
            loss = err.mean() if w is None else (err.mean(dim=1) * w[idx]).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    policy.set_training_mode(False)
    after = {"fit_mse": mse(fit), "validation_mse": mse(val),
             "acting_share": float(len(act_idx) / max(len(obs), 1))}
    if len(act_idx):
        after["acting_mse"] = mse(act_idx)
    return {**before, **after}


def imitate(model: Any, env_id: str, agent: str, suite: str, steps: int, epochs: int,
            seed: int, env_kwargs: dict[str, Any] | None = None,
            balance: float | None = None) -> dict[str, Any]:
    """``collect`` then ``clone`` into ``model.policy``; what summary.json records."""
    import time

    t0 = time.perf_counter()
    obs, actions, episodes = collect(env_id, agent, suite, steps, seed, env_kwargs)
    errors = clone(model.policy, obs, actions, epochs=epochs, seed=seed, balance=balance)
    return {"agent": agent, "suite": suite, "steps": int(len(obs)), "episodes": episodes,
            "epochs": epochs, "balance": balance,
            **{k: round(v, 6) for k, v in errors.items()},
            "wall_s": round(time.perf_counter() - t0, 2)}


__all__ = ["IMITATE_ALGOS", "acting", "sample_weights", "collect", "clone", "imitate"]
