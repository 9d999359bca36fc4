"""The array-based monitoring core against the per-region kernel-parity functions, and the
kdamond loop's behaviour over time."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from damon_gym import kernel
from damon_gym.damon import kernels
from damon_gym.damon.attrs import Attrs, IntervalsGoal
from damon_gym.damon.core import Context, Target
from damon_gym.damon.ops import PaddrOps, VaddrOps
from damon_gym.damon.regions import RegionArrays
from damon_gym.memory.placement import LocalPolicy
from damon_gym.memory.system import MemorySystem
from damon_gym.memory.topology import load_topology


@st.composite
def region_lists(draw, max_n=40):
    n = draw(st.integers(1, max_n))
    sizes = draw(st.lists(st.integers(1, 50), min_size=n, max_size=n))
    gaps = draw(st.lists(st.sampled_from([0, 0, 0, 3]), min_size=n, max_size=n))
    regions, a = [], 0
    for sz, g in zip(sizes, gaps):
        a += g
        nr = draw(st.integers(0, 20))
        last = draw(st.integers(0, 20))
        age = draw(st.integers(0, 30))
        regions.append(kernel.Region(a * 4096, (a + sz) * 4096, nr_accesses=nr, age=age,
                                     last_nr_accesses=last, nr_accesses_bp=nr * 10000))
        a += sz
    return regions


@given(region_lists(), st.integers(0, 12), st.integers(1, 400))
@settings(max_examples=200, deadline=None)
def test_merge_kernel_equals_kernel_parity_function(regions, thres, sz_pages):
    sz_limit = sz_pages * 4096
    want = kernel.merge_regions_of([kernel.Region(**vars(r)) for r in regions], thres, sz_limit)
    ra = RegionArrays.from_regions(regions)
    d = ra.raw
    ra.n = kernels.merge_regions_of(d[0], d[1], d[2], d[3], d[4], d[5], ra.n, thres, sz_limit,
                                    True, True)
    got = ra.to_regions()
    assert [(r.start, r.end, r.nr_accesses, r.age, r.last_nr_accesses) for r in got] == \
        [(r.start, r.end, r.nr_accesses, r.age, r.last_nr_accesses) for r in want]


@given(region_lists(), st.integers(2, 3), st.integers(0, 2**31))
@settings(max_examples=200, deadline=None)
def test_split_kernel_preserves_bytes_and_counters(regions, nr_subs, seed):
    ra = RegionArrays.from_regions(regions)
    rand = np.random.default_rng(seed).integers(1, 10, size=(ra.n, nr_subs - 1))
    out = np.empty((6, ra.n * nr_subs), dtype=np.int64)
    d = ra.raw
    k = kernels.split_regions_of(d[0], d[1], d[2], d[3], d[4], d[5], ra.n, nr_subs, 4096, rand, out)
    assert ra.n <= k <= ra.n * nr_subs
    starts, ends = out[0, :k], out[1, :k]
    assert np.all(ends > starts) and np.all(starts[1:] >= ends[:-1])
    assert np.all(starts % 4096 == 0) and np.all(ends % 4096 == 0)
    assert (ends - starts).sum() == sum(r.end - r.start for r in regions)
    # every piece inherits its parent's counters and age
    for s, e, nr, age in zip(starts, ends, out[2, :k], out[5, :k]):
        parent = next(r for r in regions if r.start <= s and e <= r.end)
        assert (nr, age) == (parent.nr_accesses, parent.age)
    # a region of <= 2 pages is never split (vector 13)
    for r in regions:
        if r.end - r.start <= 2 * 4096:
            assert r.start in starts.tolist() and r.end in ends.tolist()
            assert not np.any((starts > r.start) & (starts < r.end))


def _vaddr_sim(rates_fn, pages=4096, attrs=None, seed=0, min_nr=10, max_nr=1000):
    """One process: heap, a data VMA of ``pages`` pages, stack; rates from rates_fn(t_s)."""
    mem = MemorySystem(load_topology("tiny"), page_size=4096)
    heap = (0x5555_5540_0000, 0x5555_5540_0000 + 32 * 4096)
    data = (0x7F00_0000_0000, 0x7F00_0000_0000 + pages * 4096)
    stack = (0x7FFC_0000_0000, 0x7FFC_0000_0000 + 32 * 4096)
    idx = mem.add_process(1, [heap, data, stack])
    mem.allocate(idx, np.arange(mem.procs[idx].nr_pages), LocalPolicy())
    attrs = attrs or Attrs(5000, 100000, 1_000_000, min_nr, max_nr)
    ctx = Context(VaddrOps(mem), attrs, [Target(pid=1, proc_idx=idx)],
                  rng=np.random.default_rng(seed))
    return mem, idx, ctx, data


def _hot_block(mem, idx, data, lo, hi, rate=1000.0):
    pm = mem.procs[idx]
    rates = np.zeros(pm.nr_pages)
    base = int(pm.vma_page_base[1])
    rates[base + lo: base + hi] = rate
    mem.set_rates(idx, rates)


def test_region_count_stays_within_limits_while_hot_set_moves():
    mem, idx, ctx, data = _vaddr_sim(None, pages=8192, min_nr=10, max_nr=60)
    counts = []
    for phase in range(8):
        lo = (phase * 997) % 7000
        _hot_block(mem, idx, data, lo, lo + 800)
        for _ in range(20):  # 2 s per phase, checked at every aggregation
            ctx.run_until(ctx.now_us + 100_000)
            counts.append(ctx.nr_regions())
    counts = np.array(counts[5:])  # after the first half second of adaptation
    assert counts.min() >= 10 and counts.max() <= 60
    assert counts.max() > counts.min()  # regions really adapt


def test_hot_block_is_found_and_cold_memory_is_not():
    mem, idx, ctx, (ds, de) = _vaddr_sim(None, pages=8192)
    _hot_block(mem, idx, (ds, de), 3000, 3800)
    ctx.run_until(3_000_000)
    hot_lo, hot_hi = ds + 3000 * 4096, ds + 3800 * 4096
    snaps = []
    ctx.aggregation_callbacks.append(lambda c: snaps.append(c.snapshot()[0]))
    ctx.run_until(4_000_000)
    s = snaps[-1]
    acc = s["nr_accesses"] >= 10
    covered = sum(min(e, hot_hi) - max(b, hot_lo) for b, e, a in zip(s["start"], s["end"], acc)
                  if a and e > hot_lo and b < hot_hi)
    reported = int(((s["end"] - s["start"]) * acc).sum())
    assert covered >= 0.9 * (hot_hi - hot_lo)
    assert reported <= 2.0 * (hot_hi - hot_lo)


def test_same_seed_same_regions_different_seed_differs():
    def run(seed):
        mem, idx, ctx, d = _vaddr_sim(None, seed=seed)
        _hot_block(mem, idx, d, 100, 900)
        ctx.run_until(2_000_000)
        s = ctx.snapshot()[0]
        return np.concatenate([s["start"], s["nr_accesses"], s["age"]])

    a, b, c = run(3), run(3), run(4)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_age_grows_on_stable_regions_and_resets_when_access_changes():
    mem, idx, ctx, d = _vaddr_sim(None)
    _hot_block(mem, idx, d, 0, 4096, rate=0.0)
    ctx.run_until(3_000_000)
    assert ctx.targets[0].regions.age.min() >= 10  # idle memory: ages grow every aggregation
    _hot_block(mem, idx, d, 0, 4096, rate=1000.0)
    ctx.run_until(3_200_000)
    r = ctx.targets[0].regions
    ds, de = d
    inside = (r.start >= ds) & (r.end <= de)
    assert r.age[inside].max() <= 2


def test_set_attrs_rescales_counters_and_rebases_aggregation():
    mem, idx, ctx, d = _vaddr_sim(None)
    _hot_block(mem, idx, d, 0, 4096)
    ctx.run_until(1_000_000)  # exactly at an aggregation boundary: not aggregating
    r = ctx.targets[0].regions
    ctx.run_until(1_050_000)  # mid-window: aggregating
    last = r.last_nr_accesses.copy()
    age = r.age.copy()
    ctx.set_attrs(Attrs(10000, 200000, 1_000_000, 10, 1000))
    assert np.array_equal(r.nr_accesses, np.zeros_like(last))
    assert np.array_equal(r.last_nr_accesses, last * 10000 // 20 * 20 // 10000)
    assert np.array_equal(r.age, age * 100000 // 200000)
    assert ctx.next_aggregation_sis == ctx.passed_sample_intervals + 20


def test_intervals_auto_tuning_moves_sampling_toward_goal():
    goal = IntervalsGoal(access_bp=400, aggrs=3, min_sample_us=5000, max_sample_us=10_000_000)
    # idle memory: observed access ratio 0 < 4 %, so sampling intervals grow
    mem, idx, ctx, d = _vaddr_sim(None, attrs=Attrs(5000, 100000, 1_000_000, 10, 1000, goal))
    _hot_block(mem, idx, d, 0, 1, rate=0.0)
    ctx.run_until(5_000_000)
    assert ctx.attrs.sample_interval > 5000
    assert ctx.attrs.aggr_interval == ctx.attrs.sample_interval * 20
    # everything hot: ratio 100 % > 4 %, so intervals shrink back to the minimum
    _hot_block(mem, idx, d, 0, 8192, rate=1e6)
    ctx.run_until(ctx.now_us + 60_000_000)
    assert ctx.attrs.sample_interval == 5000


def test_paddr_sees_pages_where_they_live_and_follows_migration():
    mem = MemorySystem(load_topology("tiny"), page_size=4096)
    data = (0x7F00_0000_0000, 0x7F00_0000_0000 + 4096 * 4096)
    idx = mem.add_process(1, [data])
    mem.allocate(idx, np.arange(4096), LocalPolicy())
    rates = np.zeros(4096)
    rates[:1024] = 1000.0
    mem.set_rates(idx, rates)
    t = Target()
    t.regions.set_ranges([mem.node_phys_range(0), mem.node_phys_range(1)])
    ctx = Context(PaddrOps(mem), Attrs(5000, 100000, 1_000_000, 10, 1000), [t],
                  rng=np.random.default_rng(0))
    ctx.run_until(2_000_000)

    def accessed_bytes_on(node):
        s, e = mem.node_phys_range(node)
        r = ctx.targets[0].regions
        sel = (r.start >= s) & (r.end <= e) & (r.last_nr_accesses >= 10)
        return int((r.end - r.start)[sel].sum())

    assert accessed_bytes_on(0) >= 0.9 * 1024 * 4096 and accessed_bytes_on(1) == 0
    mem.migrate_pages(idx, np.arange(1024), 1, ctx.now_us)
    ctx.run_until(5_000_000)
    assert accessed_bytes_on(1) >= 0.9 * 1024 * 4096
    assert accessed_bytes_on(0) <= 0.1 * 1024 * 4096
