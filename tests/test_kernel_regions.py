"""Conformance vectors of [DS 10.1] (regions, split, merge, sz limit,
aggregation reset), checked through ``damon_gym.kernel``. [B] = nr_accesses_bp era (the
default switches), [N] = v7.2-era switches. KUnit vectors use min_region_sz 1."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from damon_gym import kernel as k
from damon_gym.kernel import Region


def spans(regions):
    return [(r.start, r.end) for r in regions]


def make(bounds, nrs=None):
    nrs = nrs or [0] * len(bounds)
    return [Region(s, e, nr_accesses=n) for (s, e), n in zip(bounds, nrs, strict=True)]


# ---- vector 1 (kunit damon_test_regions); vectors 2 and 17 test kernel list plumbing
# (target/context lists, damon_is_last_region) that plain Python lists make moot.
def test_v1_new_region():
    r = Region(1, 2)
    assert (r.start, r.end, r.nr_accesses, r.age, r.last_nr_accesses) == (1, 2, 0, 0, 0)
    assert r.size == k.region_sz(r) == 1


# ---- vector 4 (kunit damon_test_split_at, [B] includes bp)
def test_v4_split_at_copies_counters():
    r = Region(0, 100, nr_accesses=42, last_nr_accesses=15, age=10, nr_accesses_bp=420000)
    left, right = k.split_region_at(r, 25)
    assert spans([left, right]) == [(0, 25), (25, 100)]
    for p in (left, right):
        assert (p.nr_accesses, p.last_nr_accesses, p.age, p.nr_accesses_bp) == (42, 15, 10, 420000)
    assert (r.start, r.end) == (0, 100)  # pure: the input is not modified


@pytest.mark.parametrize("sz", [0, 100, -1, 150])
def test_split_at_rejects_empty_pieces(sz):
    with pytest.raises(ValueError, match="sz"):
        k.split_region_at(Region(0, 100), sz)


def test_merge_two_regions_weighted_integer_division():
    left = Region(0, 10, nr_accesses=3, age=7, last_nr_accesses=9, nr_accesses_bp=1)
    right = Region(10, 40, nr_accesses=8, age=2, last_nr_accesses=1, nr_accesses_bp=2)
    m = k.merge_two_regions(left, right)
    assert (m.start, m.end) == (0, 40)
    assert m.nr_accesses == (3 * 10 + 8 * 30) // 40 == 6  # 270/40 = 6.75 -> 6
    assert m.age == (7 * 10 + 2 * 30) // 40 == 3          # 130/40 = 3.25 -> 3
    assert m.nr_accesses_bp == 60000
    assert m.last_nr_accesses == 9  # keeps the left region's value


# ---- vectors 6 ([B] 6.9) and 7 ([N] and 2026 trees)
V6_BOUNDS = [(0, 100), (100, 112), (114, 122), (122, 130), (130, 156), (156, 170),
             (170, 184), (184, 230)]
V6_NRS = [0, 0, 10, 10, 20, 30, 1, 2]
V6_EXPECTED = [(0, 112), (114, 130), (130, 156), (156, 170), (170, 230)]


def test_v6_merge_regions_of():
    out = k.merge_regions_of(make(V6_BOUNDS, V6_NRS), 9, 9999)
    assert spans(out) == V6_EXPECTED


def test_v7_merge_regions_of_respects_sz_limit():
    out = k.merge_regions_of(make(V6_BOUNDS + [(230, 10170)], V6_NRS + [5]), 9, 9999,
                             zero_nonzero_age_reset=True)
    # [170,230) has nr (1*14 + 2*46)//60 = 1, |1-5| <= 9, but 60 + 9940 = 10000 > 9999.
    assert spans(out) == V6_EXPECTED + [(230, 10170)]
    assert out[-2].nr_accesses == 1


def test_merge_regions_of_age_rules():
    regions = [Region(0, 10, nr_accesses=5, last_nr_accesses=5, age=3),    # steady: +1
               Region(20, 30, nr_accesses=9, last_nr_accesses=1, age=3),   # |8| > 2: reset
               Region(40, 50, nr_accesses=1, last_nr_accesses=0, age=3),   # 0 <-> non-zero
               Region(60, 70, nr_accesses=0, last_nr_accesses=0, age=3)]   # steady zero: +1
    late = k.merge_regions_of(regions, 2, 10**9)
    assert [r.age for r in late] == [4, 0, 0, 4]
    early = k.merge_regions_of(regions, 2, 10**9, zero_nonzero_age_reset=False)
    assert [r.age for r in early] == [4, 0, 4, 4]
    assert [r.age for r in regions] == [3, 3, 3, 3]  # inputs untouched


# ---- kdamond_merge_regions repeat loop (derived from [DS 1.8])
def test_merge_regions_doubles_threshold_until_count_fits():
    regions = [Region(10 * i, 10 * i + 10, nr_accesses=i, last_nr_accesses=i, age=5)
               for i in range(4)]
    # pass thresholds 0, 1, 2: ages +1 per pass in [B]
    [b] = k.merge_regions([regions], 0, 10**9, max_nr_regions=1, max_thres=20)
    assert spans(b) == [(0, 40)]
    assert (b[0].nr_accesses, b[0].last_nr_accesses, b[0].age) == (1, 0, 8)
    [n] = k.merge_regions([regions], 0, 10**9, max_nr_regions=1, max_thres=20,
                          count_age_first_merge_pass_only=True)
    assert spans(n) == [(0, 40)] and n[0].age == 6


def test_merge_regions_stops_when_threshold_exceeds_max_thres():
    # |nr differences| = 45 never merge; passes run with thresholds 0,1,2,4,8,16,32 for
    # max_thres 20 (stop once threshold // 2 >= 20) and 0,1 for max_thres 1.
    regions = [Region(0, 10, nr_accesses=5, last_nr_accesses=5),
               Region(10, 20, nr_accesses=50, last_nr_accesses=50),
               Region(20, 30, nr_accesses=95, last_nr_accesses=95)]
    for max_thres, passes in [(20, 7), (1, 2)]:
        [out] = k.merge_regions([regions], 0, 10**9, 1, max_thres)
        assert len(out) == 3 and [r.age for r in out] == [passes] * 3
    # enough regions already: exactly one pass
    [out] = k.merge_regions([regions], 0, 10**9, 3, 20)
    assert [r.age for r in out] == [1, 1, 1]


def test_merge_regions_counts_all_targets():
    t = [Region(0, 10, nr_accesses=1, last_nr_accesses=1), Region(10, 20, nr_accesses=3,
                                                                  last_nr_accesses=3)]
    # 4 regions over two targets > max 3: thresholds 0, 1, 2 -> merged at 2
    out = k.merge_regions([t, t], 0, 10**9, 3, 20)
    assert [len(x) for x in out] == [1, 1]
    out = k.merge_regions([t, t], 0, 10**9, 4, 20)
    assert [len(x) for x in out] == [2, 2]


# ---- damon_region_sz_limit [DS 1.8]
def test_region_sz_limit():
    t = [[Region(0, 6000)], [Region(10000, 14000)]]
    assert k.region_sz_limit(t, 10, 1) == 1000
    assert k.region_sz_limit(t, 10, 4096) == 4096
    assert k.region_sz_limit(t, 0, 1) == 10000          # min_nr_regions 0: no division
    assert k.region_sz_limit(t, 3, 1) == 3333
    assert k.region_sz_limit(t, 3, 1024) == 3333                 # [B]: not rounded
    assert k.region_sz_limit(t, 3, 1024, round_up=True) == 4096  # [N]: 3333 -> 4096


# ---- vectors 15 (kunit [N]) and 16 (derived [N])
@pytest.mark.parametrize("total,min_sz,min_nr,exp_max,exp_n",
                         [(10, 1, 10, 1, 10), (10, 1, 15, 1, 10), (10, 2, 2, 6, 2),
                          (10, 2, 10, 2, 5)])
def test_v15_apply_min_nr_regions(total, min_sz, min_nr, exp_max, exp_n):
    max_sz, [out] = k.apply_min_nr_regions([[Region(0, total, nr_accesses=3, age=4)]],
                                           min_nr, min_sz)
    assert (max_sz, len(out)) == (exp_max, exp_n)
    assert out[0].start == 0 and out[-1].end == total
    assert all(a.end == b.start for a, b in pairwise(out))
    assert all(r.size <= max_sz and (r.nr_accesses, r.age) == (3, 4) for r in out)


def test_v16_apply_min_nr_regions_rounds_up():
    max_sz, [out] = k.apply_min_nr_regions([[Region(0, 4096 * 1000)]], 10, 4096)
    assert max_sz == 409600 and len(out) == 10 and all(r.size == 409600 for r in out)
    max_sz, [out] = k.apply_min_nr_regions([[Region(0, 4096 * 1001)]], 10, 4096)
    assert max_sz == 413696 and len(out) == 10
    assert [r.size for r in out] == [413696] * 9 + [4096 * 1001 - 9 * 413696]


# ---- vectors 9 and 13: random split ([B] damon_split_regions_of)
def check_split(before, after, nr_subs, min_sz):
    assert len(after) <= nr_subs * len(before)
    for orig in before:
        pieces = [r for r in after if orig.start <= r.start < orig.end]
        assert 1 <= len(pieces) <= nr_subs
        assert pieces[0].start == orig.start and pieces[-1].end == orig.end
        assert all(a.end == b.start for a, b in pairwise(pieces))  # sizes preserved
        for p in pieces:
            assert (p.start - orig.start) % min_sz == 0  # cuts aligned to min_region_sz
            assert p.size >= min_sz                     # holds for aligned region sizes
            assert (p.nr_accesses, p.last_nr_accesses, p.age, p.nr_accesses_bp) == (
                orig.nr_accesses, orig.last_nr_accesses, orig.age, orig.nr_accesses_bp)


@pytest.mark.parametrize("bounds,nr_subs,min_sz", [
    ([(0, 22)], 2, 1), ([(0, 220)], 4, 1), ([(0, 220), (300, 400), (500, 700)], 4, 5),
    ([(0, 4096 * 37), (4096 * 40, 4096 * 41), (4096 * 50, 4096 * 52), (4096 * 60, 4096 * 160)],
     3, 4096)])
def test_v9_split_regions_of_bounds(bounds, nr_subs, min_sz):
    before = [Region(s, e, nr_accesses=7, last_nr_accesses=3, age=11, nr_accesses_bp=70000)
              for s, e in bounds]
    for seed in range(300):
        after = k.split_regions_of(before, nr_subs, min_sz, np.random.default_rng(seed))
        check_split(before, after, nr_subs, min_sz)


def test_v13_small_regions_never_split():
    before = [Region(0, 8192), Region(8192, 12288)]
    for seed in range(50):
        after = k.split_regions_of(before, 3, 4096, np.random.default_rng(seed))
        assert spans(after) == spans(before)


def test_split_cut_is_one_to_nine_tenths():
    # damon_rand(1, 10) is half-open: every cut of [0,100) lands on 10..90, all 9 appear.
    cuts = set()
    for seed in range(400):
        out = k.split_regions_of([Region(0, 100)], 2, 1, np.random.default_rng(seed))
        assert len(out) == 2
        cuts.add(out[0].end)
    assert cuts == {10, 20, 30, 40, 50, 60, 70, 80, 90}


def test_split_further_cuts_subdivide_the_left_piece():
    for seed in range(100):
        out = k.split_regions_of([Region(0, 1000)], 3, 1, np.random.default_rng(seed))
        assert len(out) == 3
        first_cut = out[1].end
        assert first_cut in {100 * i for i in range(1, 10)}
        assert out[0].end in {j * first_cut // 10 for j in range(1, 10)}


def test_split_is_deterministic_per_seed():
    before = [Region(0, 4096 * 100)]
    a = k.split_regions_of(before, 3, 4096, np.random.default_rng(7))
    b = k.split_regions_of(before, 3, 4096, np.random.default_rng(7))
    assert spans(a) == spans(b)


# ---- kdamond_split_regions ([B] 2-or-3 rule)
def test_split_regions_two_or_three():
    big = [[Region(i * 4096 * 100, (i + 1) * 4096 * 100) for i in range(4)]]
    # Regions of 100 pages: the first cut (10..90 %) and the second (of >= 10 pages) always
    # succeed, so each region gives exactly nr_subs pieces.
    out, last = k.split_regions(big, 4096, 1000, 0, np.random.default_rng(1))
    assert last == 4 and len(out[0]) == 8
    out, last = k.split_regions(big, 4096, 1000, 4, np.random.default_rng(1))  # last_n == n
    assert last == 4 and len(out[0]) == 12
    out, last = k.split_regions(big, 4096, 12, 4, np.random.default_rng(1))  # n < 12//3 fails
    assert last == 4 and len(out[0]) == 8
    out, last = k.split_regions(big, 4096, 15, 4, np.random.default_rng(1))  # 4 < 15//3
    assert len(out[0]) == 12


def test_split_regions_skipped_above_half_keeps_last_n():
    regions = [[Region(i * 100, i * 100 + 100) for i in range(6)]]
    out, last = k.split_regions(regions, 1, 11, 42, np.random.default_rng(0))  # 6 > 11//2
    assert spans(out[0]) == spans(regions[0]) and last == 42
    out, last = k.split_regions(regions, 1, 12, 42, np.random.default_rng(0))  # 6 <= 6
    assert len(out[0]) == 12 and last == 6


def test_v10_b_era_does_not_split_above_half():
    # Vector 10/11 are [N] (split-some-above-half, not implemented here). In [B], 760
    # regions with max 1500 exceed 1500 // 2 = 750, so kdamond_split_regions does nothing.
    regions = [[Region(i * 100, i * 100 + 100, nr_accesses=100 * (i % 2), age=5)
                for i in range(760)]]
    out, _ = k.split_regions(regions, 1, 1500, 0, np.random.default_rng(0))
    assert len(out[0]) == 760


# ---- vector 3 (kunit damon_test_aggregate): kdamond_reset_aggregated
def test_v3_reset_aggregated():
    bounds = [[(10, 15), (20, 27), (30, 40)], [(5, 31), (42, 45), (49, 55)],
              [(13, 23), (33, 44), (55, 66)]]
    nrs = [[42, 95, 84], [10, 20, 30], [0, 1, 2]]
    targets = [make(b, n) for b, n in zip(bounds, nrs, strict=True)]
    out = k.reset_aggregated(targets)
    assert len(out) == 3 and all(len(t) == 3 for t in out)
    assert all(r.nr_accesses == 0 for t in out for r in t)
    assert [[r.last_nr_accesses for r in t] for t in out] == nrs
    assert [spans(t) for t in out] == bounds
