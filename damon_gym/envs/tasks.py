"""The DamonGym tasks: Interleave, Tiering and Joint (see each class's docstring)."""

from __future__ import annotations

import numpy as np

from damon_gym.envs import recipes, spaces
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
    | 96 | effective quota of the first scheme / quota_max | 0 | 1 | ratio |
    | 97 | bytes migrated in the last step / M_cap | 0 | 16 | ratio |
    | 98 | bytes DAMOS tried in the last step / total memory | 0 | 16 | ratio |
    | 99 | bytes DAMOS applied in the last step / M_cap | 0 | 16 | ratio |
    | 100 | measured throughput / the machine's peak (sum of bandwidths) | 0 | 1 | ratio |

    Hotness features are what DAMON reports (region sizes and the last window's nr_accesses),
    not the true access rates, which are in ``info``.
"""

_COMMON_DOC = """
    ## Rewards

    ``r = perf_norm * (1 - beta * churn)`` with ``perf_norm = clip(X / X*, 0, 1)`` (measured
    throughput over the capacity-feasible optimum of the current phase and background;
    shared/perf_model.md section 2.5; 1 when the workload is idle) and
    ``churn = min(1, migrated bytes of the step / M_cap)``. ``info["rewards"]`` holds the terms
    ``perf_norm`` and ``churn_penalty = -perf_norm * beta * churn``; they sum to the reward.

    ## Starting State

    The scenario's workload starts (pages placed by its mempolicy, default first touch on the
    CPU's node), the controls take their starting values (below), and one step of monitoring
    runs before the first observation. The simulation seed is drawn from ``reset(seed=...)``.

    ## Episode End

    Truncation after ``horizon`` steps (default 300). No termination: a simulated machine has no
    failure state.

    ## Arguments

    ``gym.make(id, scenario="default", step_s=1.0, horizon=300, beta=0.2,
    m_cap_bytes=200 MiB, quota_min_bytes=4 MiB, quota_max_bytes=256 MiB, weight_total=32,
    action_mode="absolute"|"delta", action_type="box"|"multidiscrete", levels=9,
    delta_scale=0.1, render_mode=None|"ansi"|"rgb_array", scenario_overrides=None)``.
    ``scenario`` is a name in configs/scenarios or a path to a scenario YAML.

    ## Vectorized environment

    ``gym.make_vec(id, num_envs=N, vectorization_mode="vector_entry_point")`` gives the native
    ``DamonVectorEnv`` (NEXT_STEP autoreset); ``SyncVectorEnv``/``AsyncVectorEnv`` work too, and
    ``damon_gym.envs.vector.SB3VecEnv`` adapts either to stable-baselines3. The same seeds give
    the same trajectories in all three.

    ## Version History

    * v0: first release.
"""


class InterleaveEnv(DamonEnv):
    __doc__ = """Spread the hot pages over the nodes in the ratio the agent chooses.

    ## Description

    One vaddr DAMON context monitors the workload's processes and runs one ``migrate_hot``
    scheme (hot = at least 5 % of the samples, any age, applied every 1 s) whose ``dests``
    are all the nodes: each hot folio goes to the node its VMA page offset selects under the
    weighted-interleave rule. The agent sets the dests weights and the scheme's size quota
    (bytes per 1 s). The right answer depends on the regime: all hot pages on the fastest node
    when latency-bound, bandwidth-proportional weights when bandwidth-bound.

    ## Action Space

    ``Box(-1, 1, (9,), float32)`` (or ``MultiDiscrete([levels] * 9)``):

    | index | meaning | mapping |
    |-------|---------|---------|
    | 0..7 | weight preference of node 0..7 | share ``(a_i+1)/sum(a_j+1)`` over existing nodes, quantised to integer weights summing to ``weight_total`` (32) |
    | 8 | quota | ``quota_min + (a+1)/2 (quota_max - quota_min)`` bytes per 1 s, 4 KiB aligned |

    Slots of nodes the machine does not have are ignored. Starting controls: the kernel's
    bandwidth-derived weights (weighted interleave auto mode) and half of the quota range.
""" + _OBS_DOC + _COMMON_DOC

    def _action_dim(self) -> int:
        return N_MAX + 1

    def _damon_contexts(self) -> list[dict]:
        return [recipes.interleave_context(self._start_weights(), self.quota_max // 2)]

    def _start_weights(self) -> list[int]:
        auto = np.asarray(self.topology.auto_weights(), dtype=float)
        return spaces.quantise_weights(auto, self.weight_total)

    def _reset_controls(self) -> None:
        self.weights = self._start_weights()
        self.quota = self.quota_max // 2
        self._commit_interleave(0)

    def _commit_interleave(self, ctx_idx: int) -> None:
        self.sim.update_scheme(0, kdamond_idx=ctx_idx, dests=list(enumerate(self.weights)),
                               sz=self.quota)

    def _apply_action(self, a: np.ndarray) -> None:
        self._interleave_controls(a[:N_MAX], a[N_MAX])
        self._commit_interleave(0)

    def _interleave_controls(self, prefs: np.ndarray, q: float) -> None:
        n = self.nr_nodes
        lo, hi = self.quota_min, self.quota_max
        if self.action_mode == "absolute":
            shares = spaces.prefs_to_shares(prefs[:n])
            quota = spaces.scale(q, lo, hi)
        else:
            cur = np.asarray(self.weights, float) / sum(self.weights)
            shares = np.clip(cur + self.delta_scale * np.asarray(prefs[:n]), 0.0, None)
            quota = float(np.clip(self.quota + self.delta_scale * q * (hi - lo), lo, hi))
        self.weights = spaces.quantise_weights(shares, self.weight_total)
        self.quota = max(4096, int(quota) // 4096 * 4096)

    def _weights(self) -> list[int]:
        return list(self.weights)


class TieringEnv(DamonEnv):
    __doc__ = """Tune DAMON's self-tuned memory tiering (damo's mem_tier recipe).

    ## Description

    Two paddr contexts as in damo ``scripts/mem_tier.sh`` and the kernel's ``mtier`` sample:
    on the fast node (the CPU's) a ``migrate_cold`` scheme demotes idle memory to the slow node
    (the next node of the fast node's fallback order), rejecting young pages, with a
    ``node_mem_free_bp`` goal on the fast node; on the slow node a ``migrate_hot`` scheme
    promotes memory with at least 5 % of samples to the fast node, young pages only, with a
    ``node_mem_used_bp`` goal on the fast node. Both quotas are goal-tuned (``consist``) and
    capped by their size quota. The agent sets the two size quotas and the two goal targets.
    Other nodes of bigger machines take no part.

    ## Action Space

    ``Box(-1, 1, (4,), float32)`` (or ``MultiDiscrete([levels] * 4)``):

    | index | meaning | mapping |
    |-------|---------|---------|
    | 0 | demote quota | ``quota_min + (a+1)/2 (quota_max - quota_min)`` bytes per 1 s |
    | 1 | promote quota | same |
    | 2 | demote goal: fast node free memory target | 10 .. 5000 bp |
    | 3 | promote goal: fast node used memory target | 5000 .. 9990 bp |

    Starting controls: both quotas at half the range, targets 50 bp free and 9970 bp used
    (the upstream recipe).
""" + _OBS_DOC + _COMMON_DOC

    FREE_BP = (10, 5000)
    USED_BP = (5000, 9990)

    def _action_dim(self) -> int:
        return 4

    def _scenario_overrides(self) -> dict:
        fast, slow = recipes.tiering_nodes(self.topology)
        return {"paddr_nodes": [fast, slow]}

    def _damon_contexts(self) -> list[dict]:
        return recipes.tiering_contexts(self.topology,
                                        demote_quota=self.quota_max // 2,
                                        promote_quota=self.quota_max // 2, free_target_bp=50,
                                        used_target_bp=9970)

    def _reset_controls(self) -> None:
        self.tier = {"demote": self.quota_max // 2, "promote": self.quota_max // 2,
                     "free_bp": 50, "used_bp": 9970}

    def _tier_controls(self, a: np.ndarray) -> None:
        lo, hi = self.quota_min, self.quota_max
        names = (("demote", lo, hi), ("promote", lo, hi), ("free_bp", *self.FREE_BP),
                 ("used_bp", *self.USED_BP))
        for x, (name, a_lo, a_hi) in zip(a, names, strict=True):
            if self.action_mode == "absolute":
                v = spaces.scale(x, a_lo, a_hi)
            else:
                v = float(np.clip(self.tier[name] + self.delta_scale * x * (a_hi - a_lo), a_lo, a_hi))
            self.tier[name] = max(4096, int(v) // 4096 * 4096) if name in ("demote", "promote") \
                else int(round(v))

    def _commit_tiering(self, first: int) -> None:
        t = self.tier
        self.sim.update_scheme(0, kdamond_idx=first, sz=t["demote"], goal_targets=[t["free_bp"]])
        self.sim.update_scheme(0, kdamond_idx=first + 1, sz=t["promote"],
                               goal_targets=[t["used_bp"]])

    def _apply_action(self, a: np.ndarray) -> None:
        self._tier_controls(a)
        self._commit_tiering(0)

    def _observed_contexts(self) -> list[int]:
        return [0, 1]

    def _weights(self) -> list[int]:
        return [0] * self.nr_nodes


class JointEnv(InterleaveEnv, TieringEnv):
    __doc__ = """Interleave hot pages and tier cold ones at once, under changing background load.

    ## Description

    The Interleave task's vaddr context (migrate_hot with weighted dests) and the Tiering
    task's two paddr contexts run together; unless the scenario sets a background trace, the
    Colloid ``vary-pulse5`` antagonist trace loads the fast node, so the best split moves over
    time.

    ## Action Space

    ``Box(-1, 1, (13,), float32)``: indices 0..8 as in Interleave-v0, 9..12 as 0..3 of
    Tiering-v0 (same mappings).
""" + _OBS_DOC + _COMMON_DOC

    def _action_dim(self) -> int:
        return N_MAX + 1 + 4

    def _scenario_overrides(self) -> dict:
        out = TieringEnv._scenario_overrides(self)
        if getattr(self.scenario, "background", None) is None and \
                "background" in type(self.scenario).model_fields:
            out["background"] = "vary-pulse5"
        return out

    def _damon_contexts(self) -> list[dict]:
        return InterleaveEnv._damon_contexts(self) + TieringEnv._damon_contexts(self)

    def _reset_controls(self) -> None:
        InterleaveEnv._reset_controls(self)
        TieringEnv._reset_controls(self)

    def _apply_action(self, a: np.ndarray) -> None:
        self._interleave_controls(a[:N_MAX], a[N_MAX])
        self._tier_controls(a[N_MAX + 1:])
        self._commit_interleave(0)
        self._commit_tiering(1)

    def _observed_contexts(self) -> list[int]:
        return [0]

    def _weights(self) -> list[int]:
        return InterleaveEnv._weights(self)
