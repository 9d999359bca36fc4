"""Access-rate fields: the segment kinds and their expansion onto a process's pages.

Rate convention (one for every kind)
------------------------------------
A segment carries ``total_rate``: the accesses/s the process makes to the byte range
``[start, end)`` of its virtual address space. That rate is split over the bytes of the range
that lie inside the process's VMAs (bytes in gaps between VMAs get nothing and do not dilute
the rest), so as long as the range overlaps a VMA the process receives exactly ``total_rate``
from the segment. The kind decides how the rate is shared among the covered pages:

``uniform``     proportional to covered bytes (a page fully covered gets ``total_rate *
                page_size / covered_bytes``). Params: ``total_rate``.
``zipf``        the covered pages are the Zipf items; the page of rank r (1 = hottest) gets
                weight ``r**-theta`` times its covered share of a page. Ranks follow a
                permutation drawn from ``numpy.random.default_rng(perm_seed)``, or the address
                order when ``contiguous``. Params: ``total_rate, theta, perm_seed | contiguous``.
``hot_cold``    the first ``round(hot_fraction * n)`` ranks (same permutation rule) are hot and
                share ``hot_prob * total_rate`` by covered bytes, the rest share the remainder
                (if one set is empty the other gets everything). ``hot_offset`` (bytes from the
                range start) places a contiguous hot block; ``moves`` is a list of
                ``[seed, nbytes, contiguous]`` hot/cold exchanges applied in order (partial
                hot-set shifts and periodic swaps; see generators.py). Params: ``total_rate,
                hot_fraction, hot_prob, perm_seed | contiguous, hot_offset, moves``.
``sequential``  (alias ``stream``) a cursor touching every byte offset that is a multiple of
                ``stride`` inside the range, each touch the same share; a page gets the share
                of the touches that fall in its covered part. ``stride`` >= the range length
                touches offset 0 only. Params: ``total_rate, stride`` (bytes, default 4096).

Zipf ranks and hot sets are defined over *simulation pages*, so the same seed with a different
page size gives a different (equally distributed) layout. Everything here is numpy vectorised:
the only Python loops run over VMAs and over ``moves`` entries, never over pages.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

KINDS = ("uniform", "zipf", "hot_cold", "sequential", "stream")

_ALLOWED: dict[str, set[str]] = {
    "uniform": {"total_rate"},
    "zipf": {"total_rate", "theta", "perm_seed", "contiguous"},
    "hot_cold": {"total_rate", "hot_fraction", "hot_prob", "perm_seed", "contiguous",
                 "hot_offset", "moves"},
    "sequential": {"total_rate", "stride"},
    "stream": {"total_rate", "stride"},
}


def _perr(name: str, value: object, allowed: str) -> ValueError:
    return ValueError(f"RateSegment.params[{name!r}]: got {value!r}; allowed: {allowed}")


def _real(params: Mapping[str, Any], name: str, lo: float, hi: float) -> float:
    if name not in params:
        raise _perr(name, None, f"a number in [{lo}, {hi}] (required)")
    v = params[name]
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise _perr(name, v, f"a number in [{lo}, {hi}]")
    f = float(v)
    if not (math.isfinite(f) and lo <= f <= hi):
        raise _perr(name, v, f"a finite number in [{lo}, {hi}]")
    return f


def _int(params: Mapping[str, Any], name: str, lo: int, default: int | None = None) -> int:
    v = params.get(name, default)
    if v is None or isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
        raise _perr(name, v, f"an integer >= {lo}")
    return int(v)


def normalize_params(kind: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Check a segment's params for its kind and return them with defaults filled in."""
    if kind not in _ALLOWED:
        raise ValueError(f"RateSegment.kind: got {kind!r}; allowed: one of {KINDS}")
    extra = set(params) - _ALLOWED[kind]
    if extra:
        raise _perr(sorted(extra)[0], params[sorted(extra)[0]],
                    f"only the keys {sorted(_ALLOWED[kind])} for kind {kind!r}")
    out: dict[str, Any] = {"total_rate": _real(params, "total_rate", 0.0, math.inf)}
    if kind in ("sequential", "stream"):
        out["stride"] = _int(params, "stride", 1, 4096)
    if kind == "zipf":
        out["theta"] = _real(params, "theta", 0.0, 100.0)
    if kind == "hot_cold":
        out["hot_fraction"] = _real(params, "hot_fraction", 0.0, 1.0)
        out["hot_prob"] = _real(params, "hot_prob", 0.0, 1.0)
        out["hot_offset"] = _int(params, "hot_offset", 0, 0)
        moves = []
        for mv in params.get("moves", []):
            if (not isinstance(mv, (list, tuple)) or len(mv) != 3
                    or isinstance(mv[0], bool) or not isinstance(mv[0], (int, np.integer))
                    or isinstance(mv[1], bool) or not isinstance(mv[1], (int, np.integer))
                    or mv[0] < 0 or mv[1] < 0 or not isinstance(mv[2], bool)):
                raise _perr("moves", mv, "entries [seed >= 0, nbytes >= 0, contiguous: bool]")
            moves.append([int(mv[0]), int(mv[1]), bool(mv[2])])
        out["moves"] = moves
    if kind in ("zipf", "hot_cold"):
        contiguous = params.get("contiguous", False)
        if not isinstance(contiguous, bool):
            raise _perr("contiguous", contiguous, "True or False")
        out["contiguous"] = contiguous
        if contiguous:
            if params.get("perm_seed") is not None:
                out["perm_seed"] = _int(params, "perm_seed", 0)
        else:
            out["perm_seed"] = _int(params, "perm_seed", 0)
    return out


