"""DAMOS quotas: effective size quota, priority scores, the score histogram and min_score.

Kernel-parity pure functions (integer arithmetic, kernel units) plus the per-scheme ``Quota``
state. Facts from mm/damon/core.c and ops-common.c as summarised in
docs/damon_semantics.md [DS 4.1-4.4, 5].
"""

from __future__ import annotations

import math
import re
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


#: the kernel versions whose quota rules ``KernelRules.of`` knows (scenario field ``kernel``)
KERNELS = ("6.12", "6.17", "6.18", "6.19", "7.0", "7.1", "7.2", "7.3")
#: the kernel whose rules apply when a scenario names none: the newest (issue 14)
NEWEST_KERNEL = KERNELS[-1]


@dataclass(frozen=True)
class KernelRules:
    """The three quota rules that changed between the kernels the project compares with
    (docs/damon_semantics.md [DS 4.1], docs/fidelity.md, issue 14 #2). The defaults are the
    newest kernel's (:data:`NEWEST_KERNEL`, v7.2 on); ``KernelRules.of(version)`` gives a
    kernel's.

    ``first_window_esz``: damos_adjust_quota() computes esz in the first charge window. v6.18
    added that (SeongJae Park, "mm/damon/core: set effective quota on first charge window",
    20250916032339.115817-3-sj@kernel.org, series "misc fixups and improvements for 6.18").
    It undid a side effect of Sang-Heon Jeon's "mm/damon/core: set quota->charged_from to
    jiffies at first charge window" (mm-hotfixes for v6.17-rc6, Cc stable: also in 6.12.y and
    6.16.y from the September 2025 stable round): the first window starts at the first apply
    instead of at jiffies 0, so it no longer rolls over at once, and esz stays 0 -- no quota --
    until ``reset_interval`` has passed. Hence 6.17 (and 6.12.y) apply the first window
    unthrottled; fidelity kernel-paddr-goal measured 17-172 MiB promoted there on 6.17.13.

    ``zero_esz_unset``: the quota checks read ``quota->esz && ...`` (damon_do_apply_schemes,
    damos_apply_scheme, damos_valid_target, qt_exceeds; gregkh/linux mm/damon/core.c @0ba956a2):
    a zero esz is no quota at all. v7.1's goal_tuner series replaced them by
    damos_quota_is_set() (esz, sz, ms or goals: "allow quota goals set zero effective size
    quota"), so a zero esz with goals is a full quota (linux-mm/linux-mm core.c @001426ac).

    ``subpage_full``: damos_quota_is_full() also calls a quota full when less than
    min_region_sz remains, so the walk stops there instead of trying every later region with a
    0-byte split ("mm/damon/core: handle <min_region_sz remaining quota as empty", first patch of
    the v7.2 failed-region-charge-ratio series; linux-mm core.c @001426ac uses it before each
    region, after each apply and for qt_exceeds). 7.3.4 tried no region under a sub-page goal
    quota in kernel-paddr-goal."""

    first_window_esz: bool = True
    zero_esz_unset: bool = False
    subpage_full: bool = True

    @classmethod
    def of(cls, kernel: str | None) -> KernelRules:
        """The rules of kernel ``"MAJOR.MINOR"`` (one of :data:`KERNELS`); None: the newest's."""
        if kernel is None:
            return cls()
        if kernel not in KERNELS:
            raise ValueError(f"kernel: {kernel!r}; allowed: {', '.join(KERNELS)} (or none: "
                             f"the newest's, {NEWEST_KERNEL})")
        major, minor = (int(x) for x in kernel.split("."))
        v = (major, minor)
        return cls(first_window_esz=v not in ((6, 12), (6, 17)),
                   zero_esz_unset=v < (7, 1), subpage_full=v >= (7, 2))


def kernel_series(release: str | None) -> str | None:
    """The :data:`KERNELS` entry of a kernel release string (``6.17.13+deb13-amd64`` ->
    ``6.17``), None when it names none of them."""
    m = re.match(r"(\d+)\.(\d+)", str(release or ""))
    series = f"{int(m.group(1))}.{int(m.group(2))}" if m else None
    return series if series in KERNELS else None


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
