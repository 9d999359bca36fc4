"""The DamonGym tasks: Interleave, Tiering and Joint (see each class's docstring)."""

from __future__ import annotations

import numpy as np

from damon_gym.envs import spaces
from damon_gym.envs.base import DamonEnv
from damon_gym.envs.spaces import N_MAX

_OBS_DOC = """
    ## Observation Space

    ``Box(low, high, (101,), float32)``: 8 node blocks of 12 features (nodes a machine does not
    have are zero with mask 0), then 5 global features. For node block ``n`` the index is
    ``12 * n + j``:

    | j | meaning | min | max | unit |
    |---|---------|-----|-----|------|
    | 0 | node exists (mask) | 0 | 1 | - |
    | 1 | used bytes / capacity | 0 | 1 | ratio |
    | 2 | share of DAMON-hot bytes (>= 5 % of samples) on the node | 0 | 1 | ratio |
    | 3 | bytes in idle regions (nr_accesses 0) / capacity | 0 | 1 | ratio |
    | 4 | bytes with nr_accesses in (0, 25 %] of the maximum / capacity | 0 | 1 | ratio |
    | 5 | bytes with nr_accesses in (25 %, 50 %] / capacity | 0 | 1 | ratio |
    | 6 | bytes with nr_accesses above 50 % / capacity | 0 | 1 | ratio |
    | 7 | measured bandwidth utilisation | 0 | 1 | ratio |
    | 8 | EWMA loaded latency / fastest node's idle latency | 0 | 64 | ratio |
    | 9 | the node's share of the current dests weights | 0 | 1 | ratio |
    | 10 | the node's share of the machine's bandwidth (static) | 0 | 1 | ratio |
    | 11 | the node's share of the sum of idle latencies (static) | 0 | 1 | ratio |

    | index | meaning | min | max | unit |
    |-------|---------|-----|-----|------|
    | 96 | effective quota of the controlled scheme / quota_max | 0 | 1 | ratio |
    | 97 | bytes migrated in the last step / 200 MiB | 0 | 128 | ratio |
    | 98 | bytes DAMOS tried in the last step / total memory | 0 | 16 | ratio |
    | 99 | bytes DAMOS applied in the last step / 200 MiB | 0 | 128 | ratio |
    | 100 | measured throughput / the machine's peak (sum of bandwidths) | 0 | 1 | ratio |

    Hotness features are what DAMON reports (region sizes and the last window's nr_accesses),
    not the true access rates, which are in ``info``.
"""

_COMMON_DOC = """
    ## Rewards

    ``r = perf_norm * (1 - beta * churn)`` with ``perf_norm = clip(X / X*, 0, 1)`` (simulated
    throughput over the capacity-feasible optimum of the current phase and background;
    docs/reward.md; 0 on a step where the workload is idle) and ``churn = min(churn_cap, migrated
    bytes of the step / M_cap)`` (``churn_cap`` 1 by default; ``None`` charges every byte
    alike), bytes of the real machine the scenario stands for. Migration
    also costs throughput itself: its copy traffic loads both nodes and kdamond's CPU time
    slows the application in the step it happens, so X already drops. ``info["rewards"]``
    holds the terms ``perf_norm`` and ``churn_penalty = -perf_norm * beta * churn``; they sum
    to the reward.

    ## Starting State

    The episode's scenario (see Arguments) starts: its workload's pages placed by its
    mempolicy (default first touch on the CPU's node), its DAMON parameters running with the
    task's schemes added at their starting controls (below), and one step of monitoring runs
    before the first observation.

    ## Episode End

    Truncation after ``min(horizon, T / step_s - 1)`` steps, ``T`` being the scenario's
    duration or the workload's end if earlier (the reset's warm-up interval is the first of
    the ``T / step_s``), so no step comes after the workload. No termination: a simulated
    machine has no failure state.

    ## Arguments

    ``gym.make(id, scenario=None, suite=None, step_s=1.0, horizon=300, beta=0.2,
    m_cap_bytes=200 MiB, churn_cap=1.0, quota_min_bytes=4 MiB, quota_max_bytes=4 GiB,
    weight_total=32, action_mode="absolute"|"delta", action_type="box"|"multidiscrete", levels=9,
    delta_scale=0.1, render_mode=None|"ansi"|"rgb_array", scenario_overrides=None)``.
    ``scenario`` is a name in configs/scenarios or a path to a scenario YAML (default: the
    task's default scenario); ``reset(seed=K)`` plays its episode K (the suites' (name, K)).
    ``suite`` draws a (scenario, seed) entry of that suite at every reset (instead of
    ``scenario``).
    ``reset(options={"scenario": NAME_OR_PATH, "seed": K})`` plays exactly that episode. Byte
    arguments are the real machine's bytes.

    ## Vectorized environment

    ``gym.make_vec(id, num_envs=N, vectorization_mode="sync")`` (one process) or ``"async"``
    (worker processes) gives Gymnasium's vector envs; ``damon_gym.envs.vector.make_sb3_vec_env``
    gives stable-baselines3's ``DummyVecEnv``/``SubprocVecEnv``. The same seeds give the same
    trajectories as single envs in all of them.

    ## Version History

    * v0: first release.
"""


