"""Training (issue 12): the node-set policy, ``damon-gym train``, learned agents, rl-zoo3's
reading of the hyperparameter files and Ray Tune trials. Training runs are short (a few
thousand steps on the smoke scenarios) and seeded."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import damon_gym  # noqa: F401  (registers the ids)

pytest.importorskip("stable_baselines3")
th = pytest.importorskip("torch")

from damon_gym.envs.spaces import N_MAX, NF  # noqa: E402
from damon_gym.training.policies import (  # noqa: E402
    NodeSetExtractor,
    NodeSetPolicy,
    NodeSetSACPolicy,
)

REPO = Path(__file__).resolve().parents[1]


def _obs(task: str, scenario: str, seed: int) -> np.ndarray:
    env = gym.make(f"DamonGym/{task}-v0", scenario=scenario, disable_env_checker=True).unwrapped
    obs, _ = env.reset(seed=seed)
    obs, *_ = env.step(env.action_space.sample() * 0)
    return obs


def _permute_nodes(obs: np.ndarray, order: list[int]) -> np.ndarray:
    """``obs`` with node blocks 0..len(order)-1 reordered (block i takes block order[i])."""
    out = obs.copy()
    for i, j in enumerate(order):
        out[i * NF:(i + 1) * NF] = obs[j * NF:(j + 1) * NF]
    return out


def _model(algo: str, task: str = "Interleave"):
    from stable_baselines3 import PPO, SAC

    env = gym.make(f"DamonGym/{task}-v0", disable_env_checker=True)
    th.manual_seed(0)
    if algo == "sac":
        return SAC(NodeSetSACPolicy, env, seed=0, device="cpu", learning_starts=10)
    return PPO(NodeSetPolicy, env, seed=0, device="cpu", n_steps=16, batch_size=16)


def _mean_action(model, obs: np.ndarray) -> np.ndarray:
    a, _ = model.predict(obs, deterministic=True)
    return np.asarray(a)


# -- the node-set policy ---------------------------------------------------------------------------
@pytest.mark.parametrize("algo", ["ppo", "sac"])
@pytest.mark.parametrize("scenario,nodes", [("interleave-default", 2),
                                            ("interleave-p3-rand", 3),
                                            ("joint-4node-rand", 4)])
def test_set_policy_runs_on_any_node_count(algo, scenario, nodes):
    """One model (built for the 2-node default machine) acts on 2-, 3- and 4-node machines:
    a preference for every existing node, ``-1`` (no share) at the absent slots, and the
    preferences follow the nodes when their order changes (a shared per-node head)."""
    model = _model(algo)
    obs = _obs("Interleave", scenario, 1000)
    assert obs[np.arange(N_MAX) * NF].sum() == nodes
    a = _mean_action(model, obs)
    assert a.shape == (N_MAX + 1,) and np.isfinite(a).all()
    assert np.all(a[nodes:N_MAX] <= -0.99), a  # absent slots
    assert np.all(a[:nodes] > -0.9), a  # existing nodes get a real preference
    order = list(range(nodes))[::-1]
    b = _mean_action(model, _permute_nodes(obs, order))
    np.testing.assert_allclose(b[:nodes], a[order], atol=1e-5)
    np.testing.assert_allclose(b[N_MAX:], a[N_MAX:], atol=1e-5)  # the quota: order-free


def test_set_extractor_honours_the_mask():
    """What sits in an absent slot's features does not reach the output; flipping a mask bit
    does."""
    space = gym.spaces.Box(-np.inf, np.inf, (N_MAX * NF + 5,), np.float32)
    fe = NodeSetExtractor(space, output="context")
    obs = th.as_tensor(_obs("Interleave", "interleave-default", 0))[None]
    junk = obs.clone()
    junk[0, 3 * NF + 1: 4 * NF] = 0.7  # slot 3 does not exist (mask 0)
    assert th.allclose(fe(obs), fe(junk))
    shown = junk.clone()
    shown[0, 3 * NF] = 1.0
    assert not th.allclose(fe(obs), fe(shown))


def test_set_extractor_refuses_other_observations():
    with pytest.raises(ValueError, match="observation space"):
        NodeSetExtractor(gym.spaces.Box(0, 1, (10,), np.float32))
    space = gym.spaces.Box(0, 1, (N_MAX * NF + 5,), np.float32)
    with pytest.raises(ValueError, match="node_dim"):
        NodeSetExtractor(space, node_dim=0)


@pytest.mark.parametrize("task,dim", [("Tiering", 4), ("Joint", N_MAX + 5)])
def test_set_policy_other_tasks(task, dim):
    """Tiering has no per-node action (all from the context); Joint's first 8 are per node."""
    model = _model("ppo", task)
    obs = _obs(task, "joint-4node-rand" if task == "Joint" else "tiering-default", 1000)
    a = _mean_action(model, obs)
    assert a.shape == (dim,) and np.isfinite(a).all()
    if task == "Joint":
        assert np.all(a[4:N_MAX] <= -0.99) and np.all(a[:4] > -0.9)
