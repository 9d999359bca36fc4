"""DAMOS actions on the simulated memory: ``stat``, ``migrate_hot``, ``migrate_cold``.

``apply_action`` is the ops layer's apply_scheme for a batch of regions of one target: it
walks the folios (simulation pages) of every region in address order -- a folio shared by two
regions is acted on once, as the kernel's last_applied check does -- applies the ops filters
per folio, picks each folio's destination (``dests``) and moves the folios through the memory
system's migration engine. It returns the bytes applied per region, the bytes that passed the
ops filters (paddr reports them; vaddr migrate does not) and the modelled kdamond time.
The common case -- vaddr ``dests`` without ops filters -- walks in numba (``walk``) and
moves all destination groups in one call (``MemorySystem.migrate_page_groups``); the numpy
walk below gives the same result (``reference=True``; a test compares them).

kdamond time model (docs/model.md 2.7, [PM 2.7]): walking a folio costs WALK_NS [U];
migrating folios costs what ``perf.performance.MigrationCost`` says (t_fix per folio, divided
by 3.9 for batches of 512 or more with batched TLB flushing, plus size / B_copy). The result
reports the folios walked and migrated; ``kdamond_ns`` turns them into the time the kernel
charges the scheme's quota (``total_charged_ns``, which the ``ms`` quota converts to bytes)
and that the performance model charges the application as kdamond CPU. On a scaled machine
each simulated folio stands for ``byte_scale`` real ones, so the counts are scaled first.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from damon_gym.damos.dests import migrate_dest_indices
from damon_gym.damos.filters import needs_young, ops_verdict
from damon_gym.damos.walk import (
    applied_per_region,
    vaddr_dest_walk,
    walk_and_migrate,
    walk_capacity,
)
from damon_gym.memory.migration import book_page_groups
from damon_gym.perf.migration_cost import MigrationCost

if TYPE_CHECKING:
    from damon_gym.damon.core import Context, Target
    from damon_gym.damos.scheme import Scheme
    from damon_gym.memory.system import MemorySystem

WALK_NS = 50
MIGRATION_COST = MigrationCost()



@dataclass
class ActionResult:
    applied_per_region: np.ndarray  # bytes the action applied to, per region of the batch
    filter_passed_bytes: int
    nr_walked: int  # folios the walk visited
    nr_migrated: int  # folios that changed node
    #: regions applied to and their bytes (what ``scoring.after_apply`` counts from
    #: ``applied_per_region``), when the action's kernel counted them
    nr_regions_applied: int | None = None
    sz_regions_applied: int | None = None

    def kdamond_ns(self, folio_bytes: int, byte_scale: float = 1.0) -> int:
        """kdamond time of the application on the real machine (``byte_scale`` real bytes per
        simulated byte)."""
        return kdamond_ns(self.nr_walked * byte_scale, self.nr_migrated * byte_scale,
                          folio_bytes)


def kdamond_ns(nr_walked: float, nr_migrated: float, folio_bytes: int) -> int:
    """Nanoseconds kdamond spends walking ``nr_walked`` folios and migrating ``nr_migrated``
    of them (``MigrationCost``, the one migration cost rule of the simulator)."""
    mig = MIGRATION_COST.cpu_seconds(int(round(nr_migrated)), folio_bytes)
    return int(round(nr_walked * WALK_NS + mig * 1e9))


def _ranges_to_items(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate address-sorted integer ranges [lo_k, hi_k): (items, range index of each).

    An item already covered by an earlier range is left to that range (the kernel's
    last_applied rule: a folio straddling two regions is acted on once)."""
    if lo.shape[0] > 1:
        lo = lo.copy()
        lo[1:] = np.maximum(lo[1:], np.maximum.accumulate(hi)[:-1])
    lens = np.maximum(hi - lo, 0)
    ids = np.repeat(np.arange(lo.shape[0]), lens)
    offs = np.arange(ids.shape[0]) - np.repeat(np.cumsum(lens) - lens, lens)
    return lo[ids] + offs, ids


