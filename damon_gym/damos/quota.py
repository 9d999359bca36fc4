"""DAMOS quotas: effective size quota, priority scores, the score histogram and min_score.

Kernel-parity pure functions (integer arithmetic, kernel units) plus the per-scheme ``Quota``
state. Facts from mm/damon/core.c and ops-common.c as summarised in
docs/damon_semantics.md [DS 4.1-4.4, 5].
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from damon_gym.damon.attrs import Attrs, max_nr_accesses

ULONG_MAX = 2**64 - 1
DAMON_MAX_SUBSCORE = 100
DAMON_MAX_AGE_IN_LOG = 32
DAMOS_MAX_SCORE = 99
PAGE_SIZE = 4096


def effective_quota(*, sz: int = 0, ms: int = 0, goal_esz_bp: int | None = None,
                    total_charged_sz: int = 0, total_charged_ns: int = 0,
                    min_region_sz: int = 4096) -> int:
    """damos_set_effective_quota(): esz from the time quota (through the measured apply
    throughput), the size quota and the goal-tuned size (bytes x 10000); the minimum wins.

    Without ``ms`` and goals, esz is just ``sz`` (0 = no size quota)."""
    if ms == 0 and goal_esz_bp is None:
        return sz
    esz = ULONG_MAX
    if goal_esz_bp is not None:
        esz = goal_esz_bp // 10000
    if ms:
        if total_charged_ns:
            throughput = total_charged_sz * 1_000_000 // total_charged_ns  # bytes per ms
        else:
            throughput = PAGE_SIZE * 1024
        esz = min(throughput * ms, esz)
        esz = max(min_region_sz, esz)
    if sz and sz < esz:
        esz = sz
    return esz


def _age_subscore(age: int, freq_subscore: int, attrs: Attrs) -> int:
    age_sec = age * attrs.aggr_interval // 1_000_000
    age_in_log = 0 if age_sec == 0 else min(int(math.log2(age_sec)) + 1, DAMON_MAX_AGE_IN_LOG)
    if freq_subscore == 0:
        age_in_log = -age_in_log
    # left-to-right integer operations, as the kernel writes them
    return (age_in_log + DAMON_MAX_AGE_IN_LOG) * DAMON_MAX_SUBSCORE // DAMON_MAX_AGE_IN_LOG // 2


def hot_score(nr_accesses: int, age: int, attrs: Attrs, weight_nr_accesses: int,
              weight_age: int) -> int:
    """damon_hot_score(): 0..99 from access frequency and age (weight_sz is not used)."""
    freq = nr_accesses * DAMON_MAX_SUBSCORE // max(max_nr_accesses(attrs), 1)
    age_sub = _age_subscore(age, freq, attrs)
    hot = weight_nr_accesses * freq + weight_age * age_sub
    if weight_nr_accesses + weight_age:
        hot //= weight_nr_accesses + weight_age
    else:
        hot = 0
    hot = hot * DAMOS_MAX_SCORE // DAMON_MAX_SUBSCORE
    return min(max(hot, 0), DAMOS_MAX_SCORE)


def cold_score(nr_accesses: int, age: int, attrs: Attrs, weight_nr_accesses: int,
               weight_age: int) -> int:
    """damon_cold_score() = 99 - hot score."""
    return DAMOS_MAX_SCORE - hot_score(nr_accesses, age, attrs, weight_nr_accesses, weight_age)


def hot_scores(nr_accesses: np.ndarray, age: np.ndarray, attrs: Attrs, weight_nr_accesses: int,
               weight_age: int) -> np.ndarray:
    """Vectorised hot_score over regions (same integer arithmetic)."""
    nr = np.asarray(nr_accesses, dtype=np.int64)
    freq = nr * DAMON_MAX_SUBSCORE // max(max_nr_accesses(attrs), 1)
    age_sec = np.asarray(age, dtype=np.int64) * attrs.aggr_interval // 1_000_000
    log = np.zeros_like(age_sec)
    pos = age_sec > 0
    # floor(log2(x)) + 1 for positive integers is their bit length
    log[pos] = np.minimum(np.floor(np.log2(age_sec[pos].astype(np.float64))).astype(np.int64) + 1,
                          DAMON_MAX_AGE_IN_LOG)
    # guard exact powers of two against float rounding
    fix = pos & (np.left_shift(1, np.maximum(log - 1, 0)) > age_sec)
    log[fix] -= 1
    log = np.where(freq == 0, -log, log)
    age_sub = (log + DAMON_MAX_AGE_IN_LOG) * DAMON_MAX_SUBSCORE // DAMON_MAX_AGE_IN_LOG // 2
    wsum = weight_nr_accesses + weight_age
    if wsum == 0:
        return np.zeros_like(freq)
    hot = (weight_nr_accesses * freq + weight_age * age_sub) // wsum
    hot = hot * DAMOS_MAX_SCORE // DAMON_MAX_SUBSCORE
    return np.clip(hot, 0, DAMOS_MAX_SCORE)


def score_histogram(size_by_score) -> list[int]:
    """Bytes per priority score 0..DAMOS_MAX_SCORE from a mapping ``{score: bytes}`` or a
    sequence indexed by score (at most DAMOS_MAX_SCORE + 1 entries); anything else -- a score
    out of range, negative or non-integer bytes -- is refused naming the entry."""
    out = [0] * (DAMOS_MAX_SCORE + 1)
    if isinstance(size_by_score, Mapping):
        items = list(size_by_score.items())
    else:
        items = list(enumerate(size_by_score))
        if len(items) > DAMOS_MAX_SCORE + 1:
            raise ValueError(f"size_by_score: {len(items)} entries; allowed: at most "
                             f"{DAMOS_MAX_SCORE + 1} (scores 0..{DAMOS_MAX_SCORE})")
    for score, b in items:
        if isinstance(score, bool) or not isinstance(score, (int, np.integer)) \
                or not 0 <= score <= DAMOS_MAX_SCORE:
            raise ValueError(f"size_by_score: score {score!r}; allowed: integers "
                             f"0..{DAMOS_MAX_SCORE}")
        if isinstance(b, bool) or not isinstance(b, (int, np.integer)) or b < 0:
            raise ValueError(f"size_by_score[{score}]: {b!r}; allowed: bytes, an integer >= 0")
        out[int(score)] += int(b)
    return out


def min_score_for_quota(size_by_score, esz: int) -> int:
    """damos_adjust_quota()'s cut-off: walk scores from the highest seen downward, summing the
    bytes at each score, and stop at the first score where the sum reaches ``esz`` (or at 0).
    ``size_by_score``: ``{score: bytes}`` or bytes indexed by score (:func:`score_histogram`)."""
    sizes = score_histogram(size_by_score)
    seen = [s for s, b in enumerate(sizes) if b]
    if not seen:
        return 0
    cumulated = 0
    score = max(seen)
    while score >= 0:
        cumulated += sizes[score]
        if cumulated >= esz:
            break
        if score == 0:
            break
        score -= 1
    return score


@dataclass
class QuotaState:
    """The private fields of struct damos_quota."""

    esz: int = 0
    esz_bp: int = 0
    charged_sz: int = 0
    charged_from_us: int = 0
    first_window_done: bool = False
    total_charged_sz: int = 0
    total_charged_ns: int = 0
    charge_target_from: int | None = None
    charge_addr_from: int = 0
    min_score: int = 0
    histogram: np.ndarray = field(default_factory=lambda: np.zeros(DAMOS_MAX_SCORE + 1, np.int64))
