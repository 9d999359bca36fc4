"""The DAMOS engine: plugs into a monitoring context where the kernel applies schemes.

Per due scheme, ``damos_adjust_quota`` first (charge-window roll-over, effective quota with
goals, score histogram and min_score), then the walk over every target's regions in address
order (shared/damon_spec.md sections 3.2-3.3, 4). The walk is vectorised per scheme and
target: because charging is by region size ([B]), which regions a quota admits depends only on
their sizes in address order, so one cumulative sum finds the quota cut, the one region to
split, and where the next window resumes. Processing the due schemes one after another gives
what the kernel's region-outer, scheme-inner loop gives: a scheme's effect on a region (age
reset, split, migration) happens before any later scheme looks at that region in both orders.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from damon_gym.damon.core import SchemesHook
from damon_gym.damos import actions, goals
from damon_gym.damos.filters import core_verdict, split_points
from damon_gym.damos.quota import effective_quota, hot_scores, min_score_for_quota
from damon_gym.damos.scheme import Scheme

if TYPE_CHECKING:
    from damon_gym.damon.core import Context, Target
    from damon_gym.memory.system import MemorySystem


class DamosEngine(SchemesHook):
    """The schemes of one context."""

    def __init__(self, memory: MemorySystem, schemes: list[Scheme] | None = None) -> None:
        self.memory = memory
        self.schemes: list[Scheme] = list(schemes or [])

    # -- SchemesHook ---------------------------------------------------------------------------
    def next_event_sis(self, ctx: Context) -> int:
        due = [s.next_apply_sis for s in self.schemes if s.wmark_active]
        return min(due, default=2**62)

    def on_attrs_changed(self, ctx: Context) -> None:
        for s in self.schemes:
            s.next_apply_sis = ctx.passed_sample_intervals + s.apply_interval_sis(ctx.attrs)

    def inactive_wait_us(self, ctx: Context) -> int:
        """kdamond_wait_activation(): 0 if any scheme is active, else the shortest wait."""
        if not self.schemes:
            return 0
        waits = [self._wmark_wait(s) for s in self.schemes]
        return 0 if 0 in waits else min(waits)

    def apply(self, ctx: Context) -> None:
        passed = ctx.passed_sample_intervals
        due = [s for s in self.schemes if s.wmark_active and passed >= s.next_apply_sis]
        if not due:
            return
        for s in due:
            self.adjust_quota(ctx, s)
        for s in due:
            for ti, t in enumerate(ctx.targets):
                if ctx.ops.target_valid(t):
                    self.walk_target(ctx, s, ti, t)
            s.next_apply_sis = passed + s.apply_interval_sis(ctx.attrs)

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
    def adjust_quota(self, ctx: Context, s: Scheme) -> None:
        """damos_adjust_quota()."""
        q, st = s.quota, s.qstate
        if not q.has_limits:
            return
        now = ctx.now_us
        if not st.first_window_done:
            st.first_window_done = True
            st.charged_from_us = now
            self.set_effective_quota(ctx, s)
        elif now >= st.charged_from_us + q.reset_interval_ms * 1000:
            if s.quota_full():
                s.stats.qt_exceeds += 1
            st.total_charged_sz += st.charged_sz
            st.charged_from_us = now
            st.charged_sz = 0
            self.set_effective_quota(ctx, s)
        # score histogram over pattern-eligible, core-filter-passing regions of all targets
        hist = np.zeros(100, dtype=np.int64)
        for ti, t in enumerate(ctx.targets):
            sel, scores = self._eligible(ctx, s, ti, t, with_scores=True)
            if sel.any():
                hist += np.bincount(scores[sel], weights=t.regions.sizes()[sel],
                                    minlength=100).astype(np.int64)
        st.histogram = hist
        st.min_score = min_score_for_quota(hist, st.esz)

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
            on_node, total = self.eligible_bytes_on_node(ctx, s, g.nid) if valid else (0, 0)
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
            for a, b in zip(r.start[sel], r.end[sel]):
                fa, fb = min(a >> shift, mem.nr_frames), min((b + mem.page_size - 1) >> shift, mem.nr_frames)
                total += int(used[fb] - used[fa])
                na, nb = max(fa, lo >> shift), min(fb, hi >> shift)
                if nb > na:
                    on_node += int(used[nb] - used[na])
        return on_node * mem.page_size, total * mem.page_size

    # -- the walk ----------------------------------------------------------------------------------
    @staticmethod
    def _pattern(s: Scheme, r) -> np.ndarray:
        p = s.pattern
        sz = r.end - r.start
        nr = r.nr_accesses_bp // 10000  # [B] pattern matching uses the pseudo moving sum
        return ((sz >= p.min_sz) & (sz <= p.max_sz) & (nr >= p.min_nr_accesses)
                & (nr <= p.max_nr_accesses) & (r.age >= p.min_age) & (r.age <= p.max_age))

    def _scores(self, ctx: Context, s: Scheme, r) -> np.ndarray:
        q = s.quota
        if s.action == "stat":
            return np.full(r.n, 99, dtype=np.int64)
        hot = hot_scores(r.nr_accesses, r.age, ctx.attrs, q.weight_nr_accesses, q.weight_age)
        return hot if s.action == "migrate_hot" else 99 - hot

    def _eligible(self, ctx: Context, s: Scheme, ti: int, t: Target, *, with_scores: bool):
        r = t.regions
        pts = split_points(s.filters, ctx.min_region_sz)
        if pts:
            r.split_at_addresses(pts)
        ok = self._pattern(s, r)
        core_ok, _ = core_verdict(s.filters, r.start, r.end, ti)
        ok &= core_ok
        return ok, (self._scores(ctx, s, r) if with_scores else None)

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
        st = s.qstate
        if s.max_nr_snapshots and s.stats.nr_snapshots >= s.max_nr_snapshots:
            return
        first = self._skip_charged(ctx, s, ti, t)
        if first is not None and not (s.quota_set and s.quota_full()):
            self._walk(ctx, s, ti, t, first)
        s.stats.nr_snapshots += 1
        del st

    def _walk(self, ctx: Context, s: Scheme, ti: int, t: Target, first: int) -> None:
        r = t.regions
        st = s.qstate
        ok, scores = self._eligible(ctx, s, ti, t, with_scores=s.quota_set)
        if s.quota_set:
            ok &= scores >= st.min_score
        ok[:first] = False
        elig = np.flatnonzero(ok)
        if elig.size == 0:
            return
        sizes = (r.end - r.start)[elig]
        zero_tries = 0
        if s.quota_set:
            room = st.esz - st.charged_sz
            csum = np.cumsum(sizes)
            nfull = int(np.searchsorted(csum, room, side="right"))
            applied = list(elig[:nfull])
            charged = int(csum[nfull - 1]) if nfull else 0
            if nfull < elig.size:
                k = int(elig[nfull])
                part = (room - charged) // ctx.min_region_sz * ctx.min_region_sz
                if part > 0:
                    r.split(k, part)
                    applied.append(k)
                    charged += part
                    rest = elig.size - nfull  # the split's right piece and later regions
                else:
                    rest = elig.size - nfull
                if st.charged_sz + charged < st.esz:
                    zero_tries = rest  # [B]: not full, but each next split aligns to 0 bytes
            applied = np.asarray(applied, dtype=np.int64)
        else:
            applied = elig
        if applied.size:
            starts, ends = r.start[applied].copy(), r.end[applied].copy()
            sz = ends - starts
            res = actions.apply_action(ctx, s, ti, t, starts, ends, self.memory)
            st.total_charged_ns += res.ns
            st.charged_sz += int(sz.sum())
            if s.action != "stat":
                r.age[applied] = 0
            stt = s.stats
            stt.nr_tried += int(applied.size)
            stt.sz_tried += int(sz.sum())
            stt.nr_applied += int((res.applied_per_region > 0).sum())
            stt.sz_applied += int(res.applied_per_region.sum())
            stt.sz_ops_filter_passed += res.filter_passed_bytes
            if s.quota_set and s.quota_full():
                st.charge_target_from = ti
                st.charge_addr_from = int(r.end[applied[-1]])
        s.stats.nr_tried += zero_tries
