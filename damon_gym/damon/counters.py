"""Kernel-parity access counters, attribute-change conversion and intervals auto-tuning.

Pure functions in kernel units (counts, basis points, microseconds) with the kernel's integer
arithmetic, each mirroring the mm/damon/core.c function named in its docstring. Behaviour follows
docs/damon_semantics.md [DS 1.5, 1.11, 1.12, 5.3]. [B] = nr_accesses_bp era (default),
[N] = v7.2-era mvsum.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from damon_gym.damon.attrs import (
    Attrs,
    accesses_bp_to_nr_accesses,
    max_nr_accesses,
    mult_frac,
    nr_accesses_to_accesses_bp,
)
from damon_gym.damon.region import BP, Region, region_sz

U32_MAX = 2**32 - 1
ULONG_MAX = 2**64 - 1


def moving_sum(mvsum: int, nomvsum: int, len_window: int, new_value: int) -> int:
    """damon_moving_sum(): ``mvsum - nomvsum // len_window + new_value`` in unsigned int
    (wraps modulo 2**32 like the kernel's u32 arithmetic)."""
    return (mvsum - nomvsum // len_window + new_value) & U32_MAX


def update_nr_accesses_bp(nr_accesses_bp: int, last_nr_accesses: int, accessed: bool,
                          len_window: int) -> int:
    """The [B] per-sample pseudo moving sum of damon_update_region_access_rate():
    ``bp - last_nr_accesses * 10000 // len_window + (10000 if accessed else 0)``."""
    return moving_sum(nr_accesses_bp, last_nr_accesses * BP, max(len_window, 1),
                      BP if accessed else 0)


def update_region_access_rate(region: Region, accessed: bool, attrs: Attrs, *,
                              era: str = "B") -> Region:
    """damon_update_region_access_rate(): one sample's result. [B] also advances
    nr_accesses_bp with len_window = max_nr_accesses (1 when sample_interval is 0)."""
    r = replace(region)
    if era == "B":
        len_window = max_nr_accesses(attrs) if attrs.sample_interval else 1
        r.nr_accesses_bp = update_nr_accesses_bp(r.nr_accesses_bp, r.last_nr_accesses,
                                                 accessed, len_window)
    if accessed:
        r.nr_accesses += 1
    return r


def reset_aggregated(targets: Sequence[Sequence[Region]], *,
                     fix_bp: bool = True) -> list[list[Region]]:
    """kdamond_reset_aggregated(): ``last_nr_accesses = nr_accesses; nr_accesses = 0``.

    ``fix_bp`` (late [B], damon_warn_fix_nr_accesses_corruption) first forces
    ``nr_accesses_bp = nr_accesses * 10000`` where they disagree (the kernel WARNs).
    """
    out: list[list[Region]] = []
    for t in targets:
        new: list[Region] = []
        for region in t:
            r = replace(region)
            if fix_bp and r.nr_accesses_bp != r.nr_accesses * BP:
                r.nr_accesses_bp = r.nr_accesses * BP
            r.last_nr_accesses = r.nr_accesses
            r.nr_accesses = 0
            new.append(r)
        out.append(new)
    return out


def nr_accesses_mvsum(current: int, last: int, left_bp: int) -> int:
    """damon_mvsum() ([N]): ``last`` when the whole window is still left (left_bp == 10000),
    else ``current + last * left_bp // 10000`` (mult_frac)."""
    if left_bp == BP:
        return last
    return current + mult_frac(last, left_bp, BP)


def nr_accesses_mvsum_at(passed: int, next_aggr: int, nr: int, last: int,
                         window_len: int) -> int:
    """damon_nr_accesses_mvsum() ([N]): the moving sum at ``passed`` sample intervals, with
    ``window_len = max(aggr, 1) // max(sample, 1)`` and the aggregation due at ``next_aggr``."""
    left_window = 0 if passed >= next_aggr else next_aggr - passed
    left_bp = mult_frac(left_window, BP, max(window_len, 1))
    return nr_accesses_mvsum(nr, last, left_bp)


def nr_accesses_for_new_attrs(nr_accesses: int, old_attrs: Attrs, new_attrs: Attrs) -> int:
    """damon_nr_accesses_for_new_attrs(): via basis points of the old attrs."""
    return accesses_bp_to_nr_accesses(nr_accesses_to_accesses_bp(nr_accesses, old_attrs),
                                      new_attrs)


def age_for_new_attrs(age: int, old_attrs: Attrs, new_attrs: Attrs) -> int:
    """damon_age_for_new_attrs(): ``age * old_aggr // new_aggr``."""
    return age * old_attrs.aggr_interval // new_attrs.aggr_interval


def update_monitoring_result(region: Region, old_attrs: Attrs, new_attrs: Attrs, *,
                             aggregating: bool = False, era: str = "B") -> Region:
    """damon_update_monitoring_result() [DS 1.11], as called by damon_set_attrs().

    ``aggregating`` is the kernel's ``passed_sample_intervals < next_aggregation_sis`` (the
    change lands mid-window). [B]: not aggregating converts nr_accesses (bp = nr * 10000);
    aggregating converts last_nr_accesses (bp = last * 10000) and zeroes nr_accesses.
    [N]: last_nr_accesses is always converted; nr_accesses converted, or 0 when aggregating.
    Age scales by old/new aggregation interval. When any sample/aggr interval of either attrs
    is 0 the kernel skips the conversion entirely (damon_update_monitoring_results).
    """
    if era not in ("B", "N"):
        raise ValueError(f"era: {era!r} (allowed: 'B', 'N')")
    r = replace(region)
    if not (old_attrs.sample_interval and old_attrs.aggr_interval
            and new_attrs.sample_interval and new_attrs.aggr_interval):
        return r
    if era == "B":
        if not aggregating:
            r.nr_accesses = nr_accesses_for_new_attrs(r.nr_accesses, old_attrs, new_attrs)
            r.nr_accesses_bp = r.nr_accesses * BP
        else:
            r.last_nr_accesses = nr_accesses_for_new_attrs(r.last_nr_accesses, old_attrs,
                                                           new_attrs)
            r.nr_accesses_bp = r.last_nr_accesses * BP
            r.nr_accesses = 0
    else:
        r.last_nr_accesses = nr_accesses_for_new_attrs(r.last_nr_accesses, old_attrs,
                                                       new_attrs)
        r.nr_accesses = (0 if aggregating
                         else nr_accesses_for_new_attrs(r.nr_accesses, old_attrs, new_attrs))
    r.age = age_for_new_attrs(r.age, old_attrs, new_attrs)
    return r


def feed_loop_next_input(last_input: int, score: int) -> int:
    """damon_feed_loop_next_input() [DS 5.3]: goal 10000, min input 10000, unsigned long
    (2**64 - 1) arithmetic with the kernel's overflow-safe compensation path."""
    goal = BP
    min_input = BP
    if score == goal:
        return last_input
    if score >= goal * 2:
        return min_input
    diff = goal - score if goal > score else score - goal
    if last_input < ULONG_MAX // diff:
        compensation = last_input * diff // goal
    else:
        compensation = last_input // goal * diff
    if goal > score:
        return last_input + compensation if last_input < ULONG_MAX - compensation else ULONG_MAX
    if last_input > min_input + compensation:
        return last_input - compensation
    return min_input


def intervals_access_events(targets: Sequence[Sequence[Region]],
                            aggr_samples: int) -> tuple[int, int]:
    """The sums of damon_get_intervals_adaptation_bp(): (events, max_events) =
    (sum size * nr_accesses, sum size * aggr_samples) over all regions of all targets."""
    events = sum(region_sz(r) * r.nr_accesses for t in targets for r in t)
    max_events = sum(region_sz(r) * aggr_samples for t in targets for r in t)
    return events, max_events


def intervals_adaptation_bp(events: int, max_events: int, access_bp: int) -> int:
    """damon_get_intervals_adaptation_bp(): feedback-loop ratio in bp (1..20000), with shrinking
    damped to at most 50 % (``5000 + adapt // 2`` when adapt <= 10000)."""
    target_events = max(max_events * access_bp // BP, 1)
    score_bp = mult_frac(events, BP, target_events)
    adapt = feed_loop_next_input(100_000_000, score_bp) // BP
    if adapt <= BP:
        adapt = 5000 + adapt // 2
    return adapt


def next_sample_interval(events: int, max_events: int, access_bp: int, sample_us: int,
                         min_sample_us: int, max_sample_us: int) -> int:
    """kdamond_tune_intervals()'s new sample interval (us): unchanged when the adaptation is
    exactly 10000 bp, else ``sample_us * adapt // 10000`` clamped to [min, max]."""
    adapt = intervals_adaptation_bp(events, max_events, access_bp)
    if adapt == BP:
        return sample_us
    new = min(max_sample_us, sample_us * adapt // BP)
    return max(min_sample_us, new)


def tune_intervals(attrs: Attrs, events: int, max_events: int) -> Attrs:
    """kdamond_tune_intervals(): new attrs with the tuned sample interval and
    ``aggr_interval = sample * aggr_samples`` (the samples-per-aggregation ratio is kept)."""
    g = attrs.intervals_goal
    if intervals_adaptation_bp(events, max_events, g.access_bp) == BP:
        return attrs  # the kernel returns before damon_set_attrs()
    sample = next_sample_interval(events, max_events, g.access_bp, attrs.sample_interval,
                                  g.min_sample_us, g.max_sample_us)
    return attrs.with_(sample_interval=sample, aggr_interval=sample * attrs.aggr_samples)
