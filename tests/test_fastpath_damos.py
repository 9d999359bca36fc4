"""The numba DAMOS and memory kernels against their numpy forms: the vaddr dests folio walk,
the migration engine, pattern/score/histogram, per-node rate sums, the hotness features and
the hotness curve cache -- exactly equal results and state."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import damon_gym  # noqa: F401  (registers the environments)
from damon_gym.damon.attrs import Attrs, max_nr_accesses
from damon_gym.damos import actions
from damon_gym.damos.quota import hot_score, hot_scores, min_score_for_quota
from damon_gym.damos.scheme import AccessPattern
from damon_gym.damos.scoring import min_score_of, pattern_limits, pattern_scores
from damon_gym.memory.placement import InterleavePolicy
from damon_gym.memory.system import MemorySystem
from damon_gym.memory.topology import load_topology
from damon_gym.perf.hotness import HotnessCurve

BASE = 0x7F00_0000_0000


def _memory_state(mem):
    procs = [(p.vpage_frame.copy(), p.vpage_node.copy(), p.vpage_prev_node.copy(),
              p.vpage_last_move_us.copy()) for p in mem.procs]
    return (mem.frame_proc.copy(), mem.frame_vpage.copy(), mem._free.stack.copy(),
            mem._free.count.copy(), mem.used_frames.copy(), mem.churn.copy(),
            mem.pingpong_bytes, mem.migration_failures, mem.total_moved_bytes,
            mem.placement_version, mem._log.epoch, mem._log.length, procs)


def _same(a, b):
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return np.array_equal(a, b)


@given(st.integers(0, 2**31), st.sampled_from([4096, 2 << 20]))
@settings(max_examples=25, deadline=None)
def test_numba_migration_equals_the_numpy_migration(seed, page_size):
    """Random migrations (vaddr page groups, single pages, frames of several processes,
    destinations that fill up) leave both memory systems in the same state."""
    npg = 600 if page_size == 4096 else 150
    systems = []
    for fast in (True, False):
        # small nodes (512 or 128 frames) so that destinations fill up and migrations fail
        topo = load_topology("tiny").scaled(1 / 128) if page_size == 4096 else load_topology("tiny")
        mem = MemorySystem(topo, page_size=page_size)
        mem.fast_migration = fast
        for pid in (1, 2):
            idx = mem.add_process(pid, [(BASE * pid, BASE * pid + npg * page_size)])
            mem.allocate(idx, np.arange(0, npg, pid), InterleavePolicy([0, 1]))
        systems.append(mem)
    r = [np.random.default_rng(seed + 1), np.random.default_rng(seed + 1)]
    for step in range(12):
        results = []
        for mem, g in zip(systems, r, strict=True):
            kind = step % 3
            now = step * 1_500_000
            if kind == 0:  # grouped pages of one process, ascending per group
                pages = np.sort(g.choice(npg, g.integers(1, npg * 2 // 3), replace=False))
                dest = g.integers(0, 2, pages.shape[0])
                order = np.argsort(dest, kind="stable")
                offs = np.concatenate([[0], np.cumsum(np.bincount(dest, minlength=2))])
                res = mem.migrate_page_groups(0, pages[order], offs, now)
            elif kind == 1:
                res = [mem.migrate_pages(1, g.choice(npg, npg // 3), int(g.integers(0, 2)), now)]
            else:
                owned = np.flatnonzero(mem.frame_proc >= 0)
                res = [mem.migrate_frames(g.choice(owned, npg // 2), int(g.integers(0, 2)), now)]
            results.append([None if x is None else (x.nr_moved, x.nr_failed_capacity,
                                                    x.nr_already_there, x.nr_not_present,
                                                    x.pingpong_bytes, x.bytes_by_src.tolist())
                            for x in res])
        assert results[0] == results[1]
        assert _same(_memory_state(systems[0]), _memory_state(systems[1]))
    for mem in systems:
        mem.check_invariants()
    assert systems[0].total_moved_bytes > 0
    assert systems[0].migration_failures > 0 or systems[0].total_pingpong_bytes > 0
    assert systems[0].node_rate_sums().tolist() == systems[1].node_rate_sums().tolist()


@pytest.mark.parametrize("env_id", ["DamonGym/Interleave-v0", "DamonGym/Joint-v0"])
def test_numba_dests_walk_equals_the_numpy_walk(env_id, monkeypatch):
    """Random weights and quotas every step: the numba walk + grouped migration and the
    numpy walk + one migration per node give the same rollout, stats and memory state."""
    import gymnasium as gym

    from damon_gym.online import damos_engine

    numba_walks = []
    real = actions._apply_vaddr_dests

    def counted(*a, **k):
        if numba_walks:
            numba_walks[-1] += 1
        return real(*a, **k)

    monkeypatch.setattr(actions, "_apply_vaddr_dests", counted)
    out = []
    for fast in (True, False):
        env = gym.make(env_id)
        env.reset(seed=4)
        env.unwrapped.sim.memory.fast_migration = fast
        for b in env.unwrapped.sim.bindings:
            damos_engine(b.context).reference_walk = not fast
        numba_walks.append(0)  # counted from here: the reset's step ran before the switch
        env.action_space.seed(4)
        trace = []
        for _ in range(25):
            obs, rew, _, _, info = env.step(env.action_space.sample())
            trace.append((obs.tolist(), rew, info["migrated_bytes"], info["pingpong_bytes"]))
        sim = env.unwrapped.sim
        sim.memory.check_invariants()
        out.append((trace, sim.stats()["contexts"], _memory_state(sim.memory)))
    assert out[0][0] == out[1][0] and out[0][1] == out[1][1]
    assert _same(out[0][2], out[1][2])
    assert sum(t[2] for t in out[0][0]) > 0
    # each run took its own walk (the numba one at nearly every step: a step whose quota is
    # already full below a page, v7.2's rule, walks nothing)
    assert numba_walks[0] >= 20 and numba_walks[1] == 0


@given(st.integers(0, 2**31))
@settings(max_examples=40, deadline=None)
def test_pattern_scores_equal_the_numpy_pattern_and_scores(seed):
    rng = np.random.default_rng(seed)
    n = 200
    start = np.sort(rng.integers(0, 1 << 40, n))
    end = start + rng.integers(1, 1 << 30, n)
    nr = rng.integers(0, 21, n)
    bp = rng.integers(-5000, 210000, n)
    age = rng.integers(0, 1 << int(rng.integers(1, 36)), n)
    attrs = Attrs(int(rng.integers(1000, 10000)), 100000 * int(rng.integers(1, 30)), 1_000_000,
                  10, 1000)
    p = AccessPattern(min_sz=int(rng.integers(0, 1 << 20)),
                      max_sz=int(rng.choice([2**64 - 1, 1 << 29])),
                      min_nr_accesses=int(rng.integers(0, 5)),
                      max_nr_accesses=int(rng.choice([2**64 - 1, 15])),
                      min_age=int(rng.integers(0, 3)), max_age=int(rng.choice([2**64 - 1, 100])))
    wn, wa = int(rng.integers(0, 5)), int(rng.integers(0, 5))
    ok, sc = np.empty(n, bool), np.empty(n, np.int64)
    for kind, want in ((1, hot_scores(nr, age, attrs, wn, wa)),
                       (2, 99 - hot_scores(nr, age, attrs, wn, wa)), (0, np.full(n, 99))):
        pattern_scores(start, end, bp, nr, age, pattern_limits(p), kind,
                       max(max_nr_accesses(attrs), 1), attrs.aggr_interval, wn, wa, True, ok, sc)
        assert np.array_equal(sc, want)
    sz, nrp = end - start, bp // 10000
    assert np.array_equal(ok, (sz >= p.min_sz) & (sz <= p.max_sz) & (nrp >= p.min_nr_accesses)
                          & (nrp <= p.max_nr_accesses) & (age >= p.min_age) & (age <= p.max_age))
    for i in range(0, n, 23):
        pattern_scores(start, end, bp, nr, age, pattern_limits(p), 1,
                       max(max_nr_accesses(attrs), 1), attrs.aggr_interval, wn, wa, True, ok, sc)
        assert sc[i] == hot_score(int(nr[i]), int(age[i]), attrs, wn, wa)
    hist = np.zeros(100, np.int64)
    hist[rng.integers(0, 100, 5)] = rng.integers(0, 1 << 30, 5)
    for esz in (0, 1, int(rng.integers(1, 1 << 32)), 2**62):
        assert min_score_of(hist, esz) == min_score_for_quota(hist, esz)
    assert min_score_of(np.zeros(100, np.int64), 5) == min_score_for_quota([0] * 100, 5)


def test_node_rate_sums_and_hotness_cache_equal_their_definitions():
    from damon_gym.scenario import load_scenario
    from damon_gym.simulation import Simulation

    sim = Simulation(load_scenario("default"), 0)
    for _ in range(3):
        sim.run(5.0)
        mem = sim.memory
        want = np.zeros(mem.nr_nodes)
        for proc in mem.procs:
            if proc.alive:
                m = proc.vpage_frame >= 0
                want += np.bincount(mem.frame_node[proc.vpage_frame[m]],
                                    weights=proc.vpage_rate[m], minlength=mem.nr_nodes)
        assert mem.node_rate_sums().tolist() == want.tolist()
        got = sim.hotness()
        ref = HotnessCurve.from_memory(mem)
        assert got.key == ref.key and np.array_equal(got.cum_share, ref.cum_share)


def test_fast_hotness_features_equal_the_numpy_reference(monkeypatch):
    import gymnasium as gym

    from damon_gym.envs import observe

    env = gym.make("DamonGym/Joint-v0")
    env.reset(seed=1)
    for _ in range(6):
        env.step(env.action_space.sample())
        e = env.unwrapped
        hot_a, bands_a = observe.hotness_by_node(e)
        obs_a = observe.observation(e)
        hot_b, bands_b = observe.hotness_by_node(e, reference=True)
        obs_b = observe.observation(e, reference=True)
        assert np.allclose(hot_a, hot_b, rtol=1e-12, atol=0)
        assert np.allclose(bands_a, bands_b, rtol=1e-12, atol=0)
        assert np.array_equal(obs_a, obs_b)


def test_a_replayed_episode_needs_no_curve_and_no_solve_after_its_curves_were_evicted():
    """A training run meets its suite's episodes again long after their hotness curves left
    the process's 256-curve cache: the curve's key, remembered by the rates' digest, answers
    the X* cache, so the replay builds no curve and solves no X*, and plays bit for bit as
    the first time."""
    import hashlib

    import gymnasium as gym

    import damon_gym.simulation as simulation
    from damon_gym.perf.hotness import LazyHotnessCurve

    env = gym.make("DamonGym/Interleave-v0", horizon=60)

    def play():
        h = hashlib.sha256()
        obs, _ = env.reset(seed=5)
        env.action_space.seed(5)
        curves, solved = [], 0
        for _ in range(60):
            obs, r, te, tr, info = env.step(env.action_space.sample())
            h.update(obs.tobytes() + np.float64(r).tobytes() + np.float64(info["X_star"]).tobytes())
            curves.append(env.unwrapped.sim._hotness)
            if te or tr:
                break
        perf = env.unwrapped.sim.perf
        solved = perf.optimum_solves - perf.shared_hits
        return h.hexdigest(), curves, solved

    # a fresh process's caches: another test of this worker may have played this episode
    from damon_gym.perf import performance

    for cache in (simulation._HOTNESS, simulation._CURVE_KEYS, performance._SHARED_OPT,
                  performance._SHARED_H):
        cache.clear()
    first, curves1, solved1 = play()
    assert solved1 > 0 and not any(isinstance(c, LazyHotnessCurve) for c in curves1)
    simulation._HOTNESS.clear()  # evicted
    again, curves2, solved2 = play()
    assert again == first
    lazy = [c for c in curves2 if isinstance(c, LazyHotnessCurve)]
    assert lazy and len(lazy) == len(curves2)
    assert solved2 == 0 and not any(c.built for c in lazy)
    # the points, when asked for, are the curve's
    assert np.array_equal(lazy[-1].cum_share, curves1[-1].cum_share)
    assert lazy[-1].key == curves1[-1].key