class InterleaveEnv(DamonEnv):
    __doc__ = """Spread the hot pages over the nodes in the ratio the agent chooses.

    ## Description

    A ``migrate_hot`` scheme (hot = at least 5 % of the samples, any age, applied every 1 s)
    whose ``dests`` are all the nodes is added to the scenario's first vaddr context (or to a
    vaddr context of damo's defaults): each hot folio goes to the node its VMA page offset
    selects under the weighted-interleave rule. The agent sets the dests weights and the
    scheme's size quota (bytes per 1 s). The right answer depends on the regime: all hot pages
    on the fastest node when latency-bound, bandwidth-proportional weights when
    bandwidth-bound, something in between under background load, and no change at all when
    nothing changed (migrating costs). Default scenario: ``interleave-default``.

    ## Action Space

    ``Box(-1, 1, (9,), float32)`` (or ``MultiDiscrete([levels] * 9)``):

    | index | meaning | mapping |
    |-------|---------|---------|
    | 0..7 | weight preference of node 0..7 | share ``(a_i+1)/sum(a_j+1)`` over existing nodes, quantised to integer weights summing to ``weight_total`` (32) |
    | 8 | quota | ``quota_min * (quota_max / quota_min) ** ((a+1)/2)`` bytes per 1 s (log-uniform, 4 MiB .. 4 GiB), 4 KiB aligned |

    Slots of nodes the machine does not have are ignored. Starting controls: the kernel's
    bandwidth-derived weights (weighted interleave auto mode) and the middle of the quota
    range (128 MiB per 1 s at the defaults).
""" + _OBS_DOC + _COMMON_DOC

    DEFAULT_SCENARIO = "interleave-default"

    def _action_dim(self) -> int:
        return N_MAX + 1

    def _start_weights(self, topology) -> list[int]:
        auto = np.asarray(topology.auto_weights(), dtype=float)
        return spaces.quantise_weights(auto, self.weight_total)

    def _add_schemes(self, tp) -> None:
        tp.add_interleave(self._start_weights(tp.topology), self._start_quota())

    def _main_scheme_role(self) -> str:
        return "interleave"

    def _reset_controls(self) -> None:
        self.weights = self._start_weights(self.topology)
        self.quota = self._start_quota()

    def _commit_interleave(self) -> None:
        self._update("interleave", dests=list(enumerate(self.weights)), sz=self.quota)

    def _apply_action(self, a: np.ndarray) -> None:
        self._interleave_controls(a.tolist())
        self._commit_interleave()

    def _interleave_controls(self, a: list[float]) -> None:
        """Weights and quota from the action's first ``N_MAX + 1`` components, as Python
        floats: on a handful of values numpy's per-call cost would be most of the work (the
        arithmetic is the same, element by element, so are the results)."""
        prefs = a[:self.nr_nodes]
        if self.action_mode == "absolute":
            shares = spaces.prefs_to_shares(prefs)
        else:
            total, ds = sum(self.weights), self.delta_scale
            shares = [w / total + ds * p for w, p in zip(self.weights, prefs, strict=True)]
            # np.clip(shares, 0.0, None), which gives 0.0 for -0.0 too
            shares = [0.0 if x <= 0.0 else x for x in shares]
        self.weights = spaces.quantise_shares(shares, self.weight_total)
        self.quota = self._quota_value(a[N_MAX], self.quota)

    def _weights(self) -> list[int]:
        return list(self.weights)