class PageGeometry:
    """A process's page index space for one page size (VMA 0's pages first, then VMA 1, ...)."""

    def __init__(self, vmas: list[tuple[int, int]], page_size: int) -> None:
        if page_size <= 0 or page_size & (page_size - 1) or page_size > (2 << 20):
            raise ValueError(f"page_size: got {page_size!r}; allowed: a power of two <= 2 MiB")
        self.page_size = page_size
        self.vma_start = np.array([s for s, _ in vmas], dtype=np.int64)
        self.vma_end = np.array([e for _, e in vmas], dtype=np.int64)
        counts = -(-(self.vma_end - self.vma_start) // page_size)
        self.vma_pages = counts
        self.page_base = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
        self.nr_pages = int(counts.sum())

    def covered(self, start: int, end: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pages overlapping the in-VMA bytes of [start, end): (page index, lo, hi) where
        [lo, hi) is the covered byte range of each page, in address order."""
        ps = self.page_size
        idx, lo, hi = [], [], []
        for j in range(len(self.vma_start)):
            vs, ve = int(self.vma_start[j]), int(self.vma_end[j])
            a, b = max(start, vs), min(end, ve)
            if a >= b:
                continue
            k = np.arange((a - vs) // ps, (b - vs - 1) // ps + 1, dtype=np.int64)
            plo = vs + k * ps
            idx.append(self.page_base[j] + k)
            lo.append(np.maximum(plo, a))
            hi.append(np.minimum(plo + ps, b))
        if not idx:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty
        return np.concatenate(idx), np.concatenate(lo), np.concatenate(hi)


def _rank_perm(n: int, params: Mapping[str, Any], offset: int = 0) -> np.ndarray:
    """perm[r] = local page index of rank r (0 = hottest)."""
    if params["contiguous"]:
        return (np.arange(n, dtype=np.int64) + offset) % max(n, 1)
    return np.random.default_rng(params["perm_seed"]).permutation(n).astype(np.int64)


def _apply_moves(perm: np.ndarray, k: int, moves: list, page_size: int) -> None:
    """Exchange hot ranks [0, k) with cold ranks [k, n) in place, one move at a time."""
    n = len(perm)
    for seed, nbytes, contiguous in moves:
        m = min(int(math.floor(nbytes / page_size + 0.5)), k, n - k)
        if m <= 0:
            continue
        rng = np.random.default_rng(seed)
        if contiguous:
            hot = np.arange(k - m, k)
            c0 = int(rng.integers(k, n - m + 1))
            cold = np.arange(c0, c0 + m)
        else:
            hot = rng.choice(k, size=m, replace=False)
            cold = k + rng.choice(n - k, size=m, replace=False)
        tmp = perm[hot].copy()
        perm[hot] = perm[cold]
        perm[cold] = tmp


def segment_weights(kind: str, params: Mapping[str, Any], seg_start: int,
                    lo: np.ndarray, hi: np.ndarray, page_size: int) -> np.ndarray:
    """Unnormalised float64 weights of the covered pages (same order as ``lo``/``hi``)."""
    n = len(lo)
    cov = (hi - lo).astype(np.float64)
    if n == 0:
        return cov
    if kind == "uniform":
        return cov
    if kind in ("sequential", "stream"):
        s = params["stride"]
        rel_lo, rel_hi = lo - seg_start, hi - seg_start
        return ((-(-rel_hi // s)) - (-(-rel_lo // s))).astype(np.float64)
    frac = cov / page_size
    if kind == "zipf":
        perm = _rank_perm(n, params)
        w = np.empty(n, dtype=np.float64)
        w[perm] = np.power(np.arange(1, n + 1, dtype=np.float64), -params["theta"])
        return w * frac
    if kind == "hot_cold":
        offset = 0
        if params["contiguous"]:
            addr = seg_start + params["hot_offset"]
            offset = int(min(np.searchsorted(hi, addr, side="right"), n - 1))
        perm = _rank_perm(n, params, offset)
        k = min(n, int(math.floor(params["hot_fraction"] * n + 0.5)))
        _apply_moves(perm, k, params["moves"], page_size)
        hot = np.zeros(n, dtype=bool)
        hot[perm[:k]] = True
        hot_cov, cold_cov = cov[hot].sum(), cov[~hot].sum()
        if hot_cov == 0 or cold_cov == 0:
            return cov
        q = params["hot_prob"]
        return np.where(hot, q * cov / hot_cov, (1.0 - q) * cov / cold_cov)
    raise ValueError(f"RateSegment.kind: got {kind!r}; allowed: one of {KINDS}")


def expand_segment(geom: PageGeometry, kind: str, params: Mapping[str, Any],
                   start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
    """(page indices, rates in accesses/s) of one segment; the rates sum to total_rate
    whenever the range overlaps a VMA (and the kind gives some page a non-zero weight)."""
    idx, lo, hi = geom.covered(start, end)
    w = segment_weights(kind, params, start, lo, hi, geom.page_size)
    total = float(w.sum())
    if total <= 0.0:
        return idx[:0], w[:0]
    return idx, w * (params["total_rate"] / total)
