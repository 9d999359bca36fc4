"""Sequential hot-path kernels over region arrays, compiled with numba.

These are the array forms of the kernel functions whose one-region-at-a-time reference versions
live in ``damon_gym.damon.region`` (and are exported by ``damon_gym.kernel``); a test checks that
both agree. Every kernel works in place on one target's struct-of-arrays and returns the new
region count. Random numbers are drawn by the caller from the context's numpy Generator and
passed in, so results are reproducible per seed and independent of numba's global RNG.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from damon_gym.damon.rng_pointers import generator


@njit(cache=True, error_model="numpy")
def merge_regions_of(start, end, nr, last, bp, age, n, thres, sz_limit, zero_nonzero_reset,
                     update_age):
    """One pass of damon_merge_regions_of() with the age rule of kdamond_merge_regions.

    Each region's age is updated (when ``update_age``) before it may be absorbed into the region
    on its left; the left region can absorb a chain of right neighbours. Returns the new count.
    """
    w = -1
    for i in range(n):
        if update_age:
            d = nr[i] - last[i]
            if d < 0:
                d = -d
            if d > thres:
                age[i] = 0
            elif zero_nonzero_reset and ((nr[i] == 0) != (last[i] == 0)):
                age[i] = 0
            else:
                age[i] += 1
        merged = False
        if w >= 0 and end[w] == start[i]:
            dn = nr[w] - nr[i]
            if dn < 0:
                dn = -dn
            szl = end[w] - start[w]
            szr = end[i] - start[i]
            if dn <= thres and szl + szr <= sz_limit:
                tot = szl + szr
                nr[w] = (nr[w] * szl + nr[i] * szr) // tot
                age[w] = (age[w] * szl + age[i] * szr) // tot
                bp[w] = nr[w] * 10000
                end[w] = end[i]
                merged = True
        if not merged:
            w += 1
            if w != i:
                start[w] = start[i]
                end[w] = end[i]
                nr[w] = nr[i]
                last[w] = last[i]
                bp[w] = bp[i]
                age[w] = age[i]
    return w + 1


@njit(cache=True, error_model="numpy")
def split_regions_of(start, end, nr, last, bp, age, n, nr_subs, min_sz, rand, out):
    """damon_split_regions_of(): cut each region into up to ``nr_subs`` pieces.

    ``rand[i, j]`` is an integer in 1..9 (damon_rand(1, 10)); cut j of region i is at
    ALIGN_DOWN(rand * sz / 10, min_sz) from the region start, where sz is the size of the piece
    being cut; later cuts subdivide the left piece. ``out`` is a (6, n*nr_subs) int64 scratch
    array receiving start, end, nr, last, bp, age. Returns the new count.
    """
    k = 0
    cuts = np.empty(nr_subs, np.int64)
    pow2 = min_sz > 0 and (min_sz & (min_sz - 1)) == 0  # ALIGN_DOWN by a mask, no division
    for i in range(n):
        s = start[i]
        sz = end[i] - s
        nc = 0
        for j in range(nr_subs - 1):
            if not sz > 2 * min_sz:
                break
            cut = rand[i, j] * sz // 10
            cut = cut & -min_sz if pow2 else cut // min_sz * min_sz
            if cut == 0 or cut >= sz:
                continue
            cuts[nc] = s + cut
            nc += 1
            sz = cut
        # pieces in address order: [s, cuts[nc-1]), [cuts[nc-1], cuts[nc-2]), ..., [cuts[0], end)
        lo = s
        for c in range(nc - 1, -2, -1):
            hi = end[i] if c < 0 else cuts[c]
            out[0, k] = lo
            out[1, k] = hi
            out[2, k] = nr[i]
            out[3, k] = last[i]
            out[4, k] = bp[i]
            out[5, k] = age[i]
            k += 1
            lo = hi
    return k


@njit(cache=True, error_model="numpy")
def fenwick_build(values, tree):
    """Build a Fenwick (binary indexed) tree of ``values`` into ``tree`` (len n+1) in O(n)."""
    n = values.shape[0]
    tree[0] = 0.0
    for i in range(n):
        tree[i + 1] = values[i]
    for i in range(1, n + 1):
        j = i + (i & -i)
        if j <= n:
            tree[j] += tree[i]


@njit(cache=True, error_model="numpy")
def fenwick_update(tree, values, idx, new_values):
    """Set values[idx[k]] = new_values[k], keeping the tree consistent (O(k log n))."""
    n = values.shape[0]
    for k in range(idx.shape[0]):
        i = idx[k]
        delta = new_values[k] - values[i]
        if delta == 0.0:
            continue
        values[i] = new_values[k]
        j = i + 1
        while j <= n:
            tree[j] += delta
            j += j & -j


@njit(cache=True, error_model="numpy", inline="always")
def fenwick_prefix(tree, i):
    """Sum of values[0:i] (inlined into callers: a call passing arrays costs reference
    counting)."""
    s = 0.0
    while i > 0:
        s += tree[i]
        i -= i & -i
    return s


@njit(cache=True, error_model="numpy", inline="always")
def upper_bound(a, x):
    """Number of elements of the sorted array ``a`` that are <= x (binary search)."""
    lo, hi = 0, a.shape[0]
    while lo < hi:
        mid = (lo + hi) >> 1
        if a[mid] <= x:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True, error_model="numpy")
def binomial_inversion(rng, n, p):
    """One Binomial(n, p) draw from one uniform by CDF inversion (exact; expected work
    O(n min(p, 1-p))); falls back to the Generator's own binomial when that is large."""
    if p <= 0.0 or n <= 0:
        return 0
    if p >= 1.0:
        return n
    flip = p > 0.5
    pp = 1.0 - p if flip else p
    if n * pp > 30.0:
        k = rng.binomial(n, pp)
        return n - k if flip else k
    q = 1.0 - pp
    r = pp / q
    f = q ** n
    cdf = f
    u = rng.random()
    k = 0
    while u > cdf and k < n:
        f *= r * (n - k) / (k + 1)
        k += 1
        cdf += f
    return n - k if flip else k


