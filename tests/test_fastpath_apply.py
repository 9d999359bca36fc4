"""The fused DAMOS apply (damos.fused, issue 11) against the general path it replaces for the
common configuration: randomized schemes, quotas (size, time, goals, none), core filters,
kernel rules, byte scales and region histories played twice -- fused and with the general path
forced (``DamosEngine.fused = False``) -- give the same regions, stats, quota state, page
placement, churn and change log after every apply; so do env episodes; and the comparison
notices a different seed or quota."""

from __future__ import annotations

import numpy as np
import pytest

import damon_gym  # noqa: F401  (registers the environments)
from damon_gym.damon.attrs import Attrs
from damon_gym.damon.core import Context, Target
from damon_gym.damon.ops import VaddrOps
from damon_gym.damos import fused
from damon_gym.damos.engine import DamosEngine
from damon_gym.damos.filters import Filter
from damon_gym.damos.goals import QuotaGoal
from damon_gym.damos.quota import KERNELS, KernelRules
from damon_gym.damos.scheme import AccessPattern, Quota, Scheme
from damon_gym.memory.placement import InterleavePolicy
from damon_gym.memory.system import MemorySystem
from damon_gym.memory.topology import load_topology

BASE = 0x7F00_0000_0000
PS = 4096
VMAS = [(BASE, BASE + 300 * PS), (BASE + 400 * PS, BASE + 650 * PS),
        (BASE + 900 * PS, BASE + 1000 * PS)]


def _memory_state(mem):
    procs = [(p.vpage_frame.tolist(), p.vpage_node.tolist(), p.vpage_prev_node.tolist(),
              p.vpage_last_move_us.tolist()) for p in mem.procs]
    log = mem._log
    return (mem.frame_proc.tolist(), mem.frame_vpage.tolist(), mem._free.stack.tolist(),
            mem._free.count.tolist(), mem.used_frames.tolist(), mem.churn.tolist(),
            mem.pingpong_bytes, mem.migration_failures, mem.total_moved_bytes,
            mem.total_pingpong_bytes, mem._mig.nr_folios, mem.placement_version, log.epoch,
            log._buf[:log.length].tolist(), procs)


def _scheme_state(eng, s):
    st = s.qstate
    q = (st.esz, st.esz_bp, st.charged_sz, st.charged_from_us, st.first_window_done,
         st.total_charged_sz, st.total_charged_ns, st.charge_target_from, st.charge_addr_from,
         st.min_score, st.histogram.tolist())
    return q, vars(s.stats).copy(), s.next_apply_sis, eng.kdamond_ns


def _random_scheme(rng, scale, quota_kind=None):
    nodes = [0, 1, 1, 0, 7]  # 7: not a node (its folios are not migrated)
    dests = [(int(rng.choice(nodes)), int(rng.integers(0, 30)))
             for _ in range(int(rng.integers(1, 4)))]
    kind = int(rng.integers(0, 6))
    kind = kind if quota_kind is None else quota_kind
    # whole simulated pages (a quota the walk can fill exactly), or a few bytes more
    sz = int(round(int(rng.integers(1, 100)) * PS * scale)) + int(rng.choice([0, 0, 0, 1000]))
    reset = int(rng.choice([0, 1000, 2000]))
    goals = []
    if kind in (3, 4):
        goals = [QuotaGoal("user_input", target_value=10000,
                           current_value=int(rng.integers(0, 12000)))]
    if kind == 5:
        goals = [QuotaGoal("node_mem_used_bp", target_value=int(rng.integers(2000, 9000)),
                           nid=int(rng.integers(0, 2)))]
    quota = [Quota(), Quota(sz=sz, reset_interval_ms=reset), Quota(ms=int(rng.integers(1, 4)),
                                                                  reset_interval_ms=reset),
             Quota(sz=sz, reset_interval_ms=reset, goals=goals),
             Quota(reset_interval_ms=reset, goals=goals),
             Quota(sz=sz * 4, reset_interval_ms=reset, goals=goals,
                   goal_tuner=str(rng.choice(["consist", "temporal"])))][kind]
    quota.weight_nr_accesses = int(rng.integers(0, 4))
    quota.weight_age = int(rng.integers(0, 4))
    pattern = AccessPattern(min_sz=int(rng.choice([0, 2 * PS])),
                            max_sz=int(rng.choice([2**64 - 1, 2**64 - 1, 120 * PS])),
                            min_nr_accesses=int(rng.integers(0, 9)),
                            max_nr_accesses=int(rng.choice([2**64 - 1, 15])),
                            min_age=int(rng.integers(0, 2)))
    lo = BASE + int(rng.integers(0, 500)) * PS + int(rng.choice([0, 100]))
    filters = [[], [Filter("addr", addr_range=(lo, lo + int(rng.integers(1, 400)) * PS),
                           allow=bool(rng.integers(0, 2)), matching=bool(rng.integers(0, 2)))],
               [Filter("target", target_idx=int(rng.integers(0, 2)), allow=False)],
               [Filter("addr", addr_range=(lo, lo + 300 * PS), allow=True),
                Filter("target", target_idx=0, allow=False)],
               [Filter("addr", addr_range=(a + 7 * PS + 5, a + 90 * PS), allow=False)
                for a, _ in VMAS]][int(rng.integers(0, 5))]
    return Scheme(str(rng.choice(["migrate_hot", "migrate_cold"])), pattern, quota=quota,
                  dests=dests, filters=filters,
                  max_nr_snapshots=int(rng.choice([0, 0, 0, 9])))


