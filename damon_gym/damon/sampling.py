"""Access samplers: how many of a chunk of sampling intervals found each region accessed.

Both samplers answer the same question for ``nr_samples`` consecutive sampling intervals in
which access rates are constant:

* ``ReferenceSampler`` does what the kernel does, one sample at a time: each region picks a
  uniformly random address (``damon_rand(start, end)``), and the page there is found accessed
  with its own probability 1 - exp(-rate * tau).
* ``FastSampler`` draws the whole chunk at once. Because each sample picks a uniformly random
  page independently of the others, one sample is a Bernoulli draw whose success probability
  is the region's mean per-page probability p; the chunk's count is therefore exactly
  Binomial(nr_samples, p). This costs O(regions) per chunk, whatever the memory size.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from damon_gym.damon import kernels
from damon_gym.damon.attrs import Attrs
from damon_gym.damon.ops import Ops
from damon_gym.damon.rng_pointers import pointers
from damon_gym.damon.target import Target


class SamplingContext(Protocol):
    """The fields of a monitoring context (``core.Context``) a sampler reads."""

    @property
    def ops(self) -> Ops: ...
    @property
    def attrs(self) -> Attrs: ...


class FastSampler:
    name = "fast"

    def sample(self, ctx: SamplingContext, target: Target, nr_samples: int,
               rng: np.random.Generator) -> np.ndarray:
        p = ctx.ops.region_mean_p(target, ctx.attrs.sample_interval)
        out = np.empty(p.shape[0], dtype=np.int64)
        kernels.binomial_counts_p(pointers(rng), nr_samples, p, out)
        return out


class ReferenceSampler:
    name = "reference"

    def sample(self, ctx: SamplingContext, target: Target, nr_samples: int,
               rng: np.random.Generator) -> np.ndarray:
        r = target.regions
        counts = np.zeros(r.n, dtype=np.int64)
        if r.n == 0:
            return counts
        start, end = r.start.copy(), r.end.copy()
        for _ in range(nr_samples):
            addrs = rng.integers(start, end)
            p = ctx.ops.page_p_at(target, addrs, ctx.attrs.sample_interval)
            counts += rng.random(r.n) < p
        return counts


SAMPLERS = {"fast": FastSampler, "reference": ReferenceSampler}


def make_sampler(name: str):
    try:
        return SAMPLERS[name]()
    except KeyError:
        raise ValueError(f"sampler: {name!r} is not known; allowed: {', '.join(SAMPLERS)}") from None
