"""Per-node loaded latency and the closed-loop (MLP-limited) throughput fixed point.

Specification: docs/model.md sections 2.1, 2.2 and 2.4 (cited below by section, as in [PM 2.4]).
Numpy and numba on arrays of one entry per node (O(nodes), never per page).

Units: bandwidths and traffic in bytes/s, latencies and think time in ns, throughput ``X`` in
accesses/s (one access = one 64 B line fill, plus ``omega`` write-backs), ``N`` (misses in
flight) dimensionless, utilisation ``u`` a fraction of the node's sustainable bandwidth.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numba import njit

from damon_gym.memory.topology import Topology

try:  # np.clip's own ufunc, called directly: np.clip's Python wrappers cost more than clipping a
    # node-sized array, and an X* solve clips thousands of times (the same results)
    from numpy._core.umath import clip as clip_ufunc  # type: ignore[attr-defined]
except ImportError:  # numpy 1.x
    from numpy.core.umath import clip as clip_ufunc  # type: ignore[no-redef]

LINE_BYTES = 64  # one access is one cache-line fill [PM 2.1]
U_MAX = 0.99  # utilisation cap of the latency curve and of the bandwidth-bound limit [PM 2.2]
#: external (background + migration) traffic on a node is clipped to this fraction of
#: ``u_max * B`` so that the application keeps a sliver of every node (choice [U]; without it a
#: node saturated by an antagonist would give X = 0 instead of a crawl)
EXT_CAP = 0.95
_NS = 1e-9
_A_MIN = 1e-6  # keeps the curve strictly increasing when a preset says a = b = 0


@dataclass(frozen=True)
class NodeArrays:
    """Per-node model constants at one write fraction: ``B`` sustainable bandwidth (bytes/s),
    ``L0`` idle latency (ns), ``a``/``b`` curve shape, ``k`` bytes of traffic per access."""

    B: np.ndarray
    L0: np.ndarray
    a: np.ndarray
    b: np.ndarray
    k: float
    u_max: float = U_MAX
    ext_cap: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # the external-traffic ceiling of clip_external, computed once per constants
        cap = EXT_CAP * self.u_max * self.B
        cap.flags.writeable = False
        object.__setattr__(self, "ext_cap", cap)

    @property
    def n(self) -> int:
        return len(self.B)


def traffic_bytes_per_access(write_fraction: float) -> float:
    """``64 * (1 + omega)``: a line fill plus the write-back of the lines it dirties [PM 2.1]."""
    return LINE_BYTES * (1.0 + float(write_fraction))


def node_arrays(topology: Topology, write_fraction: float = 0.0, u_max: float = U_MAX
                ) -> NodeArrays:
    """Constants of every node for a workload with write-back fraction ``write_fraction`` (ω).

    The sustainable bandwidth is interpolated linearly between the all-read figure
    (``bw_read_gbps``, no writes) and the 1:1 read:write figure (``bw_rw_gbps``) by the share
    of write bytes in the traffic, ``rho_w = omega / (1 + omega)`` (0 .. 0.5) [PM 2.1, 2.9].
    """
    w = float(write_fraction)
    if not 0.0 <= w <= 1.0:
        raise ValueError(f"write_fraction: {write_fraction!r} must be in [0, 1]")
    rho_w = w / (1.0 + w)
    t = min(1.0, rho_w / 0.5)
    rd = np.array([n.bw_read_gbps for n in topology.nodes], dtype=np.float64)
    rw = np.array([n.bw_rw_gbps for n in topology.nodes], dtype=np.float64)
    B = (rd + (rw - rd) * t) * 1e9
    L0 = np.array([n.idle_latency_ns for n in topology.nodes], dtype=np.float64)
    a = np.maximum(np.array([n.curve_a for n in topology.nodes], dtype=np.float64), _A_MIN)
    b = np.array([n.curve_b for n in topology.nodes], dtype=np.float64)
    return NodeArrays(B, L0, a, b, traffic_bytes_per_access(w), float(u_max))


def loaded_latency(u: np.ndarray, L0: np.ndarray, a: np.ndarray, b: np.ndarray,
                   u_max: float = U_MAX) -> np.ndarray:
    """``L(u) = L0 * (1 + a*u + b*u^2/(1-u))`` in ns, ``u`` clipped to ``[0, u_max]`` [PM 2.2]."""
    return _latency(clip_ufunc(u, 0.0, u_max), L0, a, b)


def latency_slope(u: np.ndarray, L0: np.ndarray, a: np.ndarray, b: np.ndarray,
                  u_max: float = U_MAX) -> np.ndarray:
    """``dL/du`` in ns per unit of utilisation (same clipping as :func:`loaded_latency`)."""
    return _slope(clip_ufunc(u, 0.0, u_max), L0, a, b)


def latency_curvature(u: np.ndarray, L0: np.ndarray, a: np.ndarray, b: np.ndarray,
                      u_max: float = U_MAX) -> np.ndarray:
    """``d2L/du2`` in ns (``2 b L0 / (1-u)^3``)."""
    return _curvature(clip_ufunc(u, 0.0, u_max), L0, a, b)


def latency_terms(u: np.ndarray, L0: np.ndarray, a: np.ndarray, b: np.ndarray,
                  u_max: float = U_MAX) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`loaded_latency`, :func:`latency_slope` and :func:`latency_curvature` at once,
    ``u`` clipped once (the X* solve's Newton steps ask for all three)."""
    u = clip_ufunc(u, 0.0, u_max)
    return _latency(u, L0, a, b), _slope(u, L0, a, b), _curvature(u, L0, a, b)