def _vaddr_page_bound(pm, addrs: np.ndarray, shift: int, ceil: bool) -> np.ndarray:
    """Index, in the process's VMA-concatenated page space, of the first page at or after
    ``addrs`` (``ceil``: of the first page starting at or after it). Pages overlapping a
    virtual range [s, e) are exactly [bound(s, floor), bound(e, ceil)): gaps hold no pages."""
    j = np.searchsorted(pm.vma_start, addrs, side="right") - 1
    jj = np.maximum(j, 0)
    npages = (pm.vma_end - pm.vma_start + (1 << shift) - 1) >> shift
    off = addrs - pm.vma_start[jj]
    inside = (pm.vma_page_base[jj] + ((off + ((1 << shift) - 1 if ceil else 0)) >> shift))
    after = pm.vma_page_base[jj] + npages[jj]
    out = np.where(addrs >= pm.vma_end[jj], after, inside)
    return np.where(j < 0, 0, out).astype(np.int64)


def _pa_folios(memory: MemorySystem, starts, ends):
    """Folios of physical regions: (owned frames, region index, owner proc, page index)."""
    shift = memory.page_size.bit_length() - 1
    f_lo = np.minimum(starts >> shift, memory.nr_frames)
    f_hi = np.minimum((ends + memory.page_size - 1) >> shift, memory.nr_frames)
    frames, rid = _ranges_to_items(f_lo, f_hi)
    owned = memory.frame_proc[frames] >= 0
    frames, rid = frames[owned], rid[owned]
    return frames, rid, memory.frame_proc[frames].astype(np.int64), memory.frame_vpage[frames]


def _va_folios(t: Target, memory: MemorySystem, starts, ends):
    """Folios of virtual regions: (present pages, region index)."""
    shift = memory.page_size.bit_length() - 1
    pm = memory.procs[t.process_index()]
    pages, rid = _ranges_to_items(_vaddr_page_bound(pm, starts, shift, False),
                                  _vaddr_page_bound(pm, ends, shift, True))
    present = pm.vpage_frame[pages] >= 0
    return pages[present], rid[present]


def _page_nodes(memory: MemorySystem, procs: np.ndarray, vpages: np.ndarray) -> np.ndarray:
    if procs.size and procs[0] == procs.min() == procs.max():  # one process (always for vaddr)
        return memory.node_of_pages(int(procs[0]), vpages)
    out = np.full(vpages.shape[0], -1, dtype=np.int64)
    for p in np.unique(procs):
        sel = procs == p
        out[sel] = memory.node_of_pages(int(p), vpages[sel])
    return out


def _page_rates(memory: MemorySystem, procs: np.ndarray, vpages: np.ndarray) -> np.ndarray:
    if procs.size and procs[0] == procs.min() == procs.max():
        return memory.procs[int(procs[0])].vpage_rate[vpages]
    out = np.zeros(vpages.shape[0])
    for p in np.unique(procs):
        sel = procs == p
        out[sel] = memory.procs[int(p)].vpage_rate[vpages[sel]]
    return out


@lru_cache(maxsize=64)
def _dest_arrays(dests: tuple[tuple[int, int], ...]) -> tuple[np.ndarray, np.ndarray]:
    """(node ids, cumulative weights) of a scheme's ``dests``; the walk only reads them."""
    d = np.array(dests, dtype=np.int64).reshape(-1, 2)  # (node id, weight) rows
    return d[:, 0].copy(), np.cumsum(d[:, 1])


