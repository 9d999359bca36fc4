"""damon_gym.workloads.generators and layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from damon_gym.workloads import generators as g
from damon_gym.workloads import masim_workload, read_masim_config, tiering_test_config
from damon_gym.workloads.layout import HEAP_START, MMAP_TOP, STACK_START

MiB, GiB = 1 << 20, 1 << 30
FIX = Path(__file__).parent / "fixtures" / "masim"


def data_slices(w, proc=0, ps=4096):
    """page slices of the data VMAs (all but heap and stack)."""
    b = list(w.vma_page_bases(proc, ps)) + [w.process_pages(proc, ps)]
    return [slice(b[j], b[j + 1]) for j in range(1, len(b) - 2)]


def hot_mask(r, sl):
    return r[sl] > r[sl].min()


# --- layout ---------------------------------------------------------------------------------
def test_layout_heap_mmap_stack_and_three_regions_gaps():
    w = g.uniform("1 GiB", 1e6, nr_vmas=3)
    v = w.processes[0].vmas
    assert [x.name for x in v] == ["[heap]", "data0", "data1", "data2", "[stack]"]
    assert v[0].start == HEAP_START and v[-1].start == STACK_START
    assert all(x.start % (2 * MiB) == 0 for x in v)
    assert v[-2].end <= MMAP_TOP and v[1].start > HEAP_START + GiB
    gaps = [b.start - a.end for a, b in zip(v, v[1:], strict=False)]
    assert min(gaps) >= 2 * MiB
    # DAMON vaddr's three regions cut at the two largest gaps: heap|mmap and mmap|stack
    assert sorted(np.argsort(gaps)[-2:]) == [0, len(gaps) - 1]
    assert sum(x.size for x in v[1:-1]) == GiB


# --- single-phase primitives -----------------------------------------------------------------
def test_uniform_over_several_vmas():
    w = g.uniform("100 MiB", 1e6, nr_vmas=4, duration_s=30, write_fraction=0.2, u_target=0.9)
    r = w.rates_at(1.0, 0, 4096)
    assert r.sum() == pytest.approx(1e6)
    sl = data_slices(w)
    assert len(sl) == 4 and all(np.allclose(r[s], 1e6 / 25600) for s in sl)
    assert r[0] == 0 and r[-1] == 0  # heap and stack idle
    assert w.duration_s == 30 and w.write_fraction == 0.2 and w.u_target == 0.9
    assert w.rates_at(30.0, 0, 4096).sum() == 0


def test_hot_cold_generator_seeded():
    a = g.hot_cold("64 MiB", 0.25, 0.9, 1e6, 42)
    b = g.hot_cold("64 MiB", 0.25, 0.9, 1e6, np.random.default_rng(42))
    c = g.hot_cold("64 MiB", 0.25, 0.9, 1e6, 43)
    assert a == b and a != c
    ra, rc = a.rates_at(0, 0, 4096), c.rates_at(0, 0, 4096)
    assert np.array_equal(ra, b.rates_at(0, 0, 4096)) and not np.array_equal(ra, rc)
    sl = data_slices(a)[0]
    hot = hot_mask(ra, sl)
    assert hot.sum() == 4096 and ra[sl][hot].sum() == pytest.approx(9e5)
    cont = g.hot_cold("64 MiB", 0.25, 0.9, 1e6, 0, contiguous=True, hot_offset=32 * MiB)
    rh = cont.rates_at(0, 0, 4096)
    assert list(np.flatnonzero(hot_mask(rh, sl))) == list(range(8192, 12288))


def test_zipf_and_stream_generators():
    z = g.zipf("16 MiB", 0.99, 1e6, 7)
    assert z.rates_at(0, 0, 4096).sum() == pytest.approx(1e6)
    assert np.array_equal(z.rates_at(0, 0, 4096), g.zipf("16 MiB", 0.99, 1e6, 7).rates_at(0, 0, 4096))
    s = g.stream("16 MiB", 1e9)
    assert s.write_fraction == 0.5 and s.u_target == 0.95
    r = s.rates_at(0, 0, 4096)[data_slices(s)[0]]
    assert np.allclose(r, 1e9 / 4096)


# --- schedules ------------------------------------------------------------------------------
def test_rotate_matches_masim_stairs():
    w = g.rotate(10, 10_000_000, 5.0, 1e8)
    m = masim_workload(read_masim_config(FIX / "stairs.cfg"))
    assert [p.duration_s for p in w.phases] == [10.0] + [5.0] * 10
    assert w.change_times() == m.change_times()
    for t in [ph.start_s + 1 for ph in m.phases]:
        np.testing.assert_allclose(w.rates_at(t, 0, 4096), m.rates_at(t, 0, 4096), rtol=1e-12)
    sl = data_slices(w)
    r = w.rates_at(10.0 + 5 * 3 + 1, 0, 4096)  # phase 3: only s3
    assert [r[s].sum() > 0 for s in sl] == [i == 3 for i in range(10)]


def test_alternate_matches_masim_zigzag():
    w = g.alternate(100_000_000, 5.0, 1e8)
    m = masim_workload(read_masim_config(FIX / "zigzag.cfg"))
    assert len(w.phases) == 13 and [p.name for p in w.phases] == [p.name for p in m.phases]
    for t in [ph.start_s + 0.5 for ph in m.phases]:
        np.testing.assert_allclose(w.rates_at(t, 0, 4096), m.rates_at(t, 0, 4096), rtol=1e-12)


def test_random_rank_shape_and_masim_equivalence():
    w = g.random_rank("1 GiB", 10, 10, 5.0, 3)
    assert w.write_fraction == 1.0 and w.duration_s == 50.0
    sl = data_slices(w)
    assert all(s.stop - s.start == -(-107374182 // 4096) for s in sl)
    ranks = []
    for p in range(10):
        r = w.rates_at(5.0 * p + 1, 0, 4096)
        per = np.array([r[s].sum() for s in sl])
        assert per.sum() == pytest.approx(1e8)
        w_ = np.rint(per / 1e8 * 45).astype(int)  # weights 0..9 sum to 45
        assert sorted(w_) == list(range(10)) and per.max() == pytest.approx(2e8 / 10)
        ranks.append(tuple(w_))
    assert len(set(ranks)) > 1  # fresh permutation per phase
    m = masim_workload(tiering_test_config("1 GiB", 10, 10, 5000, 3))
    for t in (1.0, 26.0, 49.0):
        np.testing.assert_allclose(w.rates_at(t, 0, 4096), m.rates_at(t, 0, 4096), rtol=1e-12)
    assert g.random_rank("1 GiB", 10, 10, 5.0, 4) != w


@pytest.mark.parametrize("contiguous", [False, True])
def test_partial_shift_moves_a_fraction_once(contiguous):
    base = g.hot_cold("256 MiB", 0.25, 0.9, 1e6, 5, contiguous=contiguous, duration_s=60)
    w = g.partial_shift(base, 0.25, 20.0, 6)
    assert [(p.start_s, p.end_s) for p in w.phases] == [(0.0, 20.0), (20.0, 60.0)]
    assert 20.0 in w.change_times()
    sl = data_slices(w)[0]
    r0 = base.rates_at(1, 0, 4096)
    assert np.array_equal(w.rates_at(1, 0, 4096), r0)
    r1 = w.rates_at(30, 0, 4096)
    h0, h1 = hot_mask(r0, sl), hot_mask(r1, sl)
    k = 16384  # 0.25 * 65536 pages
    assert h0.sum() == h1.sum() == k and (h0 & ~h1).sum() == k // 4
    assert r1.sum() == pytest.approx(1e6)
    if contiguous:
        moved = np.flatnonzero(h1 & ~h0)
        assert moved[-1] - moved[0] == k // 4 - 1
    assert g.partial_shift(base, 0.25, 20.0, 6) == w


def test_periodic_swaps_accumulate():
    base = g.hot_cold("128 MiB", 0.13, 0.9, 1e6, 1, duration_s=60)
    w = g.periodic_swaps(base, 10.0, "1 MiB", 2)
    assert [p.start_s for p in w.phases] == [0.0, 10.0, 20.0, 30.0, 40.0, 50.0]
    sl = data_slices(w)[0]
    h0 = hot_mask(base.rates_at(0, 0, 4096), sl)
    changed = []
    for t in (5, 15, 25, 55):
        r = w.rates_at(t, 0, 4096)
        h = hot_mask(r, sl)
        assert h.sum() == h0.sum() and r.sum() == pytest.approx(1e6)
        changed.append(int((h0 & ~h).sum()))
    assert changed[0] == 0 and changed[1] == 256
    assert changed[1] < changed[2] < changed[3] <= 5 * 256
    w2 = g.periodic_swaps(base, 10.0, "1 MiB", 2)
    assert np.array_equal(w2.rates_at(55, 0, 4096), w.rates_at(55, 0, 4096))
    with pytest.raises(ValueError, match="hot_cold"):
        g.periodic_swaps(g.uniform("1 MiB", 1.0), 10.0, "1 MiB", 2)


# --- several processes ----------------------------------------------------------------------
def test_with_processes_and_merge():
    a = g.uniform("32 MiB", 1e6, duration_s=60, write_fraction=0.0, u_target=0.4)
    b0 = g.zipf("16 MiB", 0.99, 3e6, 9, duration_s=20, write_fraction=1.0, u_target=0.8)
    b = g.with_processes(b0, start_s=30.0, exit_s=45.0, pid=2000, name="late")
    assert b.processes[0].start_s == 30.0 and b.phases[0].start_s == 30.0
    m = g.merge([a, b])
    assert [p.pid for p in m.processes] == [1000, 2000] and m.u_target == 0.8
    assert m.change_times() == [0.0, 30.0, 45.0, 50.0, 60.0]
    assert m.live_processes(10.0) == [0] and m.live_processes(40.0) == [0, 1]
    assert m.rates_at(10.0, 1, 4096).sum() == 0
    np.testing.assert_array_equal(m.rates_at(40.0, 1, 4096), b0.rates_at(10.0, 0, 4096))
    np.testing.assert_array_equal(m.rates_at(40.0, 0, 4096), a.rates_at(40.0, 0, 4096))
    assert m.rates_at(47.0, 1, 4096).sum() == 0  # exited though its phase runs to 50 s
    assert m.write_fraction_at(10.0) == 0.0
    assert m.write_fraction_at(35.0) == pytest.approx(3e6 / 4e6)  # access-weighted
    assert m.write_fraction_at(47.0) == 0.0  # only the writer process exited
    with pytest.raises(ValueError, match="distinct pids"):
        g.merge([a, a])
    with pytest.raises(ValueError, match="pid"):
        g.with_processes(m, pid=5)
