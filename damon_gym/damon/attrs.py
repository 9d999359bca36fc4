"""Monitoring attributes (struct damon_attrs) and their validation (damon_set_attrs).

All intervals are microseconds, as in the kernel. Facts from mm/damon/core.c as summarised in
docs/damon_semantics.md [DS 1.2, 1.5, 1.11, 1.12].
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

UINT_MAX = 2**32 - 1

# Kernel context defaults (damon_new_ctx): 5 ms, 100 ms, 60 s, 10..1000 regions.
KERNEL_DEFAULT_SAMPLE_US = 5_000
KERNEL_DEFAULT_AGGR_US = 100_000
KERNEL_DEFAULT_UPDATE_US = 60_000_000
# damo's defaults differ only in the ops update interval (1 s).
DAMO_DEFAULT_UPDATE_US = 1_000_000


@dataclass(frozen=True)
class IntervalsGoal:
    """struct damon_intervals_goal: aim for access_bp of the possible positive samples,
    measured over ``aggrs`` aggregations, keeping sample_interval in [min, max] (us)."""

    access_bp: int = 0
    aggrs: int = 0
    min_sample_us: int = 0
    max_sample_us: int = 0


@dataclass(frozen=True)
class Attrs:
    """struct damon_attrs. ``Attrs(5000, 100000, 60_000_000, 10, 1000)``."""

    sample_interval: int = KERNEL_DEFAULT_SAMPLE_US
    aggr_interval: int = KERNEL_DEFAULT_AGGR_US
    ops_update_interval: int = KERNEL_DEFAULT_UPDATE_US
    min_nr_regions: int = 10
    max_nr_regions: int = 1000
    intervals_goal: IntervalsGoal = field(default_factory=IntervalsGoal)

    def validate(self) -> Attrs:
        """Raise ValueError where damon_set_attrs() returns -EINVAL; return self otherwise."""
        if self.min_nr_regions < 3:
            raise ValueError(f"min_nr_regions: {self.min_nr_regions} is below 3 (allowed: 3..max_nr_regions)")
        if self.min_nr_regions > self.max_nr_regions:
            raise ValueError(
                f"min_nr_regions: {self.min_nr_regions} exceeds max_nr_regions {self.max_nr_regions}")
        if self.sample_interval > self.aggr_interval:
            raise ValueError(
                f"sample_interval: {self.sample_interval} us exceeds aggr_interval {self.aggr_interval} us")
        for name in ("sample_interval", "aggr_interval", "ops_update_interval"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: must be >= 0 us")
        g = self.intervals_goal
        if g.aggrs:
            if g.min_sample_us > g.max_sample_us:
                raise ValueError(
                    f"intervals_goal.min_sample_us: {g.min_sample_us} exceeds max_sample_us {g.max_sample_us}")
            if not g.min_sample_us <= self.sample_interval <= g.max_sample_us:
                raise ValueError(
                    f"sample_interval: {self.sample_interval} us is outside the intervals goal range "
                    f"[{g.min_sample_us}, {g.max_sample_us}] us")
        return self

    def with_(self, **kw) -> Attrs:
        return replace(self, **kw)

    @property
    def aggr_samples(self) -> int:
        """Samples per aggregation as set by a caller outside the core (kept by auto-tuning)."""
        return self.aggr_interval // max(self.sample_interval, 1)


def max_nr_accesses(attrs: Attrs) -> int:
    """damon_max_nr_accesses(): aggr_interval / sample_interval, clamped to UINT_MAX."""
    return min(attrs.aggr_interval // max(attrs.sample_interval, 1), UINT_MAX)


def mult_frac(x, numer: int, denom: int):
    """The kernel's mult_frac(x, n, d): ``x * n / d`` without the intermediate product, for
    non-negative integers or integer numpy arrays (elementwise): the one implementation."""
    q, r = divmod(x, denom)
    return q * numer + r * numer // denom


def nr_accesses_to_accesses_bp(nr_accesses: int, attrs: Attrs) -> int:
    """damon_nr_accesses_to_accesses_bp(); 0 when max_nr_accesses is 0."""
    m = max_nr_accesses(attrs)
    if m == 0:
        return 0
    return mult_frac(nr_accesses, 10000, m)


def accesses_bp_to_nr_accesses(accesses_bp: int, attrs: Attrs) -> int:
    """damon_accesses_bp_to_nr_accesses()."""
    return mult_frac(accesses_bp, max_nr_accesses(attrs), 10000)
