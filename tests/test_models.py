"""The shipped models (models/<task>/): small, with their config, training summary and
reproduce command, and they play their task's episodes as learned agents."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import damon_gym  # noqa: F401  (registers the ids)

MODELS = Path(__file__).resolve().parents[1] / "models"
TASKS = {"interleave": "Interleave", "tiering": "Tiering", "joint": "Joint"}
SHIPPED = sorted(p.name for p in MODELS.iterdir() if p.is_dir()) if MODELS.is_dir() else []


def test_every_task_has_a_model():
    assert sorted(SHIPPED) == sorted(TASKS)


@pytest.mark.parametrize("folder", SHIPPED)
def test_shipped_model_is_small_documented_and_plays(folder):
    pytest.importorskip("stable_baselines3")
    from damon_gym.agents.registry import make_agent

    d = MODELS / folder
    model = d / "ppo.zip"
    assert model.is_file() and model.stat().st_size < 5 * 2**20
    for f in ("config.yaml", "summary.json", "scenarios.json", "vecnormalize.pkl", "README.md"):
        assert (d / f).is_file(), f
    summary = json.loads((d / "summary.json").read_text())
    assert summary["task"] == TASKS[folder] and summary["algo"] == "ppo"
    assert "damon-gym train" in (d / "README.md").read_text()  # the reproduce command
    env = gym.make(f"DamonGym/{TASKS[folder]}-v0", scenario="smoke-zigzag",
                   disable_env_checker=True)
    agent = make_agent(f"ppo:{model}", env.unwrapped)
    agent.reset(0)
    obs, info = env.reset(seed=0)
    acts = []
    for _ in range(3):
        a = agent.act(obs, info)
        assert env.action_space.contains(np.asarray(a, dtype=np.float32))
        acts.append(np.asarray(a))
        obs, _, _, _, info = env.step(a)
    # deterministic: the same observations give the same actions
    agent2 = make_agent(f"ppo:{model}", env.unwrapped)
    agent2.reset(0)
    obs, info = env.reset(seed=0)
    np.testing.assert_array_equal(np.asarray(agent2.act(obs, info)), acts[0])
