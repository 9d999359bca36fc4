"""Conformance vectors of [DS 10.2]: damon_set_regions and the vaddr
layout helpers (three regions, apply, even split), checked through ``damon_gym.kernel``.
KUnit vectors use min_region_sz 1 (vaddr KUnit redefines DAMON_MIN_REGION to 1)."""

from __future__ import annotations

import pytest

from damon_gym import kernel as k
from damon_gym.kernel import Region


def spans(regions):
    return [(r.start, r.end) for r in regions]


def make(bounds):
    return [Region(s, e) for s, e in bounds]


# ---- damon_set_regions ([N] validation era)
def test_v18_set_regions_on_empty_target():
    assert spans(k.set_regions([], [(5, 15), (15, 25)], 1)) == [(5, 15), (15, 25)]


def test_v19_set_regions_drops_non_intersecting():
    assert spans(k.set_regions(make([(4, 16), (24, 32)]), [(18, 23)], 1)) == [(18, 23)]


@pytest.mark.parametrize("ranges,min_sz", [([(42, 42)], 1), ([(42, 21)], 1),
                                           ([(10, 20), (20, 30)], 4096),
                                           ([(20, 30), (0, 10)], 1)])  # unsorted = overlap
def test_v23_set_regions_rejects_invalid_ranges(ranges, min_sz):
    old = [Region(0, 8, nr_accesses=3)]
    with pytest.raises(ValueError, match="ranges"):
        k.set_regions(old, ranges, min_sz)
    assert spans(old) == [(0, 8)] and old[0].nr_accesses == 3  # nothing changed
    with pytest.raises(ValueError):
        k.set_regions([], ranges, min_sz)


def test_set_regions_adjacent_aligned_ranges_are_fine():
    assert spans(k.set_regions([], [(10, 20), (20, 30)], 1)) == [(10, 20), (20, 30)]
    # Spec 1.13 validates the *aligned* range: [42,42) with 4096 aligns to [0,4096), valid.
    # (Our reading; the KUnit -EINVAL case uses min_region_sz 1.)
    assert spans(k.set_regions([], [(42, 42)], 4096)) == [(0, 4096)]


def test_v24_commit_target_regions():
    out = k.set_regions(make([(3, 8), (8, 10)]), [(4, 6)], 1)
    assert spans(out) == [(4, 6)]
    # The second half of vector 24 (empty src leaves dst unchanged) is a rule of
    # damon_commit_target_regions, which skips damon_set_regions when src has no regions.
    # damon_set_regions itself with no ranges drops every region.
    assert k.set_regions(make([(3, 8), (8, 10)]), [], 1) == []


def test_set_regions_keeps_counters_aligns_and_fills_holes():
    old = [Region(4096, 8192, nr_accesses=5, age=9, last_nr_accesses=4, nr_accesses_bp=50000),
           Region(3 * 4096, 4 * 4096, nr_accesses=2, age=1)]
    out = k.set_regions(old, [(5000, 4 * 4096 - 100)], 4096)
    assert spans(out) == [(4096, 8192), (8192, 3 * 4096), (3 * 4096, 4 * 4096)]
    assert (out[0].nr_accesses, out[0].age, out[0].last_nr_accesses,
            out[0].nr_accesses_bp) == (5, 9, 4, 50000)
    assert (out[1].nr_accesses, out[1].age) == (0, 0)  # the hole filler is new
    assert (out[2].nr_accesses, out[2].age) == (2, 1)
    assert spans(old) == [(4096, 8192), (3 * 4096, 4 * 4096)]  # pure


def test_set_regions_inserts_between_existing():
    old = make([(0, 10), (50, 60)])
    out = k.set_regions(old, [(0, 10), (20, 30), (50, 60)], 1)
    assert spans(out) == [(0, 10), (20, 30), (50, 60)]


# ---- vector 25: three regions of VMAs
def test_v25_three_regions_in_vmas():
    vmas = [(10, 20), (20, 25), (200, 210), (210, 220), (300, 305), (307, 330)]
    assert k.three_regions_of(vmas, 1) == [(10, 25), (200, 220), (300, 330)]


def test_three_regions_align_up_and_order_gaps_by_address():
    page = 4096
    # the larger gap comes second in address order; bounds are aligned *up*
    vmas = [(0, 10 * page - 100), (20 * page, 30 * page), (500 * page, 510 * page + 1)]
    assert k.three_regions_of(vmas) == [(0, 10 * page), (20 * page, 30 * page),
                                        (500 * page, 511 * page)]
    # unaligned VMA starts are aligned up too (ALIGN, not ALIGN_DOWN)
    vmas = [(100, page), (5 * page + 1, 6 * page), (90 * page + 7, 91 * page)]
    assert k.three_regions_of(vmas) == [(page, page), (6 * page, 6 * page),
                                        (91 * page, 91 * page)]


@pytest.mark.parametrize("vmas", [[], [(0, 10)], [(0, 10), (10, 20), (20, 30)],
                                  [(0, 10), (20, 30), (30, 40)]])
