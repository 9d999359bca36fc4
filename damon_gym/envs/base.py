"""The DamonGym base environment: a ``Simulation`` stepped one DAMOS reset interval at a time.

Tasks are small subclasses that say which schemes they add to the scenario's DAMON parameters
(``_add_schemes``), how the action space looks and what an action changes (``_apply_action``);
observation, reward, termination and truncation are hooks too (``_observe``, ``_rewards``,
``_is_terminated``, ``_is_truncated``), in the style of HighwayEnv's AbstractEnv. Which
episode a reset plays (a scenario, a suite, or ``options``) is ``episodes.EpisodeSource``'s.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np

from damon_gym.build import scenario_damon_document, scenario_topology
from damon_gym.envs import observe, render, spaces
from damon_gym.envs.episodes import EpisodeSource
from damon_gym.envs.recipes import SchemeRef, TaskParams
from damon_gym.simulation import Simulation

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30


class DamonEnv(gym.Env):
    """Base class; see the task classes in ``damon_gym.envs.tasks`` for the full docs."""

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}
    #: the task's default scenario (configs/scenarios/<name>.yaml)
    DEFAULT_SCENARIO = "default"

    def __init__(self, scenario: str | dict | None = None, *, suite: str | None = None,
                 step_s: float = 1.0, horizon: int = 300, beta: float = 0.2,
                 m_cap_bytes: int = 200 * MiB, churn_cap: float | None = 1.0,
                 quota_min_bytes: int = 4 * MiB,
                 quota_max_bytes: int = 4 * GiB, weight_total: int = 32,
                 action_mode: str = "absolute", action_type: str = "box", levels: int = 9,
                 delta_scale: float = 0.1, render_mode: str | None = None,
                 scenario_overrides: dict | None = None) -> None:
        super().__init__()
        _check(isinstance(step_s, (int, float)) and 0 < step_s <= 3600 and math.isfinite(step_s),
               "step_s", step_s, "a number of seconds in (0, 3600]")
        _check(isinstance(horizon, int) and horizon >= 1, "horizon", horizon, "an int >= 1")
        _check(0.0 <= beta <= 1.0, "beta", beta, "[0, 1]")
        _check(m_cap_bytes > 0, "m_cap_bytes", m_cap_bytes, "> 0 bytes")
        _check(churn_cap is None or (isinstance(churn_cap, (int, float))
                                     and not isinstance(churn_cap, bool)
                                     and 0 < churn_cap < math.inf),
               "churn_cap", churn_cap, "a number > 0, or None (no cap)")
        _check(4 * KiB <= quota_min_bytes < quota_max_bytes, "quota_min_bytes", quota_min_bytes,
               "[4096, quota_max_bytes)")
        _check(isinstance(weight_total, int) and weight_total >= 2, "weight_total", weight_total,
               "an int >= 2")
        _check(action_mode in ("absolute", "delta"), "action_mode", action_mode,
               "'absolute' or 'delta'")
        _check(action_type in ("box", "multidiscrete"), "action_type", action_type,
               "'box' or 'multidiscrete'")
        _check(isinstance(levels, int) and levels >= 2, "levels", levels, "an int >= 2")
        _check(0.0 < delta_scale <= 1.0, "delta_scale", delta_scale, "(0, 1]")
        _check(render_mode in (None, *self.metadata["render_modes"]), "render_mode",
               render_mode, f"None or one of {self.metadata['render_modes']}")
        if suite is not None:
            # a suite replaces the scenario: gym.make(id, suite=...) merges the id's
            # registered kwargs, which always name a scenario, with the caller's
            scenario = None
        self.episodes = EpisodeSource(self.DEFAULT_SCENARIO if scenario is None and suite is None
                                      else scenario, suite=suite,
                                      overrides=scenario_overrides, task=self.task_name())
        self.scenario_arg = scenario
        self.step_s, self.horizon, self.beta = float(step_s), horizon, float(beta)
        self.m_cap_bytes = int(m_cap_bytes)
        self.churn_cap = None if churn_cap is None else float(churn_cap)
        self.quota_min, self.quota_max = int(quota_min_bytes), int(quota_max_bytes)
        self.weight_total = weight_total
        self.action_mode, self.action_type = action_mode, action_type
        self.levels, self.delta_scale = levels, float(delta_scale)
        self.render_mode = render_mode
        # the first episode's scenario, checked now (DAMON parameters included), built at reset
        self.scenario = self.episodes.first()
        self.scenario_hash = self.scenario.content_hash()
        self.topology = scenario_topology(self.scenario)
        self.nr_nodes = self.topology.nr_nodes
        self._task_params(self.scenario, self.topology)
        self.sim: Simulation | None = None
        self.max_steps = horizon
        self.observation_space = gym.spaces.Box(spaces.LOW, spaces.HIGH, dtype=np.float32)
        n_act = self._action_dim()
        if action_type == "box":
            self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(n_act,), dtype=np.float32)
        else:
            self.action_space = gym.spaces.MultiDiscrete(np.full(n_act, levels, dtype=np.int64))
        self.steps = 0
        self.history: list[float] = []

    @classmethod
    def task_name(cls) -> str:
        return cls.__name__.removesuffix("Env")

    # -- hooks for tasks -----------------------------------------------------------------------
    def _add_schemes(self, tp: TaskParams) -> None:
        """Add the task's controlled schemes (starting controls) to the scenario's parameters."""
        raise NotImplementedError

    def _action_dim(self) -> int:
        raise NotImplementedError

    def _reset_controls(self) -> None:
        """Set the task's controls (weights, quotas, targets) to their starting values."""

    def _apply_action(self, a: np.ndarray) -> None:
        """``a``: the action as floats in [-1, 1] (MultiDiscrete levels already mapped)."""
        raise NotImplementedError

    def _observed_contexts(self) -> list[int]:
        """Indices of the bindings whose regions feed the hotness features."""
        return self._observed

    def _weights(self) -> list[int]:
        """Current dests weights per node (for the weight_share feature)."""
        return [0] * self.nr_nodes

    def _main_scheme_role(self) -> str:
        """The controlled scheme whose effective quota the observation shows."""
        raise NotImplementedError

    def _observe(self) -> np.ndarray:
        return observe.observation(self)

    def _rewards(self, perf) -> dict[str, float]:
        """perf_norm = X / X* (0 on a step where the workload is idle: nothing is achieved);
        churn = min(churn_cap, migrated / M_cap); reward = perf_norm * (1 - beta * churn) =
        perf_norm + churn_penalty."""
        p = float(perf.perf)
        perf_norm = min(max(p, 0.0), 1.0) if math.isfinite(p) else 0.0  # np.clip of a float
        churn = self.churn_of(perf.migrated_bytes)
        return {"perf_norm": perf_norm, "churn_penalty": -perf_norm * self.beta * churn}

    def churn_of(self, migrated_bytes: int) -> float:
        """The reward's churn for a step that migrated ``migrated_bytes`` (real bytes):
        ``migrated / M_cap``, capped at ``churn_cap`` (1 by default; None: no cap, every byte
        charged alike)."""
        churn = migrated_bytes / self.m_cap_bytes
        return churn if self.churn_cap is None else min(self.churn_cap, churn)

    def _is_terminated(self) -> bool:
        """No failure state: a simulated machine cannot crash. Always False."""
        return False

    def _is_truncated(self) -> bool:
        """After ``max_steps``: the horizon or the end of the scenario, whichever is first."""
        return self.steps >= self.max_steps

    # -- DAMON parameters of an episode ----------------------------------------------------------
    def _task_params(self, scenario, topology) -> TaskParams:
        tp = TaskParams(scenario_damon_document(scenario), topology, scenario.name,
                        scenario.paddr_nodes)
        self._add_schemes(tp)
        return tp

    @property
    def live_sim(self) -> Simulation:
        """The simulation of the current episode (``reset`` builds it)."""
        if self.sim is None:
            raise RuntimeError("the env has no simulation yet: call reset() first")
        return self.sim

    def scheme(self, role: str):
        """A controlled scheme of the running simulation by role ("interleave", "demote",
        "promote")."""
        ref: SchemeRef = self._refs[role]
        return self.live_sim.schemes(ref.kdamond, ref.context)[ref.scheme]

    def _update(self, role: str, **fields) -> None:
        ref: SchemeRef = self._refs[role]
        self.live_sim.update_scheme(ref.scheme, kdamond_idx=ref.kdamond, context_idx=ref.context,
                               **fields)

    def _first_scheme(self):
        return self.scheme(self._main_scheme_role())

    def episode_steps(self, scenario, workload_end_s: float) -> int:
        """Steps of an episode: ``min(horizon, T / step_s - 1)`` where ``T`` is the scenario's
        duration or the workload's end, whichever is first; the reset's warm-up step is the
        first of the ``T / step_s`` intervals, so no step runs past the workload."""
        end_s = scenario.duration_us / 1e6
        if workload_end_s > 0:
            end_s = min(end_s, workload_end_s)
        return max(1, min(self.horizon, int(math.floor(end_s / self.step_s + 1e-9)) - 1))

    # -- gymnasium API -------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        sc = self.episodes.pick(self.np_random, seed, options)
        self.scenario = sc
        self.scenario_hash = sc.content_hash()  # the episode's concrete scenario
        self.topology = scenario_topology(sc)
        self.nr_nodes = self.topology.nr_nodes
        tp = self._task_params(sc, self.topology)
        if tp.paddr_nodes != sc.paddr_nodes:
            sc = sc.model_copy(update={"paddr_nodes": tp.paddr_nodes})
        self._refs, self._observed = dict(tp.refs), self._task_observed(tp)
        self.sim = Simulation(sc, damon_params=tp.doc)
        self.max_steps = self.episode_steps(sc, self.sim.workload.duration_s)
        self.steps = 0
        self.history = []
        self._tried0 = self._applied0 = 0
        self._reset_controls()
        self._last_perf = self.sim.step(self.step_s)  # one interval of monitoring to look at
        self._mark_scheme_counters()
        return self._observe(), self._info({"perf_norm": 0.0, "churn_penalty": 0.0})

    def _task_observed(self, tp: TaskParams) -> list[int]:
        return list(tp.observed)

    def step(self, action):
        if self.sim is None:
            raise RuntimeError("step() before reset(): call env.reset() first")
        a = self._check_action(action)
        self._apply_action(a)
        perf = self.sim.step(self.step_s)
        self._last_perf = perf
        self.steps += 1
        terms = self._rewards(perf)
        reward = float(sum(terms.values()))
        self.history.append(terms["perf_norm"])
        obs = self._observe()
        info = self._info(terms)
        self._mark_scheme_counters()
        return obs, reward, self._is_terminated(), self._is_truncated(), info

    def render(self):
        if self.render_mode == "ansi":
            return render.ansi(self)
        if self.render_mode == "rgb_array":
            return render.rgb(self)
        return None

    def phase_times(self) -> list[float]:
        """Times (s from the episode start) where the conditions change: the workload's phase
        changes and process starts/exits, and the background trace's steps, up to the
        episode's end. Public so that reference policies (the phase oracle) can use it."""
        if self.sim is None:
            raise RuntimeError("phase_times() before reset()")
        end = (self.max_steps + 1) * self.step_s
        ts = set(self.sim.workload.change_times())
        if self.sim.background is not None:
            ts |= set(self.sim.background.change_times(end))
        return sorted(t for t in ts if 0.0 < t < end)

    # -- helpers -------------------------------------------------------------------------------
    def _check_action(self, action) -> np.ndarray:
        shape = self.action_space.shape
        try:
            arr = np.asarray(action, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"action: {action!r} is not numeric; expected shape {shape}") from None
        if arr.shape != shape:
            raise ValueError(f"action: shape {arr.shape}; expected {shape}")
        if self.action_type == "box":
            # the common case, in plain Python over the few values (NaN fails the comparison;
            # a loop, not all() of a generator, which costs twice as much on 4..13 values)
            for x in arr.tolist():
                if not -1.0 <= x <= 1.0:
                    break
            else:
                return arr
        if not np.isfinite(arr).all():
            raise ValueError(f"action: contains NaN or inf ({arr.tolist()}); expected finite values")
        if self.action_type == "box":
            if (arr < -1.0).any() or (arr > 1.0).any():
                raise ValueError(f"action: {np.round(arr, 4).tolist()} outside [-1, 1]")
            return arr
        if (arr != np.round(arr)).any() or (arr < 0).any() or (arr > self.levels - 1).any():
            raise ValueError(f"action: {arr.tolist()}; expected integers in 0..{self.levels - 1}")
        return -1.0 + 2.0 * arr / (self.levels - 1)

    def _quota_value(self, a: float, current: int) -> int:
        """A quota from an action component: log-uniform in [quota_min, quota_max] (absolute)
        or moved by ``delta_scale`` of the log range (delta), 4 KiB aligned."""
        lo, hi = self.quota_min, self.quota_max
        if self.action_mode == "absolute":
            q = spaces.log_scale(a, lo, hi)
        else:  # log_scale clips the moved value into [-1, 1]
            q = spaces.log_scale(spaces.log_unscale(current, lo, hi)
                                 + 2.0 * self.delta_scale * float(a), lo, hi)
        return max(4096, int(q) // 4096 * 4096)

    def _start_quota(self) -> int:
        """The starting size quota of every controlled scheme: the middle of the log range."""
        return max(4096, int(spaces.log_scale(0.0, self.quota_min, self.quota_max)) // 4096 * 4096)

    def _scheme_totals(self) -> tuple[int, int]:
        return self.live_sim.scheme_totals()

    def _mark_scheme_counters(self) -> None:
        self._tried0, self._applied0 = self._scheme_totals()

    def _info(self, terms: dict[str, float]) -> dict[str, Any]:
        return observe.info(self, terms)


def _check(ok: bool, field: str, value: Any, allowed: str) -> None:
    if not ok:
        raise ValueError(f"{field}: {value!r} is not allowed; expected {allowed}")
