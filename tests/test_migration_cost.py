"""Migration costs the application: the copy traffic loads the source and destination nodes
and kdamond's CPU time inflates the think time (Z_eff = Z (1 + cores / n_app_cores)), both in
the step the migration happens; DAMOS charges its ``ms`` quota with the same cost rule the
performance model uses (one ``MigrationCost``), for the real machine's folios."""

from __future__ import annotations

import statistics

import numpy as np
import pytest
from test_scale_rule import PAGE, quota_scenario  # tests/ is on sys.path

from damon_gym.damos import actions
from damon_gym.damos.actions import MIGRATION_COST, WALK_NS, ActionResult, kdamond_ns
from damon_gym.memory.topology import load_topology
from damon_gym.perf.performance import MigrationCost, PerfConfig, PerformanceModel
from damon_gym.scenario import load_scenario
from damon_gym.simulation import Simulation

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
GB = 1e9


def _churn(n: int, src: int, dst: int, nbytes: float, folio: int = 4096) -> dict:
    rd, wr = np.zeros(n), np.zeros(n)
    rd[src], wr[dst] = nbytes, nbytes
    return {"read_bytes": rd, "write_bytes": wr, "moved_bytes": int(nbytes),
            "nr_folios": int(nbytes // folio), "folio_bytes": folio}


# -- the performance model ------------------------------------------------------------------------
RATES = [6.0, 3.0, 1.0]  # shares 0.6 / 0.3 / 0.1 on P3's DRAM, CXL-A, CXL-B


def test_churn_loads_source_and_destination_and_lowers_x_latency_bound():
    """Latency-bound (u_target 0.3, no node saturated): moving bytes from node 0 to node 1
    adds them to both nodes' demand, so their utilisation rises, node 2's does not, and the
    loaded latencies lower X -- more the more is moved."""
    model = PerformanceModel(load_topology("P3"), u_target=0.3)
    base = model.step(RATES, kdamond_cpu_s=0.0)
    assert not base.bw_bound
    prev = base
    for gb in (1, 5, 20):
        r = model.step(RATES, churn=_churn(3, 0, 1, gb * GB), kdamond_cpu_s=0.0, dt_s=1.0)
        assert r.migration_bytes_s.tolist() == [gb * GB, gb * GB, 0.0]
        assert r.u[0] > prev.u[0] and r.u[1] > prev.u[1]
        assert r.u[2] <= base.u[2]  # not involved: only less application traffic
        assert r.X < prev.X
        prev = r
    # churn is bytes of the step: the same bytes over 2 s load the nodes half as much
    half = model.step(RATES, churn=_churn(3, 0, 1, 2 * GB), kdamond_cpu_s=0.0, dt_s=2.0)
    one = model.step(RATES, churn=_churn(3, 0, 1, 1 * GB), kdamond_cpu_s=0.0, dt_s=1.0)
    assert half.X == pytest.approx(one.X, rel=1e-12)
    assert half.u == pytest.approx(one.u, rel=1e-12)


def test_churn_on_the_bandwidth_bottleneck_costs_exactly_its_bytes():
    """Bandwidth-bound (u_target 0.99): the bottleneck b runs at its cap, X f_b k + mig_b =
    u_max B_b, so migration bytes on b take exactly mig_b / (f_b k) accesses/s off X (k =
    bytes per access)."""
    model = PerformanceModel(load_topology("P3"), u_target=0.99)
    base = model.step(RATES, kdamond_cpu_s=0.0)
    assert base.bw_bound
    b = base.bottleneck
    src = 0 if b != 0 else 2
    k = base.app_bytes_s / base.X
    for gb in (0.5, 1, 3):
        r = model.step(RATES, churn=_churn(3, src, b, gb * GB), kdamond_cpu_s=0.0)
        assert r.bw_bound and r.bottleneck == b
        assert r.u[b] == pytest.approx(base.u[b], rel=1e-9)  # still at the cap
        assert base.X - r.X == pytest.approx(gb * GB / (base.shares[b] * k), rel=1e-6)


@pytest.mark.parametrize("u_target", [0.3, 0.6, 0.99])
def test_kdamond_cpu_inflates_think_time_and_lowers_x(u_target):
    model = PerformanceModel(load_topology("P1-AMD"), u_target=u_target)
    z = model.think_ns
    n_app = model.config.n_app_cores
    xs = []
    for cpu_s in (0.0, 0.25, 1.0, 2.0, 4.0, 8.0):
        for dt in (1.0, 2.0):
            r = model.step([3.0, 1.0], kdamond_cpu_s=cpu_s, dt_s=dt)
            assert r.kdamond_cpu_cores == pytest.approx(cpu_s / dt, abs=1e-15)
            assert r.think_ns == pytest.approx(z * (1.0 + cpu_s / dt / n_app), rel=1e-12)
        xs.append(model.step([3.0, 1.0], kdamond_cpu_s=cpu_s).X)
    assert all(b <= a for a, b in zip(xs, xs[1:], strict=False))  # never helps
    if u_target < 0.9:  # latency-bound: every extra CPU second costs
        assert all(b < a for a, b in zip(xs, xs[1:], strict=False)), xs


def test_default_kdamond_cpu_is_the_migration_cost_of_the_churn():
    model = PerformanceModel(load_topology("P1-AMD"), u_target=0.3)
    for nbytes, folio in ((100 * 4096, 4096), (4 * GiB, 4096), (2 * GiB, 2 * MiB)):
        churn = _churn(2, 0, 1, nbytes, folio)
        r = model.step([3.0, 1.0], churn=churn, dt_s=0.5)
        want = model.config.migration.cpu_seconds(churn["nr_folios"], folio) / 0.5
        assert r.kdamond_cpu_cores == pytest.approx(want, rel=1e-12)
        assert r.kdamond_cpu_cores > 0


# -- one cost rule ------------------------------------------------------------------------------------
def test_kdamond_ns_and_the_performance_model_use_one_migration_cost():
    # the rule DAMOS charges is the performance model's default one
    assert actions.MIGRATION_COST == PerfConfig().migration == MigrationCost()
    for folio in (4 * KiB, 64 * KiB, 2 * MiB):
        for n in (1, 100, 511, 512, 10_000):
            want = round(MIGRATION_COST.cpu_seconds(n, folio) * 1e9)
            assert kdamond_ns(0, n, folio) == want
            assert kdamond_ns(1000, n, folio) == 1000 * WALK_NS + want
    # TLB batching makes a batch of 512 cheaper per folio than 511
    assert kdamond_ns(0, 512, 4096) / 512 < kdamond_ns(0, 511, 4096) / 511
    # a scaled machine: each simulated folio counts as byte_scale real ones
    res = ActionResult(np.zeros(1, np.int64), 0, nr_walked=30, nr_migrated=20)
    assert res.kdamond_ns(4096, 1024.0) == kdamond_ns(30 * 1024, 20 * 1024, 4096)
    assert res.kdamond_ns(4096) == kdamond_ns(30, 20, 4096)
    # 20 real folios are no TLB batch, 20 x 1024 are
    assert res.kdamond_ns(4096, 1024.0) == (30 * 1024 * WALK_NS + round(
        20 * 1024 * (1e-6 / 3.9 + 4096 / 7e9) * 1e9))


@pytest.mark.parametrize("ops", ["vaddr", "paddr"])
def test_quota_time_is_charged_for_the_real_folios_and_the_model_sees_it(ops):
    """At 1/1024 every simulated folio is 1024 real ones (>= 512: always a TLB batch, so the
    cost is linear in the folios and the per-application charges add up): the scheme's
    charged time is WALK_NS per real folio walked (the tried bytes: every page of the
    populated workload is present) plus the migration cost of the real folios applied, to
    the nanosecond rounding of each application; the performance model charges exactly that
    time as kdamond CPU in the step it was spent."""
    sim = Simulation(load_scenario(quota_scenario(ops, sz=256 * MiB)))
    scheme = sim.contexts[0].schemes.schemes[0]
    kd_prev = sim.kdamond_ns()
    for _ in range(6):
        res = sim.step(1.0)
        kd = sim.kdamond_ns()
        assert res.kdamond_cpu_cores * 1.0 == pytest.approx((kd - kd_prev) * 1e-9, abs=1e-15)
        kd_prev = kd
    st = sim.stats()["contexts"][0]["schemes"][0]
    assert st["sz_applied"] > 512 * MiB  # it moved for real
    charged = scheme.qstate.total_charged_ns
    assert charged == kd_prev
    mig = MIGRATION_COST.cpu_seconds(st["sz_applied"] // PAGE, PAGE) * 1e9
    walk = WALK_NS * st["sz_tried"] // PAGE
    applications = st["nr_snapshots"]  # one rounding per application at most
    assert mig <= charged <= mig + walk + applications
    assert charged == pytest.approx(mig + walk, abs=applications)


def test_ms_quota_limits_the_kdamond_time_the_model_charges():
    """A time quota of M ms per 1 s: DAMOS turns M into bytes with the throughput it
    measured (total_charged_sz / total_charged_ns, real bytes over the real folios' time), so
    each window charges about M -- and the performance model's kdamond CPU is that charge.
    migrate_cold over cold pages that are all on node 0 moves every page it charges, so the
    cost per byte is steady and a window's charge stays within [0.5 M, 1.25 M] (one
    min-size region is 1024 real folios, ~0.9 ms; the first window uses the kernel's guess
    of 4 MiB/ms and is left out; a window where the walk wraps at the end of the address space
    charges less). The bytes moved per step are then M / (cost of a real 4 KiB folio):
    ~88 MiB for 20 ms, where charging per simulated folio would move 1024 times as much."""
    m_ms = 20
    sim = Simulation(load_scenario(quota_scenario("vaddr", ms=m_ms, action="migrate_cold")))
    cores, moved = [], []
    for _ in range(8):
        res = sim.step(1.0)
        cores.append(res.kdamond_cpu_cores)
        moved.append(res.migrated_bytes)
    m = m_ms * 1e-3
    steady = cores[1:]
    assert max(steady) <= 1.25 * m, steady
    assert 0.5 * m <= statistics.median(steady) <= 1.25 * m, steady
    per_folio_s = WALK_NS * 1e-9 + MIGRATION_COST.cpu_seconds(1 << 20, PAGE) / (1 << 20)
    expect = m / per_folio_s * PAGE  # bytes per step the time quota allows
    assert 0.5 * expect <= statistics.median(moved[1:]) <= 1.25 * expect, (moved, expect)


# -- a real step -----------------------------------------------------------------------------------
def test_a_migrating_step_has_lower_x_than_the_same_placement_without_migration():
    """A latency-bound scaled scenario (1/1024) whose scheme moves up to 4 GiB (real) of hot
    pages in the first step. The performance model is called with the step's churn and
    kdamond time (recorded); replaying that call gives the step's X exactly, and the same
    call without churn and kdamond time -- the same placement, rates and hotness -- a higher
    X. The inputs are the real machine's: churn 1024 x the simulated bytes moved, kdamond
    time the charged time. So the cost is sizeable: ~8.6 GB/s of copy traffic on nodes of 72
    and 26 GB/s and ~1 core of kdamond for 16 application cores take more than 1 % of X
    (churn read in simulated bytes would cost ~1e-5)."""
    sim = Simulation(load_scenario(quota_scenario("vaddr", sz=4 * GiB, u_target=0.3)))
    calls = []
    step = sim.perf.step

    def recording(*a, **kw):
        calls.append((a, kw))
        return step(*a, **kw)

    sim.perf.step = recording
    moved0, kd0 = sim.memory.total_moved_bytes, sim.kdamond_ns()
    res = sim.step(1.0)
    (args, kw), = calls
    churn = kw["churn"]
    sim_moved = sim.memory.total_moved_bytes - moved0
    assert sim_moved * 1024 == churn["moved_bytes"] == res.migrated_bytes >= 2 * GiB
    assert churn["nr_folios"] == sim_moved * 1024 // PAGE
    assert kw["kdamond_cpu_s"] == pytest.approx((sim.kdamond_ns() - kd0) * 1e-9, abs=1e-15)
    assert res.migration_bytes_s.tolist() == [res.migrated_bytes, res.migrated_bytes]

    replay = PerformanceModel(sim.topology, sim.perf.config)
    same = replay.step(*args, **kw)
    assert same.X == pytest.approx(res.X, rel=1e-12)
    still = replay.step(*args, **{**kw, "churn": None, "kdamond_cpu_s": 0.0})
    traffic_only = replay.step(*args, **{**kw, "kdamond_cpu_s": 0.0})
    cpu_only = replay.step(*args, **{**kw, "churn": None})
    assert still.migrated_bytes == 0 and still.kdamond_cpu_cores == 0.0
    assert still.X > traffic_only.X > res.X
    assert still.X > cpu_only.X > res.X
    assert (still.X - res.X) / still.X > 0.01
    assert res.perf < still.perf  # X* is the same: the reward sees the cost
    assert res.X_star == still.X_star


def test_kdamond_time_survives_an_online_commit_that_removes_the_scheme():
    """The model charges the kdamond time of each step: a commit that drops a scheme (whose
    own total goes with it) must not make a later step's kdamond CPU negative."""
    from damon_gym.formats.params import load_damon_params
    from damon_gym.scenario import load_scenario
    from damon_gym.simulation import Simulation

    def doc(schemes):
        return load_damon_params({"kdamonds": [{"contexts": [{
            "ops": "vaddr", "targets": [], "schemes": schemes}]}]})

    scheme = {"action": "migrate_hot", "target_nid": 1, "access_pattern": {
        "sz_bytes": {"min": "0 B", "max": "max"}, "nr_accesses": {"min": "5 %", "max": "max"},
        "age": {"min": "0 ns", "max": "max"}}}
    sim = Simulation(load_scenario("smoke-gups"), 0, damon_params=doc([scheme]))
    first = sim.step(2.0)
    assert first.kdamond_cpu_cores > 0  # the scheme walked and migrated
    sim.commit(doc([]))
    after = sim.step(1.0)
    assert after.kdamond_cpu_cores == 0.0
