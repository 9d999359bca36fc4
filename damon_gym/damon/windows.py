"""Fused aggregation windows: sampling, merge, reset and split of one target in one numba call.

``run_windows`` does, for each of ``nwin`` consecutive aggregation windows of one target, what
``Context._sample`` (fast sampler) and ``Context._step`` do at an aggregation that nothing else
happens at (no scheme due, no ops update, no intervals tuning, no aggregation callback):

    sample (Binomial(samples, region mean p) per region, [B] nr_accesses_bp update)
    -> merge passes (threshold max(nr_accesses) / 10, doubling until max_nr_regions holds)
    -> sz_limit <- max(total bytes / min_nr_regions, min_region_sz)
    -> reset (last_nr_accesses <- nr_accesses, bp <- nr_accesses * 10000, nr_accesses <- 0)
    -> split (2 pieces, or 3 when the count did not change since the last split)

The last window can stop after its merge (``finish_last`` False) so that the caller runs
schemes, tuning, callbacks, reset, split and the ops update there as ``Context._step`` does.
Random numbers come from the context's numpy Generator, passed in (numba shares its state),
exactly as the step-by-step path draws them: one uniform per region with 0 < p < 1 and window
for the binomial draws (``kernels.binomial_batch``, what the fast sampler uses) and
``integers(1, 10, size=(n, nr_subs - 1))`` per split (``cut_values``), in the same
order, so both paths give the same regions for the same seed.

Region mean probabilities come from ``vaddr_mean_ps`` / ``paddr_mean_ps`` here, which the ops
sets also use outside the fused path (``mode`` 0 = vaddr, 1 = paddr).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from damon_gym.damon.kernels import (
    binomial_batch,
    fenwick_prefix,
    merge_regions_of,
    split_regions_of,
)
from damon_gym.damon.rng_pointers import generator

MODE_VADDR = 0
MODE_PADDR = 1


@njit(cache=True, error_model="numpy", inline="always")
def _cum_vaddr_at(prefix, p, vma_start, vma_end, vma_base, page_shift, addr, j):
    """(sum of the per-page probabilities below ``addr``, VMA index): fractional page
    included, gaps contributing nothing; the VMA is found by walking forward from the hint
    ``j`` (addresses come in ascending order)."""
    psz = 1 << page_shift
    nv = vma_start.shape[0]
    while j + 1 < nv and vma_start[j + 1] <= addr:
        j += 1
    if j < 0:
        return 0.0, j
    if addr >= vma_end[j]:
        npages = (vma_end[j] - vma_start[j] + psz - 1) >> page_shift
        return prefix[vma_base[j] + npages], j
    off = addr - vma_start[j]
    k = vma_base[j] + (off >> page_shift)
    frac = (off - ((off >> page_shift) << page_shift)) / psz
    return prefix[k] + p[k] * frac, j


@njit(cache=True, error_model="numpy", inline="always")
def _cum_paddr_at(tree, values, page_shift, addr):
    """Sum of the per-frame probabilities below ``addr`` (fractional frame included)."""
    psz = 1 << page_shift
    n = values.shape[0]
    f = addr >> page_shift
    if f >= n:
        return fenwick_prefix(tree, n)
    frac = (addr - (f << page_shift)) / psz
    return fenwick_prefix(tree, f) + values[f] * frac


@njit(cache=True, error_model="numpy")
def vaddr_mean_ps(prefix, p, vma_start, vma_end, vma_base, page_shift, start, end, n, out):
    """Mean per-sample access probability of each virtual region [start, end) (ascending):
    the integral of the per-page probability (``prefix[k]`` = sum of ``p[0:k]`` over the
    process's pages in VMA order; gaps between VMAs are never accessed) over the region's
    length in pages. A boundary shared with the previous region is computed once."""
    psz = 1 << page_shift
    j = -1
    last_addr = -1
    last_cum = 0.0
    for i in range(n):
        s, e = start[i], end[i]
        if s == last_addr:
            b = last_cum
        else:
            b, j = _cum_vaddr_at(prefix, p, vma_start, vma_end, vma_base, page_shift, s, j)
        a, j = _cum_vaddr_at(prefix, p, vma_start, vma_end, vma_base, page_shift, e, j)
        last_addr, last_cum = e, a
        v = (a - b) * psz / (e - s)
        out[i] = min(max(v, 0.0), 1.0)


@njit(cache=True, error_model="numpy")
def paddr_mean_ps(tree, values, page_shift, start, end, n, out):
    """Mean per-sample access probability of each physical region [start, end) (ascending),
    from the Fenwick tree of per-frame probabilities; frames beyond the array are holes,
    never accessed. A boundary shared with the previous region is computed once."""
    psz = 1 << page_shift
    last_addr = -1
    last_cum = 0.0
    for i in range(n):
        s, e = start[i], end[i]
        b = last_cum if s == last_addr else _cum_paddr_at(tree, values, page_shift, s)
        a = _cum_paddr_at(tree, values, page_shift, e)
        last_addr, last_cum = e, a
        v = (a - b) * psz / (e - s)
        if v < 0.0:
            v = 0.0
        elif v > 1.0:
            v = 1.0
        out[i] = v


@njit(cache=True, error_model="numpy", inline="always")
def cut_values(rng, n, nr_subs):
    """The split's damon_rand(1, 10) values, one row per region: ``rng.integers(1, 10,
    size=(n, nr_subs - 1))`` (numba's Generator gives numpy's stream). The one place the
    split's draw is written: the fused windows and ``Context.split_regions`` both use it."""
    return rng.integers(1, 10, size=(n, max(nr_subs - 1, 0)))


