"""Calibration of the performance model against published numbers (issue 4; [PM 1],
[PM 2.4-2.7]). Each test's docstring quotes the published figure it reproduces.

Intensity ``u_target`` is the fast node's utilisation with every page there [PM 2.4]; the
bandwidth-bound anchors (STREAM, MERCI) run at ``u_target = 0.99`` (= u_max). At 0.95 the
closed loop is still in the transition (see ``test_bandwidth_bound_needs_high_intensity``).
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from damon_gym.memory.topology import load_topology, topology_from_dict
from damon_gym.perf.hotness import HotnessCurve
from damon_gym.perf.performance import PerformanceModel
from damon_gym.workloads.background import background_preset

GiB = 1 << 30
FOOTPRINT = 16 * GiB  # fits every preset's smallest node: capacities never bind here
PRESETS = ["P1-SPR", "P1-AMD", "P1-Meta", "P2", "P3", "P4"]


def shares_of(weights):
    w = np.asarray(weights, dtype=float)
    return w / w.sum()


def all_fast(model):
    f = np.zeros(model.n)
    f[model.fast] = 1.0
    return f


def bw_proportional(model):
    B = model.nodes().B
    return B / B.sum()


# 1 ---------------------------------------------------------------------------------------------
def test_stream_p1_spr_interleave():
    """Weighted-interleave cover letter [C S2], STREAM on 1 socket + 1 CXL expander
    (B = 205 / 22.3 GB/s): DRAM-only ≈200-209 GB/s, 1:1 interleave ≈45-49 GB/s (≈ −78 %),
    weights 9:1 ≈190-218 GB/s; the bandwidth-derived auto weights are 28:3 [PM 2.9].
    Required: 1:1 loses 78 % ± 5 % vs DRAM-only; 28:3 reaches DRAM-only or better."""
    topo = load_topology("P1-SPR")
    m = PerformanceModel(topo, u_target=0.99, write_fraction=0.5)  # triad 2R:1W, ω = 0.5
    assert topo.auto_weights() == [28, 3]
    x_dram = m.throughput(all_fast(m)).X
    loss = 1.0 - m.throughput(shares_of([1, 1])).X / x_dram
    assert loss == pytest.approx(0.78, abs=0.05)  # model: 0.773
    assert m.throughput(shares_of([28, 3])).X >= x_dram  # model: 1.105x
    assert m.throughput(shares_of([9, 1])).X >= x_dram


# 2 ---------------------------------------------------------------------------------------------
def test_merci_p1_amd_three_to_one():
    """DAMOS multi-destination interleave [C S8, S9], MERCI on 72 GB/s DDR + 26 GB/s CXL,
    bandwidth-bound: weights 1:0 -> 3:1 cut iteration time 7.3 -> 5.3-5.6 s (≈1.30-1.38x);
    the spec's bottleneck model predicts min(72/0.75, 26/0.25)/72 = 1.33x for 3:1 and 1.36x
    for the optimal 0.735 split [PM 2.4 check 2]. Required: 1.33x ± 0.05; optimum ≈ 1.36x."""
    m = PerformanceModel(load_topology("P1-AMD"), u_target=0.99, write_fraction=0.0)
    x_local = m.throughput(all_fast(m)).X
    gain = m.throughput(shares_of([3, 1])).X / x_local
    assert gain == pytest.approx(1.33, abs=0.05)  # model: 1.328
    opt = m.optimum(HotnessCurve.uniform(FOOTPRINT))
    assert opt.X_star / x_local == pytest.approx(1.36, abs=0.05)  # model: 1.343
    assert opt.f_star[0] == pytest.approx(0.735, abs=0.02)  # model: 0.737
    assert opt.X_star >= m.throughput(shares_of([3, 1])).X


# 3 ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", PRESETS)
def test_regime_latency_bound_prefers_fast(name):
    """[PM 2.4-2.5]: with small N (latency-bound, u_target 0.3) the best placement is
    everything on the lowest-latency node with room; bandwidth-proportional loses 4-19 %
    (spec model runs [U])."""
    m = PerformanceModel(load_topology(name), u_target=0.3)
    assert m.throughput(all_fast(m)).X > m.throughput(bw_proportional(m)).X


@pytest.mark.parametrize("name", PRESETS)
def test_regime_bandwidth_bound_prefers_bandwidth_split(name):
    """[PM 2.5]: bandwidth-bound, all-fast loses 1 - B_fast/ΣB against the bandwidth-aligned
    split (26 % at 72/26, 10 % at 205/22). Required at u_target >= 0.95 (here 0.99): the
    bandwidth-proportional split beats all-fast by at least 1 - B_fast/ΣB minus 2 points.
    On P4 "fast" is the HBM node (700 GB/s): intensity relative to the 250 GB/s DDR node
    cannot load 950 GB/s (all-DDR loses 67 % there, not 74 %)."""
    fast = 1 if name == "P4" else None
    m = PerformanceModel(load_topology(name), u_target=0.99, fast_node=fast)
    B = m.nodes().B
    x_af, x_bp = m.throughput(all_fast(m)).X, m.throughput(bw_proportional(m)).X
    assert (x_bp - x_af) / x_bp >= 1.0 - B[m.fast] / B.sum() - 0.02


def test_bandwidth_bound_needs_high_intensity():
    """Model property (not a published number): at u_target 0.95 the fast node alone sits at
    L(0.95) ≈ 2.4 L0, so spreading buys only ≈12 % on P1-AMD instead of the 26 % of the
    bandwidth limit; the gain grows monotonically with intensity up to u_max."""
    gains = []
    for ut in (0.3, 0.8, 0.9, 0.95, 0.99):
        m = PerformanceModel(load_topology("P1-AMD"), u_target=ut)
        gains.append(m.throughput(bw_proportional(m)).X / m.throughput(all_fast(m)).X)
    assert all(b > a for a, b in pairwise(gains))
    assert 1.08 < gains[3] < 1.2 and gains[4] > 1.3


def _colloid_worst(name, points):
    topo = load_topology(name)
    hot = HotnessCurve.uniform(FOOTPRINT)
    worst = 1.0
    for ut in points:
        m = PerformanceModel(topo, u_target=float(ut))
        x_star = m.optimum(hot).X_star
        x_el = m.throughput(m.equal_latency(hot)).X
        assert x_el <= x_star * (1 + 1e-9)
        worst = min(worst, x_el / x_star)
    return worst


@pytest.mark.parametrize("name", ["P1-SPR", "P1-Meta", "P4"])
def test_colloid_equal_latency_near_optimum(name):
    """Colloid [C S6, 2 S7]: balancing loaded latencies gets near-optimal throughput; the spec's
    model runs put the equal-latency split within ≈4.5 % of X* in the transition and exact at
    both extremes [PM 2.5, U]. Required: within 6 % of X* across a sweep of intensities
    (model worst case: P1-SPR 2.7 %, P1-Meta 2.6 %, P4 1.9 %)."""
    assert _colloid_worst(name, np.linspace(0.05, 0.99, 15)) >= 0.94


@pytest.mark.parametrize(("name", "bound"), [("P2", 0.93), ("P3", 0.90), ("P1-AMD", 0.87)])
def test_colloid_gap_where_idle_latencies_differ_most(name, bound):
    """Model finding, recorded so that it does not drift: equal latency is the user
    equilibrium, not the system optimum (the optimum equalises marginal costs, [PM 2.5]);
    where the slow node's idle latency is far above the fast node's, the gap in the
    transition exceeds 6 %: P2 6.1 %, P3 8.7 %, P1-AMD 11.5 % (worst over u_target)."""
    assert _colloid_worst(name, np.linspace(0.85, 0.99, 8)) >= bound


# 4 ---------------------------------------------------------------------------------------------
@st.composite
def machines(draw):
    n = draw(st.integers(2, 4))
    nodes = []
    for i in range(n):
        nodes.append({
            "name": f"n{i}", "kind": "dram" if i == 0 else "cxl",
            "capacity": draw(st.integers(4, 64)) * 4096,
            "bw_read_gbps": draw(st.floats(5.0, 500.0)),
            "idle_latency_ns": draw(st.floats(60.0, 400.0)),
            "curve_a": draw(st.floats(0.0, 1.0)), "curve_b": draw(st.floats(0.0, 0.3))})
    return topology_from_dict({"name": "h", "nodes": nodes})


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(topo=machines(), data=st.data())
def test_optimum_bounds_every_placement(topo, data):
    """X* is an upper bound [PM 2.5]: for random machines (2-4 nodes), random page hotness,
    random capacity-respecting page placements, intensities and background, X <= X*."""
    n = topo.nr_nodes
    caps = np.array([c // 4096 for c in topo.capacities])
    npages = data.draw(st.integers(1, int(caps.sum())))
    seed = data.draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    rates = rng.pareto(data.draw(st.floats(0.3, 3.0)), npages) * rng.integers(0, 2, npages)
    if rates.sum() == 0:
        rates[0] = 1.0
    slots = np.repeat(np.arange(n), caps)
    node_of = rng.permutation(slots)[:npages]
    f = np.bincount(node_of, weights=rates, minlength=n)
    m = PerformanceModel(topo, u_target=data.draw(st.floats(0.05, 0.99)),
                         write_fraction=data.draw(st.sampled_from([0.0, 0.5, 1.0])))
    bg = np.zeros(n)
    bg[0] = data.draw(st.floats(0.0, 1.0)) * m.nodes().B[0]
    hot = HotnessCurve.from_rates(rates, 4096)
    opt = m.optimum(hot, bg=bg)
    x = m.throughput(f, bg=bg).X
    assert x <= opt.X_star * (1 + 1e-7)
    # X* is the solver's value (its line search stops at steps of ~1e-9 of the objective and
    # the closed loop has its own tolerance), so re-evaluating the model at f* agrees with it
    # to the bound's 1e-7, not to the last digits: a one-page, two-node machine found by
    # hypothesis (session 7) differs by 2.8e-8
    assert m.throughput(opt.f_star, bg=bg).X == pytest.approx(opt.X_star, rel=1e-7)


# 5 ---------------------------------------------------------------------------------------------
def _churn(topo, src, dst, nbytes, folio=4096):
    n = topo.nr_nodes
    churn = np.zeros((n, n), dtype=np.int64)
    churn[src, dst] = nbytes
    return {"churn": churn, "read_bytes": churn.sum(axis=1), "write_bytes": churn.sum(axis=0),
            "moved_bytes": nbytes, "pingpong_bytes": 0, "nr_folios": nbytes // folio,
            "folio_bytes": folio}


@pytest.mark.parametrize("u_target", [0.3, 0.9, 0.99])
def test_migration_costs_at_least_its_bandwidth(u_target):
    """Migration cost [PM 2.7]: S bytes read on the source and written on the destination in the
    same step, plus kdamond CPU (t_fix + S/B_copy, charged as think-time inflation). Required:
    moving M bytes lowers X at least by what its bandwidth alone implies (when bandwidth-bound,
    X_max shrinks by m_b / (k f_b) on the bottleneck node); zero migration costs nothing."""
    topo = load_topology("P1-AMD")
    f = shares_of([23, 8])
    M = 2 * GiB  # in a 1 s step (10x the DAMOS tiering quota, to be visible)
    m = PerformanceModel(topo, u_target=u_target)
    base = m.step(f).X
    assert m.step(f, churn=_churn(topo, 1, 0, 0)).X == base  # zero migration: no cost
    assert m.step(f, churn=None).X == m.throughput(f).X == base
    bw_only = PerformanceModel(topo, u_target=u_target,
                               migration=m.config.migration.__class__(t_fix_4k_us=1e-12,
                                                                      copy_gbps=1e12))
    res_bw = bw_only.step(f, churn=_churn(topo, 1, 0, M))
    res = m.step(f, churn=_churn(topo, 1, 0, M))
    assert res.migration_bytes_s.tolist() == [M, M]
    assert res.X <= res_bw.X < base
    assert res.kdamond_cpu_cores > 0 and res.think_ns > m.think_ns
    # bandwidth-implied cap with the migration traffic on both nodes
    na = m.nodes()
    cap = min((na.u_max * na.B[i] - M) / (na.k * f[i]) for i in range(2))
    assert res.X <= cap * (1 + 1e-12)
    base_cl = m.throughput(f)
    if base_cl.bw_bound:
        b = base_cl.bottleneck
        assert base - res.X >= M / (na.k * f[b]) * (1 - 1e-9)


# 6 ---------------------------------------------------------------------------------------------
def _sweep(topo, model_kw, hot, baseline):
    gains, f_fast = [], []
    for level in ("0x", "1x", "2x", "3x"):
        bg = background_preset(level).bg_at(0.0, topo.nr_nodes)  # 0/5/10/15 cores x 7 GB/s
        m = PerformanceModel(topo, **model_kw)
        opt = m.optimum(hot, bg=bg)
        gains.append(opt.X_star / m.throughput(baseline, bg=bg).X)
        f_fast.append(float(opt.f_star[0]))
    return gains, f_fast


def test_background_sweep_gain_grows():
    """Colloid artifact [C S6], GUPS with 0x/1x/2x/3x = 0/5/10/15 antagonist cores on the
    default tier: HeMem+colloid / HeMem = 1.01, 1.17, 1.65, 2.36 (alternate tier 135 ns).
    Required: the gain of the optimal split over all-fast grows with background load. Also
    the spec's model check 3 (fast 140 GB/s 80 ns, alternate 60 GB/s 135 ns, N = 150, bg
    0/35/70/105 GB/s): gain over 90 % of accesses on fast 1.01 / 1.00 / 1.08 / 1.63 with
    optimal f_fast 1.0 / 0.88 / 0.69 / 0.39 [PM 2.4, U]; reproduced within 0.05 / 0.06."""
    topo = load_topology("P2")
    hot = HotnessCurve.uniform(FOOTPRINT)
    for kw in ({"u_target": 0.5}, {"u_target": 0.8}, {"n_inflight": 150.0, "think_ns": 0.0}):
        gains, _ = _sweep(topo, kw, hot, np.array([1.0, 0.0]))
        assert all(b > a for a, b in pairwise(gains)), (kw, gains)
        assert gains[-1] > 1.2
    gains, f_fast = _sweep(topo, {"n_inflight": 150.0, "think_ns": 0.0}, hot,
                           np.array([0.9, 0.1]))
    assert gains == pytest.approx([1.01, 1.00, 1.08, 1.63], abs=0.05)  # 1.003/1.002/1.081/1.609
    assert f_fast == pytest.approx([1.0, 0.88, 0.69, 0.39], abs=0.06)  # 0.95/0.86/0.68/0.39
