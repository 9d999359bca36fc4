"""The monitoring context and its kdamond main loop (mm/damon/core.c), stepped in simulated time.

One ``Context`` is one kdamond running one damon_ctx. ``run_until(t_us)`` advances it by whole
sampling intervals, in chunks that end exactly where the kernel's loop does something other
than sampling (aggregation, scheme application, ops update), so that each chunk can be sampled
in one draw (see ``sampling``). At those points the loop does what kdamond_fn does, in the
kernel's order (docs/damon_semantics.md#ds-1-3):

    sample -> [aggregation] merge + age update -> schemes hook -> [aggregation] intervals
    tuning, reset (last_nr_accesses <- nr_accesses), split -> [update] ops.update

Defaults follow the [B] era (nr_accesses_bp pseudo moving sum); ``era`` switches the few [N]
deltas that are cheap here (age updated in the first merge pass only).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from damon_gym.damon import fastpath, kernels
from damon_gym.damon.attrs import Attrs, max_nr_accesses, mult_frac
from damon_gym.damon.counters import next_sample_interval
from damon_gym.damon.ops import Ops
from damon_gym.damon.rng_pointers import pointers
from damon_gym.damon.sampling import make_sampler
from damon_gym.damon.target import Target
from damon_gym.damon.windows import split_in_place_p


class SchemesHook:
    """What the context asks of a DAMOS engine (damon_gym.damos plugs in here).

    ``apply`` is called at every loop step but must act only once ``next_event_sis`` is
    reached (as kdamond_apply_schemes checks next_apply_sis); a hook that needs every step
    sets ``apply_only_when_due = False``, which turns the fused aggregation windows off."""

    apply_only_when_due = True

    def next_event_sis(self, ctx: Context) -> int:  # next passed_sample_intervals a scheme is due
        return 2**62

    def apply(self, ctx: Context) -> None:  # kdamond_apply_schemes
        pass

    def on_attrs_changed(self, ctx: Context) -> None:  # rebase next_apply_sis
        pass

    def inactive_wait_us(self, ctx: Context) -> int:  # kdamond_wait_activation: 0 = active
        return 0

    def may_sleep(self) -> bool:  # True if watermarks may deactivate the schemes
        return False


class Context:
    """struct damon_ctx plus its kdamond's loop state."""

    def __init__(self, ops: Ops, attrs: Attrs, targets: list[Target] | None = None, *,
                 rng: np.random.Generator, sampler: str = "fast", min_region_sz: int = 4096,
                 era: str = "B", name: str = "") -> None:
        self.ops = ops
        self.attrs = attrs.validate()
        self.targets: list[Target] = list(targets or [])
        self.rng = rng
        self.sampler = make_sampler(sampler)
        if min_region_sz <= 0 or min_region_sz & (min_region_sz - 1):
            raise ValueError(f"min_region_sz: {min_region_sz} is not a power of two")
        self.min_region_sz = min_region_sz
        if era not in ("B", "N"):
            raise ValueError(f"era: {era!r}; allowed: 'B' (nr_accesses_bp kernels) or 'N'")
        self.era = era
        self.name = name
        self.schemes: SchemesHook | None = None
        self.aggregation_callbacks: list[Callable[[Context], None]] = []
        self.started = False
        self.stopped = False
        self.now_us = 0
        self.passed_sample_intervals = 0
        self.next_aggregation_sis = 0
        self.next_ops_update_sis = 0
        self.next_intervals_tune_sis = 0
        self.aggr_samples = attrs.aggr_samples
        self.last_nr_regions = 0  # kdamond_split_regions' static (kept per context here)
        self.sz_limit = min_region_sz
        self.nr_aggregations = 0
        self.last_aggregation_us = 0
        self.fused = True  # run plain aggregation windows in one numba call (fastpath)
        self._buffers: dict[str, np.ndarray] = {}  # scratch arrays kernels reuse (buffer())

    # -- set-up ------------------------------------------------------------------------------
    def start(self, now_us: int = 0) -> None:
        """kdamond_init_ctx + ops.init."""
        a = self.attrs
        si = max(a.sample_interval, 1)
        self.now_us = now_us
        self.last_aggregation_us = now_us
        self.passed_sample_intervals = 0
        self.next_aggregation_sis = a.aggr_interval // si
        self.next_ops_update_sis = a.ops_update_interval // si
        self.next_intervals_tune_sis = self.next_aggregation_sis * a.intervals_goal.aggrs
        self.ops.init(self)
        if self.schemes is not None:
            self.schemes.on_attrs_changed(self)
        self.sz_limit = self.region_sz_limit()
        self.started = True

    def add_target(self, target: Target) -> None:
        """Add a target while monitoring runs (vaddr init for it happens at once)."""
        self.targets.append(target)
        if self.started:
            self.ops.init_target(self, target)

    def buffer(self, name: str, rows: int, cols: int, dtype=np.int64) -> np.ndarray:
        """A (rows, >= cols) scratch array kept between calls: fresh big arrays in every
        kernel call cost page faults that dwarf the work on them."""
        b = self._buffers.get(name)
        if b is None or b.shape[0] != rows or b.shape[1] < cols or b.dtype != dtype:
            grow = b.shape[1] * 5 // 4 if b is not None and b.shape[0] == rows else 0
            b = self._buffers[name] = np.empty((rows, max(cols, grow)), dtype=dtype)
        return b

    def nr_regions(self) -> int:
        return sum(t.regions.n for t in self.targets)

    def region_sz_limit(self) -> int:
        """damon_region_sz_limit(): max(total bytes / min_nr_regions, min_region_sz)."""
        total = sum(t.regions.total_bytes() for t in self.targets)
        return max(total // self.attrs.min_nr_regions, self.min_region_sz)

    # -- the main loop -----------------------------------------------------------------------
    def need_stop(self) -> bool:
        """kdamond_need_stop(): every target gone (vaddr); paddr targets never go away."""
        return bool(self.targets) and not any(self.ops.target_valid(t) for t in self.targets)

    def next_event_sis(self) -> int:
        nxt = min(self.next_aggregation_sis, self.next_ops_update_sis)
        if self.schemes is not None:
            nxt = min(nxt, self.schemes.next_event_sis(self))
        return nxt

    def next_event_us(self) -> int:
        """Simulated time of the next loop step that does more than sample."""
        gap = max(self.next_event_sis() - self.passed_sample_intervals, 1)
        return self.now_us + gap * max(self.attrs.sample_interval, 1)

    def next_sync_us(self) -> int:
        """Simulated time up to which the context may run before others must catch up: its
        next scheme application (the only loop step that changes memory) or intervals tuning
        (which changes the time grid); every loop event while watermarks may put it to sleep
        or when its hook acts at every step."""
        h = self.schemes
        if h is not None and (h.may_sleep() or not h.apply_only_when_due):
            return self.next_event_us()
        nxt = h.next_event_sis(self) if h is not None else 2**62
        if self.attrs.intervals_goal.aggrs:
            nxt = min(nxt, max(self.next_intervals_tune_sis, self.next_aggregation_sis))
        gap = max(nxt - self.passed_sample_intervals, 1)
        return self.now_us + gap * max(self.attrs.sample_interval, 1)

    def run_until(self, t_us: int, *, events_only: bool = False) -> None:
        """kdamond_fn()'s main loop up to ``t_us``: advance by every whole sampling interval
        that ends at or before it (kdamond_wait_activation while watermarks deactivate every
        scheme; sampling, then ``_step`` at each loop event); ``events_only``: only through
        chunks that end at a loop event (never one cut short by ``t_us``), and not at all
        while watermarks may put the kdamond to sleep."""
        if not self.started:
            self.start(self.now_us)
        if events_only and self.schemes is not None and self.schemes.may_sleep():
            return
        while not self.stopped:
            si = max(self.attrs.sample_interval, 1)
            avail = (t_us - self.now_us) // si
            if avail <= 0:
                return
            wait = self.schemes.inactive_wait_us(self) if self.schemes is not None else 0
            if wait:
                # every scheme deactivated by watermarks: the kdamond sleeps, nothing sampled
                self.now_us += min(wait, (t_us - self.now_us))
                continue
            if self.fused and fastpath.run_fused(self, avail):
                if self.need_stop():
                    self.stopped = True
                continue
            gap = max(self.next_event_sis() - self.passed_sample_intervals, 1)
            if events_only and gap > avail:
                return
            chunk = int(min(gap, avail))
            self._sample(chunk)
            self.passed_sample_intervals += chunk
            self.now_us += chunk * si
            self._step()
            if self.need_stop():
                self.stopped = True

    def _sample(self, nr_samples: int) -> None:
        """ops.prepare_access_checks + check_accesses, ``nr_samples`` times."""
        len_window = max(max_nr_accesses(self.attrs), 1)
        for t in self.targets:
            r = t.regions
            if r.n == 0:
                continue
            k = self.sampler.sample(self, t, nr_samples, self.rng)
            r.nr_accesses[:] += k
            # [B] damon_update_region_access_rate: per sample, bp += 10000*accessed
            #     - last*10000/len_window; summed exactly over the chunk.
            r.nr_accesses_bp[:] += 10000 * k - nr_samples * (r.last_nr_accesses * 10000 // len_window)

    def _step(self, merged: bool = False) -> None:
        """One kdamond_fn() iteration after sampling: kdamond_merge_regions() at an
        aggregation, kdamond_apply_schemes(), then kdamond_tune_intervals(),
        kdamond_reset_aggregated() and kdamond_split_regions() at an aggregation, and the ops'
        update at its interval; ``merged``: the aggregation's merge is done."""
        passed = self.passed_sample_intervals
        snap_aggr = self.next_aggregation_sis
        snap_update = self.next_ops_update_sis
        aggregation = passed >= snap_aggr
        if aggregation and not merged:
            seen = max((int(t.regions.nr_accesses.max()) for t in self.targets if t.regions.n),
                       default=0)
            self.merge_regions(seen // 10, self.sz_limit)
            self.sz_limit = self.region_sz_limit()
        if self.schemes is not None:
            self.schemes.apply(self)
        if aggregation:
            g = self.attrs.intervals_goal
            if g.aggrs and passed >= self.next_intervals_tune_sis:
                self.next_intervals_tune_sis += self.aggr_samples * g.aggrs
                self.tune_intervals()
            si = max(self.attrs.sample_interval, 1)
            self.next_aggregation_sis = snap_aggr + self.attrs.aggr_interval // si
            self.reset_aggregated()
            self.split_regions()
        if passed >= snap_update:
            si = max(self.attrs.sample_interval, 1)
            self.next_ops_update_sis = snap_update + self.attrs.ops_update_interval // si
            self.ops.update(self)

    # -- aggregation steps ---------------------------------------------------------------------
    def merge_regions(self, threshold: int, sz_limit: int) -> None:
        """kdamond_merge_regions(): merge passes until max_nr_regions is respected."""
        a = self.attrs
        max_thres = a.aggr_interval // max(a.sample_interval, 1)
        first = True
        while True:
            total = 0
            for t in self.targets:
                r = t.regions
                if r.n:
                    d = r.raw
                    r.n = kernels.merge_regions_of(d[0], d[1], d[2], d[3], d[4], d[5], r.n,
                                                   threshold, sz_limit, True,
                                                   first or self.era == "B")
                total += r.n
            first = False
            threshold = max(1, threshold * 2)
            if not (total > a.max_nr_regions and threshold // 2 < max_thres):
                break

    def reset_aggregated(self) -> None:
        """kdamond_reset_aggregated(): report, then last_nr_accesses <- nr_accesses <- 0."""
        for cb in self.aggregation_callbacks:
            cb(self)
        for t in self.targets:
            r = t.regions
            r.last_nr_accesses[:] = r.nr_accesses
            r.nr_accesses_bp[:] = r.nr_accesses * 10000
            r.nr_accesses[:] = 0
        self.nr_aggregations += 1
        self.last_aggregation_us = self.now_us

    def split_regions(self) -> None:
        """kdamond_split_regions() [B]: 2 pieces, or 3 when the count did not change."""
        n = self.nr_regions()
        maxr = self.attrs.max_nr_regions
        if n > maxr // 2:
            return
        nr_subs = 3 if (self.last_nr_regions == n and n < maxr // 3) else 2
        for t in self.targets:
            r = t.regions
            if r.n == 0:
                continue
            r.reserve(r.n * nr_subs)
            d = r.raw
            # the cut values drawn from the context's Generator inside the compiled call, as
            # the fused windows draw them (the same stream: rng_pointers)
            r.n = split_in_place_p(pointers(self.rng), d, self.buffer("regions", 6, d.shape[1]),
                                   r.n, nr_subs, self.min_region_sz)
        self.last_nr_regions = n

    def tune_intervals(self) -> None:
        """kdamond_tune_intervals() [DS 1.12]: aim at access_bp of possible samples."""
        g = self.attrs.intervals_goal
        max_events = 0
        events = 0
        for t in self.targets:
            sz = t.regions.sizes()
            max_events += int(sz.sum()) * self.aggr_samples
            events += int((sz * t.regions.nr_accesses).sum())
        new_sample = next_sample_interval(events, max_events, g.access_bp,
                                          self.attrs.sample_interval, g.min_sample_us,
                                          g.max_sample_us)
        if new_sample != self.attrs.sample_interval:
            self.set_attrs(self.attrs.with_(sample_interval=new_sample,
                                            aggr_interval=new_sample * self.aggr_samples),
                           keep_aggr_samples=True)

    # -- online changes ----------------------------------------------------------------------
    def set_attrs(self, new: Attrs, *, keep_aggr_samples: bool = False) -> None:
        """damon_set_attrs(): validate, rescale counters and age, rebase the next_* points."""
        new.validate()
        old = self.attrs
        passed = self.passed_sample_intervals
        if self.started and new != old:
            aggregating = passed < self.next_aggregation_sis
            convert = all((old.sample_interval, old.aggr_interval, new.sample_interval,
                           new.aggr_interval))
            mo, mn = max_nr_accesses(old), max_nr_accesses(new)
            for t in self.targets:
                r = t.regions
                if r.n == 0:
                    continue
                if convert and mo and mn:
                    if not aggregating:
                        r.nr_accesses[:] = mult_frac(mult_frac(r.nr_accesses, 10000, mo), mn, 10000)
                        r.nr_accesses_bp[:] = r.nr_accesses * 10000
                    else:
                        r.last_nr_accesses[:] = mult_frac(
                            mult_frac(r.last_nr_accesses, 10000, mo), mn, 10000)
                        r.nr_accesses_bp[:] = r.last_nr_accesses * 10000
                        r.nr_accesses[:] = 0
                if old.aggr_interval and new.aggr_interval:
                    r.age[:] = r.age * old.aggr_interval // new.aggr_interval
        self.attrs = new
        if not keep_aggr_samples:
            self.aggr_samples = new.aggr_samples
        if self.started:
            si = max(new.sample_interval, 1)
            self.next_aggregation_sis = passed + new.aggr_interval // si
            self.next_ops_update_sis = passed + new.ops_update_interval // si
            if self.schemes is not None:
                self.schemes.on_attrs_changed(self)

    def snapshot(self) -> list[dict]:
        """Per target: pid and a copy of its regions' arrays."""
        out = []
        for i, t in enumerate(self.targets):
            r = t.regions
            out.append({"target_idx": i, "pid": t.pid, "start": r.start.copy(),
                        "end": r.end.copy(), "nr_accesses": r.nr_accesses.copy(),
                        "last_nr_accesses": r.last_nr_accesses.copy(), "age": r.age.copy()})
        return out
