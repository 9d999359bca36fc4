"""The fused monitoring path (damon.windows / damon.fastpath) against the step-by-step loop.

Both paths draw the same random numbers in the same order (binomial_batch is the per-region
inversion in lock-step; the split draws integers(1, 10, size=(n, subs - 1)) as the loop always
did), so for one seed they must give identical regions, counters and ages -- not only the same
distribution."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

from damon_gym.damon import kernels, windows
from damon_gym.damon.attrs import Attrs, IntervalsGoal
from damon_gym.damon.core import Context, Target
from damon_gym.damon.ops import PaddrOps, VaddrOps
from damon_gym.damon.regions import RegionArrays
from damon_gym.damon.rng_pointers import generator, pointers
from damon_gym.damos.engine import DamosEngine
from damon_gym.damos.scheme import AccessPattern, Quota, Scheme
from damon_gym.formats.params import load_damon_params
from damon_gym.memory.placement import LocalPolicy
from damon_gym.memory.system import MemorySystem
from damon_gym.memory.topology import load_topology
from damon_gym.simulation import Simulation

BASE = 0x7F00_0000_0000
PAGE = 4096


def _binomial_reference(rng, n, p, out):
    """The per-region inversion the fast sampler used before binomial_batch."""
    for i in range(p.shape[0]):
        out[i] = kernels.binomial_inversion(rng, n, p[i])


@pytest.mark.parametrize("n", [0, 1, 5, 20, 60, 61, 400])
def test_binomial_batch_draws_what_the_per_region_inversion_draws(n):
    rng = np.random.default_rng(n)
    p = np.concatenate([[0.0, 1.0, 0.5, 1e-12, 1 - 1e-12], rng.random(3000),
                        rng.random(200) ** 8, 1 - rng.random(200) ** 8])
    a, b = np.empty(p.shape[0], np.int64), np.empty(p.shape[0], np.int64)
    ra, rb = np.random.default_rng(7), np.random.default_rng(7)
    kernels.binomial_batch(ra, n, p, p.shape[0], a, np.empty((4, p.shape[0])))
    _binomial_reference(rb, n, p, b)
    assert np.array_equal(a, b)
    assert ra.random() == rb.random()  # and consumed the same uniforms


@given(st.integers(1, 60), st.integers(2, 3), st.integers(0, 2**31))
@settings(max_examples=60, deadline=None)
def test_split_draws_the_integers_the_loop_drew(n, subs, seed):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 40, n) * PAGE
    start = BASE + np.concatenate([[0], np.cumsum(sizes)[:-1]])
    ra = RegionArrays.from_regions([])
    ra.reserve(n)
    ra.raw[0, :n], ra.raw[1, :n] = start, start + sizes
    ra.raw[2:, :n] = rng.integers(0, 20, (4, n))
    ra.n = n
    d = ra.raw
    r1, r2 = np.random.default_rng(seed + 1), np.random.default_rng(seed + 1)
    out1, out2 = np.empty((6, n * subs), np.int64), np.empty((6, n * subs), np.int64)
    k1 = windows.split_regions_rng(r1, d[0], d[1], d[2], d[3], d[4], d[5], n, subs, PAGE, out1)
    rand = r2.integers(1, 10, size=(n, subs - 1))
    k2 = kernels.split_regions_of(d[0], d[1], d[2], d[3], d[4], d[5], n, subs, PAGE, rand, out2)
    assert k1 == k2 and np.array_equal(out1[:, :k1], out2[:, :k2])
    assert r1.random() == r2.random()


def _machine(page_size=PAGE, pages=6000, seed=0):
    mem = MemorySystem(load_topology("tiny"), page_size=page_size)
    heap = (0x5555_5540_0000, 0x5555_5540_0000 + 16 * page_size)
    data = (BASE, BASE + pages * page_size)
    gap2 = (BASE + (pages + 300) * page_size, BASE + (pages + 900) * page_size)
    stack = (0x7FFC_0000_0000, 0x7FFC_0000_0000 + 16 * page_size)
    idx = mem.add_process(1, [heap, data, gap2, stack])
    pm = mem.procs[idx]
    mem.allocate(idx, np.arange(pm.nr_pages - 50), LocalPolicy())  # a few never touched
    rng = np.random.default_rng(seed)
    rates = np.zeros(pm.nr_pages)
    rates[100:900] = 1000.0
    rates[2000:4500] = rng.choice([0.0, 5.0, 40.0, 400.0], 2500)
    rates[pm.nr_pages - 400:] = 2e5
    mem.set_rates(idx, rates)
    return mem, idx


def _vaddr_ctx(fused, seed=0, attrs=None, era="B", schemes=None):
    mem, idx = _machine(seed=seed)
    attrs = attrs or Attrs(5000, 100000, 1_000_000, 10, 400)
    ctx = Context(VaddrOps(mem), attrs, [Target(pid=1, proc_idx=idx)],
                  rng=np.random.default_rng(seed), era=era)
    if schemes is not None:
        ctx.schemes = DamosEngine(mem, schemes)
    ctx.fused = fused
    return ctx


def _paddr_ctx(fused, seed=0):
    mem, _ = _machine(seed=seed)
    t = Target()
    t.regions.set_ranges([mem.node_phys_range(0), mem.node_phys_range(1)])
    ctx = Context(PaddrOps(mem), Attrs(5000, 100000, 1_000_000, 10, 400), [t],
                  rng=np.random.default_rng(seed))
    ctx.fused = fused
    return ctx


def _state(ctx):
    s = ctx.snapshot()[0]
    return (s["start"].tolist(), s["end"].tolist(), s["nr_accesses"].tolist(),
            s["last_nr_accesses"].tolist(), s["age"].tolist(), ctx.now_us,
            ctx.passed_sample_intervals, ctx.nr_aggregations, ctx.last_aggregation_us,
            ctx.sz_limit, ctx.last_nr_regions, ctx.targets[0].regions.nr_accesses_bp.tolist())


def _hot_scheme():
    return Scheme("migrate_hot", AccessPattern(min_nr_accesses=2), target_nid=1,
                  quota=Quota(sz=8 << 20, reset_interval_ms=1000, weight_nr_accesses=1,
                              weight_age=1), apply_interval_us=700_000)


@pytest.mark.parametrize("make", [
    lambda f: _vaddr_ctx(f),
    lambda f: _vaddr_ctx(f, seed=3, era="N"),
    lambda f: _paddr_ctx(f),
    lambda f: _vaddr_ctx(f, attrs=Attrs(5000, 100000, 1_000_000, 10, 1000, IntervalsGoal(
        access_bp=400, aggrs=3, min_sample_us=2000, max_sample_us=20000))),
    lambda f: _vaddr_ctx(f, schemes=[_hot_scheme()]),
], ids=["vaddr", "vaddr-era-N", "paddr", "intervals-tuning", "scheme-every-700ms"])
def test_fused_windows_equal_the_step_by_step_loop_exactly(make):
    a, b = make(True), make(False)
    for t_us in (55_000, 100_000, 1_000_000, 1_234_567, 3_000_000, 6_500_000):
        a.run_until(t_us)
        b.run_until(t_us)
        assert _state(a) == _state(b), t_us
        if a.schemes is not None:
            assert vars(a.schemes.schemes[0].stats) == vars(b.schemes.schemes[0].stats)
    assert a.nr_aggregations >= 30


def test_fused_windows_call_aggregation_callbacks_like_the_loop():
    seen = {True: [], False: []}
    for fused in (True, False):
        ctx = _vaddr_ctx(fused)
        ctx.aggregation_callbacks.append(
            lambda c, f=fused: seen[f].append((c.now_us, c.last_aggregation_us,
                                               c.targets[0].regions.nr_accesses.tolist())))
        ctx.run_until(2_000_000)
    assert len(seen[True]) == 20 and seen[True] == seen[False]


def test_fused_path_is_used_and_region_probabilities_match_the_ops():
    ctx = _vaddr_ctx(True)
    ctx.run_until(1_000_000)
    assert ctx.nr_aggregations == 10
    t = ctx.targets[0]
    for c in (ctx, _paddr_ctx(True)):
        t = c.targets[0]
        c.run_until(300_000)
        mode, prefix, p, vs, ve, vb, tree, values = c.ops.window_arrays(t, 5000)
        out = np.empty(t.regions.n)
        if mode == windows.MODE_VADDR:
            windows.vaddr_mean_ps(prefix, p, vs, ve, vb, c.ops.page_shift, t.regions.start,
                                  t.regions.end, t.regions.n, out)
        else:
            windows.paddr_mean_ps(tree, values, c.ops.page_shift, t.regions.start,
                                  t.regions.end, t.regions.n, out)
        assert np.array_equal(out, c.ops.region_mean_p(t, 5000))
        # and both equal the page average over every 64th byte of each region
        for i in range(0, t.regions.n, max(t.regions.n // 20, 1)):
            addrs = np.arange(t.regions.start[i], t.regions.end[i], 64)
            assert out[i] == pytest.approx(c.ops.page_p_at(t, addrs, 5000).mean(), abs=2e-3)


def _two_context_params():
    ctx = {"ops": "vaddr", "targets": [],
           "intervals": {"sample_us": "5 ms", "aggr_us": "100 ms", "ops_update_us": "1 s"},
           "nr_regions": {"min": 10, "max": 1000}}
    hot = dict(ctx, schemes=[{
        "action": "migrate_hot", "target_nid": 1, "dests": [],
        "access_pattern": {"sz_bytes": {"min": "0 B", "max": "max"},
                           "nr_accesses": {"min": "5 %", "max": "max"},
                           "age": {"min": "0 ns", "max": "max"}},
        "apply_interval_us": "1 s",
        "quotas": {"time_ms": "0 ns", "sz_bytes": "16 MiB", "reset_interval_ms": "1 s",
                   "goals": [], "goal_tuner": "consist",
                   "weights": {"sz_permil": 1, "nr_accesses_permil": 1, "age_permil": 1}},
        "filters": []}])
    watch = dict(ctx, ops="paddr", targets=[{"pid": None, "regions": []}], schemes=[])
    return load_damon_params({"kdamonds": [{"contexts": [hot]}, {"contexts": [watch]}]})


def test_simulation_with_two_contexts_is_the_same_fused_or_not(monkeypatch):
    """The second (paddr) context must sample its windows before the first one migrates pages
    at the 1 s boundary (the simulation runs every context up to just before a sync point first);
    the result is also what stepping the simulation at every context's every event gives."""
    from damon_gym.scenario import load_scenario

    runs = []
    for fused, every_event in ((True, False), (False, False), (False, True)):
        if every_event:
            monkeypatch.setattr(Context, "next_sync_us", Context.next_event_us)
        sim = Simulation(load_scenario("default"), 0, damon_params=_two_context_params())
        for b in sim.bindings:
            b.context.fused = fused
        snaps = []
        for _ in range(4):
            sim.run(1.0)
            snaps.append([(s["start"].tolist(), s["nr_accesses"].tolist(), s["age"].tolist())
                          for s in sim.snapshot()])
        runs.append((snaps, sim.memory.total_moved_bytes))
    assert runs[0] == runs[1] == runs[2]
    assert runs[0][1] > 0


