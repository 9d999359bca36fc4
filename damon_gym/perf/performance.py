"""The memory-system performance model: per-step application throughput, loaded latencies,
latency counters, migration cost and the throughput optimum ([PM 2], docs/model.md#pm-2).

One :class:`PerformanceModel` per simulated machine; call :meth:`PerformanceModel.step` once per
simulation step (default 1 s, [PM 2.0]) with the per-node access-rate sums of the placement,
the migration record of the step and (optionally) the phase's hotness curve::

    model = PerformanceModel(topology, u_target=wl.u_target, write_fraction=wl.write_fraction)
    res = model.step(mem.node_rate_sums(), t_s=now_s, dt_s=1.0, churn=mem.take_churn(),
                     hotness=curve)          # curve: HotnessCurve, rebuilt on phase change
    res.X, res.X_star, res.perf, res.to_dict()

Cost per step is O(nodes) (a Newton solve of the closed loop); ``X*`` is cached per (hotness
key, write fraction, background, capacities) and only recomputed when one of them changes;
curves keyed by their digest (the default key) share one process-wide cache across models, so
a new episode of the same scenario solves no X* again.

Units everywhere: throughput in accesses/s (64 B line fills), traffic in bytes/s, latency and
think time in ns, CPU in cores (seconds of CPU per second), bytes as int.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from damon_gym.caches import bounded_put
from damon_gym.memory.topology import Topology
from damon_gym.perf.hotness import HotnessCurve, subset_values
from damon_gym.perf.latency import (
    ClosedLoop,
    NodeArrays,
    clip_external,
    closed_loop_raw,
    in_flight,
    node_arrays,
    solve_closed_loop,
)
from damon_gym.perf.migration_cost import MigrationCost
from damon_gym.perf.optimum import Optimum, equal_latency_shares, solve_optimum

__all__ = ["HotnessCurve", "MigrationCost", "Optimum", "PerfConfig", "PerfStep",
           "PerformanceModel"]

_CACHE_SIZE = 64
# X* and subset values of curves keyed by a digest of their points (HotnessCurve's default
# key), shared by every model of the process: a key holds every input of the solve (the
# machine's node constants included), so models of the same machine reuse each other's
# solves -- every env reset builds a new model, and X* costs milliseconds. A curve with a
# caller's own key (e.g. ("phase", 3)) stays in its model's cache: such keys name curves only
# within one model.
_SHARED_SIZE = 16384
_SHARED_OPT: OrderedDict[tuple, Optimum] = OrderedDict()
_SHARED_H: OrderedDict[tuple, np.ndarray] = OrderedDict()


@dataclass(frozen=True)
class PerfConfig:
    """Parameters of the model (see the field comments for units and defaults).

    ``think_ns=None`` means half the fast node's idle latency: the application computes for
    ``0.5 * L0_fast`` per miss round, i.e. it is stalled on memory 2/3 of the time at idle.
    Choice [U]: it keeps the checks of [PM 2.4] (bandwidth-bound at u_target 0.99) and puts the
    latency-bound loss of bandwidth-proportional placement at u_target 0.3 in the 4-19 % range
    of [PM 2.5]; it must be > 0 for the kdamond CPU charge (a Z inflation) to cost anything.
    """

    u_target: float = 0.5  # intensity: fast-node utilisation with every page there [PM 2.4]
    write_fraction: float = 0.0  # omega: write-backs per access [PM 2.1]
    think_ns: float | None = None  # Z (ns); None: 0.5 * L0 of the fast node
    n_inflight: float | None = None  # N; overrides u_target when given
    fast_node: int | None = None  # node u_target refers to; None: topology.cpu_node
    ewma_alpha: float = 1.0 / 16  # latency counter smoothing (HeMem+colloid) [PM 2.3]
    n_app_cores: float = 16.0  # cores the application runs on (GUPS: 15-16 threads [C S6])
    monitor_overhead_cpu: float = 0.0  # cores of monitoring overhead (off by default) [PM 2.8]
    migration: MigrationCost = field(default_factory=MigrationCost)
    u_max: float = 0.99  # utilisation cap [PM 2.2]
    background: Any = None  # object with bg_at(t_s, nr_nodes) -> bytes/s per node, or None


@dataclass(slots=True)
class PerfStep:
    """Everything the model says about one step. Arrays have one entry per node.

    ``X`` throughput (accesses/s) and ``app_bytes_s`` = X * 64 (1 + omega) (bytes/s);
    ``X_star`` the optimum for the step's hotness curve and background (accesses/s, nan when
    no curve was given, 0 when the workload is idle); ``perf`` = clip(X / X*, 0, 1) (nan
    without a curve and when the workload is idle: nothing is achieved, nothing could be);
    ``shares`` f_i; ``lam_bytes_s`` λ_i total demand (app + background + migration);
    ``bg_bytes_s``, ``migration_bytes_s`` their parts; ``u`` utilisation λ/B;
    ``latency_ns`` L_i(u_i); ``latency_ewma_ns`` the smoothed counters L̂_i;
    ``mean_latency_ns`` sum f_i L_i; ``bw_bound`` X at the bandwidth cap (``bottleneck`` the
    node setting it, -1 none); ``think_ns`` the effective Z; ``kdamond_cpu_cores`` CPU of
    migration + monitoring (cores); ``migrated_bytes``, ``pingpong_bytes`` of the step.
    """

    t_s: float
    dt_s: float
    X: float
    X_star: float
    perf: float
    app_bytes_s: float
    shares: np.ndarray
    lam_bytes_s: np.ndarray
    bg_bytes_s: np.ndarray
    migration_bytes_s: np.ndarray
    u: np.ndarray
    latency_ns: np.ndarray
    latency_ewma_ns: np.ndarray
    mean_latency_ns: float
    bw_bound: bool
    bottleneck: int
    think_ns: float
    kdamond_cpu_cores: float
    migrated_bytes: int
    pingpong_bytes: int
    n_inflight: float
    write_fraction: float
    f_star: np.ndarray | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain Python values (lists for arrays), for ``Simulation.stats()`` and JSON."""
        out: dict[str, Any] = {}
        for k in self.__slots__:
            v = getattr(self, k)
            if isinstance(v, np.ndarray):
                v = [float(x) for x in v]
            elif isinstance(v, (np.floating, np.integer, np.bool_)):
                v = v.item()
            out[k] = v
        return out


