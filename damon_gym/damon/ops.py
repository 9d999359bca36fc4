"""Monitoring operations sets (struct damon_operations): paddr and vaddr.

An ops set knows how to give a target its initial regions (``init``), how to refresh them
(``update``, every ops_update_interval), and how likely a sampled address of each region is to
be found accessed in one sampling interval. The per-page probability is 1 - exp(-rate * tau) for
the page's access rate and the sampling interval tau [PM 2.8]; pages
not backed by memory (gaps between VMAs, unallocated pages, free frames) are never accessed
[DS 1.4].
"""

from __future__ import annotations

import numpy as np

from damon_gym.damon import kernels
from damon_gym.damon.target import ContextView, Target
from damon_gym.damon.vaddr_layout import (
    apply_three_regions,
    init_regions_for_target,
    three_regions_of,
)
from damon_gym.damon.windows import MODE_PADDR, MODE_VADDR, paddr_mean_ps, vaddr_mean_ps
from damon_gym.memory.frames import sorted_unique
from damon_gym.memory.system import MemorySystem, access_probability

_NO_F = np.zeros(1)  # placeholders for the arrays of the other mode in window_arrays
_NO_I = np.zeros(1, dtype=np.int64)


class Ops:
    """Base class: an operations set bound to one context and the simulated memory."""

    name = "none"

    def __init__(self, memory: MemorySystem) -> None:
        self.memory = memory
        self.page_shift = int(memory.page_size).bit_length() - 1

    def init(self, ctx: ContextView) -> None:  # kdamond_init_ctx -> ops.init
        pass

    def init_target(self, ctx: ContextView, target: Target) -> None:  # a target added while running
        pass

    def update(self, ctx: ContextView) -> None:  # ops.update
        pass

    def target_valid(self, target: Target) -> bool:
        return True

    def region_mean_p(self, target: Target, tau_us: int) -> np.ndarray:
        raise NotImplementedError

    def page_p_at(self, target: Target, addrs: np.ndarray, tau_us: int) -> np.ndarray:
        """Per-address access probability (for the reference sampler)."""
        raise NotImplementedError

    def window_arrays(self, target: Target, tau_us: int) -> tuple | None:
        """What ``windows.run_windows`` needs to compute ``region_mean_p`` itself: (mode,
        prefix, p, vma_start, vma_end, vma_page_base, tree, values); None = not supported."""
        return None


class VaddrOps(Ops):
    """Virtual address spaces of processes (mm/damon/vaddr.c)."""

    name = "vaddr"

    def __init__(self, memory: MemorySystem, *, fixed: bool = False) -> None:
        super().__init__(memory)
        self.fixed = fixed  # fvaddr: user-set ranges, no init/update
        self._cache: dict[int, tuple] = {}
        self._three: dict[int, tuple] = {}

    def _vmas(self, target: Target) -> list[tuple[int, int]]:
        pm = self.memory.procs[target.process_index()]
        return list(zip(pm.vma_start.tolist(), pm.vma_end.tolist(), strict=True))

    def init(self, ctx: ContextView) -> None:
        for t in ctx.targets:
            self.init_target(ctx, t)

    def init_target(self, ctx: ContextView, t: Target) -> None:
        if self.fixed or t.regions.n or t.proc_idx is None:
            return
        try:
            regions = init_regions_for_target(self._vmas(t), ctx.attrs.min_nr_regions,
                                              ctx.min_region_sz)
        except ValueError:
            return  # fewer than two gaps: the kernel leaves the target without regions
        t.regions.assign_regions(regions)

    def update(self, ctx: ContextView) -> None:
        if self.fixed:
            return
        for t in ctx.targets:
            if t.proc_idx is None or not self.target_valid(t):
                continue
            three, tiles = self._three_regions(t, ctx.min_region_sz)
            if three is None:
                continue
            r = t.regions
            if r.n and tiles is not None and kernels.tiles_exactly(r.start, r.end, tiles):
                continue  # damon_set_regions would change nothing: skip the object round trip
            r.assign_regions(apply_three_regions(r.to_regions(), three, ctx.min_region_sz))

    def target_valid(self, target: Target) -> bool:
        idx = target.proc_idx
        return idx is not None and bool(self.memory.procs[idx].alive)

    def _three_regions(self, t: Target, min_region_sz: int
                       ) -> tuple[list[tuple[int, int]] | None, np.ndarray | None]:
        """three_regions_of the target's VMAs (None: fewer than two gaps) and the same as an
        int64 (3, 2) array for ``kernels.tiles_exactly`` (None: a range beyond int64, which
        no region array tiles), kept per VMA set."""
        idx = t.process_index()
        pm = self.memory.procs[idx]
        key = (pm.vma_start.tobytes(), pm.vma_end.tobytes(), min_region_sz)
        c = self._three.get(idx)
        if c is None or c[0] != key:
            try:
                three = three_regions_of(self._vmas(t), min_region_sz)
            except ValueError:
                three = None
            tiles = None
            if three is not None and all(0 <= a <= b < 2**63 for a, b in three):
                tiles = np.array(three, dtype=np.int64).reshape(-1, 2)
            c = self._three[idx] = (key, three, tiles)
        return c[1], c[2]

    def _page_probs(self, target: Target, tau_us: int) -> tuple[np.ndarray, np.ndarray]:
        key = target.process_index()
        pm = self.memory.procs[key]
        c = self._cache.get(key)
        if c is not None and c[0] == pm.version and c[1] == tau_us:
            return c[2], c[3]
        n = pm.vpage_rate.shape[0]
        if c is not None and c[3].shape[0] == n:  # refill the arrays: no fresh big arrays
            prefix, p = c[2], c[3]
        else:
            prefix, p = np.empty(n + 1), np.empty(n)
        # access_probability into p, then allocated pages only and the running sum
        # (np.where + np.cumsum) in one pass
        np.multiply(pm.vpage_rate, -(tau_us * 1e-6), out=p)
        np.expm1(p, out=p)
        np.negative(p, out=p)
        kernels.masked_prefix_sum(p, pm.vpage_node, prefix)
        self._cache[key] = (pm.version, tau_us, prefix, p)
        return prefix, p

    def region_mean_p(self, target: Target, tau_us: int) -> np.ndarray:
        r = target.regions
        out = np.zeros(r.n)
        if r.n == 0 or not self.target_valid(target):
            return out
        pm = self.memory.procs[target.process_index()]
        prefix, p = self._page_probs(target, tau_us)
        vaddr_mean_ps(prefix, p, pm.vma_start, pm.vma_end, pm.vma_page_base, self.page_shift,
                      r.start, r.end, r.n, out)
        return out

    def window_arrays(self, target: Target, tau_us: int) -> tuple | None:
        if not self.target_valid(target):
            return None
        pm = self.memory.procs[target.process_index()]
        prefix, p = self._page_probs(target, tau_us)
        return (MODE_VADDR, prefix, p, pm.vma_start, pm.vma_end, pm.vma_page_base, _NO_F, _NO_F)

    def page_p_at(self, target: Target, addrs: np.ndarray, tau_us: int) -> np.ndarray:
        out = np.zeros(addrs.shape[0])
        if not self.target_valid(target):
            return out
        pm = self.memory.procs[target.process_index()]
        _, p = self._page_probs(target, tau_us)
        j = np.searchsorted(pm.vma_start, addrs, side="right") - 1
        ok = (j >= 0) & (addrs < pm.vma_end[np.maximum(j, 0)])
        pages = pm.vma_page_base[np.maximum(j, 0)] + ((addrs - pm.vma_start[np.maximum(j, 0)])
                                                      >> self.page_shift)
        out[ok] = p[pages[ok]]
        return out


