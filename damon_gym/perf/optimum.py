"""The throughput optimum ``X*`` over feasible access shares, and Colloid's equal-latency split.

docs/model.md#pm-2-5 [PM 2.5]: ``X* = max over feasible f of X(f)`` (the closed loop of [PM 2.4] with
the step's background traffic and no migration). Method, exact up to floating-point tolerances
for any n <= 8 (no scipy):

* outer: ``X*`` is the root of ``G(X) = X (Z + C*(X)) - N`` with
  ``C*(X) = min_f sum_i f_i L_i(u_i(X, f_i))``. With per-node throughput ``y_i = X f_i`` the
  term ``X C*(X)`` is a minimum of a convex function of ``y`` over a convex set in ``(X, y)``,
  so ``G`` is convex and increasing. It is bracketed below by the best heuristic placement
  and above by the bandwidth limit of the feasible set (closed form over all subsets) and
  solved by regula falsi (Illinois) with bisection safeguards;
* inner: a separable convex minimisation over the base polytope of the submodular
  ``h(S) = H(C(S))`` intersected with the bandwidth box ``f_i <= (u_max B_i - bg_i)/(X k)``
  (the box is folded into ``h'(S) = min_{T subset S} h(T) + ub(S - T)``), solved by the
  decomposition algorithm for separable convex objectives over base polytopes (Fujishige,
  "Submodular Functions and Optimization", 2nd ed., §8.2; Groenevelt 1991): solve with the
  single constraint ``sum f = h'(V)`` (marginal costs equal: the KKT condition of [PM 2.5]),
  find the maximal most-violated subset by enumerating the ``2^n`` subsets, split into a
  restriction and a contraction, recurse (at most n levels). Each equal-marginal-cost
  subproblem is solved by damped Newton on the equality-constrained problem.

The result is always achievable: ``X*`` is the closed-loop throughput of the returned shares.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from damon_gym.perf.hotness import (
    bandwidth_limit,
    box_limited,
    greedy_vertex,
    subset_bits,
)
from damon_gym.perf.latency import (
    NodeArrays,
    clip_ufunc,
    latency_terms,
    loaded_latency,
    solve_closed_loop,
    utilisation_at_latency,
)

_NS = 1e-9
_sum = np.add.reduce  # what ndarray.sum() computes, without its Python wrapper


@dataclass(frozen=True)
class Optimum:
    """``X_star`` (accesses/s) and the shares ``f_star`` attaining it; ``bw_bound`` when the
    bandwidth limit of the feasible set binds; ``solves`` counts inner problems solved."""

    X_star: float
    f_star: np.ndarray
    bw_bound: bool
    solves: int


def _cost_at(f: np.ndarray, k: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``_Inner._cost`` for the constants ``k`` of its nodes (``_Inner._consts``)."""
    scale, ub, u_lo, L0, a, b, u_max = k  # scale = du/df
    fc = clip_ufunc(f, 0.0, ub)
    lat, d1, d2 = latency_terms(fc * scale + u_lo, L0, a, b, u_max)
    F = fc * lat
    phi = lat + fc * scale * d1
    dphi = scale * (2.0 * d1 + fc * scale * d2)
    e = f - fc  # distance beyond the box (negative below 0)
    F = F + phi * e + 0.5 * dphi * e * e
    phi = phi + dphi * e
    return F, phi, dphi


