"""Reference policies: constant actions, the instant, burst and phase oracles.

They bound what a learner can reach on a scenario (docs/headroom.md). The constants read
nothing; the oracles read ground truth that no real system has, and say so:

* ``ConstantAgent``: one fixed action for the whole episode. ``constant_grid(env)`` lists the
  grid ``damon-gym headroom`` sweeps for each task: Interleave, 7 weight vectors x 3 quotas
  (min, middle, max of the log range); Tiering, 3 quotas x 3 pairs of goal targets; Joint,
  (all-fast, 75 % fast, bandwidth) x (middle, max quota) plus equal weights at the max quota,
  crossed with the tiering quotas min / middle / max at the upstream targets.
* ``InstantOracleAgent``: reads ``info["f_star"]``, the model's optimal access shares of the
  current phase and background, and ``info["shares"]``, the true shares of the placement (both
  ground truth). Interleave: dests weights proportional to ``f_star``, the quota at
  ``quota_max`` from a change of the optimum until the true shares are within ``tolerance``
  (2 %) of it or stop getting closer (DAMOS can do no better from there), then ``quota_min``
  until the optimum changes or the gap opens again. Tiering: the same move-or-hold rule on
  the fast node's share: while moving, demotion and promotion at ``quota_max`` with room made
  on the fast node (10 % free, 99.9 % used targets); while holding, ``quota_min`` and targets
  that ask for nothing while the fast node is full (0.1 % free, 50 % used). Joint: both. It
  pays its churn like any policy.
* ``BurstOracleAgent``: the instant oracle moving only from a drop of perf_norm below a
  threshold until its move ends: the oracle's migrations spent where they buy the most.
* ``PhaseOracleAgent``: a schedule of policies switched at the scenario's phase changes
  (``env.phase_times()``): for each phase, the best of the grid's constants and the instant
  oracle from the state the earlier phases left, as ``damon-gym headroom`` finds it on the
  same episode. It reads the time (``info["time_s"]``) and, through the instant oracle,
  ground truth.
"""

from __future__ import annotations

import bisect
import math
from typing import Any

import gymnasium as gym
import numpy as np

from damon_gym.envs.spaces import N_MAX, log_unscale, quantise_weights, unscale

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
    inter += [(f"equal, {quotas[2][0]}", interleave_action(base, dict(weight_grid(base))["equal"],
                                                           quotas[2][1]))]
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


class _MoveOrHold:
    """When to move: from a change of the optimum (or a gap that opened) until the gap is
    within ``tolerance`` or stops shrinking (DAMOS can do no better from here); then hold
    until the optimum changes again or the gap grows by ``tolerance`` beyond where the last
    move left it."""

    def __init__(self, tolerance: float, patience: int = 4, progress: float = 0.003) -> None:
        self.tolerance, self.patience, self.progress = tolerance, patience, progress
        self.reset()

    def reset(self) -> None:
        self.moving, self.target, self.left_at, self.best, self.stale = False, None, 0.0, 1.0, 0

    def __call__(self, target: Any, gap: float) -> bool:
        changed = self.target is None or not np.array_equal(target, self.target)
        if changed or (not self.moving and gap > max(self.left_at, 0.0) + self.tolerance):
            self.moving, self.target, self.best, self.stale = gap > self.tolerance, target, gap, 0
            self.left_at = gap
            return self.moving
        if self.moving:
            if gap < self.best - self.progress:
                self.best, self.stale = gap, 0
            else:
                self.stale += 1
            if gap <= self.tolerance or self.stale >= self.patience:
                self.moving, self.left_at = False, gap
        return self.moving