# compiled once and cached on disk (module level: numba caches no closures); the compile is
# most of the check's cost
@njit(cache=True)
def _draws_by_pointers(ptrs, n):
    """Draws from a Generator rebuilt from its bit generator's pointers."""
    rng = generator(ptrs[0], ptrs[1], ptrs[2], ptrs[3])
    out = np.empty(n)
    for i in range(n):
        out[i] = rng.binomial(20, 0.3) + rng.random()
    return out, rng.integers(1, 10, size=(4, 2))


@njit(cache=True)
def _draws_by_object(rng, n):
    """The same draws from the Generator object numba is handed."""
    out = np.empty(n)
    for i in range(n):
        out[i] = rng.binomial(20, 0.3) + rng.random()
    return out, rng.integers(1, 10, size=(4, 2))


def test_generator_from_pointers_draws_the_generators_own_stream():
    """rng_pointers.generator rebuilds the context's Generator inside numba from its bit
    generator's C pointers: binomial, uniform and integer draws are the ones numba draws from
    the object itself, and the Python object's state advances by exactly the same draws."""
    by_pointers, by_object = _draws_by_pointers, _draws_by_object
    a, b = np.random.default_rng(5), np.random.default_rng(5)
    for n in (1, 50, 1000):
        x, xi = by_pointers(pointers(a), n)
        y, yi = by_object(b, n)
        assert np.array_equal(x, y) and np.array_equal(xi, yi)
        assert a.random() == b.random()  # the Python side continues the same stream
    c = np.random.default_rng(6)
    assert pointers(c) != pointers(a) and pointers(c) == pointers(c)