class _Inner:
    """The inner problem at fixed X for one (h, node constants, external traffic)."""

    def __init__(self, h: np.ndarray, na: NodeArrays, ext: np.ndarray) -> None:
        self.h = h
        self.na = na
        self.ext = ext
        self.n = na.n
        self.full = (1 << self.n) - 1
        self.bits = subset_bits(self.n)
        self.room = np.maximum(na.u_max * na.B - ext, 0.0) / na.k  # accesses/s
        self.u_lo = ext / na.B
        self.solves = 0

    # -- equal marginal cost over a subset with one sum constraint -------------------------
    def _cost(self, f: np.ndarray, s: np.ndarray, X: float
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per node of ``s``: ``F(f) = f L(u(f))`` (ns), its derivative ``phi`` (marginal
        cost) and second derivative, extended quadratically outside ``[0, ub]`` (so that the
        relaxed problem is smooth and strictly convex on all of R^n)."""
        return _cost_at(f, self._consts(s, X))

    def _consts(self, s: np.ndarray, X: float) -> tuple:
        """What :func:`_cost_at` needs of nodes ``s`` at throughput ``X`` (computed once per
        relaxed problem, not at every Newton step)."""
        na = self.na
        return (X * na.k / na.B[s], self.room[s] / X, self.u_lo[s], na.L0[s], na.a[s], na.b[s],
                na.u_max)

    def _relaxed(self, s: np.ndarray, target: float, X: float) -> np.ndarray:
        """Minimise ``sum_{i in s} F_i(f_i)`` subject to ``sum f = target`` only (the box and
        subset constraints live in ``h'``): damped Newton on the equality-constrained problem
        (direction ``d_i = (mu - phi_i)/phi'_i`` with ``sum d = 0``, Armijo backtracking far from
        the minimum, full steps near it)."""
        k = self._consts(s, X)
        ub = k[1]
        tot = float(_sum(ub))
        f = ub * (target / tot) if tot > 0 else np.full(len(s), target / len(s))
        F, g, H = _cost_at(f, k)
        obj = float(_sum(F))
        prev = float("inf")
        for _ in range(200):
            w = 1.0 / H
            mu = float(np.dot(g, w) / _sum(w))
            d = (mu - g) * w
            dec = float(np.dot(d * d, H))
            scale = float(_sum(np.abs(F))) + abs(mu) * float(_sum(np.abs(f))) + 1e-300
            if dec <= 1e-26 * scale or float(np.abs(g - mu).max()) <= 1e-13 * abs(mu) \
                    or (dec >= prev and dec <= 1e-9 * scale):  # stagnating at roundoff
                break
            prev = dec
            t = 1.0
            while True:
                fn = f + t * d
                Fn, gn, Hn = _cost_at(fn, k)
                on = float(_sum(Fn))
                # near the minimum the objective cannot resolve the decrease: take the full
                # Newton step (quadratic convergence) instead of an Armijo test
                if dec <= 1e-9 * scale or on <= obj - 0.25 * t * dec or t < 1e-8:
                    break
                t *= 0.5
            if t < 1e-8:
                break
            f, F, g, H, obj = fn, Fn, gn, Hn, on
        return f + (target - float(_sum(f))) / len(f)

    def solve(self, X: float) -> tuple[np.ndarray, float] | None:
        """Shares minimising ``sum f L`` at throughput ``X`` and that minimum (ns); None when
        no feasible share vector fits the bandwidth at ``X``."""
        self.solves += 1
        hp = box_limited(self.h, self.room / X)
        if hp[self.full] < 1.0 - 1e-9:
            return None
        f = np.zeros(self.n)
        masks = np.arange(1 << self.n)
        stack = [(self.full, 0)]
        while stack:
            A, base = stack.pop()
            members = np.array([i for i in range(self.n) if A >> i & 1], dtype=np.int64)
            target = float(hp[A | base] - hp[base])
            if len(members) == 1:
                f[members[0]] = target
                continue
            y = np.zeros(self.n)
            y[members] = self._relaxed(members, target, X)
            subs = masks[(masks & ~A) == 0]
            val = hp[subs | base] - hp[base] - self.bits[subs] @ y
            mn = float(val.min())
            if mn >= -1e-11:
                f[members] = y[members]
                continue
            low = subs[val <= mn + 1e-13]
            Ap = int(np.bitwise_or.reduce(low))
            if Ap == A:
                Ap = int(subs[int(np.argmin(val))])
            stack.append((Ap, base))
            stack.append((A & ~Ap, base | Ap))
        f = np.maximum(f, 0.0)
        f /= _sum(f)
        u = (X * self.na.k * f + self.ext) / self.na.B
        cost = float(np.dot(f, loaded_latency(u, self.na.L0, self.na.a, self.na.b,
                                              self.na.u_max)))
        return f, cost


def candidate_shares(h: np.ndarray, na: NodeArrays) -> list[np.ndarray]:
    """Feasible heuristic share vectors (greedy vertices: hottest bytes first, nodes filled
    by increasing idle latency, by decreasing bandwidth, and every order for n <= 4)."""
    n = na.n
    orders = {tuple(int(i) for i in np.argsort(na.L0, kind="stable")),
              tuple(int(i) for i in np.argsort(-na.B, kind="stable"))}
    if n <= 4:
        orders |= set(itertools.permutations(range(n)))
    return [greedy_vertex(h, o) for o in sorted(orders)]


def solve_optimum(h: np.ndarray, na: NodeArrays, N: float, think_ns: float,
                  ext: np.ndarray, rtol: float = 1e-10) -> Optimum:
    """``X*`` for subset values ``h`` (see :func:`~damon_gym.perf.hotness.subset_values`),
    misses in flight ``N``, think time ``think_ns`` and external traffic ``ext`` (bytes/s,
    clipped). See the module docstring for the method."""
    inner = _Inner(h, na, ext)
    zs = think_ns * _NS
    best_x, best_f = 0.0, None
    for f in candidate_shares(h, na):
        cl = solve_closed_loop(f, N, think_ns, na, ext)
        if cl.X > best_x:
            best_x, best_f = cl.X, f
    x_bw = bandwidth_limit(h, inner.room)
    if not x_bw > 0 or N <= 0:
        f0 = best_f if best_f is not None else candidate_shares(h, na)[0]
        return Optimum(float(best_x), np.asarray(f0, dtype=np.float64), x_bw <= 0, 0)

    def G(X: float) -> tuple[float, np.ndarray | None]:
        r = inner.solve(X)
        if r is None:
            return float("inf"), None
        return X * (zs + r[1] * _NS) - N, r[0]

    hi = x_bw * (1.0 - 1e-12)
    g_hi, f_hi = G(hi)
    f_lo: np.ndarray | None
    if g_hi <= 0 and f_hi is not None:
        lo, f_lo, bw_bound = hi, f_hi, True
    else:
        bw_bound = False
        lo = best_x * (1.0 - 1e-12) if best_x > 0 else hi * 1e-6
        g_lo, f_lo = G(lo)
        if g_lo > 0:  # heuristic bound slightly off: walk down
            while g_lo > 0 and lo > 1e-12 * hi:
                hi, g_hi = lo, g_lo
                lo *= 0.5
                g_lo, f_lo = G(lo)
        lo, hi, f_lo, g_lo = _illinois(G, lo, g_lo, f_lo, hi, g_hi, rtol, N)
    f_star = f_lo if f_lo is not None else best_f
    x_star = solve_closed_loop(f_star, N, think_ns, na, ext).X if f_star is not None else 0.0
    if best_f is not None and best_x > x_star:
        x_star, f_star = best_x, best_f
    return Optimum(float(x_star), np.asarray(f_star, dtype=np.float64), bw_bound,
                   inner.solves)


def _illinois(G, lo: float, g_lo: float, f_lo, hi: float, g_hi: float, rtol: float,
              N: float):
    """Regula falsi with the Illinois modification on an increasing ``G`` bracketed by
    ``G(lo) <= 0 < G(hi)`` (``G(hi)`` may be inf), with a bisection step whenever the
    bracket failed to halve over two steps. Returns the final bracket and the data at lo."""
    side = 0
    width = hi - lo
    count = 0
    g_true = g_lo
    for _ in range(300):
        if hi - lo <= rtol * hi or -g_true <= 1e-14 * N:
            break
        count += 1
        if np.isfinite(g_hi) and count % 3 != 0:
            x = (lo * g_hi - hi * g_lo) / (g_hi - g_lo)
            if not lo < x < hi:
                x = 0.5 * (lo + hi)
        else:
            x = 0.5 * (lo + hi)
            if hi - lo <= 0.5 * width:
                count = 0
        gx, fx = G(x)
        if gx <= 0:
            lo, g_lo, f_lo, g_true = x, gx, fx, gx
            if side == -1:
                g_hi *= 0.5
            side = -1
        else:
            hi, g_hi = x, gx
            if side == 1:
                g_lo *= 0.5
            side = 1
        if hi - lo <= 0.5 * width:
            width = hi - lo
            count = 0
    return lo, hi, f_lo, g_true


def equal_latency_shares(h: np.ndarray, na: NodeArrays, N: float, think_ns: float,
                         ext: np.ndarray) -> np.ndarray:
    """Colloid's operating point [PM 1b, 2.5]: shares at which the loaded latencies of all
    nodes carrying traffic are equal at the resulting closed-loop throughput (a node whose
    latency stays below the common level is filled to its single-node cap ``h({i})``; a
    node above it gets nothing). Exact for two nodes; for more only the single-node
    constraints of the feasible set are enforced."""
    n = na.n
    cap = np.array([h[1 << i] for i in range(n)])
    room = np.maximum(na.u_max * na.B - ext, 0.0)

    def shares_at(X: float) -> np.ndarray | None:
        ub = np.minimum(cap, room / (X * na.k))
        if ub.sum() < 1.0 - 1e-12:
            return None
        lo = float(loaded_latency(ext / na.B, na.L0, na.a, na.b, na.u_max).min())
        hi = float(loaded_latency(np.full(n, na.u_max), na.L0, na.a, na.b, na.u_max).max())
        f = ub
        for _ in range(100):
            mid = 0.5 * (lo + hi)
            u = utilisation_at_latency(mid, na.L0, na.a, na.b, na.u_max)
            f = np.clip((u * na.B - ext) / (X * na.k), 0.0, ub)
            if f.sum() < 1.0:
                lo = mid
            else:
                hi = mid
            if hi - lo <= 1e-12 * hi:
                break
        u = utilisation_at_latency(hi, na.L0, na.a, na.b, na.u_max)
        return np.clip((u * na.B - ext) / (X * na.k), 0.0, ub)

    def g(X: float) -> float:
        f = shares_at(X)
        if f is None:
            return float("inf")
        f = f / f.sum()
        u = (X * na.k * f + ext) / na.B
        return X * (think_ns + float(np.dot(f, loaded_latency(u, na.L0, na.a, na.b,
                                                                  na.u_max)))) * _NS - N

    lo, hi = 0.0, float(room.sum() / na.k)
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if g(mid) <= 0:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-10 * hi:
            break
    f = shares_at(lo) if lo > 0 else None
    if f is None:
        return greedy_vertex(h, [int(i) for i in np.argsort(na.L0, kind="stable")])
    return f / f.sum()
