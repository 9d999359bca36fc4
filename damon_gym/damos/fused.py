"""The DAMOS apply of the common configuration in two compiled calls (issue 11).

One due scheme on a context with one valid vaddr target, ``migrate_hot``/``migrate_cold``
with ``dests``, no ops filters (core filters or none) and numba migration: ``select`` does
what ``DamosEngine.adjust_quota`` (after the charge window's roll-over) and ``walk_target``
do up to the ops' apply_scheme -- the addr filters' splits, pattern, scores and core filters
of every region, the score histogram (in real bytes) and min_score, damos_skip_charged_region,
the quota cut with the split at the quota's end, the applied regions' ranges and their age
reset -- and ``actions._apply_vaddr_dests`` does the walk and the migration in one more call
(``walk.walk_and_migrate``). What stays in Python is the quota arithmetic on the scheme's
Python integers (the window roll-over and goals, ``_quota_set``/``_quota_full`` with the
kernel's rules, the room, the charges and the stats), by the engine's own methods, so the
kernel-version rules (``quota.KernelRules``) hold here as in the general path.

``DamosEngine.apply`` takes this path when ``plan`` accepts the configuration and the
engine's ``fused`` is True (``reference_walk`` or ``fused = False`` force the general path,
which a test compares with this one: the same regions, stats, quota state and memory).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np
from numba import njit

from damon_gym.damon.attrs import max_nr_accesses
from damon_gym.damon.kernels import upper_bound
from damon_gym.damos import actions
from damon_gym.damos.filters import default_reject, split_points
from damon_gym.damos.scoring import (
    I64_MAX,
    KIND_COLD,
    KIND_HOT,
    min_score_of,
    pattern_limits,
    pattern_scores,
    quota_cut,
)

if TYPE_CHECKING:
    from damon_gym.damon.core import Context
    from damon_gym.damos.quota import KernelRules
    from damon_gym.damos.scheme import Scheme
    from damon_gym.memory.system import MemorySystem


class EngineView(Protocol):
    """What the fused path uses of a ``DamosEngine`` (a protocol rather than an import of
    ``engine``, which imports this module): its switches, its memory and kernel rules, its
    kdamond time, and its quota methods, so the quota rules stay the engine's own."""

    fused: bool
    reference_walk: bool
    kdamond_ns: int

    @property
    def memory(self) -> MemorySystem: ...
    @property
    def kernel(self) -> KernelRules: ...
    @property
    def byte_scale(self) -> float: ...
    def _quota_set(self, s: Scheme) -> bool: ...
    def _quota_full(self, ctx: Context, s: Scheme) -> bool: ...
    def _real(self, sim_bytes: int) -> int: ...

_KIND = {"migrate_hot": KIND_HOT, "migrate_cold": KIND_COLD}
_NO_FILTERS = np.zeros((0, 6), np.int64)
_NO_POINTS = np.zeros(0, np.int64)


def plan(eng: EngineView, ctx: Context, s: Scheme) -> tuple[np.ndarray, np.ndarray] | None:
    """(core filter table, addr filter split points) when ``s`` qualifies, else None."""
    if (not eng.fused or eng.reference_walk or s.action not in _KIND or not s.dests
            or ctx.ops.name != "vaddr" or len(ctx.targets) != 1
            or not eng.memory.fast_migration or not ctx.ops.target_valid(ctx.targets[0])):
        return None
    if not s.filters:
        return _NO_FILTERS, _NO_POINTS
    rows = []
    for f in s.filters:
        if not f.is_core:
            return None
        if f.type == "addr":
            if f.addr_range is None or not 0 <= f.addr_range[0] <= f.addr_range[1] < I64_MAX:
                return None
            rows.append((0, int(f.matching), int(f.allow), int(f.addr_range[0]),
                         int(f.addr_range[1]), -1))
        else:
            ti = -1 if f.target_idx is None else int(f.target_idx)
            rows.append((1, int(f.matching), int(f.allow), 0, 0, ti))
    return (np.array(rows, dtype=np.int64),
            np.array(split_points(s.filters, ctx.min_region_sz), dtype=np.int64))


