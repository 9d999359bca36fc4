"""Kernel-parity region operations of mm/damon/core.c, one Python object per region.

This is the readable reference for the array-based hot path: every function is pure (inputs are
never mutated; new ``Region`` objects are returned), works in bytes with integer arithmetic and
mirrors the kernel function named in its docstring. Behaviour follows docs/damon_semantics.md
[DS 1.7-1.10, 1.13]; [B] (the nr_accesses_bp era, v6.7..v7.1) is the default and the [N]
(v7.2-era) deltas are keyword switches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

BP = 10_000  # basis points in one


@dataclass
class Region:
    """struct damon_region: ``[start, end)`` in bytes and its access counters."""

    start: int
    end: int
    nr_accesses: int = 0
    age: int = 0
    last_nr_accesses: int = 0
    nr_accesses_bp: int = 0

    @property
    def size(self) -> int:
        return self.end - self.start


def align_down(x: int, align: int) -> int:
    """ALIGN_DOWN(x, align)."""
    return x // align * align


def align_up(x: int, align: int) -> int:
    """ALIGN(x, align)."""
    return -(-x // align) * align


def region_sz(r: Region) -> int:
    """damon_sz_region()."""
    return r.end - r.start


def _copy(regions: Sequence[Region]) -> list[Region]:
    return [replace(r) for r in regions]


def split_region_at(region: Region, sz: int) -> tuple[Region, Region]:
    """damon_split_region_at(): cut ``sz`` bytes off the start; the right piece copies the
    counters, age and nr_accesses_bp of the original."""
    if not 0 < sz < region_sz(region):
        # The kernel's callers guarantee this; an empty piece is a caller bug here.
        raise ValueError(f"sz: {sz} must be in (0, {region_sz(region)}) for region "
                         f"[{region.start}, {region.end})")
    left = replace(region, end=region.start + sz)
    right = replace(region, start=region.start + sz)
    return left, right


def merge_two_regions(left: Region, right: Region) -> Region:
    """damon_merge_two_regions(): size-weighted nr_accesses and age (integer division),
    nr_accesses_bp = nr_accesses * 10000, last_nr_accesses keeps the left region's value."""
    sz_l, sz_r = region_sz(left), region_sz(right)
    total = sz_l + sz_r
    nr = (left.nr_accesses * sz_l + right.nr_accesses * sz_r) // total
    age = (left.age * sz_l + right.age * sz_r) // total
    return Region(left.start, right.end, nr_accesses=nr, age=age,
                  last_nr_accesses=left.last_nr_accesses, nr_accesses_bp=nr * BP)


def update_age(r: Region, threshold: int, *, zero_nonzero_age_reset: bool = True) -> None:
    """The age rule applied to each region inside damon_merge_regions_of() [DS 1.7].

    Mutates ``r``; only used on private copies."""
    if abs(r.nr_accesses - r.last_nr_accesses) > threshold:
        r.age = 0
    elif zero_nonzero_age_reset and (r.nr_accesses == 0) != (r.last_nr_accesses == 0):
        r.age = 0
    else:
        r.age += 1


def merge_regions_of(regions: Sequence[Region], threshold: int, sz_limit: int, *,
                     zero_nonzero_age_reset: bool = True,
                     update_ages: bool = True) -> list[Region]:
    """damon_merge_regions_of(): one left-to-right pass over one target's regions.

    Each region first gets its age updated (unless ``update_ages`` is False, used by the [N]
    later passes), then merges into ``prev`` when adjacent, ``|nr_accesses| diff <= threshold``
    and the merged size stays ``<= sz_limit``. ``prev`` may absorb a chain of neighbours.
    """
    out: list[Region] = []
    for r in _copy(regions):
        if update_ages:
            update_age(r, threshold, zero_nonzero_age_reset=zero_nonzero_age_reset)
        prev = out[-1] if out else None
        if (prev is not None and prev.end == r.start
                and abs(prev.nr_accesses - r.nr_accesses) <= threshold
                and region_sz(prev) + region_sz(r) <= sz_limit):
            out[-1] = merge_two_regions(prev, r)
        else:
            out.append(r)
    return out


