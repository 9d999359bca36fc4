"""The fast sampler agrees in distribution with the page-by-page reference sampler.

Setting: one vaddr target whose regions cover pages of very different access probability
(cold, warm, hot pages mixed inside a region, a region straddling an unmapped gap, a region of
only unallocated pages). For a chunk of n sampling intervals:

* the reference sampler picks a random address per region per sample and tests that page;
* the fast sampler draws Binomial(n, p_mean) at once.

Claim: both counts are Binomial(n, p_mean) with p_mean the region's mean page probability.
Test over M independent seeds per sampler, per region:
  1. means: |mean_fast - mean_ref| <= 4.5 * sqrt(2 * n p (1-p) / M)  (two-sample z-test; 4.5
     sigma keeps the family-wise false-alarm rate over ~8 regions below 1e-4 while a bias of
     one sample in 20 per region is detected: it shifts the mean by ~1 >> 4.5*sigma);
  2. variances: the reference sampler's sample variance is within 20 % of n p (1-p)
     (chi-square with M-1 d.o.f.: relative sd sqrt(2/(M-1)) = 3.2 % at M = 2000, so 20 % is
     > 6 sd; a sampler that reused one page per region for all samples would show a variance
     up to n times larger and fail).
"""

from __future__ import annotations

import numpy as np
import pytest

from damon_gym.damon.attrs import Attrs
from damon_gym.damon.core import Context, Target
from damon_gym.damon.ops import VaddrOps, access_probability
from damon_gym.damon.sampling import FastSampler, ReferenceSampler
from damon_gym.memory.system import MemorySystem
from damon_gym.memory.topology import load_topology

PAGE = 4096
BASE = 0x7F00_0000_0000


def _setup():
    mem = MemorySystem(load_topology("tiny"), page_size=PAGE)
    # two VMAs of 64 pages with a 2 MiB gap
    vmas = [(BASE, BASE + 64 * PAGE), (BASE + 64 * PAGE + (2 << 20), BASE + 128 * PAGE + (2 << 20))]
    idx = mem.add_process(100, vmas)
    pm = mem.procs[idx]
    rng = np.random.default_rng(7)
    rates = rng.choice([0.0, 20.0, 200.0, 5000.0], size=pm.nr_pages)
    mem.allocate(idx, np.arange(120), mem_policy_local())  # last 8 pages stay unallocated
    mem.set_rates(idx, rates)
    g2 = vmas[1][0]
    ranges = [(BASE, BASE + 8 * PAGE), (BASE + 8 * PAGE, BASE + 40 * PAGE),
              (BASE + 40 * PAGE, BASE + 64 * PAGE + PAGE * 10),  # straddles into the gap
              (BASE + 64 * PAGE + PAGE * 10, g2 + 4 * PAGE),       # mostly gap
              (g2 + 4 * PAGE, g2 + 33 * PAGE + 1000),              # unaligned end
              (g2 + 33 * PAGE + 1000, g2 + 56 * PAGE),
              (g2 + 56 * PAGE, g2 + 64 * PAGE)]                    # unallocated pages only
    t = Target(pid=100, proc_idx=idx)
    t.regions.set_ranges(ranges)
    ctx = Context(VaddrOps(mem), Attrs(5000, 100000, 1_000_000, 3, 1000), [t],
                  rng=np.random.default_rng(0), min_region_sz=1)
    return mem, ctx, t


def mem_policy_local():
    from damon_gym.memory.placement import LocalPolicy

    return LocalPolicy()


def test_region_mean_probability_matches_page_average():
    mem, ctx, t = _setup()
    pm = mem.procs[t.proc_idx]
    p_page = np.where(pm.vpage_frame >= 0, access_probability(pm.vpage_rate, 5000), 0.0)
    got = ctx.ops.region_mean_p(t, 5000)
    # brute force: average over every byte address would be exact; average over 64-byte steps
    for i, (s, e) in enumerate(zip(t.regions.start, t.regions.end)):
        addrs = np.arange(s, e, 64)
        j = np.searchsorted(pm.vma_start, addrs, side="right") - 1
        inside = (j >= 0) & (addrs < pm.vma_end[np.maximum(j, 0)])
        pages = pm.vma_page_base[np.maximum(j, 0)] + (addrs - pm.vma_start[np.maximum(j, 0)]) // PAGE
        want = np.where(inside, p_page[np.where(inside, pages, 0)], 0.0).mean()
        assert got[i] == pytest.approx(want, abs=2e-3), i
    assert got[-1] == 0.0  # unallocated pages are never found accessed
    assert 0.0 < got[3] < got[2]  # the gap dilutes a region


@pytest.mark.slow
def test_fast_and_reference_samplers_agree_in_distribution():
    mem, ctx, t = _setup()
    n, m = 20, 2000
    p = ctx.ops.region_mean_p(t, ctx.attrs.sample_interval)
    fast, ref = FastSampler(), ReferenceSampler()
    rng_f, rng_r = np.random.default_rng(1), np.random.default_rng(2)
    cf = np.array([fast.sample(ctx, t, n, rng_f) for _ in range(m)])
    cr = np.array([ref.sample(ctx, t, n, rng_r) for _ in range(m)])
    var = n * p * (1 - p)
    for i in range(len(p)):
        tol = 4.5 * np.sqrt(2 * var[i] / m) + 1e-9
        assert abs(cf[:, i].mean() - cr[:, i].mean()) <= tol, (i, p[i])
        assert abs(cr[:, i].mean() - n * p[i]) <= 4.5 * np.sqrt(var[i] / m) + 1e-9
        if var[i] > 0.5:
            assert cr[:, i].var(ddof=1) == pytest.approx(var[i], rel=0.2), (i, p[i])
            assert cf[:, i].var(ddof=1) == pytest.approx(var[i], rel=0.2), (i, p[i])


@pytest.mark.parametrize("n, p", [(20, 0.03), (20, 0.5), (20, 0.93), (400, 0.2), (1, 0.3)])
def test_binomial_inversion_matches_the_binomial_law(n, p):
    """Chi-square goodness of fit of 20,000 draws against Binomial(n, p), bins with an
    expected count >= 20 (others pooled); the 0.999 quantile of chi2 with <= 40 d.o.f. is
    < 74, so a correct sampler fails with probability < 1e-3 and a shifted one (p +- 0.02)
    fails almost surely."""
    from math import comb

    from damon_gym.damon.kernels import binomial_counts

    m = 20000
    out = np.empty(m, dtype=np.int64)
    binomial_counts(np.random.default_rng(123), n, np.full(m, p), out)
    k = np.arange(n + 1)
    pmf = np.array([comb(n, int(i)) * p**i * (1 - p) ** (n - i) for i in k])
    obs = np.bincount(out, minlength=n + 1)
    exp = pmf * m
    keep = exp >= 20
    o = np.append(obs[keep], obs[~keep].sum())
    e = np.append(exp[keep], exp[~keep].sum())
    o, e = o[e > 0], e[e > 0]
    chi2 = float(((o - e) ** 2 / e).sum())
    assert chi2 < 74, chi2