@njit(cache=True, error_model="numpy")
def split_regions_rng(rng, start, end, nr, last, bp, age, n, nr_subs, min_sz, out):
    """``kernels.split_regions_of`` with its cut values drawn from ``rng`` (``cut_values``).
    Returns the new count."""
    return split_regions_of(start, end, nr, last, bp, age, n, nr_subs, min_sz,
                            cut_values(rng, n, nr_subs), out)


@njit(cache=True, error_model="numpy")
def split_in_place(d, scratch, n, nr_subs, min_sz, rand):
    """``kernels.split_regions_of`` on the regions ``d[:, :n]`` through ``scratch`` (both
    (6, cap), cap >= n * nr_subs) with the cut values ``rand``; returns the new count."""
    k = split_regions_of(d[0], d[1], d[2], d[3], d[4], d[5], n, nr_subs, min_sz, rand, scratch)
    for f in range(6):
        for i in range(k):
            d[f, i] = scratch[f, i]
    return k


@njit(cache=True, error_model="numpy")
def split_in_place_p(ptrs, d, scratch, n, nr_subs, min_sz):
    """``split_in_place`` with the cut values (``cut_values``) drawn inside numba from the
    Generator whose bit generator ``ptrs`` points at (``rng_pointers.pointers``), as the fused
    windows draw them."""
    rng = generator(ptrs[0], ptrs[1], ptrs[2], ptrs[3])
    return split_in_place(d, scratch, n, nr_subs, min_sz, cut_values(rng, n, nr_subs))


