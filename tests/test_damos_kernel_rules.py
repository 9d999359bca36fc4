"""The scenario's ``kernel`` switch: the quota rules that changed between the kernels issue 14
compared with (damos.quota.KernelRules, docs/damon_semantics.md [DS 4.1]): 6.12.y and 6.17
leave the first charge window without a quota, v7.2 on a remainder below min_region_sz fills
the quota; no ``kernel`` keeps the simulator's own rules (v7.1's)."""

from __future__ import annotations

import numpy as np
import pytest
from four_regions import BASE, REGION, four_hot_regions

from damon_gym.damos.goals import QuotaGoal
from damon_gym.damos.quota import KERNELS, NEWEST_KERNEL, KernelRules, kernel_series
from damon_gym.damos.scheme import Quota
from damon_gym.fidelity.compare import sim_kernel
from damon_gym.scenario import ScenarioError, load_scenario
from damon_gym.simulation import Simulation


def _ctx(quota: Quota, kernel: str | None):
    """Four 16 KiB hot regions of one process on node 0, a migrate_hot scheme to node 1."""
    return four_hot_regions(quota, kernel)


def _apply(ctx, advance_us: int):
    ctx.now_us += advance_us
    for s in ctx.schemes.schemes:
        s.next_apply_sis = 0
    ctx.schemes.apply(ctx)


def _goal_quota(reset_ms: int = 1000) -> Quota:
    # a goal far from met (score 0): the consist tuner doubles esz from 2 bytes on
    return Quota(sz=64 << 20, reset_interval_ms=reset_ms,
                 goals=[QuotaGoal("user_input", target_value=10000, current_value=0)])


def _on_node1(mem) -> int:
    return int((mem.node_of_pages(0, np.arange(16)) == 1).sum())


def test_first_goal_window_is_unthrottled_on_6_17_and_throttled_since_6_18():
    """6.17 (and 6.12.y): esz stays 0 -- no quota, not even sz -- until reset_interval ends,
    so the first apply migrates every eligible region; 6.18 on set esz (2 bytes here) at once."""
    for kernel in ("6.12", "6.17"):
        ctx, s, mem = _ctx(_goal_quota(), kernel)
        _apply(ctx, 1000)
        assert s.qstate.esz == 0 and _on_node1(mem) == 16, kernel
        assert (s.stats.nr_tried, s.stats.sz_applied) == (4, 4 * REGION)
        assert s.qstate.charge_target_from is None  # no quota, no resume point
        _apply(ctx, 500_000)  # same window: still no quota
        assert s.qstate.esz == 0 and s.stats.nr_tried == 8
        _apply(ctx, 600_000)  # the window ends: the goal is evaluated, the ramp starts
        assert s.qstate.esz == 2 and s.qstate.total_charged_sz == 8 * REGION
        assert s.stats.qt_exceeds == 0
    for kernel in (None, "6.18", "7.1", "7.3"):
        ctx, s, mem = _ctx(_goal_quota(), kernel)
        _apply(ctx, 1000)
        assert s.qstate.esz == 2 and _on_node1(mem) == 0, kernel
        assert s.stats.sz_applied == 0


def test_6_17_first_window_ends_at_once_with_reset_interval_0():
    ctx, s, mem = _ctx(_goal_quota(reset_ms=0), "6.17")
    _apply(ctx, 1000)
    assert s.qstate.esz == 2 and _on_node1(mem) == 0


def test_subpage_goal_quota_tries_no_region_since_7_2():
    """A goal-tuned esz of 2 bytes: up to v7.1 every eligible region is tried with a 0-byte
    split (nr_tried counts them); v7.2 on the quota is full below min_region_sz and the walk
    skips them all (kernel-paddr-goal: 7.3.4 tried none). No kernel named: the newest's."""
    for kernel, tries in ((None, 0), ("6.18", 4), ("7.1", 4), ("7.2", 0), ("7.3", 0)):
        ctx, s, _ = _ctx(_goal_quota(), kernel)
        _apply(ctx, 1000)
        assert (s.stats.nr_tried, s.stats.sz_tried) == (tries, 0), kernel
        _apply(ctx, 1_000_001)  # next window: esz 4 bytes, still below a page
        assert s.qstate.esz == 4 and s.stats.nr_tried == 2 * tries, kernel
        # a full quota at the roll-over counts as exceeded only when it is full
        assert s.stats.qt_exceeds == (1 if tries == 0 else 0), kernel


