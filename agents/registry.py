"""Every agent by name: ``AGENTS``, ``agent_names()``, ``make_agent(name_or_spec, env)``.

A spec is ``NAME`` or ``NAME:ARG`` (e.g. ``b3-caption:5``: a 5 s epoch); the entry says what
ARG means. Each entry gives the factory ``(env, arg) -> agent``, a one-line summary (what
``damon-gym agents`` prints) and what the agent reads: real-system baselines read the
observation and the ``info`` fields a real system has (``REAL_INFO``); oracles read ground
truth and say so. ``damon-gym run``, ``damon-gym eval`` and ``damon-gym agents`` resolve names here.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from damon_gym.training import ALGOS  # learned agents: ppo:PATH, sac:PATH, a2c:PATH

#: the ``info`` fields a real system has (the rest -- f_star, shares, X_star, perf_norm,
#: churn, latency_ns, pingpong_bytes -- are the simulator's ground truth)
REAL_INFO = ("time_s", "weights", "esz", "u", "latency_ewma_ns", "X", "migrated_bytes",
             "node_used_bytes")


@dataclass(frozen=True)
class AgentEntry:
    factory: Callable[[gym.Env, str | None], Any]
    summary: str
    reads: str
    arg: str | None = None  # what NAME:ARG means (None: takes no ARG)
    oracle: bool = False


def _random(env, arg):
    from damon_gym.agents.simple import RandomAgent

    return RandomAgent(env.action_space)


def _bandwidth_weights(env, arg):
    from damon_gym.agents.simple import BandwidthWeightsAgent

    return BandwidthWeightsAgent(env)


def _instant_oracle(env, arg):
    from damon_gym.agents.references import InstantOracleAgent

    return InstantOracleAgent(env) if arg is None else InstantOracleAgent(
        env, tolerance=float(arg), tier_tolerance=float(arg))


def _burst_oracle(env, arg):
    from damon_gym.agents.references import BurstOracleAgent

    return BurstOracleAgent(env) if arg is None else BurstOracleAgent(env, float(arg))


def _cls(module: str, name: str):
    def make(env, arg):
        import importlib

        return getattr(importlib.import_module(module), name)(env, arg)

    return make


_B = "damon_gym.agents.baselines"
_D = "damon_gym.agents.damos_baselines"

AGENTS: dict[str, AgentEntry] = {
    "noop": AgentEntry(_cls(_B, "NoopAgent"),
                       "changes nothing: the env's starting weights and targets, minimum quotas",
                       "info.weights"),
    "random": AgentEntry(_random, "uniform random actions (seeded by reset)", "nothing"),
    "bandwidth-weights": AgentEntry(
        _bandwidth_weights, "auto weights at the middle quota, upstream tiering targets held "
        "(the headroom table's bw-weights)", "topology bandwidths"),
    "b0-first-touch": AgentEntry(_cls(_B, "FirstTouchAgent"),
                                 "B0 default Linux: first touch, no DAMOS migration (minimum "
                                 "quotas)", "nothing"),
    "b1-interleave": AgentEntry(_cls(_B, "EqualInterleaveAgent"),
                                "B1 MPOL_INTERLEAVE: equal weights, placement only",
                                "nothing"),
    "b2-bw-weights": AgentEntry(_cls(_B, "BandwidthWeightsStatic"),
                                "B2 weighted-interleave auto mode: bandwidth weights, "
                                "placement only (minimum quota)", "topology bandwidths"),
    "b2m-bw-weights-migrate": AgentEntry(
        _cls(_B, "BandwidthWeightsMigrate"),
        "B2+M: auto weights and DAMOS migrate_hot dests at 200 MiB/s (Tabatabai)",
        "topology bandwidths", arg="quota in MiB per 1 s (default 200)"),
    "b3-caption": AgentEntry(_cls(_B, "CaptionAgent"),
                             "B3 Caption: hill climbing of the 10:x ratio on measured throughput",
                             "obs[100], obs[12f+7]", arg="epoch in seconds (default 20)"),
    "b4-colloid": AgentEntry(_cls(_B, "ColloidAgent"),
                             "B4 Colloid: equalise the EWMA loaded latencies by shifting access "
                             "share", "obs[12n+1,3..6,8], info.node_used_bytes, X, weights"),
    "b5-mem-tier": AgentEntry(_cls(_D, "MemTierAgent"),
                              "B5 damo mem_tier: 200 MiB/s, 50 bp free / 9970 bp used "
                              "(Interleave: all to fast)", "nothing"),
    "b6-hot-share": AgentEntry(_cls(_D, "HotShareAgent"),
                               "B6 hot-share goals: DAMON hot share per node to its bandwidth "
                               "share (temporal PUSH/PULL)",
                               "obs[12n+1..6], info.node_used_bytes, migrated_bytes, weights",
                               arg="dead band in bp (default 100)"),
    "b7-tpp": AgentEntry(_cls(_D, "TPPAgent"),
                         "B7 TPP/NUMAB-2: promote at the maximum quota, demote only for 2 % "
                         "headroom", "nothing"),
    "b8-three-regime": AgentEntry(_cls(_D, "ThreeRegimeAgent"),
                                  "B8 three regimes from the fast node's utilisation: all-fast, "
                                  "tiering, bandwidth weights", "obs[12f+1,7], info.time_s"),
    "b9-arms": AgentEntry(_cls(_D, "ArmsAgent"),
                          "B9 ARMS-style: short/long EWMA hotness, move only when the benefit "
                          "beats the migration cost", "obs[12n+1,3..8,10], info.node_used_bytes, "
                          "X, weights"),
    "recipe-two-scheme": AgentEntry(_cls(_D, "TwoSchemeRecipe"),
                                    "seed-thread recipe: 50 % used / 50 % free goals, 200 MiB/s "
                                    "(Interleave: 1:1 until the fast node is half used)",
                                    "obs[12f+1]"),
    "recipe-user-input": AgentEntry(_cls(_D, "UserInputRecipe"),
                                    "seed-thread recipe: P controller of the fast node's traffic "
                                    "share vs its bandwidth share", "obs[12n+7,10]",
                                    arg="error (percent) at which the quota is full (default "
                                    "10)"),
    "instant-oracle": AgentEntry(_instant_oracle,
                                 "reference: the model's optimal split every step (ground truth)",
                                 "ground truth: info.f_star, info.shares",
                                 arg="move-or-hold tolerance (default 0.02)", oracle=True),
    "burst-oracle": AgentEntry(_burst_oracle,
                               "reference: the instant oracle moving only from a drop of "
                               "perf_norm below a threshold until its move ends (ground truth)",
                               "ground truth: info.f_star, info.shares, perf_norm",
                               arg="perf_norm threshold in (0, 1] (default 0.3)", oracle=True),
    "phase-oracle": AgentEntry(lambda env, arg: PhaseOracleRef(env),
                               "reference: the best policy per phase, found by playing copies "
                               "of the env (expensive)",
                               "ground truth: a copy of the env, info.f_star, info.shares, "
                               "time_s", oracle=True),
    "all-fast": AgentEntry(_cls(_B, "AllFastAgent"),
                           "reference bound: every hot page on the CPU's node, maximum quotas",
                           "nothing"),
}


def agent_names() -> list[str]:
    """Every registered name, in registry order."""
    return list(AGENTS)


def parse_spec(name_or_spec: str) -> tuple[str, str | None]:
    """``NAME`` or ``NAME:ARG`` -> (NAME, ARG or None); a ValueError naming the agents if NAME
    is not registered or takes no ARG."""
    if not isinstance(name_or_spec, str):
        raise ValueError(f"agent: {name_or_spec!r} is not a name; allowed: "
                         f"{', '.join(AGENTS)}")
    name, sep, arg = name_or_spec.strip().partition(":")
    if name in ALGOS:  # a trained model, ALGO:PATH (agents/learned.py)
        if not arg:
            raise ValueError(f"agent: {name_or_spec!r} needs a model: {name}:PATH with PATH a "
                             "`damon-gym train` output folder or a model .zip")
        return name, arg
    if name not in AGENTS:
        raise ValueError(f"agent: {name!r} is not a registered agent; allowed: "
                         f"{', '.join(AGENTS)}")
    if sep and AGENTS[name].arg is None:
        raise ValueError(f"agent: {name!r} takes no argument (got {arg!r}); the agents taking "
                         "one: " + ", ".join(f"{k}:ARG ({e.arg})" for k, e in AGENTS.items()
                                             if e.arg))
    if sep and not arg:
        raise ValueError(f"agent: {name_or_spec!r} has an empty argument; expected "
                         f"{name}:ARG with ARG the {AGENTS[name].arg}")
    return name, (arg if sep else None)


def check_policy(name: str) -> str:
    """``name`` if it is a registered agent (``NAME`` or ``NAME:ARG``), else a ValueError
    listing them (for ``damon-gym run --policies``)."""
    try:
        parse_spec(name)
    except ValueError as e:
        raise ValueError(f"policy: {str(e).removeprefix('agent: ')}") from None
    return name


def make_agent(name_or_spec: str, env: gym.Env):
    """The agent ``name_or_spec`` (``NAME`` or ``NAME:ARG``) for ``env``."""
    name, arg = check_spec(name_or_spec)
    if name in ALGOS:
        from .learned import make_learned_agent

        return make_learned_agent(name_or_spec, env)
    return AGENTS[name].factory(env, arg)


def check_spec(name_or_spec: str) -> tuple[str, str | None]:
    """``parse_spec`` and, for a registered agent's ARG, that it is a positive number (every
    ARG is one); a ValueError naming the agent and what ARG means otherwise."""
    name, arg = parse_spec(name_or_spec)
    if arg is not None and name not in ALGOS:
        try:
            ok = bool(np.isfinite(float(arg))) and float(arg) > 0
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"agent: {name_or_spec!r}: ARG must be a positive number, the "
                             f"{AGENTS[name].arg}")
    return name, arg


def allocation_mempolicy(name_or_spec: str, topology) -> dict | None:
    """The allocation policy an allocation-time baseline stands for, as a scenario's
    ``workload.params.mempolicy`` (None: the scenario's own, first touch by default). The env
    allocates by the scenario's mempolicy and the agents' weights only reach existing pages
    through DAMOS, so B1 and B2 played as the kernel plays them run on a scenario that
    ``extends`` the original with this mempolicy (as anchor1-stream-spr-1to1 / -28to3 do):
    b1-interleave MPOL_INTERLEAVE over every node; b2-bw-weights and b2m-bw-weights-migrate
    MPOL_WEIGHTED_INTERLEAVE with the auto weights; b0-first-touch local (the CPU's node,
    spilling by distance)."""
    name, _ = parse_spec(name_or_spec)
    nodes = list(range(topology.nr_nodes))
    if name == "b0-first-touch":
        return {"mode": "local", "nodes": [topology.cpu_node]}
    if name == "b1-interleave":
        return {"mode": "interleave", "nodes": nodes}
    if name in ("b2-bw-weights", "b2m-bw-weights-migrate"):
        return {"mode": "weighted_interleave", "nodes": nodes,
                "weights": [int(w) for w in topology.auto_weights()]}
    return None


class _Run:
    """One constant's episode from the start state, as ``phase_oracle_schedule`` reads it:
    ``t_s`` (each step's start time) and ``mean_reward(sel)``."""

    def __init__(self, t_s: list[float], reward: list[float]) -> None:
        self.t_s, self.reward = np.asarray(t_s), np.asarray(reward)

    def mean_reward(self, sel: np.ndarray | None = None) -> float:
        r = self.reward if sel is None else self.reward[sel]
        return float(r.mean()) if r.size else float("nan")


def _run_from(env, action, obs, info) -> _Run:
    """Play the constant ``action`` on ``env`` (a copy in the start state) to the end."""
    t_s, reward, done = [], [], False
    while not done:
        t_s.append(float(info["time_s"]))
        obs, r, term, trunc, info = env.step(action)
        reward.append(float(r))
        done = term or trunc
    return _Run(t_s, reward)


class PhaseOracleRef:
    """Reference *phase oracle* ([PM 3 B11], docs/headroom.md): at its first
    ``act`` of an episode it copies the env it was made with (``copy.deepcopy`` of the
    unwrapped env, in the state the reset left) and finds, with
    ``damon_gym.agents.references.phase_oracle_schedule`` (as ``damon-gym headroom`` does), the best policy per phase
    (``env.phase_times()``) among the grid's constants (``damon_gym.agents.references.constant_grid``,
    each played on a copy over the whole episode) and the instant oracles of
    ``ORACLE_SETTINGS``; then it plays that schedule (``damon_gym.agents.references.PhaseOracleAgent``).
    Expensive: a grid of episodes plus a few candidates per phase. Reads ground truth: a copy
    of the simulator (the future), ``info["f_star"]`` and ``info["shares"]`` (through the
    instant oracles) and ``info["time_s"]``."""

    name = "phase-oracle"

    def __init__(self, env: gym.Env) -> None:
        self.env = env
        self.base = env.unwrapped
        if not isinstance(self.base.action_space, gym.spaces.Box):
            raise ValueError("phase-oracle needs action_type='box'")
        self.inner = None
        self.labels: list[str] = []

    def reset(self, seed: int | None = None) -> None:
        self.inner = None

    def _plan(self, obs, info) -> None:
        from damon_gym.agents.references import (
            ORACLE_SETTINGS,
            InstantOracleAgent,
            PhaseOracleAgent,
            constant_grid,
            phase_oracle_schedule,
        )

        start = copy.deepcopy(self.base)
        start.reset = lambda *a, **kw: (obs, info)  # the copies start from this state
        grid = constant_grid(start)
        runs = {label: _run_from(copy.deepcopy(start), a, obs, info) for label, a in grid}
        oracles = {f"instant-oracle {t:g}/{p}": InstantOracleAgent(start, tolerance=t,
                                                                tier_tolerance=t, patience=p)
                   for t, p in ORACLE_SETTINGS}
        schedule, self.labels = phase_oracle_schedule(start, runs, dict(grid), {}, oracles)
        for _, agent in schedule:  # played on copies: back to the live env
            if isinstance(agent, InstantOracleAgent):
                agent.env, agent.base = self.env, self.base
        self.inner = PhaseOracleAgent(schedule)
        self.inner.reset()

    def act(self, obs: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        if self.inner is None:
            self._plan(obs, info)
        return np.asarray(self.inner.act(obs, info), dtype=np.float32)
