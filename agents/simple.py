"""Two reference policies that need no training.

* ``RandomAgent``: uniform samples of the action space (seeded by ``reset``).
* ``BandwidthWeightsAgent``: the kernel's weighted-interleave auto mode as a fixed policy: dests
  weights proportional to each node's bandwidth (``reduce_interleave_weights`` of the
  topology's HMAT bandwidths, docs/damon_semantics.md §8) and the middle of the quota range; for the
  tiering controls it holds the upstream mem_tier settings (mid quota, 50 bp free / 9970 bp
  used targets). Works on the Box action spaces of every task; it reads the machine's
  topology (what the kernel's auto mode reads from firmware).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from damon_gym.envs.spaces import N_MAX, unscale


class RandomAgent:
    name = "random"

    def __init__(self, action_space: gym.Space) -> None:
        self.action_space = action_space

    def reset(self, seed: int | None = None) -> None:
        self.action_space.seed(seed)

    def act(self, obs: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        return self.action_space.sample()


class BandwidthWeightsAgent:
    name = "bandwidth-weights"

    def __init__(self, env: gym.Env) -> None:
        base = env.unwrapped
        if not isinstance(base.action_space, gym.spaces.Box):
            raise ValueError("bandwidth-weights needs action_type='box'")
        self.base = base
        self._topology = None
        self.action = np.zeros(base.action_space.shape, np.float32)

    def _action_for(self, topology) -> np.ndarray:
        """The held action on this machine (recomputed when a suite env changes machine)."""
        base = self.base
        action = np.zeros(base.action_space.shape, np.float32)
        dim = base.action_space.shape[0]
        if dim in (N_MAX + 1, N_MAX + 5):  # Interleave / Joint: weights then quota
            w = np.asarray(topology.auto_weights(), dtype=float)
            prefs = 2.0 * w / w.max() - 1.0  # share (p+1)/sum(p+1) is proportional to w
            action[: len(w)] = prefs
            action[len(w):N_MAX] = -1.0
            action[N_MAX] = 0.0  # the middle of the quota range
        if dim in (4, N_MAX + 5):  # Tiering / Joint: quotas mid-range, upstream targets
            t = action[dim - 4:]
            t[0] = t[1] = 0.0
            t[2] = unscale(base.START_FREE_BP, *base.FREE_BP)
            t[3] = unscale(base.START_USED_BP, *base.USED_BP)
        return action

    def reset(self, seed: int | None = None) -> None:
        pass

    def act(self, obs: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        topo = self.base.topology
        if topo is not self._topology:
            self._topology, self.action = topo, self._action_for(topo)
        return self.action.copy()
