"""The scale rule: a scenario at ``capacity_scale`` s stands for the full-size machine.

Workload sizes and rates in scenario files are the real workload's; the simulation holds s
times the bytes with the same per-page access rates, and every byte a user sets or reads --
quotas (damo files and env actions), migrated and ping-pong bytes, node usage in ``stats()``
and ``info`` -- is a real byte. So a scenario and its twin at twice the capacity_scale are the
same experiment, seen through DAMON's sampling of 2x as many pages.
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest

import damon_gym  # noqa: F401  (registers the ids)
from damon_gym.memory.topology import load_topology
from damon_gym.scenario import load_scenario
from damon_gym.simulation import Simulation
from damon_gym.workloads import registry
from damon_gym.workloads.model import Phase, ProcessSpec, RateSegment, VMASpec, Workload
from damon_gym.workloads.scaling import scaled_workload

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
PAGE = 4096


# -- (a) scaled_workload --------------------------------------------------------------------------
def _phased_workload() -> Workload:
    """phased: heap + data + stack VMAs, contiguous hot blocks at two offsets (hot_offset is a
    byte parameter that must shrink with the VMA), a phase with another hot fraction."""
    return registry.build("phased", {
        "size": "256 MiB", "total_rate": 2.0e6, "phases": [
            {"duration_s": 5, "hot_fraction": 0.1, "hot_prob": 0.9, "hot_at": 0.3},
            {"duration_s": 5, "hot_fraction": 0.25, "hot_prob": 0.8, "hot_at": 0.6},
        ]}, np.random.default_rng(0))


def _two_vma_workload() -> Workload:
    """Two data VMAs, a uniform segment over part of the first (its ends fall inside the
    VMA), a uniform one over all of it and a hot/cold one with a hot block in the second."""
    a0, b0 = 1 << 30, 2 << 30
    a = VMASpec(a0, a0 + 64 * MiB, "a")
    b = VMASpec(b0, b0 + 128 * MiB, "b")
    proc = ProcessSpec(1, "two", [a, b])
    segs = [RateSegment(0, a.start, a.end, "uniform", {"total_rate": 1.0e5}),
            RateSegment(0, a.start + 16 * MiB, a.start + 48 * MiB, "uniform",
                        {"total_rate": 4.0e5}),
            RateSegment(0, b.start, b.end, "hot_cold",
                        {"total_rate": 1.0e6, "hot_fraction": 0.25, "hot_prob": 0.9,
                         "contiguous": True, "hot_offset": 40 * MiB})]
    return Workload("two-vma", [proc], [Phase(0.0, 10.0, "p0", segs)])


def _vma_pages(wl: Workload, j: int) -> tuple[int, int]:
    """(first page index, number of pages) of VMA j of process 0."""
    base = wl.vma_page_bases(0, PAGE)
    v = wl.processes[0].vmas[j]
    return int(base[j]), -(-v.size // PAGE)


@pytest.mark.parametrize("make", [_phased_workload, _two_vma_workload])
@pytest.mark.parametrize("s", [1 / 16, 1 / 64])
def test_scaled_workload_sizes_rates_and_total_rate(make, s):
    wl = make()
    sw = scaled_workload(wl, s)
    # VMAs: same starts (2 MiB alignment and gaps kept), sizes times s
    for v, w in zip(wl.processes[0].vmas, sw.processes[0].vmas, strict=True):
        assert w.start == v.start
        assert w.size == max(1, round(v.size * s))
    for pi, (ph, sph) in enumerate(zip(wl.phases, sw.phases, strict=True)):
        t = 0.5 * (ph.start_s + ph.end_s)
        # every segment's total_rate times s (the parameter, exactly)
        for seg, sseg in zip(ph.segments, sph.segments, strict=True):
            assert sseg.total_rate == pytest.approx(seg.total_rate * s, rel=1e-12)
        r = wl.rates_at(t, 0, PAGE)
        sr = sw.rates_at(t, 0, PAGE)
        # the expanded rates sum to each segment's total_rate, so the page sums scale by s too
        assert sr.sum() == pytest.approx(r.sum() * s, rel=1e-9)
        # per-page rates unchanged at matching relative positions inside each VMA. A scaled
        # page i of n_s stands for the unscaled pages [i n_u / n_s, (i + 1) n_u / n_s); where
        # the unscaled rate is constant over that span (widened by one span on each side, for
        # the rounding of range ends to pages) the two rates agree to the page rounding of the
        # block sizes: a rate is total / pages of its block, whose two ends each move by at
        # most one page, so rtol = 2 / (smallest block in scaled pages).
        for j in range(len(wl.processes[0].vmas)):
            b_u, n_u = _vma_pages(wl, j)
            b_s, n_s = _vma_pages(sw, j)
            ru, rs = r[b_u:b_u + n_u], sr[b_s:b_s + n_s]
            if not ru.any():
                assert not rs.any()
                continue
            span = n_u / n_s
            edges = np.flatnonzero(np.diff(ru)) + 1  # where the unscaled rate changes
            blocks = edges.size + 1
            smallest = int(np.diff(np.concatenate(([0], edges, [n_u]))).min())
            rtol = 2.0 / max(smallest / span, 1.0)
            compared = 0
            for i in range(n_s):
                lo = max(0, int(math.floor((i - 1) * span)))
                hi = min(n_u, int(math.ceil((i + 2) * span)))
                window = ru[lo:hi]
                if window.min() != window.max():
                    continue  # next to a rate boundary
                compared += 1
                assert rs[i] == pytest.approx(window[0], rel=rtol, abs=1e-12), (pi, j, i)
            # boundaries cost at most 3 scaled pages each; everything else was compared
            assert compared >= n_s - 3 * blocks


def test_scaled_workload_hot_block_keeps_its_relative_place():
    """hot_offset is bytes: it shrinks by s with the VMA, so the hot block starts at the same
    relative position of the scaled VMA (to one scaled page)."""
    wl = _phased_workload()
    s = 1 / 32
    sw = scaled_workload(wl, s)
    for ph in range(len(wl.phases)):
        t = wl.phases[ph].start_s + 0.1
        firsts = []
        for w in (wl, sw):
            b, n = _vma_pages(w, 1)  # the data VMA
            rates = w.rates_at(t, 0, PAGE)[b:b + n]
            hot = np.flatnonzero(rates > rates.min())
            firsts.append((hot[0] / n, hot.size / n))
        (pos_u, frac_u), (pos_s, frac_s) = firsts
        n_s = _vma_pages(sw, 1)[1]
        assert abs(pos_u - pos_s) <= 1.0 / n_s
        assert abs(frac_u - frac_s) <= 2.0 / n_s


@pytest.mark.parametrize("one", [1, 1.0])
def test_scaled_workload_factor_one_is_the_same_object(one):
    wl = _phased_workload()
    assert scaled_workload(wl, one) is wl


@pytest.mark.parametrize("bad", [0, 0.0, -1.0, -1e-9, float("nan"), float("inf"), -float("inf")])
def test_scaled_workload_bad_factor_names_capacity_scale(bad):
    with pytest.raises(ValueError, match="capacity_scale"):
        scaled_workload(_phased_workload(), bad)


# -- (b) the twin test ----------------------------------------------------------------------------
# A 64 GiB workload on P1-AMD (256 GiB DDR 72 GB/s + 256 GiB CXL 26 GB/s): 12 s latency-bound
# with a hot tenth at the start, then 12 s bandwidth-bound with the hot tenth in the middle.
# ~200 accesses/s per hot page, ~1.5/s per cold one.
#: the kernel's memmap on each P1-AMD node (256 GiB / 64, scenarios leave ``unmovable`` out):
#: real bytes at every scale, like the workload's
MEMMAP = 256 * GiB // 64
TWIN_SCALES = (1 / 2048, 1 / 1024)
TWIN_SEEDS = range(6)
TWIN_QUOTA = 1 * GiB  # real bytes per 1 s
BW_WEIGHT_A1 = 2 * 26 / 72 - 1  # preference of node 1 for 72:26 shares with node 0 at +1


def twin_scenario(scale: float) -> dict:
    return {
        "name": "twin", "topology": "P1-AMD", "capacity_scale": scale,
        "workload": {"generator": "phased", "params": {
            "size": "64 GiB", "total_rate": 3.4e8, "write_fraction": 0.2, "populate": True,
            "phases": [
                {"duration_s": 12, "hot_fraction": 0.1, "hot_prob": 0.97, "hot_at": 0.0,
                 "u_target": 0.3},
                {"duration_s": 12, "hot_fraction": 0.1, "hot_prob": 0.97, "hot_at": 0.5,
                 "u_target": 0.99},
            ]}},
        "duration": 24,
    }


def _quota_action(quota: int) -> float:
    """The quota component of an Interleave action for ``quota`` real bytes (4 MiB..4 GiB
    log-uniform)."""
    return 2.0 * math.log(quota / (4 * MiB)) / math.log(1024) - 1.0


def _run_twin(scale: float, seed: int, quota: int = TWIN_QUOTA) -> dict:
    env = gym.make("DamonGym/Interleave-v0", scenario=twin_scenario(scale))
    env.reset(seed=seed)
    sim = env.unwrapped.sim
    a = np.zeros(env.action_space.shape, np.float32)
    a[0], a[1], a[8] = 1.0, BW_WEIGHT_A1, _quota_action(quota)
    perf, migrated, kd, esz = [], [], [], []
    done = False
    while not done:
        _, _, term, trunc, info = env.step(a)
        perf.append(info["perf_norm"])
        migrated.append(info["migrated_bytes"])
        kd.append(sim.last_perf.kdamond_cpu_cores)
        esz.append(info["esz"])
        done = term or trunc
    return {"perf": np.array(perf), "migrated": np.array(migrated), "kd": np.array(kd),
            "esz": esz, "weights": list(info["weights"][:2]), "stats": sim.stats(),
            "node_used": np.array(info["node_used_bytes"][:2]), "env": env.unwrapped}


def _mean_run(scale: float, quota: int = TWIN_QUOTA) -> dict:
    runs = [_run_twin(scale, s, quota) for s in TWIN_SEEDS]
    return {"runs": runs,
            "perf": np.mean([r["perf"] for r in runs], axis=0),
            "migrated": float(np.mean([r["migrated"].sum() for r in runs])),
            "kd": float(np.mean([r["kd"].mean() for r in runs]))}


@pytest.fixture(scope="module")
def twins() -> dict:
    return {s: _mean_run(s) for s in TWIN_SCALES}


# Tolerances of the twin comparison. The twins differ only in DAMON's sampling noise, which
# is larger on the coarse twin (half as many pages per region): single episodes of one twin
# differ from each other by 0.008-0.02 in mean |d perf_norm| and by up to 16 % in migrated
# bytes, so each twin is averaged over 6 seeds; the averaged twins then differ by
# 0.005-0.009 in perf_norm, 1-6 % in migrated bytes and 2-5 % in kdamond time (measured on
# four disjoint sets of 6 seeds). A scale-rule error is at least a factor 2 somewhere (a
# quota, a rate or a byte count read at the other scale): the same setting with the quota
# doubled differs from the 1/1024 twin by 0.04-0.05 in perf_norm, 24-27 % in migrated bytes
# and 40-47 % in kdamond time (halved: 0.04, 32-35 %, 36-38 %). The tolerances sit between,
# and test_twin_tolerances_catch_a_factor_two checks that they reject the doubled quota.
PERF_TOL = 0.02  # mean over steps of |seed-averaged perf_norm difference|
MIGRATED_RTOL = 0.15  # seed-averaged total migrated bytes
KDAMOND_RTOL = 0.15  # seed-averaged mean kdamond CPU per step


def _twin_gaps(a: dict, b: dict) -> tuple[float, float, float]:
    return (float(np.abs(a["perf"] - b["perf"]).mean()),
            abs(a["migrated"] / b["migrated"] - 1.0),
            abs(a["kd"] / b["kd"] - 1.0))


def test_twins_have_the_same_perf_migration_and_kdamond_trajectories(twins):
    coarse, fine = (twins[s] for s in TWIN_SCALES)
    # the same episode: length min(300, 24 / 1 - 1) at both scales
    assert coarse["perf"].shape == fine["perf"].shape == (23,)
    perf_gap, mig_gap, kd_gap = _twin_gaps(coarse, fine)
    assert perf_gap <= PERF_TOL, perf_gap
    assert mig_gap <= MIGRATED_RTOL, (coarse["migrated"], fine["migrated"])
    assert kd_gap <= KDAMOND_RTOL, (coarse["kd"], fine["kd"])
    # something happened worth comparing: GiBs moved, in both regimes
    assert fine["migrated"] > 1 * GiB
    assert 0.5 < fine["perf"].mean() < 1.0


def test_twin_tolerances_catch_a_factor_two(twins):
    """The tolerances are not so loose that a factor-2 scale error passes: the same run with
    the quota doubled (what a quota counted in the other twin's bytes gives) fails each."""
    fine = twins[TWIN_SCALES[1]]
    doubled = _mean_run(TWIN_SCALES[1], 2 * TWIN_QUOTA)
    perf_gap, mig_gap, kd_gap = _twin_gaps(doubled, fine)
    assert perf_gap > PERF_TOL and mig_gap > MIGRATED_RTOL and kd_gap > KDAMOND_RTOL, \
        (perf_gap, mig_gap, kd_gap)


def test_twins_report_real_bytes(twins):
    real = load_topology("P1-AMD")
    for s in TWIN_SCALES:
        granule = round(PAGE / s)  # one simulated page in real bytes
        for r in twins[s]["runs"]:
            # the env's quota and the scheme's effective quota are the real bytes asked for
            assert r["env"].quota == TWIN_QUOTA
            assert set(r["esz"]) == {TWIN_QUOTA}
            assert r["weights"] == [24, 8]  # 72:26 quantised to 32
            # migrated bytes per step: whole simulated pages in real bytes, within the quota
            m = r["migrated"]
            assert (m % granule == 0).all()
            assert m.max() <= TWIN_QUOTA
            # stats(): every node's capacity is the real machine's
            nodes = r["stats"]["nodes"]
            assert [n["capacity_bytes"] for n in nodes] == [n.capacity for n in real.nodes]
            assert r["stats"]["migrated_bytes"] >= m.sum()
            # info's node usage is stats()'s, in real bytes
            assert list(r["node_used"]) == [n["used_bytes"] for n in nodes]


def test_twins_use_the_same_real_memory(twins):
    """Node usage in real bytes agrees between the twins to page granularity: each VMA's
    simulated size is rounded up to a page, i.e. to 4 KiB / s real bytes, so the coarse twin
    may count up to one of its pages (8 MiB real) more per VMA. Migration moves pages between
    nodes, so the machine's total stays that at the start. Each node also holds its memmap
    (4 GiB real at either scale)."""
    vmas = 3  # heap, data, stack
    tol = vmas * PAGE / min(TWIN_SCALES)
    used = {}
    for s in TWIN_SCALES:
        sim = Simulation(load_scenario(twin_scenario(s)))  # no schemes: first-touch placement
        used[s] = np.array([n["used_bytes"] for n in sim.stats()["nodes"]])
        assert used[s][0] >= 64 * GiB + MEMMAP and used[s][1] == MEMMAP  # first touch: DRAM
        for r in twins[s]["runs"]:
            assert abs(int(r["node_used"].sum()) - int(used[s].sum())) <= tol
            assert r["node_used"][1] > 0  # hot pages went to CXL
    a, b = (used[s] for s in TWIN_SCALES)
    assert np.abs(a - b).max() <= tol, (a, b)
    assert abs(int(a[0]) - 64 * GiB - MEMMAP) <= tol


# -- (c) DAMOS quotas are real bytes ----------------------------------------------------------------
QUOTA = 256 * MiB
SCALE = 1 / 1024


def quota_scenario(ops: str, *, sz: int = 0, ms: int = 0, action: str = "migrate_hot",
                   u_target: float = 0.3) -> dict:
    """P1-AMD at 1/1024, 64 GiB populated on DRAM (a hot tenth), one context of ``ops`` with a
    migrate scheme to node 1: a size quota ``sz`` (real bytes) and/or a time quota ``ms``
    per 1 s, applied every 1 s. The paddr context monitors node 0 (its order)."""
    nr = {"min": "5 %", "max": "max"} if action == "migrate_hot" else {"min": "0 %", "max": "0 %"}
    scheme = {"action": action, "target_nid": 1,
              "access_pattern": {"sz_bytes": {"min": "0 B", "max": "max"}, "nr_accesses": nr,
                                 "age": {"min": "0 ns", "max": "max"}},
              "apply_interval_us": "1 s",
              "quotas": {"time_ms": f"{ms} ms", "sz_bytes": sz, "reset_interval_ms": "1 s",
                         "goals": [],
                         "weights": {"sz_permil": 1, "nr_accesses_permil": 1, "age_permil": 1}},
              "filters": []}
    ctx = {"ops": ops, "targets": [] if ops == "vaddr" else [{"pid": None, "regions": []}],
           "intervals": {"sample_us": "5 ms", "aggr_us": "100 ms", "ops_update_us": "1 s"},
           "nr_regions": {"min": 10, "max": 1000}, "schemes": [scheme]}
    return {"name": f"quota-{ops}", "topology": "P1-AMD", "capacity_scale": SCALE,
            "workload": {"generator": "phased", "params": {
                "size": "64 GiB", "total_rate": 3.4e8, "populate": True,
                "phases": [{"duration_s": 30, "hot_fraction": 0.1, "hot_prob": 0.97,
                            "u_target": u_target}]}},
            "damon": {"kdamonds": [{"contexts": [ctx]}]}, "duration": 30}


@pytest.mark.parametrize("ops", ["vaddr", "paddr"])
def test_damos_size_quota_is_real_bytes(ops):
    sim = Simulation(load_scenario(quota_scenario(ops, sz=QUOTA)))
    scheme = sim.contexts[0].schemes.schemes[0]
    assert scheme.quota.sz == QUOTA  # the damo file's bytes, unconverted
    k = sim.byte_scale
    assert k == 1024
    region = PAGE * k  # the smallest region (min_region_sz, one page) in real bytes
    windows: dict[int, list[int]] = {}  # charge window start -> [real applied, sim moved]
    applied0 = moved0 = 0
    for _ in range(100):  # 10 s in 0.1 s slices: at most one application per slice
        sim.run(0.1)
        st = sim.stats()["contexts"][0]["schemes"][0]
        moved = sim.memory.total_moved_bytes
        w = windows.setdefault(scheme.qstate.charged_from_us, [0, 0])
        w[0] += st["sz_applied"] - applied0
        w[1] += moved - moved0
        applied0, moved0 = st["sz_applied"], moved
    # per reset interval: the bytes applied stay within the real quota (the walk charges
    # whole regions while they fit and splits the next at the room left, aligned down to
    # min_region_sz; allowance: one such region)...
    for start, (applied, sim_moved) in windows.items():
        assert applied <= QUOTA + region, (start, applied)
        # ... and the simulated memory that moved is the quota's share of the scaled machine
        assert sim_moved <= QUOTA / k + PAGE, (start, sim_moved)
    # the quota was reached: a full window moved Q / 1024 simulated bytes (256 KiB), not Q
    assert max(w[1] for w in windows.values()) >= 0.9 * QUOTA / k
    assert sum(1 for w in windows.values() if w[1] > 0) >= 5
    # stats report the real bytes: simulated moves times 1024, the scheme's sz_applied too
    stats = sim.stats()
    assert stats["migrated_bytes"] == sim.memory.total_moved_bytes * k
    assert stats["contexts"][0]["schemes"][0]["sz_applied"] == stats["migrated_bytes"]
    used = [n["used_bytes"] for n in stats["nodes"]]
    # everything on CXL but its memmap came there by the scheme
    assert used[1] - MEMMAP == stats["migrated_bytes"]