def test_three_regions_need_two_gaps(vmas):
    with pytest.raises(ValueError, match="two non-empty gaps"):
        k.three_regions_of(vmas, 1)


# ---- vector 29 (kunit apply_three_regions4) and apply_three_regions1..3, whose setup is
# the same old regions; expected outputs derived from damon_set_regions [DS 1.13].
OLD = [(10, 20), (20, 30), (50, 55), (55, 57), (57, 59), (70, 80), (80, 90), (90, 100)]


@pytest.mark.parametrize("three,expected,nrs", [
    # 1: expand/shrink each; [55,57),[57,59) do not intersect [45,55) and go away
    ([(5, 27), (45, 55), (73, 104)],
     [(5, 20), (20, 27), (45, 55), (73, 80), (80, 90), (90, 104)], [10, 20, 50, 70, 80, 90]),
    # 2: shrink one, expand two
    ([(5, 27), (56, 57), (65, 104)],
     [(5, 20), (20, 27), (56, 57), (65, 80), (80, 90), (90, 104)], [10, 20, 55, 70, 80, 90]),
    # 3: the middle range intersects nothing: a new region is inserted in order
    ([(5, 27), (61, 63), (65, 104)],
     [(5, 20), (20, 27), (61, 63), (65, 80), (80, 90), (90, 104)], [10, 20, 0, 70, 80, 90]),
    # 4 (vector 29): nothing intersects any more
    ([(5, 7), (30, 32), (65, 68)], [(5, 7), (30, 32), (65, 68)], [0, 0, 0]),
])
def test_v29_apply_three_regions(three, expected, nrs):
    # each old region carries nr_accesses = its start, so survivors are recognisable
    old = [Region(s, e, nr_accesses=s, age=1) for s, e in OLD]
    out = k.apply_three_regions(old, three, 1)
    assert spans(out) == expected
    assert [r.nr_accesses for r in out] == nrs


def test_apply_three_regions_keeps_counters_of_survivors():
    old = [Region(10, 20, nr_accesses=3, age=4), Region(20, 30, nr_accesses=6, age=2)]
    out = k.apply_three_regions(old, [(5, 27), (40, 50), (60, 70)], 1)
    assert spans(out) == [(5, 20), (20, 27), (40, 50), (60, 70)]
    assert [(r.nr_accesses, r.age) for r in out] == [(3, 4), (6, 2), (0, 0), (0, 0)]


def test_apply_three_regions_needs_three():
    with pytest.raises(ValueError, match="3 ranges"):
        k.apply_three_regions([], [(0, 10), (20, 30)], 1)


# ---- vector 30: damon_va_evenly_split_region
def test_v30_evenly_split_region():
    with pytest.raises(ValueError):
        k.evenly_split_region(None, 3, 1)
    r = Region(0, 100, nr_accesses=4)
    with pytest.raises(ValueError):
        k.evenly_split_region(r, 0, 1)
    assert spans([r]) == [(0, 100)]
    assert spans(k.evenly_split_region(r, 10, 1)) == [(i, i + 10) for i in range(0, 100, 10)]
    assert spans(k.evenly_split_region(Region(5, 59), 5, 1)) == [
        (5, 15), (15, 25), (25, 35), (35, 45), (45, 59)]
    assert spans(k.evenly_split_region(Region(4, 6), 1, 1)) == [(4, 6)]
    assert spans(k.evenly_split_region(Region(0, 3), 2, 1)) == [(0, 1), (1, 3)]
    small = Region(5, 6)
    with pytest.raises(ValueError):
        k.evenly_split_region(small, 2, 1)
    assert spans([small]) == [(5, 6)]


def test_evenly_split_aligns_piece_width():
    out = k.evenly_split_region(Region(0, 4096 * 10 + 100), 3, 4096)
    assert spans(out) == [(0, 12288), (12288, 24576), (24576, 4096 * 10 + 100)]


# ---- [B] initial regions [DS 1.10]
PAGE = 4096
VMAS = [(0, 10 * PAGE), (100 * PAGE, 130 * PAGE), (1000 * PAGE, 1060 * PAGE)]


def test_init_regions_even_split_to_min_nr_regions():
    out = k.init_regions_for_target(VMAS, 10, PAGE)
    # total 100 pages // 10 = 10 pages: 1 + 3 + 6 pieces of 10 pages
    assert len(out) == 10 and all(r.size == 10 * PAGE for r in out)
    assert out[0].start == 0 and out[-1].end == 1060 * PAGE


def test_init_regions_uneven_and_too_small():
    out = k.init_regions_for_target(VMAS, 7, PAGE)
    # sz = 409600 // 7 = 58514: region 1 gets 0 pieces (-EINVAL, stays whole), region 2 two
    # pieces of align_down(61440) = 15 pages, region 3 four pieces of 15 pages.
    assert spans(out) == [(0, 10 * PAGE)] + [
        (s * PAGE, (s + 15) * PAGE) for s in (100, 115, 1000, 1015, 1030, 1045)]


def test_init_regions_without_two_gaps_is_empty():
    assert k.init_regions_for_target([(0, 10 * PAGE), (20 * PAGE, 30 * PAGE)], 10, PAGE) == []
