"""damon_gym.workloads.model / fields: validation, page index space, rate expansion."""

from __future__ import annotations

import math

import numpy as np
import pytest

from damon_gym.workloads import MempolicySpec, Phase, ProcessSpec, RateSegment, VMASpec, Workload

KiB, MiB = 1 << 10, 1 << 20
A = 0x4000_0000  # a 2 MiB aligned base address


def proc(vmas, pid=1, **kw):
    return ProcessSpec(pid, f"p{pid}", [VMASpec(s, e) for s, e in vmas], **kw)


def wl(procs, phases, **kw):
    return Workload("t", procs, phases, **kw)


def one_phase(vmas, segs, t0=0.0, t1=10.0, **kw):
    return wl([proc(vmas)], [Phase(t0, t1, "p", segs)], **kw)


# --- validation -----------------------------------------------------------------------------
@pytest.mark.parametrize("start,end,field", [(A + 4096, A + MiB, "VMASpec.start"),
                                             (A, A, "VMASpec.end"), (-2 * MiB, A, "VMASpec.start")])
def test_vma_validation(start, end, field):
    with pytest.raises(ValueError, match=field):
        VMASpec(start, end)


def test_process_requires_2mib_gap_between_vmas():
    proc([(A, A + 5 * MiB + 1), (A + 8 * MiB, A + 9 * MiB)])  # gap 3 MiB - 1 byte: ok
    proc([(A, A + 4 * MiB), (A + 6 * MiB, A + 7 * MiB)])  # exactly 2 MiB: ok
    with pytest.raises(ValueError, match="gap of at least 2 MiB"):
        proc([(A, A + 4 * MiB + 1), (A + 6 * MiB, A + 7 * MiB)])
    with pytest.raises(ValueError, match="sorted"):
        proc([(A + 8 * MiB, A + 9 * MiB), (A, A + MiB)])
    with pytest.raises(ValueError, match="exit_s"):
        proc([(A, A + MiB)], start_s=5.0, exit_s=5.0)


def test_mempolicy_validation():
    MempolicySpec("weighted_interleave", [0, 1], [3, 1])
    MempolicySpec("weighted_interleave", [0, 1], None)
    with pytest.raises(ValueError, match="MempolicySpec.mode"):
        MempolicySpec("bind", [0])
    with pytest.raises(ValueError, match="MempolicySpec.nodes"):
        MempolicySpec("interleave", None)
    with pytest.raises(ValueError, match="MempolicySpec.weights"):
        MempolicySpec("weighted_interleave", [0, 1], [1, 0])
    with pytest.raises(ValueError, match="MempolicySpec.weights"):
        MempolicySpec("interleave", [0, 1], [1, 1])


def test_workload_validation_names_field_value_and_range():
    p = [proc([(A, A + MiB)])]
    with pytest.raises(ValueError, match=r"Workload.write_fraction: got 1.5; allowed: .*\[0, 1\]"):
        wl(p, [], write_fraction=1.5)
    for u in (0.0, 1.0):
        with pytest.raises(ValueError, match=r"Workload.u_target: got .*\(0, 0.99\]"):
            wl(p, [], u_target=u)
    with pytest.raises(ValueError, match="not overlapping"):
        wl(p, [Phase(0, 10, "a"), Phase(5, 20, "b")])
    with pytest.raises(ValueError, match="sorted"):
        wl(p, [Phase(10, 20, "a"), Phase(0, 5, "b")])
    with pytest.raises(ValueError, match="end_s"):
        Phase(3, 3, "x")
    with pytest.raises(ValueError, match="proc"):
        wl(p, [Phase(0, 1, "a", [RateSegment(1, A, A + 1, "uniform", {"total_rate": 1})])])
    with pytest.raises(ValueError, match="distinct pids"):
        wl([proc([(A, A + MiB)]), proc([(A, A + MiB)])], [])


