"""DAMOS kernel-parity functions against [DS 10] ([DS 10.4-10.8])."""

from __future__ import annotations

import numpy as np
import pytest

from damon_gym import kernel
from damon_gym.damon.regions import RegionArrays
from damon_gym.damos.dests import RoundRobinState, migrate_dest_indices
from damon_gym.damos.filters import Filter, core_verdict, ops_verdict, split_points
from damon_gym.damos.goals import QuotaGoal, next_esz_bp
from damon_gym.damos.quota import hot_scores
from damon_gym.damos.scheme import Quota, Scheme

ATTRS = kernel.Attrs(5000, 100000, 1_000_000, 10, 1000)
MiB = 1 << 20


def test_feed_loop_vector_61():
    """The kunit vector only checks directions; the values are worked by hand from
    damon_feed_loop_next_input() (goal = min_input = 10000, diff = |goal - score|,
    compensation = last * diff / goal, integer division)."""
    # score 200: diff 9800, compensation 900000 * 9800 / 10000 = 882000; 900000 + 882000
    assert kernel.feed_loop_next_input(900000, 200) == 1_782_000
    # score 2000: diff 8000, compensation 900000 * 8000 / 10000 = 720000; 900000 + 720000
    assert kernel.feed_loop_next_input(900000, 2000) == 1_620_000
    # score 250000000 >= 2 * goal: straight to min_input
    assert kernel.feed_loop_next_input(900000, 250000000) == 10_000
    # score 9999: diff 1, compensation 900000 * 1 / 10000 = 90
    assert kernel.feed_loop_next_input(900000, 9999) == 900_090
    # last 12345, score 5000: diff 5000, compensation 12345 * 5000 / 10000 = 6172 (6172.5
    # truncated; dividing first, 12345 / 10000 * 5000, would give 5000); 12345 + 6172
    assert kernel.feed_loop_next_input(12345, 5000) == 18_517
    # score 12000: diff 2000, compensation 900000 * 2000 / 10000 = 180000; 900000 - 180000
    assert kernel.feed_loop_next_input(900000, 12000) == 720_000
    # score 19000 from 11000: compensation 11000 * 9000 / 10000 = 9900; 11000 - 9900 = 1100
    # is below min_input, so min_input
    assert kernel.feed_loop_next_input(11000, 19000) == 10_000


def test_consist_tuner_ramp_vector_63():
    """esz 2, 4, 8, ... from esz_bp 0 at score 0: 4096 in window 12, 200 MiB in window 28."""
    esz_bp, seen = 0, []
    for _ in range(30):
        esz_bp = next_esz_bp("consist", esz_bp, 0, 200 * MiB)
        seen.append(kernel.effective_quota(sz=200 * MiB, goal_esz_bp=esz_bp))
    assert seen[:3] == [2, 4, 8]
    assert seen[11] == 4096
    assert seen[26] < 200 * MiB and seen[27] == 200 * MiB


def test_temporal_tuner_is_bang_bang():
    assert next_esz_bp("temporal", 123, 9999, 200 * MiB) == 200 * MiB * 10000
    assert next_esz_bp("temporal", 123, 10000, 200 * MiB) == 0
    assert kernel.effective_quota(sz=0, goal_esz_bp=next_esz_bp("temporal", 0, 0, 0)) == (2**64 - 1) // 10000


def test_effective_quota_vectors():
    assert kernel.effective_quota(sz=0, ms=0) == 0  # vector 66: no quota at all
    assert kernel.effective_quota(sz=5 * MiB) == 5 * MiB
    # time quota through measured throughput (bytes/ms), capped by sz, floored at min_region_sz
    # 100 MiB = 104,857,600 B charged in 1 s = 10**9 ns: 104,857,600 * 10**6 / 10**9 =
    # 104,857.6 B/ms, truncated to 104,857; times ms = 10 gives 1,048,570 (above the
    # 4096 B floor, no size quota to cap it)
    assert kernel.effective_quota(ms=10, total_charged_sz=100 * MiB,
                                  total_charged_ns=10**9) == 1_048_570
    # no history: PAGE_SIZE * 1024 = 4,194,304 B/ms, times 10 ms
    assert kernel.effective_quota(ms=10) == 41_943_040
    assert kernel.effective_quota(ms=10, sz=MiB) == MiB
    assert kernel.effective_quota(ms=1, total_charged_sz=1, total_charged_ns=10**12) == 4096
    assert kernel.effective_quota(sz=MiB, goal_esz_bp=3 * 10000) == 3