def merge_regions(targets: Sequence[Sequence[Region]], threshold: int, sz_limit: int,
                  max_nr_regions: int, max_thres: int, *,
                  zero_nonzero_age_reset: bool = True,
                  count_age_first_merge_pass_only: bool = False) -> list[list[Region]]:
    """kdamond_merge_regions(): repeat merge passes over every target, doubling the threshold
    (at least 1), while the total region count exceeds ``max_nr_regions`` and
    ``threshold // 2 < max_thres`` (``max_thres`` = aggr_interval // max(sample_interval, 1)).

    [B] updates ages on every pass; ``count_age_first_merge_pass_only=True`` is [N].
    """
    out = [_copy(t) for t in targets]
    first = True
    while True:
        ages = first or not count_age_first_merge_pass_only
        out = [merge_regions_of(t, threshold, sz_limit,
                                zero_nonzero_age_reset=zero_nonzero_age_reset,
                                update_ages=ages) for t in out]
        first = False
        total = sum(len(t) for t in out)
        threshold = max(1, threshold * 2)
        if not (total > max_nr_regions and threshold // 2 < max_thres):
            return out


def region_sz_limit(targets: Sequence[Sequence[Region]], min_nr_regions: int,
                    min_region_sz: int, round_up: bool = False) -> int:
    """damon_region_sz_limit(): total bytes // min_nr_regions (no division when 0), at least
    ``min_region_sz``; ``round_up=True`` ([N]) aligns the result up to ``min_region_sz``."""
    sz = sum(region_sz(r) for t in targets for r in t)
    if min_nr_regions:
        sz //= min_nr_regions
    sz = max(sz, min_region_sz)
    if round_up:
        sz = align_up(sz, min_region_sz)
    return sz


def apply_min_nr_regions(regions_of_targets: Sequence[Sequence[Region]], min_nr_regions: int,
                         min_region_sz: int) -> tuple[int, list[list[Region]]]:
    """damon_apply_min_nr_regions() ([N], [DS 1.10]): ``max_region_sz =
    align_up(region_sz_limit(), min_region_sz)``; every larger region is cut repeatedly at
    ``max_region_sz`` from its start (pieces copy the counters). Returns (max_region_sz, regions).
    """
    max_sz = region_sz_limit(regions_of_targets, min_nr_regions, min_region_sz, round_up=True)
    out: list[list[Region]] = []
    for t in regions_of_targets:
        new: list[Region] = []
        for r in t:
            while region_sz(r) > max_sz:
                left, r = split_region_at(r, max_sz)
                new.append(left)
            new.append(replace(r))
        out.append(new)
    return max_sz, out


def split_regions_of(regions: Sequence[Region], nr_subs: int, min_region_sz: int,
                     rng: np.random.Generator) -> list[Region]:
    """damon_split_regions_of() ([B]): up to ``nr_subs - 1`` random cuts per region.

    While the piece being cut is larger than ``2 * min_region_sz``, draw k uniformly in 1..9
    (damon_rand(1, 10) is half-open), cut at ``align_down(k * sz // 10, min_region_sz)`` unless
    that is 0 or >= sz; later cuts subdivide the left piece. Pieces copy counters and age.
    Regions created here are not revisited.
    """
    out: list[Region] = []
    for orig in regions:
        cur = replace(orig)
        sz = region_sz(cur)
        rights: list[Region] = []
        for _ in range(nr_subs - 1):
            if not sz > 2 * min_region_sz:
                break
            sz_sub = align_down(int(rng.integers(1, 10)) * sz // 10, min_region_sz)
            if sz_sub == 0 or sz_sub >= sz:
                continue
            cur, right = split_region_at(cur, sz_sub)
            rights.insert(0, right)  # a later right piece lies left of the earlier ones
            sz = sz_sub
        out.append(cur)
        out.extend(rights)
    return out


def split_regions(targets: Sequence[Sequence[Region]], min_region_sz: int, max_nr_regions: int,
                  last_nr_regions: int,
                  rng: np.random.Generator) -> tuple[list[list[Region]], int]:
    """kdamond_split_regions() ([B]): no split when the total count n > max_nr_regions // 2;
    otherwise 2 pieces per region, or 3 when ``last_nr_regions == n`` and
    ``n < max_nr_regions // 3``.

    The kernel keeps ``last_nr_regions`` in a function-static variable; here it is passed in
    and the value to keep is returned: ``(targets, new_last_nr_regions)``, where
    ``new_last_nr_regions`` is n counted before splitting, or the unchanged input when the
    split was skipped (the [B] early return does not update the static).
    """
    n = sum(len(t) for t in targets)
    if n > max_nr_regions // 2:
        return [_copy(t) for t in targets], last_nr_regions
    nr_subs = 3 if (last_nr_regions == n and n < max_nr_regions // 3) else 2
    return [split_regions_of(t, nr_subs, min_region_sz, rng) for t in targets], n


def _intersect(r: Region, start: int, end: int) -> bool:
    """damon_intersect(): overlap of the region with the (unaligned) range."""
    return not (r.end <= start or end <= r.start)


def validate_ranges(ranges: Sequence[tuple[int, int]], min_region_sz: int) -> None:
    """The [N] check at the top of damon_set_regions(): after aligning each range (start down,
    end up), an empty/inverted range or an overlap with the previous one is -EINVAL."""
    prev_end = None
    for i, (start, end) in enumerate(ranges):
        a_start, a_end = align_down(start, min_region_sz), align_up(end, min_region_sz)
        if a_start >= a_end:
            raise ValueError(f"ranges[{i}]: [{start}, {end}) is empty or inverted")
        if prev_end is not None and a_start < prev_end:
            raise ValueError(f"ranges[{i}]: [{start}, {end}) aligned to {min_region_sz} "
                             f"overlaps the previous range (ending at {prev_end}); ranges must "
                             "be sorted and disjoint")
        prev_end = a_end


def set_regions(regions: Sequence[Region], ranges: Sequence[tuple[int, int]],
                min_region_sz: int = 4096) -> list[Region]:
    """damon_set_regions() with the [N] validation [DS 1.13].

    Regions intersecting no range are dropped; for each range the first and last intersecting
    regions are stretched to ``[align_down(start), align_up(end))`` and holes between them are
    filled with new zero-counter regions; a range intersecting nothing becomes a new region.
    Surviving regions keep their counters and age. Raises ValueError (nothing changed) on
    invalid ranges.
    """
    validate_ranges(ranges, min_region_sz)
    rs = [r for r in _copy(regions) if any(_intersect(r, s, e) for s, e in ranges)]
    idx = 0  # the kernel keeps walking from where the previous range stopped
    for start, end in ranges:
        first = last = None
        while idx < len(rs):
            r = rs[idx]
            if _intersect(r, start, end):
                if first is None:
                    first = idx
                last = idx
            if r.start >= end:
                break
            idx += 1
        a_start, a_end = align_down(start, min_region_sz), align_up(end, min_region_sz)
        if first is None:
            rs.insert(idx, Region(a_start, a_end))
            idx += 1  # stay on the region the walk stopped at
            continue
        assert last is not None
        rs[first].start = a_start
        rs[last].end = a_end
        # damon_fill_regions_holes(first, last)
        filled: list[Region] = []
        for i in range(first, last + 1):
            filled.append(rs[i])
            if i < last and rs[i].end != rs[i + 1].start:
                filled.append(Region(rs[i].end, rs[i + 1].start))
        rs[first:last + 1] = filled
        idx += len(filled) - (last + 1 - first)
    return rs
