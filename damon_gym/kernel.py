"""Kernel-parity surface of damon-gym.

Every name here mirrors the Linux mm/damon (or mm/mempolicy) function of the same name, or of
the same name with the ``damon_`` / ``damon_va_`` / ``kdamond_`` prefix dropped (e.g.
``moving_sum`` is ``damon_moving_sum``, ``merge_regions`` is ``kdamond_merge_regions``). They
are pure functions in kernel units (bytes, microseconds, basis points) using the kernel's integer
arithmetic, so the conformance vectors of [DS 10] (docs/damon_semantics.md) can be checked directly.
"""

from __future__ import annotations

import numpy as np

from damon_gym.damon.attrs import (
    Attrs,
    IntervalsGoal,
    accesses_bp_to_nr_accesses,
    max_nr_accesses,
    mult_frac,
    nr_accesses_to_accesses_bp,
)
from damon_gym.damon.counters import (
    age_for_new_attrs,
    feed_loop_next_input,
    intervals_access_events,
    intervals_adaptation_bp,
    moving_sum,
    next_sample_interval,
    nr_accesses_for_new_attrs,
    nr_accesses_mvsum,
    nr_accesses_mvsum_at,
    reset_aggregated,
    tune_intervals,
    update_monitoring_result,
    update_nr_accesses_bp,
    update_region_access_rate,
)
from damon_gym.damon.region import (
    Region,
    apply_min_nr_regions,
    merge_regions,
    merge_regions_of,
    merge_two_regions,
    region_sz,
    region_sz_limit,
    set_regions,
    split_region_at,
    split_regions,
    split_regions_of,
)
from damon_gym.damon.vaddr_layout import (
    apply_three_regions,
    evenly_split_region,
    init_regions_for_target,
    three_regions_of,
)
from damon_gym.damos import quota as _quota
from damon_gym.damos.dests import migrate_dest_index
from damon_gym.damos.filters import default_reject as filters_default_reject
from damon_gym.damos.goals import (
    node_eligible_mem_bp,
    node_mem_free_bp,
    node_mem_used_bp,
    quota_goal_score,
)
from damon_gym.damos.quota import cold_score, effective_quota, hot_score, score_histogram
from damon_gym.damos.scoring import I64_MAX, min_score_of
from damon_gym.memory.mempolicy import (
    interleave_nid,
    reduce_interleave_weights,
    weighted_interleave_nid,
)

__all__ = [
    "Attrs",
    "IntervalsGoal",
    "Region",
    "accesses_bp_to_nr_accesses",
    "age_for_new_attrs",
    "apply_min_nr_regions",
    "apply_three_regions",
    "cold_score",
    "effective_quota",
    "filters_default_reject",
    "hot_score",
    "migrate_dest_index",
    "min_score_for_quota",
    "node_eligible_mem_bp",
    "node_mem_free_bp",
    "node_mem_used_bp",
    "quota_goal_score",
    "evenly_split_region",
    "feed_loop_next_input",
    "init_regions_for_target",
    "interleave_nid",
    "intervals_access_events",
    "intervals_adaptation_bp",
    "max_nr_accesses",
    "merge_regions",
    "merge_regions_of",
    "merge_two_regions",
    "moving_sum",
    "mult_frac",
    "next_sample_interval",
    "nr_accesses_for_new_attrs",
    "nr_accesses_mvsum",
    "nr_accesses_mvsum_at",
    "nr_accesses_to_accesses_bp",
    "reduce_interleave_weights",
    "region_sz",
    "region_sz_limit",
    "reset_aggregated",
    "set_regions",
    "split_region_at",
    "split_regions",
    "split_regions_of",
    "three_regions_of",
    "tune_intervals",
    "update_monitoring_result",
    "update_nr_accesses_bp",
    "update_region_access_rate",
    "weighted_interleave_nid",
]


def min_score_for_quota(size_by_score, esz: int) -> int:
    """damos_adjust_quota()'s cut-off score for the effective quota ``esz`` (bytes), from
    ``{score: bytes}`` or bytes indexed by score: the compiled walk the engine runs
    (``scoring.min_score_of``) for every esz below 2**63, the reference beyond."""
    hist = score_histogram(size_by_score)
    if 0 <= esz < I64_MAX and sum(hist) < I64_MAX:
        return int(min_score_of(np.asarray(hist, dtype=np.int64), int(esz)))
    return _quota.min_score_for_quota(hist, esz)
