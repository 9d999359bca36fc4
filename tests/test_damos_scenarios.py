"""DAMOS behaviour over time: the seed thread's scenarios (issue 3) and the kernel rules they
rely on, run through Simulation with damo-format parameters."""

from __future__ import annotations

import numpy as np
import pytest

from damon_gym.damos import engine as engine_mod
from damon_gym.formats.params import load_damon_params
from damon_gym.scenario import load_scenario
from damon_gym.simulation import Simulation

MiB = 1 << 20


def scheme(action="migrate_hot", *, nr=("0 %", "max"), age=("0 ns", "max"), apply="1 s",
           sz="0 B", reset="1 s", goals=(), tuner="consist", weights=(0, 1, 1), target_nid=None,
           dests=(), filters=(), ms="0 ns"):
    return {
        "action": action, "dests": [{"id": i, "weight": w} for i, w in dests],
        "target_nid": target_nid,
        "access_pattern": {"sz_bytes": {"min": "0 B", "max": "max"},
                           "nr_accesses": {"min": nr[0], "max": nr[1]},
                           "age": {"min": age[0], "max": age[1]}},
        "apply_interval_us": apply,
        "quotas": {"time_ms": ms, "sz_bytes": sz, "reset_interval_ms": reset, "goals": list(goals),
                   "goal_tuner": tuner,
                   "weights": {"sz_permil": weights[0], "nr_accesses_permil": weights[1],
                               "age_permil": weights[2]}},
        "filters": list(filters),
    }


def context(ops, schemes, *, regions=None, pid=None, nr=(10, 1000)):
    targets = [] if ops != "paddr" else [{"pid": None, "regions": regions or []}]
    if pid is not None:
        targets = [{"pid": pid, "regions": []}]
    return {"ops": ops, "targets": targets,
            "intervals": {"sample_us": "5 ms", "aggr_us": "100 ms", "ops_update_us": "1 s"},
            "nr_regions": {"min": nr[0], "max": nr[1]}, "schemes": schemes}


def params(*contexts):
    return load_damon_params({"kdamonds": [{"contexts": [c]} for c in contexts]})


def sim_with(workload: dict, p, *, seed=0, **scenario):
    sc = load_scenario("default", workload=workload, duration=1000, **scenario)
    return Simulation(sc, seed, damon_params=p)


def hot_block(size="64 MiB", hot_fraction=0.25, hot_prob=0.999, rate=5e6, **kw):
    return {"generator": "hot_cold", "params": {"size": size, "hot_fraction": hot_fraction,
                                                "hot_prob": hot_prob, "total_rate": rate,
                                                "contiguous": True, "duration_s": 1000, **kw}}


def moved_bytes(sim: Simulation, seconds: float) -> int:
    before = sim.memory.total_moved_bytes
    sim.run(seconds)
    return sim.memory.total_moved_bytes - before


# -- 1. age reset ------------------------------------------------------------------------------
def test_age_reset_keeps_a_min_age_scheme_off_a_region_it_just_acted_on():
    """migrate_hot with min age 5 aggregations and apply_interval = aggr (100 ms): after each
    application the region's age is 0, so the next application to the same bytes comes at
    least 5 aggregations later (nothing else raises age faster than one per aggregation)."""
    p = params(context("vaddr", [scheme(nr=("50 %", "max"), age=("500 ms", "max"),
                                        apply="0 ns", target_nid=1)]))
    sim = sim_with(hot_block(), p)
    applications: list[tuple[int, np.ndarray, np.ndarray]] = []
    real = engine_mod.actions.apply_action

    def spy(ctx, s, ti, t, starts, ends, memory, **kw):
        applications.append((ctx.nr_aggregations, starts.copy(), ends.copy()))
        return real(ctx, s, ti, t, starts, ends, memory, **kw)

    engine_mod.actions.apply_action = spy
    try:
        sim.run(10.0)
    finally:
        engine_mod.actions.apply_action = real
    assert len(applications) >= 5
    last_at: dict[int, int] = {}
    page = 4096
    for when, starts, ends in applications:
        for s, e in zip(starts, ends):
            for a in range(int(s), int(e), page * 64):  # sample the applied bytes
                prev = last_at.get(a)
                assert prev is None or when - prev >= 5, (a, prev, when)
                last_at[a] = when


