"""DAMON's view of hotness per node: what the monitoring contexts show, not the ground truth.

Region sizes and the last complete window's nr_accesses of chosen contexts, attributed to nodes
by address for paddr regions (exact: node ranges are contiguous) and, for vaddr regions, by
looking up the node of ``SAMPLES_PER_REGION`` evenly spaced pages of each region (a
kernel-side tool would walk the region's folios; sampling keeps the cost per step
proportional to the region count, not to memory size). ``Simulation.hotness_by_node`` is the
public door; the envs' observation is built on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from numba import njit

from damon_gym.damon.attrs import max_nr_accesses

if TYPE_CHECKING:
    from damon_gym.memory.system import MemorySystem
    from damon_gym.online import ContextBinding

SAMPLES_PER_REGION = 8
HOT_MIN_PERMIL = 50  # "hot" = at least 5 % of the samples of a window (the recipes' pattern)


@njit(cache=True, error_model="numpy")
def _vaddr_hot_bands(starts, ends, last_nr, max_nr, vma_start, vma_end, vma_base, vpage_node,
                     shift, k, hot_min, hot, bands):
    """Hot bytes and band bytes per node of a vaddr target, region by region: each region's
    bytes are split over the nodes of ``k`` evenly spaced sampled pages (the sampled addresses
    ascend, so the VMA of each is found by walking forward), then credited to the hot total
    (permil >= ``hot_min``) and to its band ``digitize(permil, (1, 251, 501))``. The numpy
    reference (``reference=True``) computes the same from ``_node_fractions``."""
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


def _node_fractions(mem: MemorySystem, b: ContextBinding, t) -> np.ndarray:
    """(regions, nodes) bytes of each region of the target on each node (the numpy
    reference of the compiled passes)."""
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


def hotness_by_node(mem: MemorySystem, bindings: Sequence[ContextBinding],
                    contexts: Sequence[int], *, reference: bool = False
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(hot bytes per node, (4, nodes) bytes per nr_accesses band) of the regions of the
    contexts ``contexts`` (indices of ``bindings``) as DAMON sees them, no node credited with
    more bytes than it holds. ``reference``: the numpy reference instead of the compiled
    passes (the same values; a test compares them)."""
    n = mem.nr_nodes
    hot = np.zeros(n)
    bands = np.zeros((4, n))
    for bi in contexts:
        b = bindings[bi]
        ctx = b.context
        m = max(max_nr_accesses(ctx.attrs), 1)
        for t in ctx.targets:
            if t.regions.n == 0:
                continue
            if not reference and b.ops != "paddr":
                if t.proc_idx is None or not mem.procs[t.proc_idx].alive:
                    continue
                r = t.regions
                pmem = mem.procs[t.proc_idx]
                _vaddr_hot_bands(r.start, r.end, r.last_nr_accesses, m, pmem.vma_start,
                                 pmem.vma_end, pmem.vma_page_base, pmem.vpage_node,
                                 mem.page_size.bit_length() - 1, SAMPLES_PER_REGION,
                                 HOT_MIN_PERMIL, hot, bands)
                continue
            if not reference:  # paddr
                r = t.regions
                _paddr_hot_bands(r.start, r.end, r.last_nr_accesses, m, mem.node_start_frame,
                                 mem.page_size, HOT_MIN_PERMIL, hot, bands)
                continue
            per_node = _node_fractions(mem, b, t)
            pm = t.regions.last_nr_accesses * 1000 // m  # permil of the maximum
            hot += per_node[pm >= HOT_MIN_PERMIL].sum(axis=0)
            band = np.digitize(pm, (1, 251, 501))  # 0 | (0, 25 %] | (25, 50 %] | > 50 %
            for k in range(4):
                bands[k] += per_node[band == k].sum(axis=0)
    # a vaddr region's bytes are split over nodes from a few sampled pages, so a node can be
    # credited with more than it holds: cap every node's total at its used bytes (node meminfo)
    _cap_at_used(hot, bands, mem.used_frames, float(mem.page_size))
    return hot, bands


@njit(cache=True, error_model="numpy")
def _cap_at_used(hot, bands, used_frames, page_size):
    """Scale node ``nd``'s hot and band bytes down to its used bytes where their total (the
    bands summed in band order) exceeds them."""
    for nd in range(hot.shape[0]):
        used = used_frames[nd] * page_size
        total = bands[0, nd] + bands[1, nd] + bands[2, nd] + bands[3, nd]
        if total > used:
            f = used / total
            for k in range(4):
                bands[k, nd] *= f
            hot[nd] *= f