class PaddrOps(Ops):
    """The physical address space (mm/damon/paddr.c): no init, no update, never invalid.

    Per-frame probabilities live in a Fenwick tree, updated from the memory system's change
    log when pages are allocated, freed or migrated (O(k log F)), and rebuilt only when access
    rates or the sampling interval change.
    """

    name = "paddr"

    def __init__(self, memory: MemorySystem) -> None:
        super().__init__(memory)
        n = memory.nr_frames
        self._values = np.zeros(n)
        self._tree = np.zeros(n + 1)
        self._cursor: tuple[int, int] | None = None
        self._tau = -1

    def _sync(self, tau_us: int) -> None:
        mem = self.memory
        frames, cursor = mem.frame_changes_since(self._cursor)
        if frames is None or tau_us != self._tau:
            self._values[:] = mem.frame_access_probabilities(tau_us)
            kernels.fenwick_build(self._values, self._tree)
            self._tau = tau_us
        elif frames.size:  # sorted and distinct (FrameChangeLog.since)
            rates = _rates_of_frames(mem, frames)
            kernels.fenwick_update(self._tree, self._values, frames,
                                   access_probability(rates, tau_us))
        self._cursor = cursor

    def region_mean_p(self, target: Target, tau_us: int) -> np.ndarray:
        r = target.regions
        out = np.zeros(r.n)
        if r.n == 0:
            return out
        self._sync(tau_us)
        paddr_mean_ps(self._tree, self._values, self.page_shift, r.start, r.end, r.n, out)
        return out

    def window_arrays(self, target: Target, tau_us: int) -> tuple | None:
        self._sync(tau_us)
        return (MODE_PADDR, _NO_F, _NO_F, _NO_I, _NO_I, _NO_I, self._tree, self._values)

    def page_p_at(self, target: Target, addrs: np.ndarray, tau_us: int) -> np.ndarray:
        self._sync(tau_us)
        f = addrs >> self.page_shift
        out = np.zeros(addrs.shape[0])
        ok = f < self._values.shape[0]
        out[ok] = self._values[f[ok]]
        return out


def _rates_of_frames(mem: MemorySystem, frames: np.ndarray) -> np.ndarray:
    """Access rate of the page each frame holds (0 for free frames)."""
    rates = np.zeros(frames.shape[0])
    owners = mem.frame_proc[frames]
    for pi in sorted_unique(owners):
        if pi < 0:
            continue
        sel = owners == pi
        rates[sel] = mem.procs[int(pi)].vpage_rate[mem.frame_vpage[frames[sel]]]
    return rates


def make_ops(name: str, memory: MemorySystem) -> Ops:
    if name == "paddr":
        return PaddrOps(memory)
    if name == "vaddr":
        return VaddrOps(memory)
    if name == "fvaddr":
        return VaddrOps(memory, fixed=True)
    raise ValueError(f"ops: {name!r} is not supported; allowed: vaddr, fvaddr, paddr")
