"""The context's fused path: whole aggregation windows in one numba call (``windows``).

``Context.run_until`` asks ``run_fused`` first. When the next loop event is an aggregation,
the fast sampler is in use and the context has one target whose ops set can hand its
probability arrays to numba, ``run_fused`` runs

* every following aggregation window whose aggregation is *plain* -- no scheme due
  (``SchemesHook.next_event_sis``), no ops update, no intervals tuning, no aggregation
  callback -- completely (sample, merge, reset, split) inside one call, and
* if the first non-plain aggregation is reached before ``t_us`` and before any event that
  does not coincide with an aggregation, that window's sampling and merge as well, leaving the
  rest of ``Context._step`` (schemes, tuning, callbacks, reset, split, ops update) to Python.

Nothing outside the context can change between plain aggregations: memory changes only at
scheme applications and workload events, which the simulation loop never lets a context run
past (``Context.next_sync_us``). So the result is what the step-by-step loop computes, with
the same random numbers drawn in the same order (the step-by-step path uses the same split).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from damon_gym.damon.attrs import Attrs, max_nr_accesses
from damon_gym.damon.ops import Ops
from damon_gym.damon.rng_pointers import pointers
from damon_gym.damon.target import Target
from damon_gym.damon.windows import run_windows_p


class _Hook(Protocol):
    @property
    def apply_only_when_due(self) -> bool: ...
    def next_event_sis(self, ctx: Any) -> int: ...


class FusedContext(Protocol):
    """What the fused path reads and writes of a monitoring context (``core.Context``; a
    protocol rather than an import of ``core``, which imports this module)."""

    now_us: int
    passed_sample_intervals: int
    next_aggregation_sis: int
    sz_limit: int
    last_nr_regions: int
    nr_aggregations: int
    last_aggregation_us: int

    @property
    def targets(self) -> Sequence[Target]: ...
    @property
    def attrs(self) -> Attrs: ...
    @property
    def ops(self) -> Ops: ...
    @property
    def sampler(self) -> Any: ...
    @property
    def schemes(self) -> _Hook | None: ...
    @property
    def rng(self) -> np.random.Generator: ...
    @property
    def era(self) -> str: ...
    @property
    def min_region_sz(self) -> int: ...
    @property
    def aggregation_callbacks(self) -> Sequence[Any]: ...
    @property
    def next_ops_update_sis(self) -> int: ...
    @property
    def next_intervals_tune_sis(self) -> int: ...
    def next_event_sis(self) -> int: ...
    def buffer(self, name: str, rows: int, cols: int, dtype: Any = ...) -> np.ndarray: ...
    def _step(self, merged: bool = False) -> None: ...

FAR = 2**62


def _plain_windows(ctx: FusedContext, first_agg: int, window: int, limit: int) -> tuple[int, bool]:
    """(number of plain aggregations from ``first_agg`` on within ``limit``, whether the first
    non-plain one is reached and is the next event)."""
    hook = ctx.schemes
    due = hook.next_event_sis(ctx) if hook is not None else FAR
    stop = min(ctx.next_ops_update_sis, due)  # events that end a chunk by themselves
    bound = stop
    if ctx.attrs.intervals_goal.aggrs:
        bound = min(bound, ctx.next_intervals_tune_sis)
    if ctx.aggregation_callbacks or bound <= first_agg:
        nplain = 0
    else:
        nplain = min(-(-(bound - first_agg) // window), (limit - first_agg) // window + 1)
    end = first_agg + nplain * window
    return nplain, end <= limit and end <= stop


def run_fused(ctx: FusedContext, avail: int) -> bool:
    """Advance ``ctx`` through fused windows; False (nothing done) when not applicable."""
    if len(ctx.targets) != 1 or ctx.sampler.name != "fast":
        return False
    hook = ctx.schemes
    if hook is not None and not hook.apply_only_when_due:
        return False
    passed = ctx.passed_sample_intervals
    first_agg = ctx.next_aggregation_sis
    if first_agg - passed > avail or first_agg > ctx.next_event_sis() or first_agg <= passed:
        return False
    t = ctx.targets[0]
    r = t.regions
    if r.n == 0:
        return False
    a = ctx.attrs
    arrays = ctx.ops.window_arrays(t, a.sample_interval)
    if arrays is None:
        return False
    si = max(a.sample_interval, 1)
    window = a.aggr_interval // si
    if window < 1:
        return False
    nplain, tail = _plain_windows(ctx, first_agg, window, passed + avail)
    nwin = nplain + int(tail)
    if nwin == 0:
        return False
    cap = max(r.n, a.max_nr_regions) + 1
    r.reserve(cap)
    d = r.raw
    scratch = ctx.buffer("regions", 6, d.shape[1])
    work = ctx.buffer("windows", 5, d.shape[1], np.float64)
    state = np.zeros(3, dtype=np.int64)
    mode, prefix, p, vs, ve, vb, tree, values = arrays
    r.n = run_windows_p(pointers(ctx.rng), d, scratch, work, r.n, mode, prefix, p, vs, ve, vb, tree, values,
                      ctx.ops.page_shift, first_agg - passed, window, nwin, not tail,
                      max(max_nr_accesses(a), 1), window, a.max_nr_regions, a.min_nr_regions,
                      ctx.min_region_sz, ctx.sz_limit, ctx.era == "B", ctx.last_nr_regions,
                      state)
    last = first_agg + (nwin - 1) * window
    ctx.now_us += (last - passed) * si
    ctx.passed_sample_intervals = last
    ctx.next_aggregation_sis = first_agg + nplain * window
    ctx.sz_limit = int(state[0])
    ctx.last_nr_regions = int(state[1])
    if nplain:
        ctx.nr_aggregations += nplain
        ctx.last_aggregation_us = ctx.now_us - (window * si if tail else 0)
    if tail:
        ctx._step(merged=True)
    return True