@pytest.mark.parametrize("kind,params,bad", [
    ("gauss", {"total_rate": 1}, "kind"),
    ("uniform", {}, "total_rate"),
    ("uniform", {"total_rate": -1}, "total_rate"),
    ("uniform", {"total_rate": 1, "theta": 1}, "theta"),
    ("zipf", {"total_rate": 1, "theta": 0.99}, "perm_seed"),
    ("hot_cold", {"total_rate": 1, "hot_fraction": 1.2, "hot_prob": 0.9, "perm_seed": 1},
     "hot_fraction"),
    ("sequential", {"total_rate": 1, "stride": 0}, "stride"),
    ("hot_cold", {"total_rate": 1, "hot_fraction": 0.1, "hot_prob": 0.9, "perm_seed": 1,
                  "moves": [[1, 2]]}, "moves"),
])
def test_segment_param_validation(kind, params, bad):
    with pytest.raises(ValueError, match=bad):
        RateSegment(0, A, A + MiB, kind, params)


# --- page index space -----------------------------------------------------------------------
def test_process_pages_and_vma_bases():
    w = one_phase([(A, A + 10 * MiB + 1), (A + 16 * MiB, A + 17 * MiB)], [])
    assert w.process_pages(0, 4096) == (10 * MiB // 4096 + 1) + 256
    assert list(w.vma_page_bases(0, 4096)) == [0, 10 * MiB // 4096 + 1]
    assert w.process_pages(0, 2 * MiB) == 6 + 1
    assert list(w.vma_page_bases(0, 2 * MiB)) == [0, 6]
    assert len(w.rates_at(1.0, 0, 2 * MiB)) == 7
    assert w.processes[0].vma_ranges(2 * MiB) == [(A, A + 12 * MiB), (A + 16 * MiB, A + 18 * MiB)]
    with pytest.raises(ValueError, match="page_size"):
        w.process_pages(0, 3000)


def test_populate_pages_per_vma_override():
    p = ProcessSpec(1, "p", [VMASpec(A, A + MiB), VMASpec(A + 4 * MiB, A + 6 * MiB, "", True)],
                    populate=False)
    w = wl([p], [])
    assert list(w.populate_pages(0, 2 * MiB)) == [1]
    assert list(w.populate_pages(0, 4096)) == list(range(256, 768))


# --- rate expansion -------------------------------------------------------------------------
VMAS = [(A, A + 40 * MiB + 123), (A + 44 * MiB, A + 50 * MiB)]
SEGS = [
    RateSegment(0, A + 5000, A + 30 * MiB, "uniform", {"total_rate": 1e6}),
    RateSegment(0, A, A + 40 * MiB + 123, "zipf", {"total_rate": 3e6, "theta": 0.9,
                                                   "perm_seed": 7}),
    RateSegment(0, A + 44 * MiB, A + 50 * MiB, "hot_cold",
                {"total_rate": 2e6, "hot_fraction": 0.1, "hot_prob": 0.9, "perm_seed": 3}),
    RateSegment(0, A + MiB + 17, A + 9 * MiB, "sequential", {"total_rate": 5e5, "stride": 6000}),
    RateSegment(0, A + 10 * MiB, A + 12 * MiB, "zipf", {"total_rate": 4e5, "theta": 1.2,
                                                        "contiguous": True}),
]


@pytest.mark.parametrize("page_size", [4096, 64 * KiB, 2 * MiB])
def test_rates_conserve_total_rate(page_size):
    w = one_phase(VMAS, SEGS)
    r = w.rates_at(5.0, 0, page_size)
    assert r.dtype == np.float64 and len(r) == w.process_pages(0, page_size)
    assert r.sum() == pytest.approx(sum(s.total_rate for s in SEGS), rel=1e-12)
    assert (r >= 0).all()
    for s in SEGS:  # each segment alone too
        r1 = one_phase(VMAS, [s]).rates_at(5.0, 0, page_size)
        assert r1.sum() == pytest.approx(s.total_rate, rel=1e-12)


def test_partial_pages_get_covered_share():
    seg = RateSegment(0, A + 1000, A + 3 * 4096 + 500, "uniform", {"total_rate": 1e4})
    r = one_phase(VMAS, [seg]).rates_at(0.0, 0, 4096)
    covered = np.array([4096 - 1000, 4096, 4096, 500], dtype=float)
    np.testing.assert_allclose(r[:4], 1e4 * covered / covered.sum(), rtol=1e-12)
    assert r[4:].sum() == 0


def test_segment_spanning_gap_ignores_outside_bytes():
    # [A+38 MiB, A+46 MiB) covers 2 MiB + 123 B of VMA 0 and 2 MiB of VMA 1 (the gap is skipped)
    seg = RateSegment(0, A + 38 * MiB, A + 46 * MiB, "uniform", {"total_rate": 1e6})
    w = one_phase(VMAS, [seg])
    r = w.rates_at(0.0, 0, 4096)
    assert r.sum() == pytest.approx(1e6)
    density = 1e6 / (4 * MiB + 123)
    b1 = w.vma_page_bases(0, 4096)[1]
    assert r[b1] == pytest.approx(density * 4096)
    assert r[b1 - 1] == pytest.approx(density * 123)  # VMA 0's last, partial page
    assert np.count_nonzero(r) == 512 + 1 + 512


def test_overlapping_segments_add():
    s1 = RateSegment(0, A, A + 8 * MiB, "uniform", {"total_rate": 2048.0})
    s2 = RateSegment(0, A + 4 * MiB, A + 12 * MiB, "uniform", {"total_rate": 2048.0})
    r = one_phase(VMAS, [s1, s2]).rates_at(0.0, 0, 4096)
    assert r[0] == pytest.approx(1.0) and r[1024] == pytest.approx(2.0)
    assert r[2048] == pytest.approx(1.0) and r[3072] == 0


def test_sequential_stride_patterns():
    def rates(stride, end=A + 64 * 4096, ps=4096):
        seg = RateSegment(0, A, end, "sequential", {"total_rate": 1e3, "stride": stride})
        return one_phase(VMAS, [seg]).rates_at(0.0, 0, ps)[:64]
    r = rates(8192)  # every other 4 KiB page, equal share
    assert np.count_nonzero(r) == 32 and np.allclose(r[::2], 1e3 / 32)
    r = rates(3 * 4096)
    assert list(np.flatnonzero(r)) == list(range(0, 64, 3))
    r = rates(64)  # every page, 64 touches each
    assert np.allclose(r, 1e3 / 64)
    r = rates(64, end=A + 63 * 4096 + 640)  # last page partially covered: 10 touches of 64
    assert r[63] == pytest.approx(r[0] * 10 / 64)
    r = rates(1 << 30)  # stride >= length: offset 0 only
    assert r[0] == 1e3 and r[1:].sum() == 0


@pytest.mark.parametrize("kind,params", [("uniform", {}), ("sequential", {"stride": 64}),
                                         ("sequential", {"stride": 12288})])
def test_byte_kinds_agree_across_page_sizes(kind, params):
    """uniform and sequential are per-byte: a 2 MiB page has the sum of its 4 KiB pages."""
    seg = RateSegment(0, A + 3 * MiB + 5, A + 47 * MiB, kind, {"total_rate": 1e6, **params})
    w = one_phase(VMAS, [seg])
    small, big = w.rates_at(0, 0, 4096), w.rates_at(0, 0, 2 * MiB)
    sb, bb = w.vma_page_bases(0, 4096), w.vma_page_bases(0, 2 * MiB)
    for j in range(2):
        lo = small[sb[j]:(sb[j + 1] if j == 0 else len(small))]
        lo = np.pad(lo, (0, -len(lo) % 512)).reshape(-1, 512).sum(axis=1)
        hi = big[bb[j]:(bb[j + 1] if j == 0 else len(big))]
        np.testing.assert_allclose(hi, lo, rtol=1e-9, atol=1e-9)


def zipf_rates(n, theta, **params):
    seg = RateSegment(0, A, A + n * 4096, "zipf", {"total_rate": 1.0, "theta": theta, **params})
    return one_phase([(A, A + n * 4096)], [seg]).rates_at(0.0, 0, 4096)


def test_zipf_top_one_percent_mass_theta_099():
    """The field is deterministic: the top k pages carry H(k, θ)/H(n, θ) exactly, up to
    float64 rounding (n * eps ~ 1e-11), so 1e-9 is a safe tolerance. The oracle is a plain
    Python fsum, independent of the vectorised code. (For n = 1e5 that is ~0.60.)"""
    n, k = 100_000, 1_000
    r = zipf_rates(n, 0.99, perm_seed=11)
    top = np.sort(r)[::-1]
    expect = math.fsum(i**-0.99 for i in range(1, k + 1)) / \
        math.fsum(i**-0.99 for i in range(1, n + 1))
    assert top[:k].sum() / r.sum() == pytest.approx(expect, rel=1e-9)
    assert 0.58 < expect < 0.62
    assert top[0] / top[9] == pytest.approx(10**0.99, rel=1e-9)  # rank 1 vs rank 10
    # scattered: the positions of the top 1% are a uniform sample without replacement; their
    # mean normalised position has sd sqrt(1/12/k * (n-k)/(n-1)) ~ 0.0091: allow 5 sd
    pos = np.argsort(r)[::-1][:k] / n
    assert abs(pos.mean() - 0.5) < 5 * math.sqrt(1 / 12 / k * (n - k) / (n - 1))
    assert abs((pos < 0.5).mean() - 0.5) < 5 * 0.5 / math.sqrt(k)


def test_zipf_contiguous_and_theta_zero():
    r = zipf_rates(1000, 0.99, contiguous=True)
    assert np.all(np.diff(r) < 0)  # rank follows address
    assert r[0] / r[1] == pytest.approx(2**0.99)
    r0 = zipf_rates(1000, 0.0, perm_seed=1)
    assert np.allclose(r0, 1e-3)


def test_same_seed_same_rates_different_seed_differs():
    a, b, c = (zipf_rates(5000, 0.99, perm_seed=s) for s in (5, 5, 6))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.allclose(np.sort(a), np.sort(c))  # same distribution, other placement


def hc_rates(n, **params):
    p = {"total_rate": 1e3, "hot_fraction": 0.25, "hot_prob": 0.9, "perm_seed": 2, **params}
    seg = RateSegment(0, A, A + n * 4096, "hot_cold", p)
    return one_phase([(A, A + n * 4096)], [seg]).rates_at(0.0, 0, 4096)


def test_hot_cold_mixture():
    r = hc_rates(1000)
    hot = r > r.min()
    assert hot.sum() == 250 and r[hot].sum() == pytest.approx(900) and r.sum() == \
        pytest.approx(1e3)
    assert np.allclose(r[hot], 900 / 250) and np.allclose(r[~hot], 100 / 750)
    r = hc_rates(1000, contiguous=True, hot_offset=100 * 4096 + 5, perm_seed=None)
    assert list(np.flatnonzero(r > r.min())) == list(range(100, 350))
    assert np.allclose(hc_rates(100, hot_fraction=1.0), 10.0)  # no cold pages: all hot


@pytest.mark.parametrize("contiguous", [False, True])
def test_hot_cold_moves_exchange_exactly_m_pages(contiguous):
    base = dict(contiguous=contiguous, perm_seed=None if contiguous else 2)
    r0 = hc_rates(4000, **base)
    r1 = hc_rates(4000, moves=[[9, 100 * 4096, contiguous]], **base)
    h0, h1 = r0 > r0.min(), r1 > r1.min()
    assert h0.sum() == h1.sum() == 1000
    assert (h0 & ~h1).sum() == 100 and (h1 & ~h0).sum() == 100
    if contiguous:  # the tail of the block jumped as one block
        assert list(np.flatnonzero(h0 & ~h1)) == list(range(900, 1000))
        new = np.flatnonzero(h1 & ~h0)
        assert new[-1] - new[0] == 99
    assert np.array_equal(r1, hc_rates(4000, moves=[[9, 100 * 4096, contiguous]], **base))


# --- time structure -------------------------------------------------------------------------
def timeline():
    seg = RateSegment(0, A, A + MiB, "uniform", {"total_rate": 1.0})
    seg1 = RateSegment(1, A, A + MiB, "uniform", {"total_rate": 2.0})
    procs = [proc([(A, A + MiB)], 1), proc([(A, A + MiB)], 2, start_s=12.0, exit_s=25.0)]
    phases = [Phase(0, 10, "a", [seg], 0.3), Phase(15, 20, "b", [seg, seg1]),
              Phase(20, 30, "c", [seg1], 1.0)]
    return wl(procs, phases, write_fraction=0.1)


def test_change_times_phase_at_and_write_fraction():
    w = timeline()
    assert w.change_times() == [0.0, 10.0, 12.0, 15.0, 20.0, 25.0, 30.0]
    assert w.duration_s == 30.0
    assert w.phase_at(0.0).name == "a" and w.phase_at(9.999).name == "a"
    assert w.phase_at(10.0) is None and w.phase_at(15.0).name == "b"
    assert w.phase_at(30.0) is None and w.phase_at(-1.0) is None
    assert [w.write_fraction_at(t) for t in (1, 12, 16, 21)] == [0.3, 0.1, 0.1, 1.0]


def test_gaps_and_late_processes_have_zero_rates():
    w = timeline()
    assert w.rates_at(12.0, 0, 4096).sum() == 0  # gap between phases
    assert w.rates_at(5.0, 0, 4096).sum() == pytest.approx(1.0)
    assert w.rates_at(16.0, 1, 4096).sum() == pytest.approx(2.0)
    assert w.live_processes(5.0) == [0] and w.live_processes(12.0) == [0, 1]
    assert w.rates_at(26.0, 1, 4096).sum() == 0  # exited at 25 s though phase c goes on
    assert w.live_processes(26.0) == [0]


def test_rates_are_cached_and_read_only():
    w = one_phase(VMAS, SEGS)
    a = w.rates_at(1.0, 0, 4096)
    assert w.rates_at(7.0, 0, 4096) is a
    with pytest.raises(ValueError):
        a[0] = 1.0
    with pytest.raises(ValueError, match="proc"):
        w.rates_at(1.0, 3, 4096)


def test_expanded_rates_shared_across_workloads_only_for_the_same_content():
    """Each reset builds a new Workload: a phase made of the same segments over the same VMAs
    reuses the process-wide expansion; any difference in what the rates are made of (a param,
    the segment order, the VMAs, the page size) does not."""
    from damon_gym.workloads import model

    def seg(**p):
        return RateSegment(0, A, A + 8 * MiB, "hot_cold",
                           {"total_rate": 1e6, "hot_fraction": 0.25, "hot_prob": 0.9,
                            "perm_seed": 0, **p})

    model._SHARED_RATES.clear()
    base = one_phase(VMAS, [seg()]).rates_at(0.0, 0, 4096)
    assert one_phase(VMAS, [seg()]).rates_at(0.0, 0, 4096) is base
    uni = RateSegment(0, A, A + 8 * MiB, "uniform", {"total_rate": 1e6})
    variants = [one_phase(VMAS, [seg(perm_seed=1)]), one_phase(VMAS, [seg(hot_prob=0.8)]),
                one_phase(VMAS, [seg(), uni]), one_phase(VMAS, [uni, seg()]),
                one_phase([(A, A + 16 * MiB)], [seg()])]
    for w in variants:
        r = w.rates_at(0.0, 0, 4096)
        assert r is not base
        # the values are the expansion of that workload's own segments
        fresh = np.zeros_like(r)
        g = w.geometry(0, 4096)
        for s in w.phases[0].segments:
            idx, v = model.expand_segment(g, s.kind, s.params, s.start, s.end)
            fresh[idx] += v
        assert np.array_equal(r, fresh)
    assert one_phase(VMAS, [seg()]).rates_at(0.0, 0, 64 * KiB) is not base


def test_shared_rates_bounded_in_bytes(monkeypatch):
    from damon_gym.workloads import model
    model._SHARED_RATES.clear()
    monkeypatch.setattr(model, "_SHARED_BYTES", 3 * 8 * 4096)  # three 4096-page arrays
    for k in range(6):
        one_phase([(A, A + 16 * MiB)], [RateSegment(0, A, A + 8 * MiB, "uniform",
                                                    {"total_rate": 1e3 * (k + 1)})]
                  ).rates_at(0.0, 0, 4096)
    assert len(model._SHARED_RATES) == 3
    assert sum(a.nbytes for a in model._SHARED_RATES.values()) <= 3 * 8 * 4096
