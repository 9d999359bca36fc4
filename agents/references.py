"""Reference policies: constant actions, the instant oracle and the phase oracle.

They bound what a learner can reach on a scenario (docs/headroom.md). The constants read
nothing; the oracles read ground truth that no real system has, and say so:

* ``ConstantAgent``: one fixed action for the whole episode. ``constant_grid(env)`` lists the
  grid ``damon-gym headroom`` sweeps for each task (weights x quota for Interleave, quotas x
  goal targets for Tiering, a cross of both for Joint).
* ``InstantOracleAgent``: reads ``info["f_star"]``, the model's optimal access shares of the
  current phase and background, and ``info["shares"]``, the true shares of the placement (both
  ground truth). Interleave: dests weights proportional to ``f_star``; the quota is
  ``quota_max`` while the true shares are more than ``tolerance`` (2 %) from the optimum and
  ``quota_min`` once they are within it, so it re-balances as fast as DAMOS lets it and then
  holds still. Tiering: while the fast node's true share is more than ``tier_tolerance``
  (3 %) below the optimum's, demotion and promotion at ``quota_max`` with room made on the
  fast node (10 % free, 99.9 % used targets); otherwise ``quota_min`` and targets that ask
  for nothing while the fast node is full (0.1 % free, 50 % used). Joint: both. It pays its
  churn like any policy.
* ``PhaseOracleAgent``: a schedule of constant actions switched at the scenario's phase
  changes (``env.phase_times()``): the best constant of the grid for each phase, as measured
  by ``damon-gym headroom`` on the same episode. It reads the time (``info["time_s"]``).
"""

from __future__ import annotations

import bisect
from typing import Any

import gymnasium as gym
import numpy as np

from damon_gym.envs.spaces import N_MAX, log_unscale, unscale

MiB, GiB = 1 << 20, 1 << 30


def _base(env: gym.Env):
    base = env.unwrapped
    if not isinstance(base.action_space, gym.spaces.Box):
        raise ValueError("the reference policies need action_type='box'")
    return base


def weight_prefs(shares: Any) -> np.ndarray:
    """Weight preferences (action slots 0..7) whose mapping gives ``shares`` (over the nodes
    given; the other slots -1)."""
    s = np.clip(np.asarray(shares, dtype=np.float64), 0.0, None)
    out = np.full(N_MAX, -1.0)
    if s.sum() <= 0:
        out[: len(s)] = 1.0
        return out
    out[: len(s)] = 2.0 * s / s.max() - 1.0
    return out


def interleave_action(base, shares: Any, quota: int) -> np.ndarray:
    """An Interleave action: dests weight shares and a quota in bytes per step."""
    a = np.zeros(N_MAX + 1, np.float32)
    a[:N_MAX] = weight_prefs(shares)
    a[N_MAX] = log_unscale(quota, base.quota_min, base.quota_max)
    return a


def tiering_action(base, demote: int, promote: int, free_bp: int, used_bp: int) -> np.ndarray:
    """A Tiering action: the two quotas (bytes per step) and the two goal targets (bp)."""
    return np.array([log_unscale(demote, base.quota_min, base.quota_max),
                     log_unscale(promote, base.quota_min, base.quota_max),
                     unscale(free_bp, *base.FREE_BP), unscale(used_bp, *base.USED_BP)],
                    np.float32)


def _task(base) -> str:
    return type(base).task_name()


def _fast_shares(base, fast_share: float) -> np.ndarray:
    """``fast_share`` on the CPU's node, the rest over the others in proportion to bandwidth."""
    topo = base.topology
    bw = np.array([n.bw_read_gbps for n in topo.nodes], dtype=np.float64)
    fast = topo.cpu_node
    s = np.zeros(topo.nr_nodes)
    others = [i for i in range(topo.nr_nodes) if i != fast]
    s[fast] = fast_share
    if others:
        s[others] = (1.0 - fast_share) * bw[others] / bw[others].sum()
    return s


def weight_grid(base) -> list[tuple[str, np.ndarray]]:
    """The weight shares the constant grid tries: the CPU's node at 100 / 87.5 / 75 / 50 / 25 %
    (the rest by bandwidth), bandwidth-proportional and equal."""
    bw = np.array([n.bw_read_gbps for n in base.topology.nodes], dtype=np.float64)
    rows = [(f"fast {int(f * 1000) / 10:g}%", _fast_shares(base, f))
            for f in (1.0, 0.875, 0.75, 0.5, 0.25)]
    rows += [("bandwidth", bw / bw.sum()), ("equal", np.ones(len(bw)) / len(bw))]
    return rows


