"""Cumulative hotness ``H(c)`` of a workload phase and the feasible access-share set it implies.

``H(c)`` is the share of all accesses that fall on the hottest ``c`` bytes ([PM 2.5],
docs/model.md#pm-2-5): concave, increasing, ``H(0) = 0`` and ``H(footprint) = 1``. With pages relaxed
to fractional mass, an access-share vector ``f`` over nodes with capacities ``C_i`` (bytes) is
achievable iff ``sum f = 1`` and ``sum_{i in S} f_i <= H(sum_{i in S} C_i)`` for every node
subset ``S``. ``h(S) = H(C(S))`` is a concave function of a modular one, hence submodular and
monotone: the feasible set is the base polytope of the polymatroid ``h``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from damon_gym.memory.system import MemorySystem


class HotnessCurve:
    """Piecewise-linear ``H`` through ``(cum_bytes[j], cum_share[j])``, flat at 1 beyond the
    last point. ``key`` identifies the curve in caches (e.g. ``("phase", 3)``); by default it
    is a digest of the points, computed once here."""

    def __init__(self, cum_bytes: Sequence[float] | np.ndarray,
                 cum_share: Sequence[float] | np.ndarray, key: object = None,
                 check: bool = True) -> None:
        c = np.asarray(cum_bytes, dtype=np.float64)
        h = np.asarray(cum_share, dtype=np.float64)
        if c.ndim != 1 or c.shape != h.shape or len(c) < 2:
            raise ValueError("cum_bytes, cum_share: two 1-d arrays of the same length >= 2")
        if c[0] != 0 or h[0] != 0:
            raise ValueError("HotnessCurve: the curve must start at (0, 0)")
        if (np.diff(c) <= 0).any() or (np.diff(h) < -1e-12).any():
            raise ValueError("HotnessCurve: cum_bytes must increase and cum_share not decrease")
        if not 0.999999 <= h[-1] <= 1.000001:
            raise ValueError(f"HotnessCurve: the curve must end at share 1 (got {h[-1]})")
        if check:
            slopes = np.diff(h) / np.diff(c)
            if (np.diff(slopes) > 1e-9 * max(float(slopes.max()), 1e-300)).any():
                raise ValueError("HotnessCurve: H must be concave (hottest bytes first)")
        self._set_points(c, h, key)

    def _set_points(self, c: np.ndarray, h: np.ndarray, key: object) -> None:
        self.cum_bytes = c
        self.cum_share = np.minimum(h / h[-1], 1.0)
        if key is None:  # a digest of the points (SHA-1: a cache key, several times faster
            d = hashlib.sha1(np.ascontiguousarray(c).data)  # than BLAKE2; a point per page)
            d.update(self.cum_share.data)
            key = ("H", d.hexdigest())
        self.key = key

    @property
    def footprint_bytes(self) -> float:
        """Bytes up to the last point (all the pages of the phase, accessed or not)."""
        return float(self.cum_bytes[-1])

    def __call__(self, c_bytes: float | np.ndarray) -> np.ndarray:
        """``H(c)``: access share of the hottest ``c`` bytes (vectorised)."""
        return np.interp(c_bytes, self.cum_bytes, self.cum_share)

    def __repr__(self) -> str:
        return f"HotnessCurve({len(self.cum_bytes)} points, {self.footprint_bytes:.4g} B)"

    # -- constructors -------------------------------------------------------------------
    @classmethod
    def from_rates(cls, rates: np.ndarray, page_size: int, key: object = None,
                   ascending: np.ndarray | None = None) -> HotnessCurve:
        """From per-page access rates (accesses/s, any order; zero-rate pages count in the
        footprint): the pages sorted hottest first, one point per accessed page (exact, so
        that the optimum is a true upper bound; O(pages log pages), once per phase).
        ``ascending``: ``np.sort(rates)`` when the caller has it already."""
        r = np.asarray(rates, dtype=np.float64).reshape(-1)
        if r.size == 0 or (r < 0).any() or not np.isfinite(r).all():
            raise ValueError("rates: need at least one finite rate >= 0")
        total = float(r.sum())
        npages = r.size
        if total <= 0:
            return cls.uniform(npages * page_size, key=key)
        s = (np.sort(r) if ascending is None else ascending)[::-1]
        nz = int(np.count_nonzero(s))
        h = np.concatenate(([0.0], np.cumsum(s[:nz]) / total))
        h[-1] = 1.0
        c = np.arange(nz + 1, dtype=np.float64) * page_size
        if nz < npages:
            c = np.append(c, float(npages) * page_size)
            h = np.append(h, 1.0)
        curve = cls.__new__(cls)  # increasing and concave by construction: nothing to check
        curve._set_points(c, h, key)
        return curve

    @classmethod
    def uniform(cls, footprint_bytes: float, key: object = None) -> HotnessCurve:
        """Every byte equally hot (STREAM-like)."""
        return cls([0.0, float(footprint_bytes)], [0.0, 1.0], key=key)

    @classmethod
    def two_level(cls, footprint_bytes: float, hot_fraction: float, hot_share: float = 0.9,
                  key: object = None) -> HotnessCurve:
        """``hot_fraction`` of the bytes get ``hot_share`` of the accesses, uniformly within
        each level (the GUPS/Vistara mixture of [PM 4])."""
        if not 0.0 < hot_fraction <= 1.0 or not 0.0 <= hot_share <= 1.0:
            raise ValueError("hot_fraction in (0, 1], hot_share in [0, 1]")
        if hot_fraction >= 1.0 or hot_share <= hot_fraction:
            return cls.uniform(footprint_bytes, key=key)
        fp = float(footprint_bytes)
        return cls([0.0, hot_fraction * fp, fp], [0.0, hot_share, 1.0], key=key)

    @classmethod
    def from_memory(cls, mem: MemorySystem, key: object = None) -> HotnessCurve:
        """From the live processes' page rates of a :class:`MemorySystem` (allocated pages)."""
        parts = [p.vpage_rate[p.vpage_frame >= 0] for p in mem.procs if p.alive]
        rates = np.concatenate(parts) if parts else np.zeros(1)
        return cls.from_rates(rates, mem.page_size, key=key)


