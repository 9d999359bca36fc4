"""The vaddr ``dests`` folio walk of ``actions.apply_action`` in one numba pass.

For migrate_hot/migrate_cold with ``dests`` on a vaddr target and no ops filters, the walk
over the regions' folios is: every present page overlapping the regions, in address order,
each page once (a page shared by two regions goes to the first, the kernel's last_applied
rule); its destination by the weighted-interleave rule (``mempolicy.weighted_slot``, the one
implementation) on its interleave index (``MemorySystem.interleave_index``); pages already on their
destination, or whose destination is not a node, are skipped. ``vaddr_dest_walk`` returns the
number of present pages walked and the pages to move grouped by destination node (address
order inside a group, nodes ascending, as ``apply_action`` migrates them) with the index of
the region each page belongs to. The numpy path in ``actions`` computes the same thing; a
test checks both agree.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from damon_gym.damon.kernels import upper_bound
from damon_gym.memory.frames import migrate_page_groups
from damon_gym.memory.mempolicy import weighted_slot

BASE_PAGE_SHIFT = 12


@njit(cache=True, error_model="numpy")
def page_bound(vma_start, vma_end, vma_base, shift, addr, ceil):
    """``actions._vaddr_page_bound`` for one address."""
    j = upper_bound(vma_start, addr) - 1
    if j < 0:
        return 0
    psz = np.int64(1) << shift
    if addr >= vma_end[j]:
        return vma_base[j] + ((vma_end[j] - vma_start[j] + psz - 1) >> shift)
    off = addr - vma_start[j]
    if ceil:
        off += psz - 1
    return vma_base[j] + (off >> shift)


@njit(cache=True, error_model="numpy")
def walk_capacity(vma_start, vma_end, vma_base, shift, starts, ends):
    """Pages ``vaddr_dest_walk`` visits at most for these regions (+1)."""
    cap = 1
    for k in range(starts.shape[0]):
        a = page_bound(vma_start, vma_end, vma_base, shift, starts[k], False)
        b = page_bound(vma_start, vma_end, vma_base, shift, ends[k], True)
        cap += max(b - a, 0)
    return cap


@njit(cache=True, error_model="numpy")
def vaddr_dest_walk(vma_start, vma_end, vma_base, vpage_node, starts, ends, shift, order, ids,
                    bounds, nr_nodes, buf):
    """(present pages walked, pages to move, their region index, per-node offsets).

    ``ids``/``bounds``: the dests' node ids and the cumulative sums of their weights; the
    pages for node ``i`` are ``pages[offs[i]:offs[i + 1]]``. ``buf`` is a (5, n) int64 scratch
    array (n >= ``walk_capacity``); the pages and region indices returned are views of it."""
    m = starts.shape[0]
    nd = ids.shape[0]
    total = bounds[nd - 1] if nd else 0
    lo = np.empty(m, np.int64)
    hi = np.empty(m, np.int64)
    cap = 0
    run_hi = np.int64(-1)
    for k in range(m):
        a = page_bound(vma_start, vma_end, vma_base, shift, starts[k], False)
        b = page_bound(vma_start, vma_end, vma_base, shift, ends[k], True)
        if k > 0 and run_hi > a:
            a = run_hi
        lo[k] = a
        hi[k] = b
        if b > a:
            cap += b - a
        if b > run_hi:
            run_hi = b
    if buf.shape[1] < cap + 1:
        buf = np.empty((5, cap + 1), np.int64)
    tmp_pages, tmp_rid, tmp_node = buf[0], buf[1], buf[2]
    counts = np.zeros(nr_nodes + 1, np.int64)
    nv = vma_base.shape[0]
    present = 0
    todo = 0
    if total == 0:  # every weight 0: nothing moves
        for k in range(m):
            for pg in range(lo[k], hi[k]):
                present += vpage_node[pg] >= 0
    # the destination node of every t = ilx % total (-1: not a node), when the cycle is short
    use_table = total <= (1 << 16)
    dest_of_t = np.empty(total if use_table else 0, np.int64)
    if use_table:
        for t in range(total):
            node = ids[weighted_slot(t, bounds)]
            dest_of_t[t] = node if 0 <= node < nr_nodes else -1
    for k in range(m if total else 0):
        if hi[k] <= lo[k]:
            continue
        j = upper_bound(vma_base, lo[k]) - 1
        pg = lo[k]
        while pg < hi[k]:  # one VMA at a time: ilx grows by one per page inside it
            while j + 1 < nv and vma_base[j + 1] <= pg:
                j += 1
            stop = min(hi[k], vma_base[j + 1]) if j + 1 < nv else hi[k]
            t = (((vma_start[j] >> BASE_PAGE_SHIFT) >> order) + (pg - vma_base[j])) % total
            for q in range(pg, stop):
                if use_table:
                    node = dest_of_t[t]
                else:
                    node = ids[weighted_slot(t, bounds)]
                    node = node if 0 <= node < nr_nodes else -1
                here = vpage_node[q]
                alloc = np.int64(here >= 0)
                present += alloc
                # written every time, kept only when the page moves: no unpredictable branch
                tmp_pages[todo] = q
                tmp_rid[todo] = k
                tmp_node[todo] = node
                todo += alloc & np.int64(node >= 0) & np.int64(here != node)
                t += 1
                t = 0 if t == total else t
            pg = stop
    for i in range(todo):
        counts[tmp_node[i] + 1] += 1
    offs = np.cumsum(counts)
    pos = offs[:-1].copy()
    pages = buf[3, :todo]
    rid = buf[4, :todo]
    for i in range(todo):
        node = tmp_node[i]
        pages[pos[node]] = tmp_pages[i]
        rid[pos[node]] = tmp_rid[i]
        pos[node] += 1
    return present, pages, rid, offs


@njit(cache=True, error_model="numpy")
def applied_per_region(rid, offs, moved, nreg, page_size):
    """Bytes applied per region when the first ``moved[g]`` pages of group ``g`` moved."""
    out = np.zeros(nreg, np.int64)
    for g in range(moved.shape[0]):
        for j in range(offs[g], offs[g] + moved[g]):
            out[rid[j]] += page_size
    return out


@njit(cache=True, error_model="numpy")
def walk_and_migrate(vma_start, vma_end, vma_base, vpage_node, starts, ends, shift, order, ids,
                     bounds, nr_nodes, wbuf, proc_idx, now_us, window_us, frame_proc,
                     frame_vpage, stack, base, count, vpage_frame, vpage_prev_node,
                     vpage_last_move, used, churn, page_size, mbuf):
    """``vaddr_dest_walk``, then ``frames.migrate_page_groups`` of its groups and
    ``applied_per_region``, in one call (``actions._apply_vaddr_dests`` with numba migration).

    Returns (the walk's capacity need, present pages walked, the walk's pages, their region
    indices and the groups' offsets,
    the migration's status -- 0 done, -1 not attempted (no page to move, or a negative
    ``now_us``: the caller's general migration raises), else ``migrate_page_groups``'s --,
    its per-group results and log, bytes applied per region, regions applied to, bytes)."""
    cap = walk_capacity(vma_start, vma_end, vma_base, shift, starts, ends)
    present, pages, rid, offs = vaddr_dest_walk(vma_start, vma_end, vma_base, vpage_node,
                                                starts, ends, shift, order, ids, bounds,
                                                nr_nodes, wbuf)
    nreg = starts.shape[0]
    applied = np.zeros(nreg, np.int64)
    empty = np.zeros((0, 5 + base.shape[0]), np.int64)
    if pages.shape[0] == 0 or now_us < 0:
        return cap, present, pages, rid, offs, -1, empty, empty[0], applied, 0, 0
    status, res, log = migrate_page_groups(pages, offs, proc_idx, now_us, window_us, frame_proc,
                                           frame_vpage, stack, base, count, vpage_frame,
                                           vpage_node, vpage_prev_node, vpage_last_move, used,
                                           churn, page_size, mbuf)
    if status != 0:
        return cap, present, pages, rid, offs, status, res, log, applied, 0, 0
    applied = applied_per_region(rid, offs, res[:, 0].copy(), nreg, page_size)
    nr = 0
    sz = 0
    for j in range(nreg):
        if applied[j] > 0:
            nr += 1
            sz += applied[j]
    return cap, present, pages, rid, offs, 0, res, log, applied, nr, sz