class PerformanceModel:
    """The model of one machine (see the module docstring). Keyword arguments override the
    fields of :class:`PerfConfig`."""

    def __init__(self, topology: Topology, config: PerfConfig | None = None, **kw: Any) -> None:
        cfg = replace(config or PerfConfig(), **kw)
        self.topology = topology
        self.n = topology.nr_nodes
        fast = topology.cpu_node if cfg.fast_node is None else int(cfg.fast_node)
        if not 0 <= fast < self.n:
            raise ValueError(f"fast_node: {fast} is not a node id (0..{self.n - 1})")
        if not 0.0 < cfg.ewma_alpha <= 1.0:
            raise ValueError(f"ewma_alpha: {cfg.ewma_alpha} must be in (0, 1]")
        if not cfg.n_app_cores > 0 or cfg.monitor_overhead_cpu < 0:
            raise ValueError("n_app_cores must be > 0 and monitor_overhead_cpu >= 0")
        if cfg.n_inflight is None and not 0.0 < cfg.u_target <= cfg.u_max:
            raise ValueError(f"u_target: {cfg.u_target} must be in (0, {cfg.u_max}]")
        self.fast = fast
        if cfg.think_ns is None:
            cfg = replace(cfg, think_ns=0.5 * topology.nodes[fast].idle_latency_ns)
        if cfg.think_ns < 0:  # type: ignore[operator]
            raise ValueError(f"think_ns: {cfg.think_ns} must be >= 0")
        self.config = cfg
        self._nodes: dict[float, NodeArrays] = {}
        self._n_cache: dict[tuple[float, float], float] = {}
        self._opt_cache: OrderedDict[tuple, Optimum] = OrderedDict()
        self._h_cache: OrderedDict[tuple, np.ndarray] = OrderedDict()
        # X* lookups this model's own cache could not answer (computed, or taken from the
        # process-wide cache of digest-keyed curves); ``shared_hits`` counts the latter
        self.optimum_solves = 0
        self.shared_hits = 0
        self._na_keys: dict[int, tuple] = {}
        self._ext_cache: dict[tuple, tuple[np.ndarray, tuple]] = {}
        self.capacities = np.array(topology.capacities, dtype=np.float64)
        self._caps_key = tuple(self.capacities.tolist())
        self.latency_ewma_ns: np.ndarray | None = None

    # -- constants ----------------------------------------------------------------------------
    @property
    def think_ns(self) -> float:
        """Base think time Z (ns)."""
        return float(self.config.think_ns)  # type: ignore[arg-type]

    def nodes(self, write_fraction: float | None = None) -> NodeArrays:
        """Per-node constants (bandwidth for this write fraction, curve) [PM 2.1, 2.2]."""
        w = self.config.write_fraction if write_fraction is None else float(write_fraction)
        na = self._nodes.get(w)
        if na is None:
            na = self._nodes[w] = node_arrays(self.topology, w, self.config.u_max)
        return na

    def n_inflight(self, write_fraction: float | None = None,
                   u_target: float | None = None) -> float:
        """Misses in flight N (from ``u_target``, default the configured one, at this write
        fraction, unless ``n_inflight`` is configured)."""
        if self.config.n_inflight is not None:
            return float(self.config.n_inflight)
        w = self.config.write_fraction if write_fraction is None else float(write_fraction)
        u = self.config.u_target if u_target is None else float(u_target)
        N = self._n_cache.get((w, u))
        if N is None:
            if not 0.0 < u <= self.config.u_max:
                raise ValueError(f"u_target: {u} must be in (0, {self.config.u_max}]")
            N = self._n_cache[(w, u)] = in_flight(u, self.fast, self.nodes(w), self.think_ns)
        return N

    def background_at(self, t_s: float) -> np.ndarray:
        """Background traffic (bytes/s per node) of the configured trace at ``t_s``."""
        bgt = self.config.background
        if bgt is None:
            return np.zeros(self.n)
        return np.asarray(bgt.bg_at(t_s, self.n), dtype=np.float64)

    def _ext(self, na: NodeArrays, bg: Any, mig: Any = None) -> np.ndarray:
        ext = np.zeros(self.n) if bg is None else np.asarray(bg, dtype=np.float64).copy()
        if ext.shape != (self.n,):
            raise ValueError(f"bg: need {self.n} values (bytes/s per node), got {ext.shape}")
        if mig is not None:
            ext = ext + np.asarray(mig, dtype=np.float64)
        return clip_external(ext, na)

    # -- the three questions ------------------------------------------------------------------
    def throughput(self, shares: Any, *, bg: Any = None, migration_bytes_s: Any = None,
                   write_fraction: float | None = None, think_ns: float | None = None,
                   u_target: float | None = None) -> ClosedLoop:
        """Closed-loop X of access shares ``shares`` (normalised here) [PM 2.4]."""
        f = _shares(shares, self.n)
        na = self.nodes(write_fraction)
        z = self.think_ns if think_ns is None else float(think_ns)
        return solve_closed_loop(f, self.n_inflight(write_fraction, u_target), z, na,
                                 self._ext(na, bg, migration_bytes_s))

    def subset_values(self, hotness: HotnessCurve, capacities: Any = None) -> np.ndarray:
        """``h(S) = H(C(S))`` for every node subset (cached per curve and capacities)."""
        caps = self.capacities if capacities is None else np.asarray(capacities, float)
        key = (hotness.key, tuple(caps.tolist()))
        h = self._h_cache.get(key)
        if h is None:
            shared = _shared_key(hotness)
            h = _SHARED_H.get(key) if shared else None
            if h is None:
                h = subset_values(hotness, caps)
                h.flags.writeable = False
                if shared:
                    bounded_put(_SHARED_H, key, h, _SHARED_SIZE)
            bounded_put(self._h_cache, key, h, _CACHE_SIZE)
        return h

    def _na_key(self, na: NodeArrays) -> tuple:
        """The node constants as a hashable key (computed once per NodeArrays)."""
        k = self._na_keys.get(id(na))
        if k is None:
            k = self._na_keys[id(na)] = (tuple(na.B.tolist()), tuple(na.L0.tolist()),
                                         tuple(na.a.tolist()), tuple(na.b.tolist()),
                                         na.k, na.u_max)
        return k

    def optimum(self, hotness: HotnessCurve, *, bg: Any = None,
                write_fraction: float | None = None, capacities: Any = None) -> Optimum:
        """``X*`` and its shares for the phase's hotness curve, background ``bg`` (bytes/s per
        node) and capacities (bytes; default the topology's) [PM 2.5]. Cached: recomputed only
        when the curve key, write fraction, background (to 1 MB/s), capacities, N or Z change;
        ``optimum_solves`` counts real computations."""
        na = self.nodes(write_fraction)
        return self._optimum(hotness, na, self._ext(na, bg), capacities,
                             self.n_inflight(write_fraction))

    def _ext_bg(self, na: NodeArrays, bg: np.ndarray) -> tuple[np.ndarray, tuple]:
        """``_ext(na, bg)`` (read-only) and its X* cache key part (bytes/s rounded to MB/s),
        kept per background level: a step function of time that changes a few times per
        episode, while the model asks at every step."""
        key = (id(na), bg.tobytes())
        hit = self._ext_cache.get(key)
        if hit is None:
            ext = self._ext(na, bg)
            ext.flags.writeable = False
            hit = bounded_put(self._ext_cache, key,
                              (ext, tuple(round(x / 1e6) for x in ext.tolist())), _CACHE_SIZE)
        return hit

    def _optimum(self, hotness: HotnessCurve, na: NodeArrays, ext: np.ndarray,
                 capacities: Any, N: float, ext_key: tuple | None = None) -> Optimum:
        if capacities is None:
            caps, caps_key = self.capacities, self._caps_key
        else:
            caps = np.asarray(capacities, float)
            caps_key = tuple(caps.tolist())
        if ext_key is None:
            ext_key = tuple(round(x / 1e6) for x in ext.tolist())
        key = (hotness.key, na.k, ext_key, caps_key, N, self.think_ns)
        opt = self._opt_cache.get(key)
        if opt is not None:
            self._opt_cache.move_to_end(key)
            return opt
        self.optimum_solves += 1
        shared = _shared_key(hotness)
        skey = (key, self._na_key(na)) if shared else ()
        opt = _SHARED_OPT.get(skey) if shared else None
        if opt is not None:
            self.shared_hits += 1
            _SHARED_OPT.move_to_end(skey)
        else:
            opt = solve_optimum(self.subset_values(hotness, caps), na, N, self.think_ns, ext)
            opt.f_star.flags.writeable = False  # shared by every step (and model) that hits
            if shared:
                bounded_put(_SHARED_OPT, skey, opt, _SHARED_SIZE)
        bounded_put(self._opt_cache, key, opt, _CACHE_SIZE)
        return opt

    def equal_latency(self, hotness: HotnessCurve, *, bg: Any = None,
                      write_fraction: float | None = None, capacities: Any = None
                      ) -> np.ndarray:
        """Colloid's equal-latency shares (a heuristic, not the optimum) [PM 1b, 2.5]."""
        na = self.nodes(write_fraction)
        caps = self.capacities if capacities is None else np.asarray(capacities, float)
        return equal_latency_shares(self.subset_values(hotness, caps), na,
                                    self.n_inflight(write_fraction), self.think_ns,
                                    self._ext(na, bg))

    # -- per step -----------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget the latency counters (a new run)."""
        self.latency_ewma_ns = None

    def step(self, node_rates: Any, *, t_s: float = 0.0, dt_s: float = 1.0,
             churn: dict[str, Any] | None = None, bg: Any = None,
             hotness: HotnessCurve | None = None, write_fraction: float | None = None,
             capacities: Any = None, u_target: float | None = None,
             kdamond_cpu_s: float | None = None) -> PerfStep:
        """One step: ``node_rates`` are the access rates (accesses/s) of the pages on each node
        (``MemorySystem.node_rate_sums()``) or any non-negative weights (only the shares
        matter); ``churn`` is ``MemorySystem.take_churn()`` of the step in the real machine's
        bytes (bytes moved read on the source, written on the destination, folios) [PM 2.7];
        ``kdamond_cpu_s`` the CPU seconds kdamond spent applying schemes in the step (what
        DAMOS charges its quotas; default: ``config.migration`` of the churn's folios);
        ``bg`` bytes/s per node (default: the configured background trace at ``t_s``);
        ``hotness`` the current phase's curve for ``X*`` (None: no optimum); ``u_target``
        the step's intensity (default: the configured one). Updates the latency counters."""
        if not dt_s > 0:
            raise ValueError(f"dt_s: {dt_s} must be > 0")
        cfg = self.config
        na = self.nodes(write_fraction)
        w = cfg.write_fraction if write_fraction is None else float(write_fraction)
        bg_arr = self.background_at(t_s) if bg is None else np.asarray(bg, dtype=np.float64)
        ext_bg, ext_key = self._ext_bg(na, bg_arr)
        rd, wr, moved, pp, nf, fb = _churn(churn, self.n)
        # per node, numpy's elementwise arithmetic done on Python floats: the same IEEE
        # operations in the same order, without a numpy call per operation on a few values
        # (indexed: zip(strict=True) costs more than the arithmetic)
        nodes = range(self.n)
        mig_l = [(rd[i] + wr[i]) / dt_s for i in nodes]
        mig = np.array(mig_l, dtype=np.float64)
        if kdamond_cpu_s is None:
            kdamond_cpu_s = cfg.migration.cpu_seconds(nf, fb)
        cores = kdamond_cpu_s / dt_s + cfg.monitor_overhead_cpu
        z_eff = self.think_ns * (1.0 + cores / cfg.n_app_cores)  # [PM 2.7 item 4]
        # clip_external(ext_bg + mig): max and min give numpy's maximum and minimum here (NaN
        # stays NaN; ext_bg, clipped by numpy, is never -0.0, so neither is the sum)
        if any(mig_l):
            bgl, cap = ext_bg.tolist(), na.ext_cap.tolist()
            ext = np.array([min(max(bgl[i] + mig_l[i], 0.0), cap[i]) for i in nodes],
                           dtype=np.float64)
        else:
            ext = ext_bg
        rl = np.asarray(node_rates, dtype=np.float64).reshape(-1).tolist()
        if len(rl) != self.n or not all(0.0 <= r < math.inf for r in rl):
            raise ValueError(f"node_rates: need {self.n} finite values >= 0")
        N = self.n_inflight(write_fraction, u_target)
        total = math.fsum(rl)
        f = np.array([r / total for r in rl]) if total > 0 else np.zeros(self.n)
        # the raw solve: a ClosedLoop (a frozen dataclass) costs more than the solve itself
        X, _, bottleneck, bw_bound, _, mean_l, out = closed_loop_raw(
            f, N if total > 0 else 0.0, z_eff, na, ext)
        L = out[1]
        ewma = self.latency_ewma_ns
        if ewma is None:
            ewma = L.copy()
        else:
            a = cfg.ewma_alpha  # [PM 2.3]
            prev, lat = ewma.tolist(), L.tolist()
            ewma = np.array([(1.0 - a) * prev[i] + a * lat[i] for i in nodes], dtype=np.float64)
        self.latency_ewma_ns = ewma
        x_star, f_star = float("nan"), None
        perf = float("nan")
        if hotness is not None and total <= 0:
            x_star = 0.0  # idle workload (a gap between phases): perf stays undefined (nan)
        elif hotness is not None:
            opt = self._optimum(hotness, na, ext_bg, capacities, N, ext_key)
            x_star, f_star = opt.X_star, opt.f_star
            perf = min(max(X / x_star, 0.0), 1.0) if x_star > 0 else 1.0
        # positional, in field order: 23 keywords cost four times the rest of the construction
        return PerfStep(float(t_s), float(dt_s), X, x_star, perf, X * na.k,  # t_s .. app_bytes_s
                        f, out[2], ext_bg, mig, out[0], L, ewma.copy(),  # shares .. ewma
                        mean_l, bw_bound, bottleneck, z_eff, cores,  # mean_latency_ns .. cores
                        moved, pp, N, w, f_star)  # migrated_bytes .. f_star