# the three on a clipped u
def _latency(u, L0, a, b):
    return L0 * (1.0 + a * u + b * u * u / (1.0 - u))


def _slope(u, L0, a, b):
    d = 1.0 - u
    return L0 * (a + b * (2.0 * u - u * u) / (d * d))


def _curvature(u, L0, a, b):
    return 2.0 * b * L0 / (1.0 - u) ** 3


def utilisation_at_latency(lat_ns: np.ndarray | float, L0: np.ndarray, a: np.ndarray, b: np.ndarray,
                           u_max: float = U_MAX) -> np.ndarray:
    """Inverse of :func:`loaded_latency`: the utilisation at which each node's latency is
    ``lat_ns`` (0 below ``L0``, ``u_max`` above ``L(u_max)``). Closed form: with
    ``y = lat/L0 - 1``, ``(b - a) u^2 + (a + y) u - y = 0``, taken in its cancellation-free form
    ``u = 2y / ((a + y) + sqrt((a + y)^2 + 4 (b - a) y))``."""
    y = np.maximum(np.asarray(lat_ns, dtype=np.float64) / L0 - 1.0, 0.0)
    s = a + y
    disc = np.maximum(s * s + 4.0 * (b - a) * y, 0.0)
    den = s + np.sqrt(disc)
    u = np.where(den > 0, 2.0 * y / np.where(den > 0, den, 1.0), 0.0)
    return clip_ufunc(u, 0.0, u_max)


def clip_external(ext: np.ndarray, na: NodeArrays) -> np.ndarray:
    """External traffic (bytes/s) a node can carry next to the application (see EXT_CAP)."""
    return np.minimum(np.maximum(ext, 0.0), na.ext_cap)


def in_flight(u_target: float, fast: int, na: NodeArrays, think_ns: float) -> float:
    """Misses in flight ``N`` of a workload of intensity ``u_target``: the fast node's
    utilisation with every page there and no other traffic. ``N = X_t * (Z + L_fast(u_t))``
    with ``X_t = u_target * B_fast / (64 (1 + omega))`` [PM 2.4]."""
    if not 0.0 < u_target <= na.u_max:
        raise ValueError(f"u_target: {u_target!r} must be in (0, {na.u_max}]")
    x_t = u_target * na.B[fast] / na.k
    lat = loaded_latency(np.array([u_target]), na.L0[fast:fast + 1], na.a[fast:fast + 1],
                         na.b[fast:fast + 1], na.u_max)[0]
    return float(x_t * (think_ns + lat) * _NS)


@dataclass(frozen=True)
class ClosedLoop:
    """Solution of the closed loop for one placement: ``X`` (accesses/s), per node ``lam``
    (bytes/s, all traffic), ``u``, ``L`` (ns); ``mean_latency_ns`` = sum f_i L_i;
    ``bw_bound`` when X sits at the bandwidth cap ``x_max``; ``bottleneck`` the node whose
    bandwidth sets ``x_max`` (-1 if none)."""

    X: float
    x_max: float
    lam: np.ndarray
    u: np.ndarray
    L: np.ndarray
    mean_latency_ns: float
    bw_bound: bool
    bottleneck: int
    iterations: int