def _apply_vaddr_dests(ctx: Context, s: Scheme, t: Target, starts: np.ndarray,
                       ends: np.ndarray, memory: MemorySystem) -> ActionResult:
    """migrate_* with dests on a vaddr target without ops filters: the walk in numba
    (``walk.vaddr_dest_walk``), then one migration per destination node, nodes ascending --
    with numba migration (``MemorySystem.fast_migration``) walk, migration and the bytes
    applied per region in one call (``walk.walk_and_migrate``) and the accounting of
    ``migration.book_page_groups``."""
    idx = t.process_index()
    pm = memory.procs[idx]
    try:
        ids, bounds = _dest_arrays(tuple(s.dests))
    except TypeError:  # rows given as lists
        ids, bounds = _dest_arrays(tuple((int(a), int(b)) for a, b in s.dests))
    starts, ends = np.ascontiguousarray(starts), np.ascontiguousarray(ends)
    shift = memory.page_size.bit_length() - 1
    if memory.fast_migration:
        fr = memory._free
        wbuf = ctx.buffer("dests_walk", 5, 1)
        cap, present, pages, rid, offs, status, res, log, applied, nr, sz = walk_and_migrate(
            pm.vma_start, pm.vma_end, pm.vma_page_base, pm.vpage_node, starts, ends, shift,
            memory.page_order, ids, bounds, memory.nr_nodes, wbuf, idx, ctx.now_us,
            memory.pingpong_window_us, memory.frame_proc, memory.frame_vpage, fr.stack, fr.base,
            fr.count, pm.vpage_frame, pm.vpage_prev_node, pm.vpage_last_move_us,
            memory.used_frames, memory._mig.churn, memory.page_size, memory._buf)
        if cap > wbuf.shape[1]:
            ctx.buffer("dests_walk", 5, cap)  # grown for the next walk
        if len(memory._buf) < 3 * len(pages):  # as migrate_page_groups_of grows it
            memory._buf = np.empty(max(3 * len(pages), len(memory._buf) * 5 // 4), np.int64)
        if status == 0:
            return ActionResult(applied, 0, int(present), book_page_groups(memory, res, log, offs),
                                int(nr), int(sz))
        if len(pages) == 0:
            return ActionResult(applied, 0, int(present), 0, 0, 0)
        # not migrated (a group not ascending, a bad page, a negative time): the general
        # migration handles (or refuses) it as before
    else:
        buf = ctx.buffer("dests_walk", 5, walk_capacity(pm.vma_start, pm.vma_end,
                                                        pm.vma_page_base, shift, starts, ends))
        present, pages, rid, offs = vaddr_dest_walk(
            pm.vma_start, pm.vma_end, pm.vma_page_base, pm.vpage_node, starts, ends, shift,
            memory.page_order, ids, bounds, memory.nr_nodes, buf)
    moved = np.zeros(offs.shape[0] - 1, dtype=np.int64)
    if len(pages):
        for node, mres in enumerate(memory.migrate_page_groups(idx, pages, offs, ctx.now_us)):
            if mres is not None:
                moved[node] = mres.nr_moved
    # the pages are present, distinct and not on their node: the first nr_moved of each moved
    applied = applied_per_region(rid, offs, moved, starts.shape[0], memory.page_size)
    return ActionResult(applied, 0, int(present), int(moved.sum()))


def apply_action(ctx: Context, s: Scheme, ti: int, t: Target, starts: np.ndarray,
                 ends: np.ndarray, memory: MemorySystem, reference: bool = False
                 ) -> ActionResult:
    """The ops' apply_scheme for a batch of regions, chosen by the context's ops:
    :func:`va_apply_scheme` or :func:`pa_apply_scheme`."""
    if ctx.ops.name == "paddr":
        return pa_apply_scheme(ctx, s, starts, ends, memory)
    return va_apply_scheme(ctx, s, t, starts, ends, memory, reference)


def va_apply_scheme(ctx: Context, s: Scheme, t: Target, starts: np.ndarray, ends: np.ndarray,
                    memory: MemorySystem, reference: bool = False) -> ActionResult:
    """damon_va_apply_scheme(): damos_va_migrate for the migrate actions (each present page to
    its ``dests`` node by the weighted-interleave rule, or to ``target_nid``), the walk alone
    for ``stat``. ``dests`` without ops filters walk in numba unless ``reference``."""
    if (not reference and s.dests and s.action != "stat"
            and all(f.is_core for f in s.filters)):
        return _apply_vaddr_dests(ctx, s, t, starts, ends, memory)
    idx = t.process_index()
    pages, rid = _va_folios(t, memory, starts, ends)
    procs = np.full(pages.shape[0], idx, dtype=np.int64)

    def dests(passed: np.ndarray) -> np.ndarray:
        if not s.dests:
            return np.full(pages.shape[0], s.target_nid, dtype=np.int64)
        ids = np.array([d for d, _ in s.dests], dtype=np.int64)
        di = migrate_dest_indices(memory.interleave_index(idx, pages), [w for _, w in s.dests])
        return np.where(di >= 0, ids[np.maximum(di, 0)], -1)

    return _apply_folios(ctx, s, memory, pages, rid, procs, pages, starts.shape[0], dests,
                         lambda sel, node: memory.migrate_pages(idx, pages[sel], node,
                                                                ctx.now_us),
                         report_filter_passed=False)


def pa_apply_scheme(ctx: Context, s: Scheme, starts: np.ndarray, ends: np.ndarray,
                    memory: MemorySystem) -> ActionResult:
    """damon_pa_apply_scheme(): damon_pa_migrate for the migrate actions (every owned frame of
    the regions to ``target_nid``; the kernel ignores ``dests`` on paddr unless the RFC's
    round robin is opted in), the walk alone for ``stat``; reports the bytes that passed the
    ops filters (sz_ops_filter_passed)."""
    frames, rid, procs, vpages = _pa_folios(memory, starts, ends)

    def dests(passed: np.ndarray) -> np.ndarray:
        dest = np.full(frames.shape[0], -1, dtype=np.int64)
        if s.dests and s.paddr_dests == "rfc_round_robin":
            ids = np.array([d for d, _ in s.dests], dtype=np.int64)
            sel = np.flatnonzero(passed)
            di = s.rr.assign(sel.shape[0], [w for _, w in s.dests])
            dest[sel] = np.where(di >= 0, ids[np.maximum(di, 0)], -1)
        else:
            dest[:] = s.target_nid
        return dest

    return _apply_folios(ctx, s, memory, frames, rid, procs, vpages, starts.shape[0], dests,
                         lambda sel, node: memory.migrate_frames(frames[sel], node, ctx.now_us),
                         report_filter_passed=True)


def _apply_folios(ctx: Context, s: Scheme, memory: MemorySystem, items: np.ndarray,
                  rid: np.ndarray, procs: np.ndarray, vpages: np.ndarray, nreg: int,
                  dests, migrate, *, report_filter_passed: bool) -> ActionResult:
    """The part both ops share, over the folios (``items``: pages or frames, each with its
    region ``rid``, owner ``procs`` and page index ``vpages``): the ops filters, then for the
    migrate actions the destination of each passed folio (``dests``), one migration per
    destination node (ascending, ``migrate(selection, node)``) and the bytes applied per
    region (the folios that ended on their destination)."""
    psz = memory.page_size
    n = items.shape[0]
    young = None
    if needs_young(s.filters):
        dt_s = (s.apply_interval_us or ctx.attrs.aggr_interval) * 1e-6
        p = -np.expm1(-_page_rates(memory, procs, vpages) * dt_s)
        young = ctx.rng.random(n) < p
    passed = ops_verdict(s.filters, n, psz, young)
    if passed is None:
        passed = np.ones(n, bool)
    filter_passed = int(passed.sum()) * psz if report_filter_passed else 0
    applied = np.zeros(nreg, dtype=np.int64)
    if s.action == "stat" or n == 0:
        return ActionResult(applied, filter_passed, n, 0)
    dest = dests(passed)
    dest[(dest < 0) | (dest >= memory.nr_nodes)] = -1  # invalid destination: nothing migrated
    before = _page_nodes(memory, procs, vpages)
    todo = passed & (dest >= 0) & (before != dest)
    # the destination nodes present, ascending (np.unique's order; a bincount over the few
    # node ids is O(folios), where numpy 2's hash-based unique cost milliseconds per step)
    for node in np.flatnonzero(np.bincount(dest[todo], minlength=memory.nr_nodes)):
        migrate(todo & (dest == node), int(node))
    after = _page_nodes(memory, procs, vpages)
    moved = todo & (after == dest)
    nmoved = int(moved.sum())
    if nmoved:
        applied = np.bincount(rid[moved], minlength=nreg).astype(np.int64) * psz
    return ActionResult(applied, filter_passed, n, nmoved)