# -- 2. quota prioritisation -----------------------------------------------------------------
def test_quota_moves_the_hottest_regions_first():
    """Eight 8 MiB blocks with 8 distinct access rates; migrate_hot (freq weight only) with a
    16 MiB quota: the regions applied score at least as high as every eligible region left out
    (ties only at min_score), and the bytes moved are the two hottest blocks' (>= 90 %)."""
    wl = {"generator": "random_rank", "params": {"memsize": "64 MiB", "nr_regions": 8,
                                                 "nr_phases": 1, "phase_s": 1000,
                                                 "total_rate": 4e6}}
    p = params(context("vaddr", [scheme(sz="16 MiB", reset="5 s", apply="5 s", weights=(0, 1, 0),
                                        target_nid=1)]))
    sim = sim_with(wl, p, seed=3)
    seen = []
    real = engine_mod.actions.apply_action

    def spy(ctx, s, ti, t, starts, ends, memory, **kw):
        eng = ctx.schemes
        scores = eng._scores(ctx, s, t.regions)
        applied = np.isin(t.regions.start, starts)
        elig = eng._pattern(s, t.regions)
        left = elig & ~applied
        after_cut = t.regions.start[left] >= ends.max()
        seen.append((scores[applied], scores[left], after_cut, s.qstate.min_score))
        return real(ctx, s, ti, t, starts, ends, memory, **kw)

    engine_mod.actions.apply_action = spy
    try:
        sim.run(5.05)
    finally:
        engine_mod.actions.apply_action = real
    applied_scores, left_scores, left_after_cut, min_score = seen[0]
    assert applied_scores.min() >= min_score
    # an eligible region scoring above the cut-off is left out only when the quota ran out
    # before the walk reached it (regions are walked in address order)
    assert ((left_scores <= min_score) | left_after_cut).all()
    assert applied_scores.mean() > left_scores.mean() + 10
    # ground truth: the pages now on node 1 are much hotter than those left behind
    pm = sim.memory.procs[0]
    on1 = sim.memory.node_of_pages(0, np.arange(pm.nr_pages)) == 1
    rates = pm.vpage_rate
    assert 0 < on1.sum() * 4096 <= 16 * MiB
    assert rates[on1].mean() > 1.5 * rates[~on1].mean()


# -- 3. quota auto-tuning goes quiet -------------------------------------------------------------
def _tiering_params(sz="64 MiB"):
    demote = scheme("migrate_cold", nr=("0 %", "0 %"), sz=sz, target_nid=1,
                    goals=[{"metric": "node_mem_free_bp", "nid": 0, "target_value": 5000}],
                    filters=[{"filter_type": "young", "matching": True, "allow": False}])
    promote = scheme("migrate_hot", nr=("5 %", "max"), sz=sz, target_nid=0,
                     goals=[{"metric": "node_mem_used_bp", "nid": 0, "target_value": 5000}],
                     filters=[{"filter_type": "young", "matching": True, "allow": True}])
    return params(context("paddr", [demote]), context("paddr", [promote]))


def _esz(sim, kd):
    return sim.stats()["contexts"][kd]["schemes"][0]["esz"]


def test_goal_tuned_tiering_goes_quiet_and_ramps_again_when_disturbed():
    """Node 0 (256 MiB) starts 75 % used (96 MiB hot + 96 MiB idle). Demote aims at 50 % free,
    promote at 50 % used. Once node 0 reaches its goal the per-second migration falls under
    1 % of the 64 MiB quota within 30 s and stays there. Then a new process fills node 0 with
    idle memory; the demote quota ramps up again, faster for the bigger disturbance."""
    def build(extra_mib, seed=0):
        base = hot_block("192 MiB", hot_fraction=0.5, rate=5e6)
        procs = [base]
        if extra_mib:
            procs.append({"generator": "with_processes", "params": {
                "base": {"generator": "uniform", "params": {"size": f"{extra_mib} MiB",
                                                            "total_rate": 1.0, "pid": 2000,
                                                            "duration_s": 1000}},
                "start_s": 40.0}})
        wl = {"generator": "merge", "params": {"workloads": procs}} if extra_mib else base
        # no kernel memory: the fill fractions above are the whole node's
        return sim_with(wl, _tiering_params(), seed=seed, paddr_nodes=[0, 1], unmovable=[0, 0])

    sim = build(0)
    # the consist tuner ramps from 1 byte, x1.5 per second at 25 % free: minutes, as in the kernel
    for _ in range(300):
        sim.run(1.0)
        if sim.stats()["nodes"][0]["used_bytes"] <= 128 * MiB:
            break
    assert sim.stats()["nodes"][0]["used_bytes"] <= 128 * MiB  # goal met: >= 50 % free
    sim.run(30.0)
    per_s = [moved_bytes(sim, 1.0) for _ in range(10)]
    assert max(per_s) < 0.01 * 64 * MiB, per_s
    assert sim.stats()["nodes"][0]["used_bytes"] >= 96 * MiB  # the hot half stayed on node 0

    ramps = {}
    for extra in (48, 96):
        s = build(extra)
        s.run(40.0)
        before = _esz(s, 0)
        s.run(12.0)
        ramps[extra] = _esz(s, 0)
        assert ramps[extra] > before  # the quota ramps up again
    assert ramps[96] > ramps[48]


