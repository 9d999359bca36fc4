"""The DamonGym base environment: a ``Simulation`` stepped one DAMOS reset interval at a time.

Tasks are small subclasses that say which DAMON parameters run (``_damon_contexts``), how the
action space looks and what an action changes (``_apply_action``); observation, reward,
termination and truncation are hooks too (``_observe``, ``_rewards``, ``_is_terminated``,
``_is_truncated``), in the style of HighwayEnv's AbstractEnv.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from damon_gym.envs import observe, render, spaces
from damon_gym.envs.recipes import params_document
from damon_gym.formats.params import load_damon_params
from damon_gym.scenario import load_scenario
from damon_gym.simulation import Simulation

MiB = 1 << 20


class DamonEnv(gym.Env):
    """Base class; see the task classes in ``damon_gym.envs.tasks`` for the full docs."""

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}

    def __init__(self, scenario: str | dict = "default", *, step_s: float = 1.0,
                 horizon: int = 300, beta: float = 0.2, m_cap_bytes: int = 200 * MiB,
                 quota_min_bytes: int = 4 * MiB, quota_max_bytes: int = 256 * MiB,
                 weight_total: int = 32, action_mode: str = "absolute",
                 action_type: str = "box", levels: int = 9, delta_scale: float = 0.1,
                 render_mode: str | None = None, scenario_overrides: dict | None = None) -> None:
        super().__init__()
        _check(step_s > 0, "step_s", step_s, "> 0 seconds")
        _check(isinstance(horizon, int) and horizon >= 1, "horizon", horizon, "an int >= 1")
        _check(0.0 <= beta <= 1.0, "beta", beta, "[0, 1]")
        _check(m_cap_bytes > 0, "m_cap_bytes", m_cap_bytes, "> 0 bytes")
        _check(4096 <= quota_min_bytes <= quota_max_bytes, "quota_min_bytes", quota_min_bytes,
               "[4096, quota_max_bytes]")
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
        self.scenario_arg = scenario
        self.scenario = load_scenario(scenario, **(scenario_overrides or {}))
        self.scenario_hash = self.scenario.content_hash()
        self.step_s, self.horizon, self.beta = float(step_s), horizon, float(beta)
        self.m_cap_bytes = int(m_cap_bytes)
        self.quota_min, self.quota_max = int(quota_min_bytes), int(quota_max_bytes)
        self.weight_total = weight_total
        self.action_mode, self.action_type = action_mode, action_type
        self.levels, self.delta_scale = levels, float(delta_scale)
        self.render_mode = render_mode
        self.topology = scenario_topology(self.scenario)
        self.nr_nodes = self.topology.nr_nodes
        # one simulation to check the set-up early; rebuilt on every reset
        self.sim: Simulation = self._new_sim(self.scenario.seed)
        self.observation_space = gym.spaces.Box(spaces.LOW, spaces.HIGH, dtype=np.float32)
        n_act = self._action_dim()
        if action_type == "box":
            self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(n_act,), dtype=np.float32)
        else:
            self.action_space = gym.spaces.MultiDiscrete(np.full(n_act, levels, dtype=np.int64))
        self.steps = 0
        self.history: list[float] = []

    # -- hooks for tasks -----------------------------------------------------------------------
    def _damon_contexts(self) -> list[dict]:
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
        return [0]

    def _weights(self) -> list[int]:
        """Current dests weights per node (for the weight_share feature)."""
        return [0] * self.nr_nodes

    def _first_scheme(self):
        return self.sim.bindings[0].context.schemes.schemes[0]

    def _scenario_overrides(self) -> dict:
        return {}

    def _observe(self) -> np.ndarray:
        return observe.observation(self)

    def _rewards(self, perf) -> dict[str, float]:
        """perf_norm = X / X* (1 when the workload is idle); churn = migrated / M_cap (<= 1);
        reward = perf_norm * (1 - beta * churn) = perf_norm + churn_penalty."""
        p = perf.perf
        perf_norm = 1.0 if not np.isfinite(p) else float(np.clip(p, 0.0, 1.0))
        churn = min(1.0, perf.migrated_bytes / self.m_cap_bytes)
        return {"perf_norm": perf_norm, "churn_penalty": -perf_norm * self.beta * churn}

    def _is_terminated(self) -> bool:
        """No failure state: a simulated machine cannot crash. Always False."""
        return False

    def _is_truncated(self) -> bool:
        return self.steps >= self.horizon

    # -- gymnasium API -------------------------------------------------------------------------
    def _new_sim(self, seed: int) -> Simulation:
        sc = self.scenario
        extra = self._scenario_overrides()
        if extra:
            sc = sc.model_copy(update=extra)
        params = load_damon_params(params_document(self._damon_contexts_for(sc)))
        return Simulation(sc, seed, damon_params=params)

    def _damon_contexts_for(self, scenario) -> list[dict]:
        return self._damon_contexts()

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        sim_seed = int(self.np_random.integers(0, 2**31 - 1))
        self.sim = self._new_sim(sim_seed)
        self.scenario_hash = self.sim.scenario.content_hash()  # the episode's concrete scenario
        self.steps = 0
        self.history = []
        self._tried0 = self._applied0 = 0
        self._reset_controls()
        self._last_perf = self.sim.step(self.step_s)  # one interval of monitoring to look at
        self._mark_scheme_counters()
        return self._observe(), self._info({"perf_norm": 0.0, "churn_penalty": 0.0})

    def step(self, action):
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

    # -- helpers -------------------------------------------------------------------------------
    def _check_action(self, action) -> np.ndarray:
        shape = self.action_space.shape
        try:
            arr = np.asarray(action, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"action: {action!r} is not numeric; expected shape {shape}") from None
        if arr.shape != shape:
            raise ValueError(f"action: shape {arr.shape}; expected {shape}")
        if not np.isfinite(arr).all():
            raise ValueError(f"action: contains NaN or inf ({arr.tolist()}); expected finite values")
        if self.action_type == "box":
            if (arr < -1.0).any() or (arr > 1.0).any():
                raise ValueError(f"action: {np.round(arr, 4).tolist()} outside [-1, 1]")
            return arr
        if (arr != np.round(arr)).any() or (arr < 0).any() or (arr > self.levels - 1).any():
            raise ValueError(f"action: {arr.tolist()}; expected integers in 0..{self.levels - 1}")
        return -1.0 + 2.0 * arr / (self.levels - 1)

    def _scheme_totals(self) -> tuple[int, int]:
        tried = applied = 0
        for b in self.sim.bindings:
            for s in b.context.schemes.schemes:
                tried += s.stats.sz_tried
                applied += s.stats.sz_applied
        return tried, applied

    def _mark_scheme_counters(self) -> None:
        self._tried0, self._applied0 = self._scheme_totals()

    def _info(self, terms: dict[str, float]) -> dict[str, Any]:
        return observe.info(self, terms)


def scenario_topology(scenario):
    """The scenario's machine (preset, YAML path or inline mapping, capacity-scaled)."""
    from damon_gym.memory.topology import Topology, load_topology

    t = scenario.topology
    topo = Topology.model_validate(t) if isinstance(t, dict) else load_topology(
        scenario.resolve(t) if str(t).endswith(".yaml") else t)
    return topo.scaled(scenario.capacity_scale) if scenario.capacity_scale != 1.0 else topo


def _check(ok: bool, field: str, value: Any, allowed: str) -> None:
    if not ok:
        raise ValueError(f"{field}: {value!r} is not allowed; expected {allowed}")