def _shared_key(hotness: HotnessCurve) -> bool:
    """Whether the curve's key is HotnessCurve's digest of its points (process-wide)."""
    k = hotness.key
    return isinstance(k, tuple) and len(k) == 2 and k[0] == "H"


def _shares(shares: Any, n: int) -> np.ndarray:
    f = np.asarray(shares, dtype=np.float64)
    if f.shape != (n,) or (f < 0).any() or not np.isfinite(f).all() or f.sum() <= 0:
        raise ValueError(f"shares: need {n} finite values >= 0 with a positive sum")
    return f / f.sum()


def _churn(churn: dict[str, Any] | None, n: int
           ) -> tuple[list[float], list[float], int, int, int, int]:
    """(read bytes, write bytes per node as float lists, moved bytes, ping-pong bytes, folios,
    folio bytes) from a ``take_churn()`` snapshot (or zeros)."""
    if not churn:
        return [0.0] * n, [0.0] * n, 0, 0, 0, 4096
    # defaults computed only when a key is missing (a step asks this every time)
    rd = churn.get("read_bytes")
    rd = np.zeros(n) if rd is None else np.asarray(rd, dtype=np.float64)
    wr = churn.get("write_bytes")
    wr = np.zeros(n) if wr is None else np.asarray(wr, dtype=np.float64)
    if rd.shape != (n,) or wr.shape != (n,):
        raise ValueError(f"churn: read_bytes/write_bytes need {n} values")
    moved = churn.get("moved_bytes")
    moved = int(rd.sum()) if moved is None else int(moved)
    fb = int(churn.get("folio_bytes", 4096))
    nf = churn.get("nr_folios")
    nf = moved // max(fb, 1) if nf is None else int(nf)
    return rd.tolist(), wr.tolist(), moved, int(churn.get("pingpong_bytes", 0)), nf, fb