def apply_scheme(eng: EngineView, ctx: Context, s: Scheme,
                 filt: np.ndarray, pts: np.ndarray) -> bool:
    """``adjust_quota`` after the roll-over, then ``walk_target`` of the one target; False
    (nothing done) when esz is beyond int64 (the general path's Python min_score)."""
    q, st = s.quota, s.qstate
    with_hist = q.has_limits
    if with_hist and not 0 <= st.esz < I64_MAX:
        return False
    t = ctx.targets[0]
    r = t.regions
    stt = s.stats
    do_walk = not (s.max_nr_snapshots and stt.nr_snapshots >= s.max_nr_snapshots)
    qset = eng._quota_set(s)
    full = eng._quota_full(ctx, s)
    k = eng.byte_scale
    room = min(max(st.esz - st.charged_sz, 0), 2**62)
    cfrom = st.charge_target_from
    attrs = ctx.attrs
    # the addr filters' splits, one at the charge marker and one at the quota's end
    r.reserve(r.n + len(pts) + 2)
    (n, hist, min_score, walked, nelig, nfull, charged, applied, starts, ends, sz,
     last_end) = select(
        r.raw, r.n, pattern_limits(s.pattern), _KIND[s.action], max(max_nr_accesses(attrs), 1),
        attrs.aggr_interval, int(q.weight_nr_accesses), int(q.weight_age), filt,
        bool(len(filt)) and default_reject(s.filters)[0], pts, with_hist, k, st.esz,
        st.min_score, do_walk, -1 if cfrom is None else cfrom, st.charge_addr_from, full, qset,
        room if k == 1.0 else int(room / k), ctx.min_region_sz)
    r.n = n
    if with_hist:
        st.histogram = hist
        st.min_score = min_score
    if not do_walk:
        return True
    if cfrom == 0:
        st.charge_target_from = None
    if walked and nelig:
        zero_tries = 0
        if qset and nfull < nelig and not eng.kernel.subpage_full \
                and st.charged_sz + eng._real(charged) < st.esz:
            zero_tries = nelig - nfull
        if applied:
            mem = eng.memory
            res = actions._apply_vaddr_dests(ctx, s, t, starts, ends, mem)
            ns = res.kdamond_ns(mem.page_size, k)
            st.total_charged_ns += ns
            eng.kdamond_ns += ns
            real_sz = eng._real(sz)
            st.charged_sz += real_sz
            if res.nr_regions_applied is None or res.sz_regions_applied is None:
                nr_applied = int(np.count_nonzero(res.applied_per_region))
                sz_applied = int(res.applied_per_region.sum())
            else:
                nr_applied, sz_applied = res.nr_regions_applied, res.sz_regions_applied
            stt.nr_tried += applied
            stt.sz_tried += real_sz
            stt.nr_applied += nr_applied
            stt.sz_applied += eng._real(sz_applied)
            if eng._quota_full(ctx, s):
                st.charge_target_from = 0
                st.charge_addr_from = last_end
        stt.nr_tried += zero_tries
    stt.nr_snapshots += 1
    return True


@njit(cache=True, error_model="numpy")
def _split(d, n, i, sz):
    """``RegionArrays.split`` on the backing array ``d`` (capacity > n); the new n."""
    for c in range(n, i, -1):
        for f in range(6):
            d[f, c] = d[f, c - 1]
    d[1, i] = d[0, i] + sz
    d[0, i + 1] = d[1, i]
    return n + 1


@njit(cache=True, error_model="numpy")
def _split_at(d, n, pts):
    """``RegionArrays.split_at_addresses``."""
    for a in pts:
        if n == 0:
            return n
        i = upper_bound(d[0, :n], a) - 1
        if i >= 0 and d[0, i] < a < d[1, i]:
            n = _split(d, n, i, a - d[0, i])
    return n