@njit(cache=True)
def _closed_loop(f, N, zs, B, L0, a, b, k, um, ext, rtol, out):
    """The Newton solve of :func:`solve_closed_loop` on arrays; ``out`` receives per node
    (u, L, lam) in rows 0..2. Returns (X, X_max, bottleneck, bw_bound, iterations, mean L).
    Operation order is the one the module has always used (no fused multiply-add: numba
    compiles without fastmath), so results are the same floats in every caller."""
    n = f.shape[0]
    xm, bott = np.inf, -1
    for i in range(n):  # x_cap
        if f[i] > 0:
            c = max(um * B[i] - ext[i], 0.0) / (k * f[i])
            if c < xm:
                xm, bott = c, i
    if bott < 0:
        xm = 0.0
    x = xm
    bw_bound = False
    it = 0
    if xm > 0:
        g, dg = _g_dg(x, f, N, zs, B, L0, a, b, k, um, ext)
        if g <= 0:
            bw_bound = True
        else:
            while it < 200:
                it += 1
                x_new = x - g / dg
                if x_new <= 0:
                    x_new = x * 0.5
                if abs(x - x_new) <= rtol * x:
                    x = x_new
                    break
                x = x_new
                g, dg = _g_dg(x, f, N, zs, B, L0, a, b, k, um, ext)
                if g <= 1e-15 * N:
                    break
    mean = 0.0
    for i in range(n):
        u = x * (f[i] * k / B[i]) + ext[i] / B[i]
        uc = min(max(u, 0.0), um)
        lat = L0[i] * (1.0 + a[i] * uc + b[i] * uc * uc / (1.0 - uc))
        out[0, i] = u
        out[1, i] = lat
        out[2, i] = x * f[i] * k + ext[i]
        mean += f[i] * lat
    return x, xm, bott, bw_bound, it, mean


@njit(cache=True)
def _g_dg(x, f, N, zs, B, L0, a, b, k, um, ext):
    """g(X) = X (Z + sum f L) - N and its derivative, over the nodes with traffic."""
    mean = 0.0
    dmean = 0.0
    for i in range(f.shape[0]):
        fi = f[i]
        if fi > 0:
            c = fi * k / B[i]
            u = x * c + ext[i] / B[i]
            if u > um:
                u = um
            d = 1.0 - u
            l0 = L0[i] * _NS
            mean += fi * l0 * (1.0 + a[i] * u + b[i] * u * u / d)
            dmean += fi * c * l0 * (a[i] + b[i] * (2.0 * u - u * u) / (d * d))
    return x * (zs + mean) - N, zs + mean + x * dmean


def solve_closed_loop(f: np.ndarray, N: float, think_ns: float, na: NodeArrays,
                      ext: np.ndarray | None = None, rtol: float = 1e-12) -> ClosedLoop:
    """Throughput ``X`` from the response-time law ``X = N / (Z + sum_i f_i L_i(u_i(X)))`` with
    ``u_i(X) = (X k f_i + ext_i) / B_i`` [PM 2.4].

    ``g(X) = X (Z + sum f L) - N`` is increasing and convex on ``[0, X_max]`` (a product of
    increasing convex non-negative terms), so Newton's method started at ``X_max`` (where
    ``g > 0`` unless the run is bandwidth-bound) decreases monotonically to the unique root
    without overshooting. ``ext`` is background plus migration traffic (bytes/s), already
    clipped with :func:`clip_external` by the caller. Compiled (``_closed_loop``): the model
    solves it at every env step and for every candidate of the X* search.
    """
    f = np.ascontiguousarray(f, dtype=np.float64)
    ext = np.zeros(na.n) if ext is None else np.ascontiguousarray(ext, dtype=np.float64)
    x, xm, bott, bw, it, mean, out = closed_loop_raw(f, float(N), think_ns, na, ext, float(rtol))
    return ClosedLoop(X=float(x), x_max=float(xm), lam=out[2], u=out[0], L=out[1],
                      mean_latency_ns=float(mean), bw_bound=bool(bw), bottleneck=int(bott),
                      iterations=int(it))


def closed_loop_raw(f: np.ndarray, N: float, think_ns: float, na: NodeArrays, ext: np.ndarray,
                    rtol: float = 1e-12
                    ) -> tuple[float, float, int, bool, int, float, np.ndarray]:
    """:func:`solve_closed_loop` without the checks and the :class:`ClosedLoop`, for the
    per-step model (building the frozen dataclass costs twice the compiled solve): ``f`` and
    ``ext`` float64 and contiguous, ``N`` a float. Returns (X, X_max, bottleneck, bw_bound,
    iterations, mean L, out) with ``out`` rows 0..2 the per-node u, L and lam."""
    out = np.empty((3, f.shape[0]))
    x, xm, bott, bw, it, mean = _closed_loop(f, N, think_ns * _NS, na.B, na.L0, na.a, na.b,
                                             float(na.k), float(na.u_max), ext, rtol, out)
    return x, xm, bott, bw, it, mean, out
