"""Conformance vectors of [DS 10.3] (access counters, attrs, intervals
auto-tuning) and vector 61 (damon_feed_loop_next_input), through ``damon_gym.kernel``."""

from __future__ import annotations

import numpy as np
import pytest

from damon_gym import kernel as k
from damon_gym.kernel import Attrs, IntervalsGoal, Region

ULONG_MAX = 2**64 - 1


# ---- vector 31 (kunit damon_test_moving_sum, [B])
def test_v31_moving_sum():
    mvsum, results = 50000, []
    for value in [10000, 0, 10000, 0, 0, 0, 10000, 0, 0, 0]:
        mvsum = k.moving_sum(mvsum, 50000, 10, value)
        results.append(mvsum)
    assert results == [55000, 50000, 55000, 50000, 45000, 40000, 45000, 40000, 35000, 30000]


def test_moving_sum_is_unsigned_int():
    # damon_moving_sum works on unsigned int: an inconsistent state wraps modulo 2**32.
    assert k.moving_sum(0, 10000, 1, 0) == 2**32 - 10000


# ---- vector 34 (derived, [B] rounding edge) and the late-[B] reset fix
def test_v34_bp_rounding_and_reset_fix():
    bp, seen = 10000, []  # consistent start: last window had 1 access
    for _ in range(3):
        bp = k.update_nr_accesses_bp(bp, 1, False, 3)
        seen.append(bp)
    assert seen == [6667, 3334, 1]
    r = Region(0, 4096, nr_accesses=0, last_nr_accesses=1, nr_accesses_bp=1)
    [[fixed]] = k.reset_aggregated([[r]])
    assert (fixed.nr_accesses_bp, fixed.last_nr_accesses, fixed.nr_accesses) == (0, 0, 0)
    [[kept]] = k.reset_aggregated([[r]], fix_bp=False)  # early [B]: no fix
    assert kept.nr_accesses_bp == 1


def test_bp_exact_after_full_default_window():
    # 20 samples per window: 10000 * last is divisible by 20, so bp ends at nr * 10000.
    attrs = Attrs()
    rng = np.random.default_rng(3)
    r = Region(0, 4096, last_nr_accesses=7, nr_accesses_bp=70000)
    for _ in range(k.max_nr_accesses(attrs)):
        r = k.update_region_access_rate(r, bool(rng.integers(0, 2)), attrs)
    assert 0 < r.nr_accesses < 20
    assert r.nr_accesses_bp == r.nr_accesses * 10000
    # [N] keeps only nr_accesses
    n = k.update_region_access_rate(Region(0, 1, nr_accesses_bp=5), True, attrs, era="N")
    assert (n.nr_accesses, n.nr_accesses_bp) == (1, 5)


def test_bp_mid_window_is_smoothed():
    # half a default window with no access after a 10-access window: 100000 - 10 * 5000
    r = Region(0, 4096, last_nr_accesses=10, nr_accesses_bp=100000)
    for _ in range(10):
        r = k.update_region_access_rate(r, False, Attrs())
    assert r.nr_accesses_bp == 50000 and r.nr_accesses_bp // 10000 == 5


# ---- vectors 35 and 36 ([N] mvsum)
@pytest.mark.parametrize("current,last,left_bp,expected",
                         [(0, 49, 10000, 49), (3, 10, 7000, 10), (3, 10, 5000, 8),
                          (32, 100, 1000, 42), (42, 49, 0, 42)])
def test_v35_mvsum(current, last, left_bp, expected):
    assert k.nr_accesses_mvsum(current, last, left_bp) == expected


@pytest.mark.parametrize("passed,next_aggr,nr,last,expected",
                         [(0, 10, 5, 3, 3), (0, 10, 0, 7, 7), (5, 10, 3, 10, 8),
                          (8, 10, 3, 10, 5), (10, 10, 42, 49, 42)])
def test_v36_nr_accesses_mvsum(passed, next_aggr, nr, last, expected):
    window_len = max(10, 1) // max(1, 1)  # sample 1, aggr 10
    assert k.nr_accesses_mvsum_at(passed, next_aggr, nr, last, window_len) == expected


# ---- vector 37 (kunit, [B])
def test_v37_nr_accesses_to_accesses_bp_clamps():
    attrs = Attrs(sample_interval=10, aggr_interval=2**32 * 10)
    assert k.max_nr_accesses(attrs) == 2**32 - 1
    assert k.nr_accesses_to_accesses_bp(123, attrs) == 0


# ---- vector 38 (kunit damon_test_update_monitoring_result, [B] 6.9 and [N])
@pytest.mark.parametrize("era", ["B", "N"])
def test_v38_update_monitoring_result(era):
    old = Attrs(sample_interval=10, aggr_interval=1000)
    r = Region(3, 7, nr_accesses=15, nr_accesses_bp=150000, age=20)
    r = k.update_monitoring_result(r, old, Attrs(sample_interval=100, aggr_interval=10000),
                                   era=era)
    assert (r.nr_accesses, r.age) == (15, 2)
    r = k.update_monitoring_result(r, old, Attrs(sample_interval=1, aggr_interval=1000), era=era)
    assert (r.nr_accesses, r.age) == (150, 2)
    r = k.update_monitoring_result(r, old, Attrs(sample_interval=1, aggr_interval=100), era=era)
    assert (r.nr_accesses, r.age) == (150, 20)
    if era == "B":
        assert r.nr_accesses_bp == 1500000