def _random_regions(rng, t):
    bounds = set()
    for a, b in VMAS:
        bounds.update({a, b})
        bounds.update(int(x) for x in a + rng.integers(1, (b - a) // PS, 4) * PS)
    pts = sorted(bounds)
    t.regions.set_ranges(zip(pts[:-1], pts[1:], strict=True))


def play(seed: int, use_fused: bool, applies: int = 30, *, quota_sz: int | None = None,
         kernel: str | None = None, quota_kind: int | None = None):
    """One randomized scenario (``seed``) applied ``applies`` times; the state after every
    apply (and how many applies took the fused path)."""
    rng = np.random.default_rng(seed)
    mem = MemorySystem(load_topology("tiny").scaled(1 / 128), page_size=PS)
    idx = mem.add_process(1, VMAS)
    npages = sum((b - a) // PS for a, b in VMAS)
    mem.allocate(idx, np.flatnonzero(rng.random(npages) < 0.8), InterleavePolicy([0, 1]))
    t = Target(pid=1, proc_idx=idx)
    _random_regions(rng, t)
    ctx = Context(VaddrOps(mem), Attrs(5000, 100000, 1_000_000, 3, 1000), [t],
                  rng=np.random.default_rng(0))
    scale = float(rng.choice([1.0, 1024.0, 3.5]))
    s = _random_scheme(rng, scale, quota_kind)
    if quota_sz is not None:
        s.quota.sz = quota_sz
    drawn = rng.choice([None, *KERNELS])
    kernel = kernel or (None if drawn is None else str(drawn))
    eng = DamosEngine(mem, [s], byte_scale=scale, kernel=KernelRules.of(kernel))
    eng.fused = use_fused
    ctx.schemes = eng
    ctx.start(0)
    calls = []
    real = fused.apply_scheme

    def counted(*a):
        calls.append(1)
        return real(*a)

    out = []
    fused.apply_scheme = counted
    try:
        for _ in range(applies):
            ctx.now_us += int(rng.choice([100_000, 1_000_000, 2_500_000]))
            if rng.random() < 0.15:
                _random_regions(rng, t)
            r = t.regions
            r.nr_accesses[:] = rng.integers(0, 21, r.n)
            r.nr_accesses_bp[:] = r.nr_accesses * 10000 + rng.integers(-5000, 5000, r.n)
            r.age[:] = rng.integers(0, 60, r.n)
            if rng.random() < 0.2:
                s.dests = [(d, int(rng.integers(0, 30))) for d, _ in s.dests]
            s.next_apply_sis = 0
            eng.apply(ctx)
            out.append((r.raw[:, :r.n].tolist(), _scheme_state(eng, s), _memory_state(mem)))
    finally:
        fused.apply_scheme = real
    taken = len(calls)
    mem.check_invariants()
    return out, taken


@pytest.mark.parametrize("seed", range(40))
def test_fused_apply_equals_the_general_path(seed):
    a, taken_a = play(seed, True)
    b, taken_b = play(seed, False)
    assert taken_b == 0 and taken_a > 0
    for step, (x, y) in enumerate(zip(a, b, strict=True)):
        assert x == y, f"seed {seed}: apply {step} differs"


@pytest.mark.parametrize("kernel", KERNELS)
def test_fused_apply_follows_each_kernels_quota_rules(kernel):
    """Goal quotas (kinds 3-5: the first window, zero and sub-page esz) under each kernel's
    rules, fused and general."""
    for seed, kind in zip(range(100, 106), (3, 4, 5, 3, 4, 5), strict=True):
        a, taken = play(seed, True, kernel=kernel, quota_kind=kind)
        assert taken > 0, f"seed {seed}"
        assert a == play(seed, False, kernel=kernel, quota_kind=kind)[0], f"seed {seed}"


def test_an_esz_beyond_int64_takes_the_general_path(monkeypatch):
    """A goal quota whose esz does not fit int64 (min_score in Python integers): the fused
    path declines after the window's roll-over and the general one finishes the apply, as
    the forced general path does; dests given as lists work too."""
    answers: list[bool] = []
    real = fused.apply_scheme
    monkeypatch.setattr(fused, "apply_scheme", lambda *a: answers.append(real(*a)) or answers[-1])
    outs = []
    for use_fused in (True, False):
        rng = np.random.default_rng(1)
        mem = MemorySystem(load_topology("tiny").scaled(1 / 128), page_size=PS)
        idx = mem.add_process(1, VMAS)
        mem.allocate(idx, np.arange(300), InterleavePolicy([0, 1]))
        t = Target(pid=1, proc_idx=idx)
        _random_regions(rng, t)
        t.regions.nr_accesses[:] = 5
        t.regions.nr_accesses_bp[:] = 50000
        ctx = Context(VaddrOps(mem), Attrs(5000, 100000, 1_000_000, 3, 1000), [t],
                      rng=np.random.default_rng(0))
        s = Scheme("migrate_hot", AccessPattern(min_nr_accesses=1), dests=[[0, 1], [1, 3]],
                   quota=Quota(reset_interval_ms=10**9, goals=[QuotaGoal("user_input", 100)]))
        eng = DamosEngine(mem, [s])
        eng.fused = use_fused
        ctx.schemes = eng
        ctx.start(0)
        states = []
        for step in range(3):
            ctx.now_us += 1_000_000
            if step == 1:
                s.qstate.esz = 2**63 + 5
            s.next_apply_sis = 0
            eng.apply(ctx)
            states.append((t.regions.raw[:, :t.regions.n].tolist(), _scheme_state(eng, s),
                           _memory_state(mem)))
        outs.append(states)
    assert outs[0] == outs[1]
    assert outs[0][-1][1][1]["nr_applied"] > 0
    assert answers == [True, False, False]  # fused, then declined; none when forced off


def test_the_scenarios_reach_the_walks_corners():
    """Across the seeds: migrations, full quotas (the charge marker), quota windows that
    ended full, zero-size tries and every kernel's rules."""
    moved = marker = exceeds = tried_more = 0
    for seed in range(40):
        out, _ = play(seed, True)
        q, stats, _, _ = out[-1][1]
        moved += out[-1][2][8] > 0
        marker += any(o[1][0][7] is not None for o in out)
        exceeds += stats["qt_exceeds"] > 0
        tried_more += stats["nr_tried"] > stats["nr_applied"]
    assert moved > 10 and marker > 3 and exceeds > 3 and tried_more > 3


def test_the_comparison_notices_a_different_seed_or_quota():
    a, _ = play(3, True)
    assert a != play(4, False)[0]
    seeds = [sd for sd in range(12) if play(sd, True)[0][-1][1][0][0]]  # a quota in force
    assert any(play(sd, True, quota_sz=PS * 7)[0] != play(sd, False)[0] for sd in seeds)


@pytest.mark.parametrize("env_id", ["DamonGym/Interleave-v0", "DamonGym/Joint-v0"])
def test_fused_apply_gives_the_same_episodes(env_id):
    import gymnasium as gym

    from damon_gym.online import damos_engine

    out = []
    for use_fused in (True, False):
        env = gym.make(env_id)
        env.reset(seed=5)
        for b in env.unwrapped.sim.bindings:
            damos_engine(b.context).fused = use_fused
        env.action_space.seed(5)
        trace = []
        for _ in range(30):
            obs, rew, term, trunc, info = env.step(env.action_space.sample())
            trace.append((obs.tolist(), rew, info["migrated_bytes"], info["pingpong_bytes"]))
            if term or trunc:
                env.reset()
        sim = env.unwrapped.sim
        sim.memory.check_invariants()
        regions = [[t.regions.raw[:, :t.regions.n].tolist() for t in b.context.targets]
                   for b in sim.bindings]
        out.append((trace, sim.stats()["contexts"], regions, _memory_state(sim.memory)))
    assert out[0] == out[1]
    assert sum(t[2] for t in out[0][0]) > 0
