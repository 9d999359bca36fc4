"""One episode of a policy on a DamonGym env, kept step by step."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class Episode:
    """Per step: ``t_s`` the time at the step's start, ``reward``, ``perf_norm``,
    ``migrated`` (real bytes) and ``churn``; plus the episode's scenario and content hash."""

    t_s: np.ndarray
    reward: np.ndarray
    perf_norm: np.ndarray
    migrated: np.ndarray
    churn: np.ndarray
    scenario: str
    scenario_hash: str

    @property
    def steps(self) -> int:
        return int(self.reward.shape[0])

    def mean_reward(self, sel: np.ndarray | None = None) -> float:
        r = self.reward if sel is None else self.reward[sel]
        return float(r.mean()) if r.size else float("nan")


def play(env, agent, *, seed: int | None = None, options: dict | None = None) -> Episode:
    """Reset ``env`` (``seed``/``options`` as for ``env.reset``) and play ``agent`` until the
    episode ends."""
    agent.reset(seed)
    obs, info = env.reset(seed=seed, options=options)
    cols: dict[str, list[Any]] = {k: [] for k in ("t_s", "reward", "perf_norm", "migrated",
                                                  "churn")}
    done = False
    while not done:
        cols["t_s"].append(float(info["time_s"]))
        obs, r, term, trunc, info = env.step(agent.act(obs, info))
        done = term or trunc
        cols["reward"].append(float(r))
        cols["perf_norm"].append(float(info["perf_norm"]))
        cols["migrated"].append(int(info["migrated_bytes"]))
        cols["churn"].append(float(info["churn"]))
    return Episode(t_s=np.asarray(cols["t_s"]), reward=np.asarray(cols["reward"]),
                   perf_norm=np.asarray(cols["perf_norm"]), migrated=np.asarray(cols["migrated"]),
                   churn=np.asarray(cols["churn"]),
                   scenario=info["scenario"], scenario_hash=info["scenario_hash"])