class TieringEnv(DamonEnv):
    __doc__ = """Tune DAMON's self-tuned memory tiering (damo's mem_tier recipe).

    ## Description

    The ``mem_tier.sh`` recipe of damo and the kernel's ``mtier`` sample, added to the
    scenario's paddr contexts (or to contexts of its own): on the fast node (the CPU's) a
    ``migrate_cold`` scheme demotes idle memory to the slow node (the next node of the fast
    node's fallback order), rejecting young pages, with a ``node_mem_free_bp`` goal on the
    fast node; on the slow node a ``migrate_hot`` scheme promotes memory with at least 5 % of
    samples to the fast node, young pages only, with a ``node_mem_used_bp`` goal on the fast
    node. Both quotas are goal-tuned and capped by their size quota. The agent sets the two
    size quotas and the two goal targets. Other nodes of bigger machines take no part.

    The goals are tuned by the kernel's ``temporal`` tuner (v7.1): the full size quota while a
    goal is unmet, nothing once it is met, so an action takes effect in the next step.
    ``goal_tuner="consist"`` runs the upstream recipe's tuner instead, whose exponential ramp
    from one byte (``esz`` grows by at most 2x per reset interval, and by ~1.1x when the fast
    node is 90 % full) takes minutes to reach the GiB quotas of the machines the scenarios
    stand for. Default scenario: ``tiering-default`` (a working set that grows from 1.2x to 3x the
    fast node and a hot set that moves).

    ## Action Space

    ``Box(-1, 1, (4,), float32)`` (or ``MultiDiscrete([levels] * 4)``):

    | index | meaning | mapping |
    |-------|---------|---------|
    | 0 | demote quota | ``quota_min * (quota_max / quota_min) ** ((a+1)/2)`` bytes per 1 s (log-uniform) |
    | 1 | promote quota | same |
    | 2 | demote goal: fast node free memory target | 10 .. 5000 bp (linear) |
    | 3 | promote goal: fast node used memory target | 5000 .. 9990 bp (linear) |

    Starting controls: both quotas at the middle of the range, targets 50 bp free and 9970 bp
    used (the upstream recipe).
""" + _OBS_DOC + _COMMON_DOC

    DEFAULT_SCENARIO = "tiering-default"
    FREE_BP = (10, 5000)
    USED_BP = (5000, 9990)
    START_FREE_BP, START_USED_BP = 50, 9970

    def _action_dim(self) -> int:
        return 4

    def __init__(self, *args, goal_tuner: str = "temporal", **kwargs) -> None:
        if goal_tuner not in ("temporal", "consist"):
            raise ValueError(f"goal_tuner: {goal_tuner!r} is not allowed; expected 'temporal' "
                             "or 'consist'")
        self.goal_tuner = goal_tuner
        super().__init__(*args, **kwargs)

    def _add_schemes(self, tp) -> None:
        q = self._start_quota()
        tp.add_tiering(demote_quota=q, promote_quota=q, free_target_bp=self.START_FREE_BP,
                       used_target_bp=self.START_USED_BP, tuner=self.goal_tuner)

    def _main_scheme_role(self) -> str:
        return "promote"

    def _reset_controls(self) -> None:
        q = self._start_quota()
        self.tier = {"demote": q, "promote": q, "free_bp": self.START_FREE_BP,
                     "used_bp": self.START_USED_BP}

    def _tier_controls(self, a: list[float]) -> None:
        """The two quotas and the two goal targets from 4 action components, as Python floats
        (as in ``_interleave_controls``)."""
        demote, promote, free, used = a
        t = self.tier
        t["demote"] = self._quota_value(demote, t["demote"])
        t["promote"] = self._quota_value(promote, t["promote"])
        t["free_bp"] = self._bp_value(free, t["free_bp"], *self.FREE_BP)
        t["used_bp"] = self._bp_value(used, t["used_bp"], *self.USED_BP)

    def _bp_value(self, x: float, current: int, lo: int, hi: int) -> int:
        """A goal target (basis points) from an action component: linear in [lo, hi]
        (absolute) or moved by ``delta_scale`` of the range (delta), rounded."""
        if self.action_mode == "absolute":
            v = spaces.scale(x, lo, hi)
        else:
            v = current + self.delta_scale * x * (hi - lo)
            v = lo if v < lo else (hi if v > hi else v)  # np.clip of a finite float
        return int(round(v))

    def _commit_tiering(self) -> None:
        t = self.tier
        self._update("demote", sz=t["demote"], goal_targets=[t["free_bp"]])
        self._update("promote", sz=t["promote"], goal_targets=[t["used_bp"]])

    def _apply_action(self, a: np.ndarray) -> None:
        self._tier_controls(a.tolist())
        self._commit_tiering()

    def _weights(self) -> list[int]:
        return [0] * self.nr_nodes


class JointEnv(InterleaveEnv, TieringEnv):
    __doc__ = """Interleave hot pages and tier cold ones at once, under changing conditions.

    ## Description

    The Interleave task's ``migrate_hot`` scheme with weighted dests (in the scenario's vaddr
    context) and the Tiering task's two paddr schemes run together. Default scenario:
    ``joint-default`` (a working set larger than the fast node, latency- and bandwidth-bound
    phases and background load on the fast node that comes and goes).

    ## Action Space

    ``Box(-1, 1, (13,), float32)``: indices 0..8 as in Interleave-v0, 9..12 as 0..3 of
    Tiering-v0 (same mappings). The observation's hotness features come from the vaddr
    context.
""" + _OBS_DOC + _COMMON_DOC

    DEFAULT_SCENARIO = "joint-default"

    def _action_dim(self) -> int:
        return N_MAX + 1 + 4

    def _add_schemes(self, tp) -> None:
        InterleaveEnv._add_schemes(self, tp)
        TieringEnv._add_schemes(self, tp)

    def _task_observed(self, tp) -> list[int]:
        return [tp.observed[0]]  # the vaddr context of the interleave scheme

    def _main_scheme_role(self) -> str:
        return "interleave"

    def _reset_controls(self) -> None:
        InterleaveEnv._reset_controls(self)
        TieringEnv._reset_controls(self)

    def _apply_action(self, a: np.ndarray) -> None:
        x = a.tolist()
        self._interleave_controls(x[:N_MAX + 1])
        self._tier_controls(x[N_MAX + 1:])
        self._commit_interleave()
        self._commit_tiering()

    def _weights(self) -> list[int]:
        return InterleaveEnv._weights(self)