def test_quota_goal_score_and_metrics_vector_68_69():
    assert kernel.quota_goal_score(5000, 10000) == 5000
    assert kernel.quota_goal_score(15000, 10000) == 15000
    total, free = 1000 * 4096, 250 * 4096
    assert kernel.node_mem_used_bp(total, free) == 7500
    assert kernel.node_mem_free_bp(total, free) == 2500
    assert kernel.node_mem_used_bp(0, 0) == 0 and kernel.node_mem_free_bp(0, 0) == 10000
    assert kernel.node_eligible_mem_bp(3 << 30, 4 << 30) == 7500
    assert kernel.node_eligible_mem_bp(1 << 30, 4 << 30) == 2500
    assert kernel.node_eligible_mem_bp(0, 0) == 0


def test_refused_goal_metrics_say_why():
    with pytest.raises(ValueError, match="memory cgroups"):
        QuotaGoal("node_memcg_used_bp", 5000, nid=0)
    with pytest.raises(ValueError, match="active/inactive"):
        QuotaGoal("active_mem_bp", 5000)


@pytest.mark.parametrize("nr, age, w, hot", [
    (20, 0, (1, 1), 74),      # freq 100, age_sub 50 -> 75 -> 74
    (0, 100, (1, 1), 20),     # idle 10 s: age_in_log -4 -> age_sub 43 -> 21 -> 20
    (10, 20, (1, 0), 49),     # freq only
    (10, 20, (0, 0), 0),      # no weights: hot 0
    (20, 10**6, (0, 1), 75),  # 1e5 s old: age_in_log 17 -> age_sub 76 -> 75
])
def test_hot_and_cold_scores(nr, age, w, hot):
    assert kernel.hot_score(nr, age, ATTRS, *w) == hot
    assert kernel.cold_score(nr, age, ATTRS, *w) == 99 - hot


def test_vectorised_scores_equal_scalar():
    nrs, ages = np.meshgrid(np.arange(21), np.array([0, 1, 5, 9, 10, 11, 19, 20, 21, 63, 64, 65,
                                                       1000, 12345, 10**7]))
    for w in [(1, 1), (100, 100), (1, 0), (0, 1), (3, 7)]:
        v = hot_scores(nrs.ravel(), ages.ravel(), ATTRS, *w)
        s = [kernel.hot_score(int(a), int(b), ATTRS, *w) for a, b in zip(nrs.ravel(), ages.ravel())]
        assert v.tolist() == s


def test_min_score_for_quota():
    hist = [0] * 100
    hist[90], hist[80], hist[10] = 10, 20, 30
    assert kernel.min_score_for_quota(hist, 5) == 90
    assert kernel.min_score_for_quota(hist, 10) == 90
    assert kernel.min_score_for_quota(hist, 11) == 80
    assert kernel.min_score_for_quota(hist, 31) == 10
    assert kernel.min_score_for_quota(hist, 1000) == 0  # vector 73: everything eligible
    assert kernel.min_score_for_quota([0] * 100, 1) == 0


def test_migrate_dest_index_vector_82():
    got = [kernel.migrate_dest_index(i, [3, 1]) for i in range(8)]
    assert got == [0, 0, 0, 1, 0, 0, 0, 1]
    assert kernel.migrate_dest_index(5, [0, 0]) is None
    assert kernel.migrate_dest_index(5, [0, 2]) == 1  # zero-weight dests are never chosen
    ilx = np.arange(1000)
    for ws in ([11, 9], [10, 10], [0, 3, 1], [5]):
        assert migrate_dest_indices(ilx, ws).tolist() == [kernel.migrate_dest_index(i, ws) for i in ilx]


def test_weight_change_11_9_to_10_10_retargets_5_percent():
    ilx = np.arange(200_000)
    a = migrate_dest_indices(ilx, [11, 9])
    b = migrate_dest_indices(ilx, [10, 10])
    assert (a != b).mean() == pytest.approx(0.05)
    assert (migrate_dest_indices(ilx, [20, 20]) != b).mean() == pytest.approx(0.5)


def test_round_robin_dests_have_no_memory():
    rr = RoundRobinState()
    first = rr.assign(10, [2, 1])
    assert first.tolist() == [0, 0, 1, 0, 0, 1, 0, 0, 1, 0]
    assert rr.assign(2, [2, 1]).tolist() == [0, 1]  # continues where it stopped


def test_filters_default_reject_vector_49():
    core_allow = Filter("target", allow=True, target_idx=0)
    core_reject = Filter("target", allow=False, target_idx=0)
    ops_allow = Filter("anon", allow=True)
    assert kernel.filters_default_reject([]) == (False, False)
    assert kernel.filters_default_reject([core_allow]) == (True, False)
    assert kernel.filters_default_reject([core_reject]) == (False, False)
    assert kernel.filters_default_reject([core_reject, ops_allow]) == (False, True)
    assert kernel.filters_default_reject([core_allow, ops_allow]) == (False, True)