class InstantOracleAgent:
    """The model's optimal split every step (see the module docstring; reads ground truth:
    ``info["f_star"]`` and ``info["shares"]``)."""

    name = "instant-oracle"

    def __init__(self, env: gym.Env, tolerance: float = 0.02,
                 tier_tolerance: float = 0.03, patience: int = 4) -> None:
        self.env = env
        self.base = _base(env)
        self.task = _task(self.base)
        self.weights = _MoveOrHold(tolerance, patience)
        self.tier = _MoveOrHold(tier_tolerance, patience)
        self.moving = False

    def reset(self, seed: int | None = None) -> None:
        self.weights.reset()
        self.tier.reset()

    def bind(self, env: gym.Env) -> InstantOracleAgent:
        """Act on ``env`` from now on (a copy of the env the agent was made for)."""
        self.env, self.base = env, _base(env)
        return self

    def act(self, obs: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        return self.decide(info, allow_moves=True)

    def decide(self, info: dict[str, Any], allow_moves: bool) -> np.ndarray:
        """The oracle's action; with ``allow_moves`` False its hold action instead of a move
        (the move-or-hold rules still see the step). ``self.moving``: whether the rules
        asked for a move."""
        base = self.base
        n = base.nr_nodes
        f_star = np.asarray(info["f_star"][:n], dtype=np.float64)
        shares = np.asarray(info["shares"][:n], dtype=np.float64)
        if f_star.sum() <= 0:  # no optimum known (idle or before the first step): hold
            f_star = shares if shares.sum() > 0 else np.ones(n) / n
        parts = []
        self.moving = False
        if self.task in ("Interleave", "Joint"):
            target = np.asarray(quantise_weights(f_star, base.weight_total))
            move = self.weights(target, float(np.abs(f_star - shares).max()))
            self.moving |= move
            parts.append(interleave_action(base, f_star, base.quota_max if move and allow_moves
                                           else base.quota_min))
        if self.task in ("Tiering", "Joint"):
            fast = base.topology.cpu_node
            target = np.round(f_star[fast] / 0.01).astype(np.int64)  # the optimum, to 1 %
            move = self.tier(np.array([target]), float(f_star[fast] - shares[fast]))
            self.moving |= move
            if move and allow_moves:  # room on the fast node, then fill it
                parts.append(tiering_action(base, base.quota_max, base.quota_max, 1000, 9990))
            else:  # targets that ask for nothing while the fast node is full: hold still
                parts.append(tiering_action(base, base.quota_min, base.quota_min, 10, 5000))
        return np.concatenate(parts).astype(np.float32)


class BurstOracleAgent(InstantOracleAgent):
    """The instant oracle spending its migrations where a byte buys the most: it holds (the
    oracle's hold action, dests weights still following the optimum) until the previous
    step's perf_norm (``info["perf_norm"]``, ground truth) falls below ``threshold``, then
    moves as the oracle does until the oracle's own move ends with perf_norm back at or
    above ``threshold`` (the first step, with no perf_norm measured yet, holds). Big drops --
    a phase's new hot data on the slow nodes -- are repaired at once; small gaps, which cost
    as many bytes for less, are left (damon_gym/evaluation/byte_frontier.py,
    docs/training.md)."""

    name = "burst-oracle"

    def __init__(self, env: gym.Env, threshold: float = 0.3, **kw: Any) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"burst-oracle: threshold {threshold!r} is out of range; "
                             "expected 0 < threshold <= 1 (a perf_norm)")
        super().__init__(env, **kw)
        self.threshold = threshold
        self.bursting = self.measured = False

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self.bursting = self.measured = False

    def act(self, obs: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        # reset's info carries no step's perf_norm (0.0 there): the first step holds
        perf = float(info["perf_norm"]) if self.measured else 1.0
        self.measured = True
        if perf < self.threshold:
            self.bursting = True
        action = self.decide(info, allow_moves=self.bursting)
        if self.bursting and not self.moving and perf >= self.threshold:
            self.bursting = False  # the move is over: ``action`` is already the hold
        return action


class PhaseOracleAgent:
    """Policies switched at given times: ``schedule`` = [(start_s, action or agent), ...]
    sorted by start; the entry of the last start <= ``info["time_s"]`` (the time at the start
    of the coming step) acts: an action is played as it is, an agent is asked (an agent keeps
    its state across the phases it plays)."""

    name = "phase-oracle"

    def __init__(self, schedule: list[tuple[float, Any]]) -> None:
        if not schedule:
            raise ValueError("schedule: need at least one (start_s, action or agent)")
        self.starts = [float(t) for t, _ in schedule]
        self.policies = [p if hasattr(p, "act") else ConstantAgent(p) for _, p in schedule]

    def reset(self, seed: int | None = None) -> None:
        for p in {id(p): p for p in self.policies}.values():
            p.reset(seed)

    def act(self, obs: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        i = max(bisect.bisect_right(self.starts, float(info["time_s"]) + 1e-9) - 1, 0)
        return self.policies[i].act(obs, info)


#: (tolerance, patience) of the instant oracles the phase oracle may pick per phase
ORACLE_SETTINGS = ((0.02, 4), (0.05, 2), (0.01, 8))


def phase_oracle_schedule(env, runs: dict, grid: dict, opts: dict, oracles: dict,
                          candidates: int = 3) -> tuple[list[tuple[float, Any]], list[str]]:
    """The phase oracle's schedule: phase by phase (``env.phase_times()``), from the state the
    earlier phases left, the policy that earns the most over the phase, among the
    ``candidates`` best constants of that phase in the grid's own runs (``runs``: label ->
    Episode), the previous phase's choice (keeping it costs no switch) and the instant oracles
    (``oracles``: label -> agent; each keeps its own state across the phases it plays). Each
    candidate is played on a copy of the env. Returns ([(start_s, agent), ...], labels)."""
    import copy

    for o in oracles.values():
        o.reset()
    obs, info = env.reset(options=opts)
    cuts = [0.0, *env.phase_times()]
    t_s = next(iter(runs.values())).t_s
    schedule: list[tuple[float, Any]] = []
    labels: list[str] = []
    prev = None
    for i, start in enumerate(cuts):
        end = cuts[i + 1] if i + 1 < len(cuts) else math.inf
        sel = (t_s >= start - 1e-9) & (t_s < end - 1e-9)
        steps = int(sel.sum())
        if steps == 0:
            continue
        ranked = sorted(runs, key=lambda k, sel=sel: -runs[k].mean_reward(sel))[:candidates]
        best = None
        for label in dict.fromkeys([*ranked, *([prev] if prev else []), *oracles]):
            e, o, inf, rewards, done = copy.deepcopy(env), obs, info, [], False
            agent = copy.deepcopy(oracles[label]) if label in oracles else None
            if agent is not None:
                agent.bind(e)
            while len(rewards) < steps and not done:
                a = agent.act(o, inf) if agent is not None else grid[label]
                o, r, term, trunc, inf = e.step(a)
                rewards.append(r)
                done = term or trunc
            score = float(np.mean(rewards))
            if best is None or score > best[0]:
                best = (score, label, e, o, inf, done, agent)
        _, label, env, obs, info, done, agent = best
        if agent is not None:
            oracles[label] = agent
        if label != prev:
            schedule.append((start, oracles[label] if label in oracles
                             else ConstantAgent(grid[label], label)))
            labels.append(label)
        prev = label
        if done:
            break
    return schedule, labels
