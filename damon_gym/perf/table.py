"""Model answers for standard placements (a table) and throughput-vs-slow-share curves.

:func:`model_table` compares, for one topology and workload, first-touch all-fast, 1:1
interleave, the kernel's bandwidth-derived weights (``Topology.auto_weights()``), Colloid's
equal-latency split and the optimum ``X*`` ([PM 2.4-2.5], [PM 3 B0], [PM 3 B1], [PM 3 B2]). Interleaved
placements are hotness-blind: a node's access share equals its share of the pages; pages a
full node cannot take spill to the other nodes in proportion to their weights (an
approximation of the kernel's fallback). :func:`regime_curves` gives X/X* against the share of
accesses moved off the fast node for a latency-bound, a transition and a bandwidth-bound
intensity (the data of ``docs/perf_model_regimes.png``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from damon_gym.memory.topology import Topology
from damon_gym.perf.hotness import HotnessCurve
from damon_gym.perf.performance import PerformanceModel

REGIMES = (("latency-bound", 0.3), ("transition", 0.9), ("bandwidth-bound", 0.99))


def weighted_page_shares(weights: Sequence[float], capacities: Sequence[float] | np.ndarray,
                         footprint_bytes: float) -> np.ndarray:
    """Share of the footprint on each node under weights ``weights`` when nodes fill up:
    water-filling (a full node keeps its capacity, the rest is re-split by weight)."""
    w = np.asarray(weights, dtype=np.float64)
    caps = np.asarray(capacities, dtype=np.float64)
    if footprint_bytes > caps.sum():
        raise ValueError(f"footprint {footprint_bytes:.4g} B exceeds total capacity {caps.sum():.4g} B")
    placed = np.zeros_like(w)
    free = w > 0
    left = float(footprint_bytes)
    for _ in range(len(w) + 1):
        if left <= 0 or not free.any():
            break
        if not (w[free] > 0).any():
            free = caps - placed > 0  # weights exhausted: fill the rest anywhere with room
            w = np.where(free, 1.0, 0.0)
        want = np.where(free, w / w[free].sum() * left, 0.0)
        room = caps - placed
        take = np.minimum(want, room)
        placed += take
        left -= float(take.sum())
        free = free & (room - take > 1e-9 * caps.max())
    return placed / footprint_bytes


def filled_in_order(order: Sequence[int], capacities: Sequence[float] | np.ndarray,
                    footprint_bytes: float) -> np.ndarray:
    """Share of the footprint on each node when nodes are filled one after the other in
    ``order`` (first-touch allocation spilling along the fallback order)."""
    caps = np.asarray(capacities, dtype=np.float64)
    out = np.zeros(len(caps))
    left = float(footprint_bytes)
    for i in order:
        take = min(left, float(caps[i]))
        out[i] = take
        left -= take
    if left > 1e-9 * footprint_bytes:
        raise ValueError(f"footprint {footprint_bytes:.4g} B exceeds total capacity")
    return out / footprint_bytes


def _fmt_weights(w: Sequence[float]) -> str:
    return ":".join(f"{x:g}" for x in w)


def model_table(topology: Topology, *, u_target: float, write_fraction: float = 0.0,
                hot_fraction: float = 1.0, hot_share: float = 0.9,
                footprint_bytes: float | None = None, bg_bytes_s: Sequence[float] | None = None,
                think_ns: float | None = None, n_inflight: float | None = None,
                extra_weights: dict[str, Sequence[int]] | None = None) -> list[dict[str, Any]]:
    """One row per placement: ``placement``, ``weights`` (text), ``shares`` (f_i), ``X``
    (accesses/s), ``app_gbps`` (X * 64 (1 + omega) / 1e9), ``x_over_xstar``,
    ``mean_latency_ns``, ``u`` (per node), ``bw_bound``.

    The workload: ``footprint_bytes`` (default: the fast node's capacity or half the total,
    whichever is smaller) of which ``hot_fraction`` gets ``hot_share`` of the accesses
    (``hot_fraction=1``: uniform, STREAM-like), intensity ``u_target`` (or ``n_inflight``),
    write-back fraction ``write_fraction``, background ``bg_bytes_s`` per node.
    ``extra_weights`` adds named weight vectors (e.g. ``{"3:1": [3, 1]}``).
    """
    model = PerformanceModel(topology, u_target=u_target, write_fraction=write_fraction,
                             think_ns=think_ns, n_inflight=n_inflight)
    caps = model.capacities
    fp = float(footprint_bytes) if footprint_bytes is not None else \
        float(min(caps[model.fast], 0.5 * caps.sum()))
    hot = HotnessCurve.two_level(fp, hot_fraction, hot_share)
    bg = np.zeros(model.n) if bg_bytes_s is None else np.asarray(bg_bytes_s, dtype=np.float64)
    opt = model.optimum(hot, bg=bg)
    k = model.nodes().k
    cands: list[tuple[str, str, np.ndarray]] = [
        ("all-fast (first touch)", "-",
         filled_in_order(topology.fallback_order(model.fast), caps, fp)),
        ("1:1 interleave", _fmt_weights([1] * model.n),
         weighted_page_shares([1.0] * model.n, caps, fp)),
        ("auto weights", _fmt_weights(topology.auto_weights()),
         weighted_page_shares(topology.auto_weights(), caps, fp)),
    ]
    for name, w in (extra_weights or {}).items():
        cands.append((name, _fmt_weights(w), weighted_page_shares(w, caps, fp)))
    cands.append(("equal latency (Colloid)", "-", model.equal_latency(hot, bg=bg)))
    cands.append(("optimum X*", "-", opt.f_star))
    rows = []
    for name, wtxt, f in cands:
        cl = model.throughput(f, bg=bg)
        rows.append({"placement": name, "weights": wtxt, "shares": [float(x) for x in f],
                     "X": cl.X, "app_gbps": cl.X * k / 1e9,
                     "x_over_xstar": cl.X / opt.X_star if opt.X_star > 0 else float("nan"),
                     "mean_latency_ns": cl.mean_latency_ns,
                     "u": [float(x) for x in cl.u], "bw_bound": cl.bw_bound})
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """The rows of :func:`model_table` as aligned text."""
    head = f"{'placement':<24} {'weights':>9} {'shares':>21} {'X (G/s)':>8} {'GB/s':>7} " \
           f"{'X/X*':>6} {'L (ns)':>7} {'u':>17}"
    lines = [head, "-" * len(head)]
    for r in rows:
        sh = "/".join(f"{x:.3f}" for x in r["shares"])
        u = "/".join(f"{x:.2f}" for x in r["u"])
        lines.append(f"{r['placement']:<24} {r['weights']:>9} {sh:>21} {r['X'] / 1e9:8.3f} "
                     f"{r['app_gbps']:7.1f} {r['x_over_xstar']:6.3f} "
                     f"{r['mean_latency_ns']:7.0f} {u:>17}"
                     + (" (bw-bound)" if r["bw_bound"] else ""))
    return "\n".join(lines)


def slow_share_vector(topology: Topology, slow_share: float, fast: int | None = None
                      ) -> np.ndarray:
    """Shares with ``1 - slow_share`` on the fast node and ``slow_share`` split over the
    other nodes in proportion to their bandwidth (``hmat_bw_gbps``)."""
    fast = topology.cpu_node if fast is None else fast
    bw = np.array([x.hmat_bw_gbps for x in topology.nodes], dtype=np.float64)
    bw[fast] = 0.0
    f = slow_share * bw / bw.sum()
    f[fast] = 1.0 - slow_share
    return f


def regime_curves(topology: Topology, *, write_fraction: float = 0.0,
                  regimes: Sequence[tuple[str, float]] = REGIMES, points: int = 101,
                  think_ns: float | None = None) -> dict[str, Any]:
    """X / X* against the slow-node share (0..1) for each ``(label, u_target)`` regime,
    capacities not binding. Returns ``{"slow_share": array, "curves": {label: array},
    "optimum": {label: slow share of X*}, "marks": {name: slow share}}``."""
    s = np.linspace(0.0, 1.0, points)
    fp = float(min(c for c in topology.capacities)) * 0.5
    hot = HotnessCurve.uniform(fp)
    out: dict[str, Any] = {"slow_share": s, "curves": {}, "optimum": {}, "marks": {}}
    fast = topology.cpu_node
    for label, ut in regimes:
        m = PerformanceModel(topology, u_target=ut, write_fraction=write_fraction,
                             think_ns=think_ns)
        opt = m.optimum(hot, capacities=np.full(m.n, 2.0 * fp))
        xs = np.array([m.throughput(slow_share_vector(topology, x)).X for x in s])
        out["curves"][label] = xs / opt.X_star
        out["optimum"][label] = 1.0 - float(opt.f_star[fast])
    bw = np.array([m.nodes().B[i] for i in range(m.n)])
    w = np.asarray(topology.auto_weights(), dtype=np.float64)
    out["marks"] = {"bandwidth-proportional": 1.0 - float(bw[fast] / bw.sum()),
                    "auto weights " + _fmt_weights(topology.auto_weights()):
                        1.0 - float(w[fast] / w.sum()),
                    "1:1": 1.0 - 1.0 / m.n}
    return out