def test_subpage_remainder_fills_the_quota_since_7_2():
    """esz 10000 (test_damos_walk's vector 76): the first region is split at 8192 and applied;
    1808 bytes stay. Up to v7.1 the four later eligible pieces are tried with 0 bytes and no
    resume point is kept; v7.2 on the quota is full, so the walk stops and resumes after the
    applied piece next window."""
    for kernel, tried, resume in ((None, 1, 0), ("7.1", 5, None), ("7.3", 1, 0)):
        ctx, s, mem = _ctx(Quota(sz=10000, reset_interval_ms=1), kernel)
        _apply(ctx, 2000)
        assert (s.stats.nr_tried, s.stats.sz_tried, s.stats.sz_applied) == \
            (tried, 8192, 8192), kernel
        assert s.qstate.charge_target_from == resume, kernel
        if resume is not None:
            assert s.qstate.charge_addr_from == BASE + 8192
        assert _on_node1(mem) == 2


def test_kernel_rules_table():
    assert KernelRules.of(None) == KernelRules() == KernelRules.of(NEWEST_KERNEL) \
        == KernelRules.of("7.3") == KernelRules.of("7.2")
    assert KernelRules.of("6.17") == KernelRules.of("6.12") == KernelRules(
        first_window_esz=False, zero_esz_unset=True, subpage_full=False)
    assert KernelRules.of("6.18") == KernelRules.of("7.0") == KernelRules(
        zero_esz_unset=True, subpage_full=False)
    assert KernelRules.of("7.1") == KernelRules(subpage_full=False)
    assert NEWEST_KERNEL == KERNELS[-1] == "7.3"
    with pytest.raises(ValueError, match=r"kernel: '6\.16'; allowed: 6\.12, 6\.17"):
        KernelRules.of("6.16")
    assert kernel_series("6.17.13+deb13-amd64") == "6.17"
    assert kernel_series("7.3.4+deb13-amd64") == "7.3"
    assert kernel_series("7.x") is None and kernel_series("5.15.1") is None
    assert kernel_series(None) is None


def test_scenario_kernel_field_is_validated_and_reaches_the_engines():
    sc = load_scenario("kernel-paddr-goal")
    assert sc.kernel is None
    for good in ("6.17", 6.17, "7.3", 7.3):
        assert load_scenario("kernel-paddr-goal", kernel=good).kernel == str(good)
    for bad in ("6.16", "7", "latest", "7.3.4", True, [7.3]):
        with pytest.raises(ScenarioError) as e:
            load_scenario("kernel-paddr-goal", kernel=bad)
        msg = str(e.value)
        assert "kernel-paddr-goal.yaml: kernel: got" in msg, msg
        assert "allowed: '6.12', '6.17'" in msg, msg
        assert "'7.3'" in msg
    # unset, the scenario hashes as before the field existed; set, it is content
    h = sc.content_hash()
    assert sc.model_dump()["kernel"] is None
    assert load_scenario("kernel-paddr-goal", kernel="7.3").content_hash() != h
    sim = Simulation(load_scenario("kernel-paddr-goal", kernel="6.17"))
    engines = [b.context.schemes for b in sim.bindings]
    assert engines and all(e.kernel == KernelRules.of("6.17") for e in engines)
    assert all(b.context.schemes.kernel == KernelRules()
               for b in Simulation(sc).bindings)


def test_fidelity_simulates_each_kernel_with_its_rules():
    sc = load_scenario("kernel-paddr-goal")
    assert sim_kernel({"kernel": "6.17.13+deb13-amd64"}, sc) == "6.17"
    assert sim_kernel({"kernel_package": "7.3.4+deb13-amd64"}, sc) == "7.3"
    assert sim_kernel({"kernel": "6.9.1"}, sc) is None  # unknown: the scenario's own
    assert set(KERNELS) >= {"6.12", "6.17", "7.3"}
