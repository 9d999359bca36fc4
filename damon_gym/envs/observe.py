"""Observation vector and info dict of the DamonGym environments.

The hotness features are what DAMON shows, not the ground truth: region sizes and the
last complete window's nr_accesses of the observed contexts, attributed to nodes by address
for paddr regions (exact: node ranges are contiguous) and, for vaddr regions, by looking up the
node of ``SAMPLES_PER_REGION`` evenly spaced pages of each region (a kernel-side tool would walk
the region's folios; sampling keeps the cost per step proportional to the region count, not to
memory size). Ground truth (true shares, X, X*) goes to ``info``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numba import njit

from damon_gym.damon.attrs import max_nr_accesses
from damon_gym.envs.spaces import GLOBAL_FEATURES, HIGH, LOW, N_MAX, NF, OBS_DIM

if TYPE_CHECKING:
    from damon_gym.envs.base import DamonEnv

SAMPLES_PER_REGION = 8
HOT_MIN_PERMIL = 50  # "hot" = at least 5 % of the samples of a window (the recipes' pattern)
FAST = True  # numba for vaddr hotness features (False: the numpy reference, same values)


@njit(cache=True, error_model="numpy")
def _vaddr_hot_bands(starts, ends, last_nr, max_nr, vma_start, vma_end, vma_base, vpage_node,
                     shift, k, hot_min, hot, bands):
    """Hot bytes and band bytes per node of a vaddr target, region by region: each region's
    bytes are split over the nodes of ``k`` evenly spaced sampled pages (the sampled addresses
    ascend, so the VMA of each is found by walking forward), then credited to the hot total
    (permil >= ``hot_min``) and to its band ``digitize(permil, (1, 251, 501))``. The numpy
    reference (``FAST = False``) computes the same from ``_node_fractions``."""
    nn = hot.shape[0]
    row = np.zeros(nn)
    jv = -1
    nv = vma_start.shape[0]
    for i in range(starts.shape[0]):
        s, e = starts[i], ends[i]
        per = (e - s) / k
        row[:] = 0.0
        for j in range(k):
            addr = np.int64(s + (e - s) * ((j + 0.5) / k))
            while jv + 1 < nv and vma_start[jv + 1] <= addr:
                jv += 1
            if jv < 0 or addr >= vma_end[jv]:
                continue
            nd = vpage_node[vma_base[jv] + ((addr - vma_start[jv]) >> shift)]
            if nd >= 0:
                row[nd] += per
        pm = last_nr[i] * 1000 // max_nr
        band = 0 if pm < 1 else (1 if pm < 251 else (2 if pm < 501 else 3))
        for nd in range(nn):
            if pm >= hot_min:
                hot[nd] += row[nd]
            bands[band, nd] += row[nd]


@njit(cache=True, error_model="numpy")
def _paddr_hot_bands(starts, ends, last_nr, max_nr, node_start, page_size, hot_min, hot,
                     bands):
    """Hot and band bytes per node of a paddr target: each region's bytes on each node are
    its overlap with the node's physical range (exact: node ranges are contiguous), credited
    in region order (the numpy reference sums the ``_node_fractions`` matrix instead)."""
    nn = hot.shape[0]
    for i in range(starts.shape[0]):
        pm = last_nr[i] * 1000 // max_nr
        band = 0 if pm < 1 else (1 if pm < 251 else (2 if pm < 501 else 3))
        for nd in range(nn):
            lo = node_start[nd] * page_size
            hi = node_start[nd + 1] * page_size
            v = float(max(min(ends[i], hi) - max(starts[i], lo), 0))
            if pm >= hot_min:
                hot[nd] += v
            bands[band, nd] += v


def _node_fractions(env: DamonEnv, b, t) -> np.ndarray:
    """(regions, nodes) bytes of each region of the target on each node."""
    mem = env.sim.memory
    r = t.regions
    n = mem.nr_nodes
    out = np.zeros((r.n, n))
    if r.n == 0:
        return out
    starts, ends = r.start, r.end
    if b.ops == "paddr":
        for node in range(n):
            lo, hi = mem.node_phys_range(node)
            out[:, node] = np.clip(np.minimum(ends, hi) - np.maximum(starts, lo), 0, None)
        return out
    if t.proc_idx is None or not mem.procs[t.proc_idx].alive:
        return out
    pm = mem.procs[t.proc_idx]
    k = SAMPLES_PER_REGION
    frac = (np.arange(k) + 0.5) / k
    addrs = (starts[:, None] + (ends - starts)[:, None] * frac[None, :]).astype(np.int64).ravel()
    j = np.searchsorted(pm.vma_start, addrs, side="right") - 1
    jj = np.maximum(j, 0)
    inside = (j >= 0) & (addrs < pm.vma_end[jj])
    pages = pm.vma_page_base[jj] + ((addrs - pm.vma_start[jj]) >> (mem.page_size.bit_length() - 1))
    frames = np.where(inside, pm.vpage_frame[np.where(inside, pages, 0)], -1)
    nodes = np.where(frames >= 0, mem.frame_node[np.maximum(frames, 0)], -1)
    per_sample = np.repeat((ends - starts) / k, k)
    rid = np.repeat(np.arange(r.n), k)
    ok = nodes >= 0
    np.add.at(out, (rid[ok], nodes[ok]), per_sample[ok])
    return out


def hotness_by_node(env: DamonEnv) -> tuple[np.ndarray, np.ndarray]:
    """(hot bytes per node, (4, nodes) bytes per nr_accesses band) as DAMON sees them, no node
    credited with more bytes than it holds."""
    n = env.nr_nodes
    hot = np.zeros(n)
    bands = np.zeros((4, n))
    for bi in env._observed_contexts():
        b = env.sim.bindings[bi]
        ctx = b.context
        m = max(max_nr_accesses(ctx.attrs), 1)
        for t in ctx.targets:
            if t.regions.n == 0:
                continue
            if FAST and b.ops != "paddr":
                if t.proc_idx is None or not env.sim.memory.procs[t.proc_idx].alive:
                    continue
                mem, r = env.sim.memory, t.regions
                pmem = mem.procs[t.proc_idx]
                _vaddr_hot_bands(r.start, r.end, r.last_nr_accesses, m, pmem.vma_start,
                                 pmem.vma_end, pmem.vma_page_base, pmem.vpage_node,
                                 mem.page_size.bit_length() - 1, SAMPLES_PER_REGION,
                                 HOT_MIN_PERMIL, hot, bands)
                continue
            if FAST:  # paddr
                mem, r = env.sim.memory, t.regions
                _paddr_hot_bands(r.start, r.end, r.last_nr_accesses, m, mem.node_start_frame,
                                 mem.page_size, HOT_MIN_PERMIL, hot, bands)
                continue
            per_node = _node_fractions(env, b, t)
            pm = t.regions.last_nr_accesses * 1000 // m  # permil of the maximum
            hot += per_node[pm >= HOT_MIN_PERMIL].sum(axis=0)
            band = np.digitize(pm, (1, 251, 501))  # 0 | (0, 25 %] | (25, 50 %] | > 50 %
            for k in range(4):
                bands[k] += per_node[band == k].sum(axis=0)
    # a vaddr region's bytes are split over nodes from a few sampled pages, so a node can be
    # credited with more than it holds: cap every node's total at its used bytes (node meminfo)
    mem = env.sim.memory
    used = mem.used_frames[:n] * float(mem.page_size)
    total = bands.sum(axis=0)
    over = total > used
    if over.any():
        f = np.where(over, used / np.where(total > 0, total, 1.0), 1.0)
        bands *= f
        hot *= f
    return hot, bands


def _static_part(env: DamonEnv) -> tuple:
    """What does not change during an episode, computed once per topology: the observation
    with its static features (mask, bandwidth and idle-latency shares) and the constants."""
    topo = env.topology
    c = getattr(env, "_obs_static", None)
    if c is not None and c[0] is topo and c[-1] == env.sim.byte_scale:
        return c
    n = env.nr_nodes
    cap = np.array(topo.capacities, dtype=np.float64)
    bw = np.array([nd.bw_read_gbps for nd in topo.nodes])
    l0 = np.array([nd.idle_latency_ns for nd in topo.nodes])
    base = np.zeros(OBS_DIM, dtype=np.float64)
    node = base[: N_MAX * NF].reshape(N_MAX, NF)
    node[:n, 0] = 1.0
    node[:n, 10] = bw / bw.sum()
    node[:n, 11] = l0 / l0.sum()
    # the real machine's total memory, to compare with DAMOS's (real) tried bytes
    c = (topo, base, cap, float(l0.min()), float(bw.sum()),
         float(cap.sum()) * env.sim.byte_scale, env.sim.byte_scale)
    env._obs_static = c
    return c


def observation(env: DamonEnv, clip: bool = True) -> np.ndarray:
    """The observation vector; ``clip=False`` returns it before the final clip into the
    Box (float64), which the property tests check is inside the Box already."""
    mem = env.sim.memory
    perf = env._last_perf
    n = env.nr_nodes
    _, base, cap, l0_min, bw_sum, cap_sum, _ = _static_part(env)
    obs = base.copy()
    node = obs[: N_MAX * NF].reshape(N_MAX, NF)
    hot, bands = hotness_by_node(env)
    w = np.asarray(env._weights(), dtype=np.float64)
    node[:n, 1] = mem.used_frames[:n] * mem.page_size / cap
    hot_sum = hot.sum()
    node[:n, 2] = hot / hot_sum if hot_sum > 0 else 0.0
    node[:n, 3:7] = (bands / cap).T
    node[:n, 7] = perf.u
    node[:n, 8] = perf.latency_ewma_ns / l0_min
    w_sum = w.sum()
    node[:n, 9] = w / w_sum if w_sum > 0 else 0.0
    g = obs[N_MAX * NF:]
    s0 = env._first_scheme()
    tried, applied = env._scheme_totals()
    g[0] = s0.qstate.esz / env.quota_max
    g[1] = perf.migrated_bytes / env.m_cap_bytes
    g[2] = (tried - env._tried0) / cap_sum
    g[3] = (applied - env._applied0) / env.m_cap_bytes
    peak = bw_sum * 1e9 / (64.0 * (1.0 + perf.write_fraction))
    g[4] = perf.X / peak
    if not clip:
        return obs
    obs[np.isnan(obs)] = 0.0  # nan_to_num; +-inf are clipped to the bounds just as well
    return np.clip(obs, LOW, HIGH, out=obs).astype(np.float32)


def _pad(values, dtype=np.float64) -> np.ndarray:
    out = np.zeros(N_MAX, dtype=dtype)
    v = np.asarray(values, dtype=dtype)
    out[: v.shape[0]] = v
    return out


INFO_KEYS = ("time_s", "X", "X_star", "perf_norm", "churn", "shares", "f_star", "u",
             "latency_ns", "latency_ewma_ns", "migrated_bytes", "pingpong_bytes", "weights",
             "esz", "node_used_bytes", "scenario", "scenario_hash", "rewards")


def info(env: DamonEnv, terms: dict[str, float]) -> dict[str, Any]:
    """Stable keys (``INFO_KEYS``); per-node arrays are padded to 8 nodes."""
    p = env._last_perf
    mem = env.sim.memory
    return {
        "time_s": env.sim.now_us / 1e6,
        "X": float(p.X),
        "X_star": float(p.X_star) if np.isfinite(p.X_star) else 0.0,
        "perf_norm": terms["perf_norm"],
        "churn": min(1.0, p.migrated_bytes / env.m_cap_bytes),
        "shares": _pad(p.shares),
        "f_star": _pad(p.f_star if p.f_star is not None else np.zeros(env.nr_nodes)),
        "u": _pad(p.u),
        "latency_ns": _pad(p.latency_ns),
        "latency_ewma_ns": _pad(p.latency_ewma_ns),
        "migrated_bytes": int(p.migrated_bytes),
        "pingpong_bytes": int(p.pingpong_bytes),
        "weights": _pad(env._weights(), np.int64),
        "esz": int(env._first_scheme().qstate.esz),
        "node_used_bytes": _pad([env.sim.real_bytes(int(u) * mem.page_size)
                                 for u in mem.used_frames], np.int64),
        "scenario": env.scenario.name,
        "scenario_hash": env.scenario_hash,
        "rewards": dict(terms),
    }


__all__ = ["observation", "info", "hotness_by_node", "INFO_KEYS", "GLOBAL_FEATURES"]