# -- 4. weight change 11:9 -> 10:10 ----------------------------------------------------------------
def _interleave_sim(ops, dests, *, paddr_dests="kernel", target_nid=None):
    sch = scheme(nr=("5 %", "max"), dests=dests, target_nid=target_nid)
    if ops == "paddr":  # one paddr context over both nodes of the tiny machine
        ctx = context("paddr", [sch], regions=[{"start": 0, "end": 512 * MiB}])
        return sim_with(hot_block("64 MiB", hot_fraction=1.0, hot_prob=1.0),
                        params(ctx), paddr_dests=paddr_dests), ctx
    ctx = context("vaddr", [sch])
    return sim_with(hot_block("64 MiB", hot_fraction=1.0, hot_prob=1.0), params(ctx)), ctx


def _with_weights(ctx, weights):
    import copy

    c = copy.deepcopy(ctx)
    c["schemes"][0]["dests"] = [{"id": i, "weight": w} for i, w in enumerate(weights)]
    return params(c)


def test_vaddr_dests_weight_change_moves_only_retargeted_pages():
    sim, ctx = _interleave_sim("vaddr", [(0, 11), (1, 9)])
    sim.run(15.0)
    assert moved_bytes(sim, 3.0) == 0  # unchanged weights: re-applying moves nothing
    pm = sim.memory.procs[0]
    hot = int(pm.nr_allocated) * 4096
    sim.commit(_with_weights(ctx, [10, 10]))
    moved = moved_bytes(sim, 5.0)
    assert moved == pytest.approx(0.05 * hot, rel=0.15)
    assert moved_bytes(sim, 3.0) == 0


def _passed_and_moved_pages(sim: Simulation) -> tuple[int, int]:
    """Pages the scheme's one application in the next second passed to the action, and pages
    it moved."""
    def passed():
        return sim.stats()["contexts"][0]["schemes"][0]["sz_ops_filter_passed"]

    before = passed()
    moved = moved_bytes(sim, 1.0)  # apply interval 1 s: one application
    return (passed() - before) // 4096, moved // 4096


def test_rfc_paddr_round_robin_moves_half_again():
    """Not a sampled quantity: the passed folios are frames in address order, node 0's range
    below node 1's, so they form two runs, and the 10:10 round robin walks each run in blocks
    of 10 to node 0 and 10 to node 1, carrying its position across. A folio moves when its
    dest is not the node of its frame (each 256 MiB node has room for the 64 MiB block, so
    every such migration succeeds): in a run of L frames the round robin gives the other
    node floor(L / 20) * 10 + (between max(0, r - 10) and min(r, 10) of the r = L mod 20
    left), i.e. L / 2 within 5 frames. Over the two runs, moved = passed / 2 within 10 pages,
    whatever the placement before, so also with unchanged weights (no memory of where a
    folio should live)."""
    sim, ctx = _interleave_sim("paddr", [(0, 11), (1, 9)], paddr_dests="rfc_round_robin")
    sim.run(10.0)
    sim.commit(_with_weights(ctx, [10, 10]))
    hot_pages = 64 * MiB // 4096
    for _ in range(2):  # the weight change, then the same weights again
        passed, moved = _passed_and_moved_pages(sim)
        # every page of the block is accessed (hot_prob 1), so most of it passes the 5 %
        # floor; only regions straddling the block's ends can fall below it
        assert passed >= 0.9 * hot_pages, passed
        assert abs(moved - passed / 2) <= 10, (moved, passed)
    assert sim.stats()["pingpong_bytes"] > 0


def test_kernel_paddr_ignores_dests_without_target_nid():
    sim, _ = _interleave_sim("paddr", [(0, 1), (1, 1)])
    assert moved_bytes(sim, 5.0) == 0
    st = sim.stats()["contexts"][0]["schemes"][0]
    assert st["nr_tried"] > 0 and st["sz_applied"] == 0