def test_addr_filter_splits_and_matches_vector_48():
    f = Filter("addr", matching=True, allow=False, addr_range=(2, 6))
    cases = [((3, 5), [True], 1), ((1, 2), [False], 1), ((6, 8), [False], 1),
             ((1, 4), [False, True], 2), ((2, 8), [True, False], 2)]
    for (s, e), matches, nregions in cases:
        r = RegionArrays()
        r.set_ranges([(s, e)])
        r.split_at_addresses(split_points([f], 1))
        assert r.n == nregions
        verdict, _ = core_verdict([f], r.start, r.end, 0)
        # a matching reject filter rejects exactly the pieces inside the range
        assert (~verdict).tolist() == matches


def test_ops_filters_young():
    young = np.array([True, False, True, False])
    allow_young = [Filter("young", allow=True)]
    reject_young = [Filter("young", allow=False)]
    assert ops_verdict(allow_young, 4, 4096, young).tolist() == young.tolist()
    assert ops_verdict(reject_young, 4, 4096, young).tolist() == (~young).tolist()
    # vector 50 with anonymous memory only: [allow anon, reject young] accepts every folio
    assert ops_verdict([Filter("anon", allow=True), *reject_young], 4, 4096, young).all()
    assert ops_verdict([], 4, 4096, young) is None
    with pytest.raises(ValueError, match="cgroups"):
        Filter("memcg", allow=True)


def test_commit_semantics_vectors_52_to_57():
    old = Scheme("migrate_hot", target_nid=1, dests=[(1, 2), (2, 3), (3, 4)],
                 quota=Quota(sz=3, ms=2, reset_interval_ms=1, weight_sz=4, weight_nr_accesses=5,
                             weight_age=6, goals=[QuotaGoal("node_mem_used_bp", 1000,
                                                            current_value=123, nid=9)]))
    old.stats.nr_tried, old.qstate.esz, old.qstate.charged_sz, old.next_apply_sis = 7, 99, 42, 1234
    src = Scheme("migrate_hot", target_nid=5, dests=[(4, 5), (5, 6)],
                 quota=Quota(sz=9, ms=8, reset_interval_ms=7, weight_sz=10, weight_nr_accesses=11,
                             weight_age=12, goal_tuner="temporal",
                             goals=[QuotaGoal("node_mem_free_bp", 500, current_value=1, nid=6),
                                    QuotaGoal("user_input", 123, current_value=12)]))
    old.commit(src)
    assert old.target_nid == 5 and old.dests == [(4, 5), (5, 6)]
    q = old.quota
    assert (q.sz, q.ms, q.reset_interval_ms, q.weight_sz, q.weight_nr_accesses, q.weight_age,
            q.goal_tuner) == (9, 8, 7, 10, 11, 12, "temporal")
    assert [(g.metric, g.target_value, g.nid) for g in q.goals] == \
        [("node_mem_free_bp", 500, 6), ("user_input", 123, None)]
    assert q.goals[1].current_value == 12  # user_input current value comes from the source
    # private state survives a commit
    assert (old.stats.nr_tried, old.qstate.esz, old.qstate.charged_sz, old.next_apply_sis) == \
        (7, 99, 42, 1234)


def test_watermark_free_mem_rate_vector_93():
    from damon_gym.damos.engine import DamosEngine
    from damon_gym.memory.placement import LocalPolicy
    from damon_gym.memory.system import MemorySystem
    from damon_gym.memory.topology import load_topology

    mem = MemorySystem(load_topology("tiny"), page_size=4096)
    total = mem.nr_frames
    idx = mem.add_process(1, [(0x7F00_0000_0000, 0x7F00_0000_0000 + (total * 8 // 10) * 4096)])
    mem.allocate(idx, np.arange(total * 8 // 10), LocalPolicy())
    eng = DamosEngine(mem)
    assert eng.free_mem_rate() == 200


def test_min_score_for_quota_takes_a_score_to_bytes_mapping_and_refuses_bad_ones():
    """The histogram as issue #3 gives it, ``{score: bytes}``, gives the cut-offs of the list
    form (it used to read the mapping's keys as sizes); u64-sized quotas take the reference
    path and agree; bad entries are refused naming them."""
    import pytest

    by_score = {90: 10, 80: 20, 10: 30}
    for esz, want in ((5, 90), (10, 90), (11, 80), (31, 10), (1000, 0)):
        assert kernel.min_score_for_quota(by_score, esz) == want
    assert kernel.min_score_for_quota(by_score, 2**64 - 1) == 0  # beyond int64: reference
    assert kernel.min_score_for_quota({}, 1) == 0
    with pytest.raises(ValueError, match=r"score 100; allowed: integers 0\.\.99"):
        kernel.min_score_for_quota({100: 1}, 5)
    with pytest.raises(ValueError, match=r"size_by_score\[3\]: -1; allowed"):
        kernel.min_score_for_quota({3: -1}, 5)
    with pytest.raises(ValueError, match=r"101 entries; allowed: at most 100"):
        kernel.min_score_for_quota([0] * 101, 5)