def _quota_levels(base) -> list[tuple[str, int]]:
    mid = base._start_quota()
    return [("q min", base.quota_min), ("q mid", mid), ("q max", base.quota_max)]


TIER_TARGETS = (("upstream 50/9970", 50, 9970), ("roomy 1000/9800", 1000, 9800),
                ("half 5000/5000", 5000, 5000))


def constant_grid(env: gym.Env) -> list[tuple[str, np.ndarray]]:
    """(label, action) of every constant ``damon-gym headroom`` tries on the env's task."""
    base = _base(env)
    task = _task(base)
    quotas = _quota_levels(base)
    if task == "Interleave":
        return [(f"{wl}, {ql}", interleave_action(base, w, q))
                for wl, w in weight_grid(base) for ql, q in quotas]
    tier = [(f"{ql}, {tl}", tiering_action(base, q, q, fb, ub))
            for ql, q in quotas for tl, fb, ub in TIER_TARGETS]
    if task == "Tiering":
        return tier
    weights = [w for w in weight_grid(base) if w[0] in ("fast 100%", "fast 75%", "bandwidth")]
    inter = [(f"{wl}, {ql}", interleave_action(base, w, q)) for wl, w in weights
             for ql, q in quotas[1:]]
    tier3 = [tier[0], tier[3], tier[6]]  # min / mid / max quota, upstream targets
    return [(f"{il}; {tl}", np.concatenate([ia, ta])) for il, ia in inter for tl, ta in tier3]


class ConstantAgent:
    """One fixed action for the whole episode."""

    def __init__(self, action: Any, name: str = "constant") -> None:
        self.action = np.asarray(action, dtype=np.float32).copy()
        self.name = name

    def reset(self, seed: int | None = None) -> None:
        pass

    def act(self, obs: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        return self.action.copy()


class InstantOracleAgent:
    """The model's optimal split every step (see the module docstring; reads ground truth:
    ``info["f_star"]`` and ``info["shares"]``)."""

    name = "instant-oracle"

    def __init__(self, env: gym.Env, tolerance: float = 0.02,
                 tier_tolerance: float = 0.03) -> None:
        self.env = env
        self.base = _base(env)
        self.task = _task(self.base)
        self.tolerance = float(tolerance)
        self.tier_tolerance = float(tier_tolerance)

    def reset(self, seed: int | None = None) -> None:
        pass

    def act(self, obs: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        base = self.base
        n = base.nr_nodes
        f_star = np.asarray(info["f_star"][:n], dtype=np.float64)
        shares = np.asarray(info["shares"][:n], dtype=np.float64)
        if f_star.sum() <= 0:  # no optimum known (idle or before the first step): hold
            f_star = shares if shares.sum() > 0 else np.ones(n) / n
        off = float(np.abs(f_star - shares).max())
        move = off > self.tolerance
        q = base.quota_max if move else base.quota_min
        parts = []
        if self.task in ("Interleave", "Joint"):
            parts.append(interleave_action(base, f_star, q))
        if self.task in ("Tiering", "Joint"):
            fast = base.topology.cpu_node
            if f_star[fast] - shares[fast] > self.tier_tolerance:  # make room, then fill it
                parts.append(tiering_action(base, base.quota_max, base.quota_max, 1000, 9990))
            else:  # targets that ask for nothing while the fast node is full: hold still
                parts.append(tiering_action(base, base.quota_min, base.quota_min, 10, 5000))
        return np.concatenate(parts).astype(np.float32)


class PhaseOracleAgent:
    """Constant actions switched at given times: ``schedule`` = [(start_s, action), ...]
    sorted by start; the action of the last start <= ``info["time_s"]`` (the time at the
    start of the coming step) is played."""

    name = "phase-oracle"

    def __init__(self, schedule: list[tuple[float, Any]]) -> None:
        if not schedule:
            raise ValueError("schedule: need at least one (start_s, action)")
        self.starts = [float(t) for t, _ in schedule]
        self.actions = [np.asarray(a, dtype=np.float32) for _, a in schedule]

    def reset(self, seed: int | None = None) -> None:
        pass

    def act(self, obs: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        i = max(bisect.bisect_right(self.starts, float(info["time_s"]) + 1e-9) - 1, 0)
        return self.actions[i].copy()