# -- 5. user_input goal ----------------------------------------------------------------------------
def test_user_input_goal_fed_with_node_balance():
    """A caller feeds the hot-byte balance (share on node 1 / wanted share 0.5, in bp, capped at
    20000) as user_input. While imbalanced the quota grows and pages move; once balanced the
    feed says 'goal met' and nothing moves."""
    goal = {"metric": "user_input", "target_value": 10000, "current_value": 0}
    sch = scheme(nr=("5 %", "max"), sz="64 MiB", dests=[(0, 1), (1, 1)], goals=[goal],
                 tuner="temporal")
    sim = sim_with(hot_block("64 MiB", hot_fraction=1.0, hot_prob=1.0),
                   params(context("vaddr", [sch])))
    pm = sim.memory.procs[0]
    moved_while_imbalanced, share = 0, 0.0
    for _ in range(30):
        nodes = sim.memory.node_of_pages(0, np.arange(pm.nr_pages))
        share = float((nodes == 1).mean())
        sim.set_goal_input(min(20000, int(share / 0.5 * 10000)))
        m = moved_bytes(sim, 1.0)
        if share < 0.45:
            moved_while_imbalanced += m
    assert moved_while_imbalanced > 16 * MiB
    assert share >= 0.49
    sim.set_goal_input(10000)
    assert moved_bytes(sim, 5.0) == 0
    assert sim.stats()["contexts"][0]["schemes"][0]["esz"] == 0


# -- kernel rules --------------------------------------------------------------------------------
def test_stat_never_resets_age_and_counts_tried_not_applied():
    p = params(context("vaddr", [scheme("stat", nr=("50 %", "max"))]))
    sim = sim_with(hot_block(), p)
    sim.run(5.0)
    st = sim.stats()["contexts"][0]["schemes"][0]
    assert st["nr_tried"] > 0 and st["nr_applied"] == 0 and st["sz_applied"] == 0
    assert sim.snapshot()[0]["age"].max() >= 30


def test_size_quota_is_respected_per_reset_interval_and_counts_exceeds():
    """damos_quota.py selftest shape: 1 MiB per 100 ms; every window tries <= 1 MiB and the
    quota is exceeded in (almost) every window."""
    p = params(context("vaddr", [scheme(sz="1 MiB", reset="100 ms", apply="0 ns", target_nid=1)]))
    sim = sim_with(hot_block(), p)
    tried = []
    for _ in range(20):
        before = sim.stats()["contexts"][0]["schemes"][0]["sz_tried"]
        sim.run(0.1)
        tried.append(sim.stats()["contexts"][0]["schemes"][0]["sz_tried"] - before)
    assert max(tried) <= MiB
    assert sim.stats()["contexts"][0]["schemes"][0]["qt_exceeds"] >= 15


def test_apply_interval_shorter_than_aggregation_runs_more_often():
    """damos_apply_interval.py selftest shape: 10 ms vs 100 ms apply interval -> >= 9x tries."""
    a = scheme("stat", apply="0 ns")
    b = scheme("stat", apply="10 ms")
    sim = sim_with(hot_block(), params(context("vaddr", [a, b])))
    sim.run(3.0)
    sa, sb = sim.stats()["contexts"][0]["schemes"]
    assert sb["nr_snapshots"] >= 9 * sa["nr_snapshots"]


