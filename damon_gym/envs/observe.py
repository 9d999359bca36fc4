"""Observation vector and info dict of the DamonGym environments.

The hotness features are what DAMON shows, not the ground truth (``Simulation.hotness_by_node``,
damon_gym/damon_view.py); ground truth (true shares, X, X*) goes to ``info``.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import numpy as np
from numba import njit

from damon_gym.caches import bounded_put
from damon_gym.envs.spaces import GLOBAL_FEATURES, HIGH, LOW, N_MAX, NF, OBS_BYTES, OBS_DIM
from damon_gym.simulation import Simulation


class ObservedEnv(Protocol):
    """What the observation and the info dict read of an env (``DamonEnv`` has all of it;
    a protocol rather than an import of ``envs.base``, which imports this module)."""

    @property
    def live_sim(self) -> Simulation: ...
    @property
    def topology(self) -> Any: ...  # the machine's (frozen) Topology
    @property
    def nr_nodes(self) -> int: ...
    @property
    def quota_max(self) -> int: ...
    def churn_of(self, migrated_bytes: int) -> float: ...
    @property
    def scenario(self) -> Any: ...  # the episode's Scenario
    @property
    def scenario_hash(self) -> str: ...
    @property
    def _last_perf(self) -> Any: ...  # the model's result of the last step
    @property
    def _tried0(self) -> int: ...
    @property
    def _applied0(self) -> int: ...
    def _observed_contexts(self) -> list[int]: ...
    def _weights(self) -> list[int]: ...
    def _first_scheme(self) -> Any: ...
    def _scheme_totals(self) -> tuple[int, int]: ...


def hotness_by_node(env: ObservedEnv, reference: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(hot bytes per node, (4, nodes) bytes per band) of the env's observed contexts
    (``Simulation.hotness_by_node``)."""
    return env.live_sim.hotness_by_node(env._observed_contexts(), reference=reference)


def _static_part(env: ObservedEnv) -> tuple:
    """What does not change during an episode, computed once per machine (topology object and
    byte scale; topologies are frozen and shared between resets): the observation with its
    static features (mask, bandwidth and idle-latency shares) and the constants."""
    topo, k = env.topology, env.live_sim.byte_scale
    key = (id(topo), k)
    c = _STATIC.get(key)
    if c is not None and c[0] is topo:
        return c
    n = topo.nr_nodes
    cap = np.array(topo.capacities, dtype=np.float64)
    bw = np.array([nd.bw_read_gbps for nd in topo.nodes])
    l0 = np.array([nd.idle_latency_ns for nd in topo.nodes])
    base = np.zeros(OBS_DIM, dtype=np.float64)
    node = base[: N_MAX * NF].reshape(N_MAX, NF)
    node[:n, 0] = 1.0
    node[:n, 10] = bw / bw.sum()
    node[:n, 11] = l0 / l0.sum()
    base.flags.writeable = False  # each observation starts from a copy
    # the real machine's total memory, to compare with DAMOS's (real) tried bytes
    c = (topo, base, cap, float(l0.min()), float(bw.sum()), float(cap.sum()) * k, k)
    return bounded_put(_STATIC, key, c, 256)  # holds the topology: its id stays unique


_STATIC: dict[tuple, tuple] = {}


def observation(env: ObservedEnv, clip: bool = True, reference: bool = False) -> np.ndarray:
    """The observation vector; ``clip=False`` returns it before the final clip into the
    Box (float64), which the property tests check is inside the Box already."""
    mem = env.live_sim.memory
    perf = env._last_perf
    _, base, cap, l0_min, bw_sum, cap_sum, _ = _static_part(env)
    obs = base.copy()
    hot, bands = hotness_by_node(env, reference)
    w = np.asarray(env._weights(), dtype=np.float64)
    s0 = env._first_scheme()
    tried, applied = env._scheme_totals()
    peak = bw_sum * 1e9 / (64.0 * (1.0 + perf.write_fraction))
    g = N_MAX * NF
    obs[g] = s0.qstate.esz / env.quota_max
    obs[g + 1] = perf.migrated_bytes / OBS_BYTES
    obs[g + 2] = (tried - env._tried0) / cap_sum
    obs[g + 3] = (applied - env._applied0) / OBS_BYTES
    obs[g + 4] = perf.X / peak
    out = _fill_nodes_and_clip(obs, env.nr_nodes, mem.used_frames, mem.page_size, cap, hot,
                               bands, perf.u, perf.latency_ewma_ns, l0_min, w, LOW, HIGH)
    return out if clip else obs


