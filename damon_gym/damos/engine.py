"""The DAMOS engine: plugs into a monitoring context where the kernel applies schemes.

Per due scheme, ``damos_adjust_quota`` first (charge-window roll-over, effective quota with
goals, score histogram and min_score), then the walk over every target's regions in address
order [DS 3.2-3.3, 4]. The walk is vectorised per scheme and
target: because charging is by region size ([B]), which regions a quota admits depends only on
their sizes in address order, so one cumulative sum finds the quota cut, the one region to
split, and where the next window resumes. Processing the due schemes one after another gives
what the kernel's region-outer, scheme-inner loop gives: a scheme's effect on a region (age
reset, split, migration) happens before any later scheme looks at that region in both orders.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from damon_gym.damon.attrs import max_nr_accesses
from damon_gym.damon.core import SchemesHook
from damon_gym.damos import actions, fused, goals
from damon_gym.damos.filters import core_verdict, split_points
from damon_gym.damos.quota import KernelRules, effective_quota, min_score_for_quota
from damon_gym.damos.scheme import Scheme
from damon_gym.damos.scoring import (
    I64_MAX,
    KIND_COLD,
    KIND_HOT,
    KIND_STAT,
    add_histogram,
    after_apply,
    gather_ranges,
    min_score_of,
    pattern_limits,
    pattern_scores,
    quota_cut,
)

if TYPE_CHECKING:
    from damon_gym.damon.core import Context, Target
    from damon_gym.memory.system import MemorySystem


_NO_SCORES = np.zeros(0, dtype=np.int64)
_SCORE_KIND = {"migrate_hot": KIND_HOT, "migrate_cold": KIND_COLD, "stat": KIND_STAT}


class DamosEngine(SchemesHook):
    """The schemes of one context.

    ``byte_scale`` is the number of real bytes one simulated byte stands for (1 /
    ``capacity_scale`` of the scenario): quotas, goals' sizes, the score histogram, the charged
    sizes and times and the stats are kept in the real machine's bytes, as a user sets and
    reads them, and converted where they meet simulated regions (the quota's room in the walk).
    With ``byte_scale`` 1 every number is the kernel's, unconverted.

    ``kernel``: the quota rules of the kernel to follow (``quota.KernelRules``; the scenario's
    ``kernel`` field): the first charge window's esz, whether a zero esz is no quota, and
    whether a sub-page remainder fills the quota. The default is the newest kernel's."""

    def __init__(self, memory: MemorySystem, schemes: list[Scheme] | None = None,
                 byte_scale: float = 1.0, kernel: KernelRules | None = None) -> None:
        if not (0.0 < byte_scale < float("inf")):
            raise ValueError(f"byte_scale: {byte_scale!r}; allowed: a finite number > 0")
        self.memory = memory
        self.byte_scale = float(byte_scale)
        self.kernel = KernelRules() if kernel is None else kernel
        #: kdamond time of every application since the start (ns, the real machine's); unlike
        #: the schemes' own totals it survives an online commit that removes a scheme
        self.kdamond_ns = 0
        self._verdicts: dict | None = None  # target -> (regions, n, verdicts, scores) in apply
        #: True: the numpy walk of actions.apply_action instead of the numba one (vaddr dests
        #: without ops filters), the same result; the comparison test sets it
        self.reference_walk = False
        #: True: the common configuration (one due migrate scheme with dests on one vaddr
        #: target, no ops filters) applies in two compiled calls (``fused``), the same result;
        #: False (or ``reference_walk``) forces the general path, which a test compares with it
        self.fused = True
        self.schemes: list[Scheme] = list(schemes or [])

    # -- SchemesHook ---------------------------------------------------------------------------
    def next_event_sis(self, ctx: Context) -> int:
        due = [s.next_apply_sis for s in self.schemes if s.wmark_active]
        return min(due, default=2**62)

    def on_attrs_changed(self, ctx: Context) -> None:
        for s in self.schemes:
            s.next_apply_sis = ctx.passed_sample_intervals + s.apply_interval_sis(ctx.attrs)

    def may_sleep(self) -> bool:
        return any(s.wmarks.metric != "none" for s in self.schemes)

    def inactive_wait_us(self, ctx: Context) -> int:
        """kdamond_wait_activation(): 0 if any scheme is active, else the shortest wait."""
        if not self.schemes:
            return 0
        waits = [self._wmark_wait(s) for s in self.schemes]
        return 0 if 0 in waits else min(waits)

    def apply(self, ctx: Context) -> None:
        """kdamond_apply_schemes(): for every due, active scheme damos_adjust_quota(), then
        damon_do_apply_schemes() over the targets' regions (``walk_target``), and the next
        apply time (next_apply_sis)."""
        passed = ctx.passed_sample_intervals
        due = [s for s in self.schemes if s.wmark_active and passed >= s.next_apply_sis]
        if not due:
            return
        # the common configuration in two compiled calls (fused.plan says which); the general
        # path below is the reference (``fused = False`` or ``reference_walk`` force it)
        rolled = False
        if len(due) == 1:
            s = due[0]
            p = fused.plan(self, ctx, s)
            if p is not None:
                self._roll_window(ctx, s)
                rolled = True
                if fused.apply_scheme(self, ctx, s, *p):
                    s.next_apply_sis = passed + s.apply_interval_sis(ctx.attrs)
                    return
        # one due scheme: the walk can reuse the histogram's verdicts on a target whose
        # regions did not change in between (nothing else touches them before its walk)
        self._verdicts = {} if len(due) == 1 else None
        for s in due:
            self.adjust_quota(ctx, s, roll=not rolled)
        for s in due:
            for ti, t in enumerate(ctx.targets):
                if ctx.ops.target_valid(t):
                    self.walk_target(ctx, s, ti, t)
            s.next_apply_sis = passed + s.apply_interval_sis(ctx.attrs)
        self._verdicts = None

    # -- watermarks ------------------------------------------------------------------------------
    def free_mem_rate(self) -> int:
        """Free pages * 1000 / total pages of the system (permil)."""
        mem = self.memory
        return int(mem.free_frames.sum()) * 1000 // max(mem.nr_frames, 1)

    def _wmark_wait(self, s: Scheme) -> int:
        w = s.wmarks
        if w.metric == "none":
            s.wmark_active = True
            return 0
        m = self.free_mem_rate()
        if m > w.high or m < w.low:
            s.wmark_active = False
            return max(w.interval_us, 1)
        if not s.wmark_active and m >= w.mid:
            return max(w.interval_us, 1)
        s.wmark_active = True
        return 0

    # -- quota -----------------------------------------------------------------------------------
    def adjust_quota(self, ctx: Context, s: Scheme, roll: bool = True) -> None:
        """damos_adjust_quota(): the charge window's roll-over (``_roll_window``, unless
        ``roll`` is False: done already), then the score histogram and min_score."""
        if not s.quota.has_limits:
            return
        if roll:
            self._roll_window(ctx, s)
        st = s.qstate
        # score histogram over pattern-eligible, core-filter-passing regions of all targets
        hist = np.zeros(100, dtype=np.int64)
        for ti, t in enumerate(ctx.targets):
            sel, scores = self._eligible(ctx, s, ti, t, with_scores=True)
            if self._verdicts is not None:
                self._verdicts[ti] = (t.regions.raw, t.regions.n, sel.copy(), scores)
            add_histogram(hist, sel, scores, t.regions.start, t.regions.end)
        if self.byte_scale != 1.0:
            hist = np.round(hist * self.byte_scale).astype(np.int64)
        st.histogram = hist
        st.min_score = (min_score_of(hist, st.esz) if 0 <= st.esz < I64_MAX
                        else min_score_for_quota(hist, st.esz))

    def _roll_window(self, ctx: Context, s: Scheme) -> None:
        """The first part of damos_adjust_quota(): the first charge window and the roll-over
        of an ended one (qt_exceeds, total_charged_sz, a new esz); nothing without limits."""
        q, st = s.quota, s.qstate
        if not q.has_limits:
            return
        now = ctx.now_us
        first = not st.first_window_done
        if first:
            st.first_window_done = True
            st.charged_from_us = now
            if self.kernel.first_window_esz:
                self.set_effective_quota(ctx, s)
        # 6.12.y/6.17 leave esz 0 (no quota) in the first window: it ends like any other, at
        # once with reset_interval 0 (KernelRules.first_window_esz)
        if (not first or not self.kernel.first_window_esz) \
                and now >= st.charged_from_us + q.reset_interval_ms * 1000:
            if self._quota_full(ctx, s):
                s.stats.qt_exceeds += 1
            st.total_charged_sz += st.charged_sz
            st.charged_from_us = now
            st.charged_sz = 0
            self.set_effective_quota(ctx, s)

    def set_effective_quota(self, ctx: Context, s: Scheme) -> None:
        q, st = s.quota, s.qstate
        goal_esz_bp = None
        if q.goals:
            score = max(goals.quota_goal_score(self.goal_current_value(ctx, s, g), g.target_value)
                        for g in q.goals)
            st.esz_bp = goals.next_esz_bp(q.goal_tuner, st.esz_bp, score, q.sz)
            goal_esz_bp = st.esz_bp
        st.esz = effective_quota(sz=q.sz, ms=q.ms, goal_esz_bp=goal_esz_bp,
                                 total_charged_sz=st.total_charged_sz,
                                 total_charged_ns=st.total_charged_ns,
                                 min_region_sz=ctx.min_region_sz)

    def _quota_set(self, s: Scheme) -> bool:
        """damos_quota_is_set() (v7.1 on), or ``quota->esz != 0`` before (zero_esz_unset)."""
        return bool(s.qstate.esz) if self.kernel.zero_esz_unset else s.quota_set

    def _quota_full(self, ctx: Context, s: Scheme) -> bool:
        """damos_quota_is_full(): set and charged_sz >= esz; v7.2 on also when less than
        min_region_sz (of the simulated machine, in real bytes) remains (subpage_full)."""
        if not self._quota_set(s):
            return False
        st = s.qstate
        if st.charged_sz >= st.esz:
            return True
        if not self.kernel.subpage_full:
            return False
        room = st.esz - st.charged_sz
        k = self.byte_scale
        return (room if k == 1.0 else int(room / k)) < ctx.min_region_sz

    def goal_current_value(self, ctx: Context, s: Scheme, g: goals.QuotaGoal) -> int:
        """damos_set_quota_goal_current_value(), evaluated when esz is recomputed."""
        mem = self.memory
        valid = g.nid is not None and 0 <= g.nid < mem.nr_nodes
        if g.metric == "user_input":
            g_value = g.current_value
        elif g.metric in ("node_mem_used_bp", "node_mem_free_bp"):
            total = int(mem.node_nr_frames[g.nid]) * mem.page_size if valid else 0
            free = int(mem.free_frames[g.nid]) * mem.page_size if valid else 0
            fn = goals.node_mem_used_bp if g.metric == "node_mem_used_bp" else goals.node_mem_free_bp
            g_value = fn(total, free)
        else:  # node_eligible_mem_bp / node_ineligible_mem_bp (paddr)
            on_node, total = self.eligible_bytes_on_node(ctx, s, g.nid) if valid and g.nid is not None \
                else (0, 0)
            bp = goals.node_eligible_mem_bp(on_node, total)
            g_value = bp if g.metric == "node_eligible_mem_bp" else (10000 - bp if total else 0)
        g.current_value = g_value
        return g_value

    def eligible_bytes_on_node(self, ctx: Context, s: Scheme, nid: int) -> tuple[int, int]:
        """Bytes of allocated folios inside pattern-matching paddr regions: on ``nid``, total."""
        mem = self.memory
        if ctx.ops.name != "paddr":
            return 0, 0
        used = np.concatenate([[0], np.cumsum(mem.frame_proc >= 0)])
        shift = mem.page_size.bit_length() - 1
        on_node = total = 0
        lo, hi = (int(x) for x in mem.node_phys_range(nid))
        for t in ctx.targets:
            r = t.regions
            sel = self._pattern(s, r)
            for a, b in zip(r.start[sel], r.end[sel], strict=True):
                fa, fb = min(a >> shift, mem.nr_frames), min((b + mem.page_size - 1) >> shift, mem.nr_frames)
                total += int(used[fb] - used[fa])
                na, nb = max(fa, lo >> shift), min(fb, hi >> shift)
                if nb > na:
                    on_node += int(used[nb] - used[na])
        return on_node * mem.page_size, total * mem.page_size

    def _real(self, sim_bytes: int) -> int:
        """Simulated bytes as the real machine's bytes."""
        k = self.byte_scale
        return int(sim_bytes) if k == 1.0 else int(round(int(sim_bytes) * k))

    # -- the walk ----------------------------------------------------------------------------------
    @staticmethod
    def _pattern_scores(ctx: Context | None, s: Scheme, r,
                        with_scores: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """Pattern match ([B]: nr_accesses_bp // 10000) and priority scores, per region."""
        ok = np.empty(r.n, dtype=np.bool_)
        scores = np.empty(r.n if with_scores else 0, dtype=np.int64)
        q = s.quota
        kind = _SCORE_KIND.get(s.action, KIND_STAT)
        attrs = ctx.attrs if ctx is not None else None
        max_nr = max(max_nr_accesses(attrs), 1) if attrs is not None else 1
        aggr = attrs.aggr_interval if attrs is not None else 0
        pattern_scores(r.start, r.end, r.nr_accesses_bp, r.nr_accesses, r.age,
                       pattern_limits(s.pattern), kind, max_nr, aggr, int(q.weight_nr_accesses),
                       int(q.weight_age), with_scores, ok, scores)
        return ok, (scores if with_scores else None)

    @classmethod
    def _pattern(cls, s: Scheme, r) -> np.ndarray:
        return cls._pattern_scores(None, s, r, False)[0]

    def _scores(self, ctx: Context, s: Scheme, r) -> np.ndarray:
        """Priority score of every region: 99 (stat), hot score or cold score."""
        scores = self._pattern_scores(ctx, s, r, True)[1]
        assert scores is not None  # with_scores=True returns them
        return scores

    def _eligible(self, ctx: Context, s: Scheme, ti: int, t: Target, *, with_scores: bool):
        r = t.regions
        pts = split_points(s.filters, ctx.min_region_sz)
        if pts:
            r.split_at_addresses(pts)
        ok, scores = self._pattern_scores(ctx, s, r, with_scores)
        if s.filters:
            core_ok, _ = core_verdict(s.filters, r.start, r.end, ti)
            ok &= core_ok
        return ok, scores

    def _skip_charged(self, ctx: Context, s: Scheme, ti: int, t: Target) -> int | None:
        """damos_skip_charged_region(): index of the first region to process, None = skip all."""
        st = s.qstate
        if st.charge_target_from is None:
            return 0
        if st.charge_target_from != ti:
            return None
        r = t.regions
        addr = st.charge_addr_from
        st.charge_target_from = None
        idx = int(np.searchsorted(r.end, addr, side="right"))
        if idx >= r.n:
            return None  # the last region resets the marker and is skipped
        start = int(r.start[idx])
        if start >= addr:
            return idx
        off = (addr - start) // ctx.min_region_sz * ctx.min_region_sz
        size = int(r.end[idx]) - start
        if off == 0:
            if size <= ctx.min_region_sz:
                return idx + 1
            off = ctx.min_region_sz
        r.split(idx, off)
        return idx + 1

    def walk_target(self, ctx: Context, s: Scheme, ti: int, t: Target) -> None:
        """damon_do_apply_schemes() for one scheme and target: damos_skip_charged_region(),
        then (unless the quota is full) the regions' damos_apply_scheme() in ``_walk``."""
        if s.max_nr_snapshots and s.stats.nr_snapshots >= s.max_nr_snapshots:
            return
        first = self._skip_charged(ctx, s, ti, t)
        if first is not None and not self._quota_full(ctx, s):
            self._walk(ctx, s, ti, t, first)
        s.stats.nr_snapshots += 1

    def _walk(self, ctx: Context, s: Scheme, ti: int, t: Target, first: int) -> None:
        """damos_apply_scheme() over the target's regions from ``first``: the quota cut
        (damos_quota_is_full / the region split at the quota's end), the ops' apply_scheme
        (``actions.apply_action``), charging (charged_sz, total_charged_ns) and the stats."""
        r = t.regions
        st = s.qstate
        qset = self._quota_set(s)
        v = self._verdicts.pop(ti, None) if self._verdicts is not None else None
        if v is not None and v[0] is r.raw and v[1] == r.n:
            ok, scores = v[2], v[3]
        else:
            ok, scores = self._eligible(ctx, s, ti, t, with_scores=qset)
        # regions never span 2**62 bytes, so a larger room (u64 quotas) admits the same
        room = min(max(st.esz - st.charged_sz, 0), 2**62)
        k = self.byte_scale  # the quota is in real bytes, the regions in simulated ones
        applied, nelig, nfull, cut, part, charged = quota_cut(
            r.start, r.end, ok, scores if qset else _NO_SCORES, st.min_score, first,
            qset, room if k == 1.0 else int(room / k), ctx.min_region_sz)
        if nelig == 0:
            return
        zero_tries = 0
        if qset and nfull < nelig:
            if part > 0:
                r.split(cut, part)
                applied = np.append(applied, cut)
                charged += part
            # what is left is below min_region_sz: v7.2 on the quota is full and the walk
            # stops (KernelRules.subpage_full)
            if st.charged_sz + self._real(charged) < st.esz and not self.kernel.subpage_full:
                # [B]: not full, but each next split aligns to 0 bytes
                zero_tries = nelig - nfull  # the split's right piece and later regions
        if applied.size:
            starts, ends, sz = gather_ranges(r.start, r.end, applied)
            res = actions.apply_action(ctx, s, ti, t, starts, ends, self.memory,
                                       reference=self.reference_walk)
            ns = res.kdamond_ns(self.memory.page_size, k)
            st.total_charged_ns += ns
            self.kdamond_ns += ns
            st.charged_sz += self._real(sz)
            nr_applied, sz_applied = after_apply(r.raw[5], applied, res.applied_per_region,
                                                 s.action != "stat")
            stt = s.stats
            stt.nr_tried += int(applied.size)
            stt.sz_tried += self._real(sz)
            stt.nr_applied += nr_applied
            stt.sz_applied += self._real(sz_applied)
            stt.sz_ops_filter_passed += self._real(res.filter_passed_bytes)
            if self._quota_full(ctx, s):
                st.charge_target_from = ti
                st.charge_addr_from = int(r.end[applied[-1]])
        s.stats.nr_tried += zero_tries