@njit(cache=True, error_model="numpy")
def merge_passes(d, n, threshold, sz_limit, max_nr_regions, max_thres, era_b):
    """kdamond_merge_regions() for one target: passes until max_nr_regions is respected."""
    first = True
    while True:
        n = merge_regions_of(d[0], d[1], d[2], d[3], d[4], d[5], n, threshold, sz_limit, True,
                             first or era_b)
        first = False
        threshold = max(1, threshold * 2)
        if not (n > max_nr_regions and threshold // 2 < max_thres):
            break
    return n


@njit(cache=True, error_model="numpy")
def run_windows_p(rng_ptrs, d, scratch, work, n, mode, prefix, p, vma_start, vma_end, vma_base,
                  tree, values, page_shift, first_samples, window_samples, nwin, finish_last,
                  len_window, max_thres, max_nr_regions, min_nr_regions, min_sz, sz_limit,
                  era_b, last_nr_regions, state):
    """``run_windows`` with the Generator given by ``rng_pointers.pointers(rng)`` (the same
    draws, without numba's per-call cost of receiving a Generator object)."""
    rng = generator(rng_ptrs[0], rng_ptrs[1], rng_ptrs[2], rng_ptrs[3])
    return run_windows(rng, d, scratch, work, n, mode, prefix, p, vma_start, vma_end, vma_base,
                       tree, values, page_shift, first_samples, window_samples, nwin,
                       finish_last, len_window, max_thres, max_nr_regions, min_nr_regions,
                       min_sz, sz_limit, era_b, last_nr_regions, state)


@njit(cache=True, error_model="numpy")
def run_windows(rng, d, scratch, work, n, mode, prefix, p, vma_start, vma_end, vma_base, tree,
                values, page_shift, first_samples, window_samples, nwin, finish_last,
                len_window, max_thres, max_nr_regions, min_nr_regions, min_sz, sz_limit, era_b,
                last_nr_regions, state):
    """Run ``nwin`` aggregation windows on the regions in ``d[:, :n]`` (rows: start, end,
    nr_accesses, last_nr_accesses, nr_accesses_bp, age; capacity >= max(n, max_nr_regions)).

    ``scratch`` is a second array of the same shape, ``work`` a (5, capacity) float64 one.
    Returns the new count; ``state`` receives
    [sz_limit, last_nr_regions, number of resets done]."""
    nresets = 0
    # last_nr_accesses * 10000 // len_window for the usual range, without a division each
    lw = min(max(len_window, 1), 1 << 16)
    bp_of_last = np.empty(lw + 1, np.int64)
    for v in range(lw + 1):
        bp_of_last[v] = v * 10000 // len_window
    for w in range(nwin):
        ns = first_samples if w == 0 else window_samples
        # -- sample: Binomial(ns, mean p) per region -------------------------------------------
        mp = work[0]
        if mode == MODE_VADDR:
            vaddr_mean_ps(prefix, p, vma_start, vma_end, vma_base, page_shift, d[0], d[1], n, mp)
        else:
            paddr_mean_ps(tree, values, page_shift, d[0], d[1], n, mp)
        counts = scratch[0]
        binomial_batch(rng, ns, mp, n, counts, work[1:])
        seen = 0
        for i in range(n):
            k = counts[i]
            d[2, i] += k
            last = d[3, i]
            dec = bp_of_last[last] if 0 <= last <= lw else last * 10000 // len_window
            d[4, i] += 10000 * k - ns * dec
            if d[2, i] > seen:
                seen = d[2, i]
        # -- merge and the new size limit ------------------------------------------------------
        n = merge_passes(d, n, seen // 10, sz_limit, max_nr_regions, max_thres, era_b)
        total = 0
        for i in range(n):
            total += d[1, i] - d[0, i]
        sz_limit = max(total // min_nr_regions, min_sz)
        if w == nwin - 1 and not finish_last:
            break
        # -- reset ---------------------------------------------------------------------------
        for i in range(n):
            d[3, i] = d[2, i]
            d[4, i] = d[2, i] * 10000
            d[2, i] = 0
        nresets += 1
        # -- split ---------------------------------------------------------------------------
        if n > max_nr_regions // 2:
            continue
        nr_subs = 3 if (last_nr_regions == n and n < max_nr_regions // 3) else 2
        k = split_in_place(d, scratch, n, nr_subs, min_sz, cut_values(rng, n, nr_subs))
        last_nr_regions = n
        n = k
    state[0] = sz_limit
    state[1] = last_nr_regions
    state[2] = nresets
    return n