@njit(cache=True, error_model="numpy")
def _np_sum(x):
    """``np.sum`` of at most 8 float64 values, bit for bit (``spaces.sum_as_numpy``'s order:
    in order below 8, pairs of pairs at 8, both added to 0.0)."""
    if x.shape[0] == 8:
        return 0.0 + (((x[0] + x[1]) + (x[2] + x[3])) + ((x[4] + x[5]) + (x[6] + x[7])))
    t = 0.0
    for k in range(x.shape[0]):
        t += x[k]
    return t


@njit(cache=True, error_model="numpy")
def _fill_nodes_and_clip(obs, n, used_frames, page_size, cap, hot, bands, u, lat, l0_min, w,
                         low, high):
    """Fill in the per-node features that change (features 1-9 of each node block; the rest
    are the static part's), each the same float operation numpy's array expressions did, and
    return ``obs`` clipped into the Box: one compiled call, as numba's dispatch costs about a
    microsecond a call (and numpy's sum as much, on these few values)."""
    hot_sum = _np_sum(hot)
    w_sum = _np_sum(w)
    for i in range(n):
        o = i * NF
        obs[o + 1] = used_frames[i] * page_size / cap[i]
        obs[o + 2] = hot[i] / hot_sum if hot_sum > 0 else 0.0
        for b in range(4):
            obs[o + 3 + b] = bands[b, i] / cap[i]
        obs[o + 7] = u[i]
        obs[o + 8] = lat[i] / l0_min
        obs[o + 9] = w[i] / w_sum if w_sum > 0 else 0.0
    return _clip_box(obs, low, high)


@njit(cache=True, error_model="numpy")
def _clip_box(obs, low, high):
    """float32 of ``obs`` with NaN as 0 and clipped into [low, high] (np.nan_to_num for NaN,
    then np.clip in float64, then the cast)."""
    out = np.empty(obs.shape[0], dtype=np.float32)
    for k in range(obs.shape[0]):
        x = obs[k]
        if np.isnan(x):
            x = 0.0
        lo = np.float64(low[k])
        hi = np.float64(high[k])
        if x < lo:
            x = lo
        if x > hi:
            x = hi
        out[k] = np.float32(x)
    return out


INFO_KEYS = ("time_s", "X", "X_star", "perf_norm", "churn", "shares", "f_star", "u",
             "latency_ns", "latency_ewma_ns", "migrated_bytes", "pingpong_bytes", "weights",
             "esz", "node_used_bytes", "scenario", "scenario_hash", "rewards")


def info(env: ObservedEnv, terms: dict[str, float]) -> dict[str, Any]:
    """Stable keys (``INFO_KEYS``); per-node arrays are padded to 8 nodes (rows of one
    zeroed block per dtype: one allocation instead of one per key)."""
    p = env._last_perf
    sim = env.live_sim
    mem = sim.memory
    n = env.nr_nodes
    f = np.zeros((5, N_MAX))
    f[0, :n] = p.shares
    if p.f_star is not None:
        f[1, :n] = p.f_star
    f[2, :n] = p.u
    f[3, :n] = p.latency_ns
    f[4, :n] = p.latency_ewma_ns
    i = np.zeros((2, N_MAX), dtype=np.int64)
    i[0, :n] = env._weights()
    i[1, :n] = [sim.real_bytes(u * mem.page_size) for u in mem.used_frames.tolist()]
    x_star = float(p.X_star)
    return {
        "time_s": sim.now_us / 1e6,
        "X": float(p.X),
        "X_star": x_star if math.isfinite(x_star) else 0.0,
        "perf_norm": terms["perf_norm"],
        "churn": env.churn_of(p.migrated_bytes),
        "shares": f[0],
        "f_star": f[1],
        "u": f[2],
        "latency_ns": f[3],
        "latency_ewma_ns": f[4],
        "migrated_bytes": int(p.migrated_bytes),
        "pingpong_bytes": int(p.pingpong_bytes),
        "weights": i[0],
        "esz": int(env._first_scheme().qstate.esz),
        "node_used_bytes": i[1],
        "scenario": env.scenario.name,
        "scenario_hash": env.scenario_hash,
        "rewards": dict(terms),
    }


__all__ = ["observation", "info", "hotness_by_node", "INFO_KEYS", "GLOBAL_FEATURES"]
