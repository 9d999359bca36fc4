"""Per-region DAMOS passes in numba: access pattern, priority score, score histogram, the
quota cut of the walk and its bookkeeping.

``pattern_scores`` computes, for every region, whether it matches a scheme's access pattern
(size, ``nr_accesses_bp // 10000`` as [B] pattern matching reads it, age; closed ranges) and
its priority score: 99 for ``stat``, ``quota.hot_score`` for ``migrate_hot`` and
``quota.cold_score`` for ``migrate_cold`` -- the kernel's integer arithmetic, region by
region (``quota.hot_scores`` is the numpy form; a test checks all three agree).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from damon_gym.caches import bounded_put
from damon_gym.damos.quota import DAMON_MAX_AGE_IN_LOG, DAMON_MAX_SUBSCORE, DAMOS_MAX_SCORE

I64_MAX = 2**63 - 1
KIND_STAT, KIND_HOT, KIND_COLD = 0, 1, 2


# read-only arrays by the pattern's values (an online commit may change a running scheme's
# pattern, so the values are the key, not the object); the few patterns of a process
_LIMITS: dict[tuple, np.ndarray] = {}


def pattern_limits(p) -> np.ndarray:
    """An AccessPattern's closed ranges as int64 (u64 maxima clipped: regions never exceed);
    read-only, shared by every pattern with the same values."""
    key = (p.min_sz, p.max_sz, p.min_nr_accesses, p.max_nr_accesses, p.min_age, p.max_age)
    lim = _LIMITS.get(key)
    if lim is None:
        lim = np.array([min(int(v), I64_MAX) for v in key], dtype=np.int64)
        lim.flags.writeable = False
        bounded_put(_LIMITS, key, lim, 256)
    return lim


@njit(cache=True, error_model="numpy")
def hot_score_of(nr, age, max_nr, aggr_interval, w_nr, w_age):
    """quota.hot_score for one region (``max_nr``: max_nr_accesses, already >= 1)."""
    freq = nr * DAMON_MAX_SUBSCORE // max_nr
    age_sec = age * aggr_interval // 1_000_000
    log = 0
    while age_sec > 0 and log < DAMON_MAX_AGE_IN_LOG:  # bit length, capped
        age_sec >>= 1
        log += 1
    if freq == 0:
        log = -log
    age_sub = (log + DAMON_MAX_AGE_IN_LOG) * DAMON_MAX_SUBSCORE // DAMON_MAX_AGE_IN_LOG // 2
    wsum = w_nr + w_age
    if wsum == 0:
        return 0
    hot = (w_nr * freq + w_age * age_sub) // wsum
    hot = hot * DAMOS_MAX_SCORE // DAMON_MAX_SUBSCORE
    return min(max(hot, 0), DAMOS_MAX_SCORE)


@njit(cache=True, error_model="numpy")
def pattern_scores(start, end, bp, nr, age, lim, kind, max_nr, aggr_interval, w_nr, w_age,
                   with_scores, ok, scores):
    """ok[i]: region i matches the pattern ``lim`` (``pattern_limits``); scores[i] its
    priority score (only when ``with_scores``)."""
    for i in range(start.shape[0]):
        sz = end[i] - start[i]
        n = bp[i] // 10000
        ok[i] = (lim[0] <= sz <= lim[1] and lim[2] <= n <= lim[3]
                 and lim[4] <= age[i] <= lim[5])
        if with_scores:
            if kind == KIND_STAT:
                scores[i] = DAMOS_MAX_SCORE
            else:
                h = hot_score_of(nr[i], age[i], max_nr, aggr_interval, w_nr, w_age)
                scores[i] = h if kind == KIND_HOT else DAMOS_MAX_SCORE - h


@njit(cache=True, error_model="numpy")
def add_histogram(hist, ok, scores, start, end):
    """hist[score] += region size for every region with ok."""
    for i in range(ok.shape[0]):
        if ok[i]:
            hist[scores[i]] += end[i] - start[i]


@njit(cache=True, error_model="numpy")
def min_score_of(hist, esz):
    """quota.min_score_for_quota for an int64 histogram and an esz below 2**63."""
    score = -1
    for i in range(hist.shape[0] - 1, -1, -1):
        if hist[i]:
            score = i
            break
    if score < 0:
        return 0
    cumulated = 0
    while score >= 0:
        cumulated += hist[score]
        if cumulated >= esz or score == 0:
            break
        score -= 1
    return score


@njit(cache=True, error_model="numpy")
def quota_cut(start, end, ok, scores, min_score, first, quota_set, room, min_sz):
    """The walk's choice of regions (``DamosEngine._walk``): regions from ``first`` on with
    ``ok`` (and, with a quota, ``scores >= min_score``) are eligible; with a quota the leading
    ones whose sizes sum to at most ``room`` are applied whole. Returns (applied indices,
    eligible count, whole count, the first eligible region not applied whole or -1, the bytes
    of it that still fit, aligned down to ``min_sz``, bytes applied whole)."""
    n = start.shape[0]
    idx = np.empty(max(n - first, 0), np.int64)
    nelig = 0
    nfull = 0
    charged = 0
    cut = -1
    part = 0
    for i in range(first, n):
        if not ok[i] or (quota_set and scores[i] < min_score):
            continue
        nelig += 1
        if not quota_set:
            idx[nfull] = i
            nfull += 1
        elif cut < 0:
            sz = end[i] - start[i]
            if charged + sz <= room:
                charged += sz
                idx[nfull] = i
                nfull += 1
            else:
                cut = i
                part = (room - charged) // min_sz * min_sz
    return idx[:nfull], nelig, nfull, cut, part, charged


@njit(cache=True, error_model="numpy")
def gather_ranges(start, end, idx):
    """(starts, ends, total bytes) of the regions ``idx``."""
    m = idx.shape[0]
    s = np.empty(m, np.int64)
    e = np.empty(m, np.int64)
    total = 0
    for j in range(m):
        s[j] = start[idx[j]]
        e[j] = end[idx[j]]
        total += e[j] - s[j]
    return s, e, total


@njit(cache=True, error_model="numpy")
def after_apply(age, idx, applied_bytes, reset_age):
    """Age reset of the applied regions (non-stat actions); (regions applied to, bytes)."""
    if reset_age:
        for j in range(idx.shape[0]):
            age[idx[j]] = 0
    nr = 0
    sz = 0
    for j in range(applied_bytes.shape[0]):
        if applied_bytes[j] > 0:
            nr += 1
            sz += applied_bytes[j]
    return nr, sz
