"""Kernel-parity layout helpers of mm/damon/vaddr.c: the three regions, their application on
update, and the [B] initial even split [DS 1.10, 2.1].

Pure functions on byte addresses; ``Region`` objects are never mutated in place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from damon_gym.damon.region import Region, align_down, align_up, region_sz, set_regions


def three_regions_of(vmas: Sequence[tuple[int, int]],
                     min_region_sz: int = 4096) -> list[tuple[int, int]]:
    """__damon_va_three_regions(): split the mapped span at its two largest gaps.

    ``vmas`` are ``(start, end)`` sorted by address. The two largest gaps between consecutive
    VMAs (ties keep the earlier gap) give, in address order, ``[first.start, gap1.start)``,
    ``[gap1.end, gap2.start)``, ``[gap2.end, last.end)``, every bound aligned *up* to
    ``min_region_sz``. ValueError (the kernel's -EINVAL) when fewer than two non-empty gaps.
    """
    first_gap = (0, 0)
    second_gap = (0, 0)
    start = None
    prev_end = 0
    for vstart, vend in vmas:
        if start is None:
            start = vstart
        else:
            gap = (prev_end, vstart)
            if gap[1] - gap[0] > first_gap[1] - first_gap[0]:
                second_gap, first_gap = first_gap, gap
            elif gap[1] - gap[0] > second_gap[1] - second_gap[0]:
                second_gap = gap
        prev_end = vend
    if start is None or second_gap[1] <= second_gap[0] or first_gap[1] <= first_gap[0]:
        raise ValueError(f"vmas: need at least two non-empty gaps between {len(vmas)} VMAs")
    gap1, gap2 = sorted((first_gap, second_gap))
    bounds = [(start, gap1[0]), (gap1[1], gap2[0]), (gap2[1], prev_end)]
    return [(align_up(s, min_region_sz), align_up(e, min_region_sz)) for s, e in bounds]


def apply_three_regions(regions: Sequence[Region], three: Sequence[tuple[int, int]],
                        min_region_sz: int = 4096) -> list[Region]:
    """damon_va_apply_three_regions(): damon_set_regions() with the three new ranges, so
    surviving regions keep their counters and age."""
    if len(three) != 3:
        raise ValueError(f"three: expected 3 ranges, got {len(three)}")
    return set_regions(regions, three, min_region_sz)


def evenly_split_region(region: Region, nr_pieces: int, min_region_sz: int) -> list[Region]:
    """damon_va_evenly_split_region() ([B]): ``nr_pieces`` pieces of width
    ``align_down(size // nr_pieces, min_region_sz)``, the last one taking the remainder.

    The first piece keeps the region's counters, the others are new (zero counters).
    ValueError where the kernel returns -EINVAL: ``region`` None, ``nr_pieces`` 0, or a piece
    width of 0 (the region is then left unchanged). ``nr_pieces == 1`` returns the region.
    """
    if region is None or nr_pieces <= 0:
        raise ValueError(f"nr_pieces: {nr_pieces} (and a region) required, must be >= 1")
    if nr_pieces == 1:
        return [replace(region)]
    sz_piece = align_down(region_sz(region) // nr_pieces, min_region_sz)
    if sz_piece == 0:
        raise ValueError(f"region [{region.start}, {region.end}) is too small for {nr_pieces} "
                         f"pieces of at least {min_region_sz} bytes")
    pieces = [replace(region, end=region.start + sz_piece)]
    start = region.start + sz_piece
    for _ in range(1, nr_pieces):
        pieces.append(Region(start, start + sz_piece))
        start += sz_piece
    pieces[-1].end = region.end  # complement the rounding error
    return pieces


def init_regions_for_target(vmas: Sequence[tuple[int, int]], min_nr_regions: int,
                            min_region_sz: int) -> list[Region]:
    """__damon_va_init_regions() ([B]): the three regions, each evenly split into
    ``size // sz`` pieces where ``sz = max(total // min_nr_regions, min_region_sz)``.

    A region the even split rejects (0 pieces or width 0) stays whole, as the kernel ignores
    that error. When the three regions cannot be found the kernel leaves the target without
    regions: returns ``[]``.
    """
    try:
        three = three_regions_of(vmas, min_region_sz)
    except ValueError:
        return []
    sz = sum(e - s for s, e in three)
    if min_nr_regions:
        sz //= min_nr_regions
    sz = max(sz, min_region_sz)
    out: list[Region] = []
    for s, e in three:
        r = Region(s, e)
        try:
            out.extend(evenly_split_region(r, region_sz(r) // sz, min_region_sz))
        except ValueError:
            out.append(r)
    return out