@njit(cache=True, error_model="numpy")
def _eligible(d, lo, hi, lim, kind, max_nr, aggr, w_nr, w_age, filt, core_rej, ok, scores):
    """``DamosEngine._eligible`` of target 0 for regions ``lo`` to ``hi`` - 1: pattern,
    scores, then the core filters (the first that matches decides, else the group's
    default). Each region's verdict and score depend on that region alone."""
    pattern_scores(d[0, lo:hi], d[1, lo:hi], d[4, lo:hi], d[2, lo:hi], d[5, lo:hi], lim, kind,
                   max_nr, aggr, w_nr, w_age, True, ok[lo:hi], scores[lo:hi])
    nf = filt.shape[0]
    for i in range(lo, hi if nf else lo):
        v = not core_rej
        for j in range(nf):
            if filt[j, 0] == 0:
                has = d[0, i] >= filt[j, 3] and d[1, i] <= filt[j, 4]
            else:
                has = filt[j, 5] == 0
            if has == (filt[j, 1] != 0):
                v = filt[j, 2] != 0
                break
        ok[i] = ok[i] and v


@njit(cache=True, error_model="numpy")
def select(d, n, lim, kind, max_nr, aggr, w_nr, w_age, filt, core_rej, pts, with_hist, k, esz,
           min_score, do_walk, cfrom, caddr, full, qset, room, min_sz):
    """The regions' part of the fused apply (see the module). ``d``: the target's backing
    region array (capacity >= n + len(pts) + 2), changed in place. Returns (n, histogram,
    min_score, the walk ran, eligible, whole, bytes charged (simulated, with the split
    piece), regions applied, their starts, ends and bytes, the end of the last one)."""
    ok = np.empty(d.shape[1], np.bool_)
    scores = np.empty(d.shape[1], np.int64)
    hist = np.zeros(100, np.int64)
    if with_hist:
        n = _split_at(d, n, pts)
        _eligible(d, 0, n, lim, kind, max_nr, aggr, w_nr, w_age, filt, core_rej, ok, scores)
        for i in range(n):
            if ok[i]:
                hist[scores[i]] += d[1, i] - d[0, i]
        if k != 1.0:  # np.round(hist * k): rint of the float product
            for i in range(100):
                hist[i] = np.int64(np.rint(np.float64(hist[i]) * k))
        min_score = min_score_of(hist, esz)
    none = np.zeros(0, np.int64)
    if not do_walk:
        return n, hist, min_score, False, 0, 0, 0, 0, none, none, 0, 0
    # damos_skip_charged_region()
    first = 0
    if cfrom >= 0:
        first = -1
        if cfrom == 0:
            idx = upper_bound(d[1, :n], caddr)
            if idx < n:
                start = d[0, idx]
                if start >= caddr:
                    first = idx
                else:
                    off = (caddr - start) // min_sz * min_sz
                    if off == 0 and d[1, idx] - start <= min_sz:
                        first = idx + 1
                    else:
                        n = _split(d, n, idx, off if off else min_sz)
                        first = idx + 1
                        if with_hist:  # the verdicts move with their regions; the two
                            for i in range(n - 1, idx + 1, -1):  # pieces are new
                                ok[i] = ok[i - 1]
                                scores[i] = scores[i - 1]
                            _eligible(d, idx, idx + 2, lim, kind, max_nr, aggr, w_nr, w_age,
                                      filt, core_rej, ok, scores)
    if first < 0 or full:
        return n, hist, min_score, False, 0, 0, 0, 0, none, none, 0, 0
    if not with_hist:  # no histogram before: the addr filters split the regions now
        n = _split_at(d, n, pts)
        _eligible(d, 0, n, lim, kind, max_nr, aggr, w_nr, w_age, filt, core_rej, ok, scores)
    idx, nelig, nfull, cut, part, charged = quota_cut(d[0, :n], d[1, :n], ok[:n], scores[:n],
                                                      min_score, first, qset, room, min_sz)
    m = idx.shape[0]
    if qset and nfull < nelig and part > 0:
        n = _split(d, n, cut, part)
        charged += part
        m += 1
    starts = np.empty(m, np.int64)
    ends = np.empty(m, np.int64)
    total = 0
    for j in range(m):
        i = idx[j] if j < idx.shape[0] else cut
        starts[j] = d[0, i]
        ends[j] = d[1, i]
        total += ends[j] - starts[j]
        d[5, i] = 0  # the applied regions' age reset (after_apply; the action reads no region)
    return (n, hist, min_score, True, nelig, nfull, charged, m, starts, ends, total,
            ends[m - 1] if m else 0)