# ---- vector 40 (derived, aggregating = change lands mid-window)
def test_v40_update_monitoring_result_aggregating():
    old = Attrs(sample_interval=10, aggr_interval=1000)   # 100 samples
    new = Attrs(sample_interval=1, aggr_interval=1000)    # 1000 samples
    r = Region(0, 10, nr_accesses=5, last_nr_accesses=10, nr_accesses_bp=123, age=4)
    b = k.update_monitoring_result(r, old, new, aggregating=True)
    assert (b.nr_accesses, b.last_nr_accesses, b.nr_accesses_bp, b.age) == (0, 100, 1000000, 4)
    n = k.update_monitoring_result(r, old, new, aggregating=True, era="N")
    assert (n.nr_accesses, n.last_nr_accesses) == (0, 100)
    n = k.update_monitoring_result(r, old, new, era="N")  # [N] converts both when not mid-window
    assert (n.nr_accesses, n.last_nr_accesses) == (50, 100)
    b = k.update_monitoring_result(r, old, new)  # [B] leaves last alone when not mid-window
    assert (b.nr_accesses, b.last_nr_accesses, b.nr_accesses_bp) == (50, 10, 500000)
    assert (r.nr_accesses, r.last_nr_accesses) == (5, 10)  # pure


def test_update_monitoring_result_skips_zero_intervals():
    r = Region(0, 10, nr_accesses=5, age=8)
    out = k.update_monitoring_result(r, Attrs(sample_interval=0, aggr_interval=1000),
                                     Attrs(sample_interval=1, aggr_interval=100))
    assert (out.nr_accesses, out.age) == (5, 8)
    with pytest.raises(ValueError, match="era"):
        k.update_monitoring_result(r, Attrs(), Attrs(), era="X")


# ---- vectors 41 (kunit damon_test_set_attrs) and 42 (derived)
def test_v41_set_attrs():
    base = Attrs(sample_interval=5000, aggr_interval=100000, min_nr_regions=10,
                 max_nr_regions=1000)
    assert base.validate() is base
    for bad in (dict(min_nr_regions=1), dict(max_nr_regions=9), dict(aggr_interval=4999)):
        with pytest.raises(ValueError):
            base.with_(**bad).validate()


def test_v42_set_attrs_edges():
    Attrs(min_nr_regions=3).validate()
    with pytest.raises(ValueError, match="min_nr_regions"):
        Attrs(min_nr_regions=2).validate()
    same = Attrs(sample_interval=5000, aggr_interval=5000).validate()
    assert k.max_nr_accesses(same) == 1


# ---- vector 44 (derived intervals auto-tuning)
def test_v44_next_sample_interval():
    [[r0]] = [[Region(0, 10000)]]
    events, max_events = k.intervals_access_events([[r0]], 20)
    assert (events, max_events) == (0, 200000)
    max_s = 10_000_000
    assert k.next_sample_interval(0, 200000, 400, 5000, 5000, max_s) == 10000      # score 0
    assert k.next_sample_interval(10000, 200000, 400, 10000, 5000, max_s) == 8750  # 12500
    assert k.next_sample_interval(20000, 200000, 400, 10000, 5000, max_s) == 5000  # 25000
    assert k.next_sample_interval(8000, 200000, 400, 7777, 5000, max_s) == 7777    # on goal
    # on goal the kernel returns before clamping (adaptation exactly 10000 bp)
    assert k.next_sample_interval(8000, 200000, 400, 4000, 5000, max_s) == 4000
    assert k.next_sample_interval(0, 200000, 400, 5000, 5000, 7000) == 7000        # clamped
    assert k.next_sample_interval(20000, 200000, 400, 6000, 5000, max_s) == 5000   # clamped
    assert k.intervals_adaptation_bp(10000, 200000, 400) == 8750
    assert k.intervals_adaptation_bp(0, 0, 400) == 20000  # target events at least 1


def test_v44_tune_intervals_keeps_ratio():
    goal = IntervalsGoal(access_bp=400, aggrs=3, min_sample_us=5000, max_sample_us=10_000_000)
    attrs = Attrs(sample_interval=5000, aggr_interval=100000, intervals_goal=goal).validate()
    regions = [[Region(0, 10000, nr_accesses=0)]]
    up = k.tune_intervals(attrs, *k.intervals_access_events(regions, attrs.aggr_samples))
    assert (up.sample_interval, up.aggr_interval) == (10000, 200000)
    regions = [[Region(0, 10000, nr_accesses=2)]]
    down = k.tune_intervals(up, *k.intervals_access_events(regions, up.aggr_samples))
    assert (down.sample_interval, down.aggr_interval) == (5000, 100000)
    steady = k.tune_intervals(up, 8000, 200000)
    assert steady is up


# ---- vector 61 (kunit damon_test_feed_loop_next_input) and the overflow-safe path
def test_v61_feed_loop_next_input():
    last = 900000
    assert k.feed_loop_next_input(last, 200) > last
    assert k.feed_loop_next_input(last, 250000000) < last
    assert k.feed_loop_next_input(last, 200) > k.feed_loop_next_input(last, 2000)
    assert k.feed_loop_next_input(last, 10000) == last
    assert k.feed_loop_next_input(last, 20000) == 10000
    assert k.feed_loop_next_input(last, 0) == 2 * last
    assert k.feed_loop_next_input(last, 15000) == last // 2
    assert k.feed_loop_next_input(15000, 19999) == 10000  # floor at min_input


def test_feed_loop_overflow_safe_path():
    assert k.feed_loop_next_input(ULONG_MAX - 5, 0) == ULONG_MAX
    big = 2**62  # >= ULONG_MAX // 5000: compensation = last // 10000 * diff
    assert k.feed_loop_next_input(big, 5000) == big + big // 10000 * 5000
    assert k.feed_loop_next_input(big, 5000) != big + big * 5000 // 10000
    assert k.feed_loop_next_input(big, 15000) == big - big // 10000 * 5000
