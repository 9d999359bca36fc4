"""The DAMOS walk under a size quota, region by region ([DS 3.3, 4.5]
and vector 76)."""

from __future__ import annotations

import numpy as np
from four_regions import BASE, REGION, four_hot_regions

from damon_gym.damos.scheme import Quota


def _ctx(quota_sz: int, kernel: str | None = None):
    return four_hot_regions(Quota(sz=quota_sz, reset_interval_ms=1), kernel)


def _walk(ctx):
    ctx.now_us += 2000  # past the 1 ms reset interval: a new charge window
    for s in ctx.schemes.schemes:
        s.next_apply_sis = 0
    ctx.schemes.apply(ctx)


def test_quota_remainder_below_min_region_size_counts_tries_of_zero_bytes():
    """esz 10000: the first 16 KiB region is split at align_down(10000, 4096) = 8192 and that
    piece applied; 1808 bytes stay, so the quota is not full ([B]) and every later eligible
    region (the split's right piece and three more) is tried with 0 bytes (vector 76, v7.1's
    rule; from v7.2, the default, the quota is full there: test_damos_kernel_rules)."""
    ctx, s, mem = _ctx(10000, "7.1")
    _walk(ctx)
    r = ctx.targets[0].regions
    assert r.n == 5 and int(r.end[0] - r.start[0]) == 8192
    assert (s.stats.nr_tried, s.stats.sz_tried) == (5, 8192)
    assert (s.stats.nr_applied, s.stats.sz_applied) == (1, 8192)
    assert r.age.tolist() == [0, 7, 7, 7, 7]  # only the applied piece's age is reset
    assert s.qstate.charge_target_from is None  # not full: no resume point
    assert mem.node_of_pages(0, np.arange(16)).tolist() == [1, 1] + [0] * 14


def test_full_quota_resumes_after_the_charged_address_next_window():
    """esz = two regions: the walk applies regions 0 and 1, the quota is full, and the next
    window starts after region 1's end, at region 2 (damos_skip_charged_region)."""
    ctx, s, mem = _ctx(2 * REGION)
    _walk(ctx)
    assert s.qstate.charge_target_from == 0
    assert s.qstate.charge_addr_from == BASE + 2 * REGION
    assert mem.node_of_pages(0, np.arange(16)).tolist() == [1] * 8 + [0] * 8
    # ages of the applied regions are 0 now; keep them eligible regardless
    _walk(ctx)
    assert mem.node_of_pages(0, np.arange(16)).tolist() == [1] * 16
    assert s.qstate.charge_target_from == 0 and s.qstate.charge_addr_from == BASE + 4 * REGION
    assert s.stats.qt_exceeds >= 1


def test_no_quota_applies_every_eligible_region():
    ctx, s, mem = _ctx(0)
    _walk(ctx)
    assert (s.stats.nr_tried, s.stats.sz_tried, s.stats.sz_applied) == (4, 4 * REGION, 4 * REGION)
    assert s.qstate.esz == 0 and not s.quota_set