#: Up to this many trials, ``binomial_batch`` inverts the CDF of every region in lock-step
#: (n * min(p, 1-p) <= 30 holds, so ``binomial_inversion`` would never fall back either).
BATCH_MAX_N = 60


@njit(cache=True, error_model="numpy")
def binomial_batch(rng, n, p, m, out, work):
    """out[i] = binomial_inversion(rng, n, p[i]) for i < m: the same draws from the same
    uniforms (one per region with 0 < p < 1, in region order), computed in lock-step.

    For n <= BATCH_MAX_N the result of the inversion is the number of k < n with u > CDF(k)
    (the CDF is non-decreasing), so every region runs all n steps of the same pmf recurrence
    without branches, looping over k outside and regions inside so the regions' chains run
    side by side. Larger n call ``binomial_inversion`` per region. ``work``: (4, >= m) float64.
    """
    if n <= 0:
        for i in range(m):
            out[i] = 0
        return
    if n > BATCH_MAX_N:
        for i in range(m):
            out[i] = binomial_inversion(rng, n, p[i])
        return
    u, f, cdf, r = work[0], work[1], work[2], work[3]
    for i in range(m):
        # p <= 0 and p >= 1 draw nothing: u = 0 never exceeds the CDF of a zero probability
        u[i] = rng.random() if 0.0 < p[i] < 1.0 else 0.0
    for i in range(m):
        pi = min(max(p[i], 0.0), 1.0)
        pp = 1.0 - pi if pi > 0.5 else pi
        q = 1.0 - pp
        r[i] = pp / q
        f[i] = q ** n
        cdf[i] = f[i]
        out[i] = 1 if u[i] > cdf[i] else 0
    for k in range(n - 1):
        for i in range(m):
            f[i] *= r[i] * (n - k) / (k + 1)
            cdf[i] += f[i]
            out[i] += 1 if u[i] > cdf[i] else 0
    for i in range(m):
        if p[i] > 0.5:
            out[i] = n - out[i]


@njit(cache=True, error_model="numpy")
def binomial_counts(rng, n, p, out):
    """out[i] = Binomial(n, p[i]) for every region (``binomial_batch``)."""
    m = p.shape[0]
    binomial_batch(rng, n, p, m, out, np.empty((4, m)))


@njit(cache=True, error_model="numpy")
def binomial_counts_p(rng_ptrs, n, p, out):
    """``binomial_counts`` with the Generator given by ``rng_pointers.pointers(rng)``: the
    same draws without numba's per-call cost of receiving the Generator object."""
    binomial_counts(generator(rng_ptrs[0], rng_ptrs[1], rng_ptrs[2], rng_ptrs[3]), n, p, out)


@njit(cache=True, error_model="numpy")
def masked_prefix_sum(p, node, prefix):
    """p[k] <- 0 where node[k] < 0 (page not allocated); prefix[k] = sum of p[0:k] (the
    same sequential sums as np.cumsum)."""
    acc = 0.0
    prefix[0] = 0.0
    for k in range(p.shape[0]):
        if node[k] < 0:
            p[k] = 0.0
        acc += p[k]
        prefix[k + 1] = acc


@njit(cache=True, error_model="numpy")
def tiles_exactly(start, end, ranges):
    """True if the ascending regions, merged where they touch, are exactly ``ranges``."""
    n = start.shape[0]
    j = 0
    i = 0
    while i < n:
        lo = start[i]
        while i + 1 < n and start[i + 1] == end[i]:
            i += 1
        if j >= ranges.shape[0] or ranges[j, 0] != lo or ranges[j, 1] != end[i]:
            return False
        j += 1
        i += 1
    return j == ranges.shape[0]