class LazyHotnessCurve(HotnessCurve):
    """A curve whose ``key`` is known before its points: ``build()`` makes the points on
    first use. A caller that has met the same pages' rates before knows the curve's key
    (a digest of its points) without sorting them again, and every cache keyed by it (the
    performance model's X*) answers without the points; only a miss builds them."""

    def __init__(self, key: object, build: Callable[[], HotnessCurve]) -> None:
        self.key = key
        self._build: Callable[[], HotnessCurve] | None = build
        self._curve: HotnessCurve | None = None

    def _points(self) -> HotnessCurve:
        if self._curve is None:
            assert self._build is not None
            curve = self._build()
            if curve.key != self.key:
                raise ValueError(f"LazyHotnessCurve: built a curve with key {curve.key!r}, "
                                 f"expected {self.key!r}")
            self._curve, self._build = curve, None
        return self._curve

    @property
    def built(self) -> bool:
        return self._curve is not None

    @property
    def cum_bytes(self) -> np.ndarray:  # type: ignore[override]
        return self._points().cum_bytes

    @property
    def cum_share(self) -> np.ndarray:
        return self._points().cum_share

    def __repr__(self) -> str:
        return f"LazyHotnessCurve({self.key!r}, built={self.built})"


# -------------------------------------------------------------------------------------------
# subsets as bitmasks

def subset_bits(n: int) -> np.ndarray:
    """``(2^n, n)`` 0/1 matrix: row ``m`` has the members of the subset with bitmask ``m``."""
    m = np.arange(1 << n)[:, None]
    return ((m >> np.arange(n)[None, :]) & 1).astype(np.float64)


def subset_values(hot: HotnessCurve, capacities: np.ndarray) -> np.ndarray:
    """``h[m] = H(sum of capacities in m)`` for every bitmask ``m``; ``h[full] = 1`` when the
    footprint fits (it is raised to 1 otherwise, i.e. the excess is assumed unplaced)."""
    caps = np.asarray(capacities, dtype=np.float64)
    h = hot(subset_bits(len(caps)) @ caps)
    h[0] = 0.0
    h[-1] = 1.0
    return h


def box_limited(h: np.ndarray, ub: np.ndarray) -> np.ndarray:
    """``h'(S) = min_{T subset S} h(T) + ub(S \\ T)``: the polymatroid of ``h`` intersected with
    the box ``f <= ub`` (still submodular). Computed by ``h'(S) = min(h(S), min_{i in S}
    h'(S - i) + ub_i)`` over subsets in increasing bitmask order."""
    n = len(ub)
    hp = h.copy()
    for m in range(1, 1 << n):
        best = hp[m]
        for i in range(n):
            if m >> i & 1:
                v = hp[m ^ (1 << i)] + ub[i]
                if v < best:
                    best = v
        hp[m] = best
    return hp


def bandwidth_limit(h: np.ndarray, room: np.ndarray) -> float:
    """Largest ``X`` (accesses/s) for which some feasible ``f`` keeps every node within its
    room ``r_i`` (accesses/s the node can still carry): ``f_i <= r_i / X`` must meet the base
    polytope, i.e. ``X <= r(V - T) / (1 - h(T))`` for every ``T`` with ``h(T) < 1``."""
    n = len(room)
    bits = subset_bits(n)
    full = (1 << n) - 1
    r_out = (1.0 - bits) @ room  # r(V \ T)
    lack = 1.0 - h
    ok = lack > 1e-15
    ok[full] = False
    if not ok.any():
        return float("inf")
    return float(np.min(r_out[ok] / lack[ok]))


def greedy_vertex(h: np.ndarray, order: Sequence[int]) -> np.ndarray:
    """The base-polytope vertex that fills nodes in ``order`` hottest-first:
    ``f_{order[j]} = h(first j+1) - h(first j)``."""
    f = np.zeros(len(order))
    m = 0
    prev = 0.0
    for i in order:
        m |= 1 << int(i)
        f[int(i)] = h[m] - prev
        prev = h[m]
    return f


def is_feasible(f: np.ndarray, h: np.ndarray, tol: float = 1e-9) -> bool:
    """Whether ``f`` lies in the base polytope of ``h`` (within ``tol``)."""
    f = np.asarray(f, dtype=np.float64)
    if abs(f.sum() - 1.0) > tol or (f < -tol).any():
        return False
    return bool(((subset_bits(len(f)) @ f) <= h + tol).all())