def test_export_round_trips_through_real_damo(tmp_path):
    import subprocess

    from damo_tool import DAMO

    if not DAMO.exists():
        pytest.skip("damo (dev dependency) not installed")
    p = _tiering_params()
    sim = sim_with(hot_block(), p, paddr_nodes=[0, 1])
    out = tmp_path / "params.json"
    sim.export_damon_params(out)
    r = subprocess.run([str(DAMO), "args", "damon", str(out), "--format", "json"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    back = load_damon_params(r.stdout)
    for a, b in zip(back.kdamonds, p.kdamonds):
        sa, sb = a.contexts[0].schemes[0], b.contexts[0].schemes[0]
        assert (sa.action, sa.target_nid, sa.dests) == (sb.action, sb.target_nid, sb.dests)
        assert sa.quotas.sz_bytes == sb.quotas.sz_bytes
        assert [(g.metric, g.nid, g.target_value) for g in sa.quotas.goals] == \
            [(g.metric, g.nid, g.target_value) for g in sb.quotas.goals]
        assert [(f.filter_type, f.allow) for f in sa.filters] == [(f.filter_type, f.allow) for f in sb.filters]


def test_rfc_hot_share_goals_are_opt_in():
    """node_ineligible_mem_bp (the 2026 RFC's metric) runs only when the scenario opts in;
    node_eligible_mem_bp reports the hot share of a node as the RFC defines it."""
    push = scheme(nr=("5 %", "max"), sz="4 MiB", tuner="temporal", target_nid=1,
                  goals=[{"metric": "node_eligible_mem_bp", "nid": 1, "target_value": 3000}])
    pull = scheme(nr=("5 %", "max"), sz="4 MiB", tuner="temporal", target_nid=0,
                  goals=[{"metric": "node_ineligible_mem_bp", "nid": 1, "target_value": 7000}])
    ctx = context("paddr", [push, pull], regions=[{"start": 0, "end": 512 * MiB}])
    with pytest.raises(ValueError, match="rfc_goal_metrics"):
        sim_with(hot_block("64 MiB", hot_fraction=1.0, hot_prob=1.0), params(ctx))
    sim = sim_with(hot_block("64 MiB", hot_fraction=1.0, hot_prob=1.0), params(ctx),
                   rfc_goal_metrics=True)
    sim.run(15.0)  # 4 MiB/s of a 64 MiB hot set: the 30 % share is reached in ~5 s
    shares = []
    for _ in range(10):
        sim.run(1.0)
        goals = [s["goals"][0] for s in sim.stats()["contexts"][0]["schemes"]]
        eligible, ineligible = goals[0]["current_value"], goals[1]["current_value"]
        assert eligible + ineligible == 10000
        shares.append(eligible)
    # bang-bang around 30 %: within two quota windows (2 x 4 MiB = 12.5 % of the hot set)
    assert 3000 - 1300 <= min(shares) and max(shares) <= 3000 + 1300, shares


def test_online_commit_adds_changes_and_removes_schemes():
    """damon_commit_ctx by index: a changed scheme keeps its stats and quota state, a new one
    starts fresh, an extra running one is removed."""
    stat = scheme("stat")
    hot = scheme(nr=("5 %", "max"), sz="8 MiB", target_nid=1)
    ctx = context("vaddr", [stat, hot])
    sim = sim_with(hot_block(), params(ctx))
    sim.run(3.0)
    before = sim.schemes()
    tried0, esz0 = before[0].stats.nr_tried, before[1].qstate.esz
    assert tried0 > 0 and esz0 == 8 * MiB
    cold = scheme("migrate_cold", nr=("0 %", "0 %"), sz="4 MiB", target_nid=1)
    changed = dict(hot, quotas=dict(hot["quotas"], sz_bytes="16 MiB"))
    sim.commit(params(dict(ctx, schemes=[stat, changed, cold])))
    after = sim.schemes()
    assert len(after) == 3 and after[0] is before[0] and after[1] is before[1]
    assert after[0].stats.nr_tried == tried0  # stats survive
    assert after[1].quota.sz == 16 * MiB and after[1].qstate.esz == esz0  # esz waits for the window
    assert after[2].stats.nr_tried == 0
    sim.run(2.0)
    assert after[1].qstate.esz == 16 * MiB
    sim.commit(params(dict(ctx, schemes=[stat])))
    assert len(sim.schemes()) == 1 and sim.schemes()[0].stats.nr_tried > tried0


def test_online_updates_live_in_the_running_scheme_and_reach_the_export(tmp_path):
    """update_scheme changes the running scheme only (one copy of dests, size quota and goal
    targets); export_damon_params writes those running values, while the parameters the
    simulation was built with stay as they were given."""
    p = _tiering_params()
    sim = sim_with(hot_block(), p, paddr_nodes=[0, 1])
    before = p.model_copy(deep=True)
    sim.update_scheme(0, kdamond_idx=0, sz=12 << 20, goal_targets=[4321])
    out = tmp_path / "params.json"
    sim.export_damon_params(out)
    got = load_damon_params(out).kdamonds[0].contexts[0].schemes[0]
    assert got.quotas.sz_bytes == 12 << 20
    assert [g.target_value for g in got.quotas.goals] == [4321]
    assert sim.params.kdamonds[0].contexts[0].schemes[0].quotas.sz_bytes == \
        before.kdamonds[0].contexts[0].schemes[0].quotas.sz_bytes
    with pytest.raises(ValueError, match="goal target_value: 0 must be > 0"):
        sim.update_scheme(0, kdamond_idx=0, goal_targets=[0])
