"""A process's virtual memory (its ``mm_struct`` as far as DAMON vaddr cares): VMAs and the
per-page state of the pages inside them, as flat numpy arrays.

Pages are numbered 0..nr_pages-1 across all VMAs of the process, in address order: page ``k``
belongs to VMA ``j`` iff ``vma_page_base[j] <= k < vma_page_base[j] + pages_j``, and its virtual
address is ``vma_start[j] + (k - vma_page_base[j]) * page_size``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Largest number of simulation pages one process may map (arrays are per page).
MAX_PROCESS_PAGES = 1 << 24


def normalise_vmas(vmas: Sequence[tuple[int, int]], page_size: int) -> list[tuple[int, int]]:
    """Validated VMAs ``[(start, end), ...]`` in bytes.

    Starts must be multiples of ``page_size``, the list sorted and non-overlapping. An end that
    is not page-aligned is rounded up to the next page boundary (as mmap rounds a length up);
    if that makes the VMA overlap the next one, it is an error.
    """
    if not vmas:
        raise ValueError("vmas: a process needs at least one VMA")
    out: list[tuple[int, int]] = []
    for i, vma in enumerate(vmas):
        try:
            start, end = (int(x) for x in vma)
        except (TypeError, ValueError):
            raise ValueError(f"vmas[{i}]: {vma!r} is not a (start, end) pair of byte addresses") from None
        if start < 0 or start % page_size:
            raise ValueError(f"vmas[{i}]: start {start:#x} is not a non-negative multiple of the "
                             f"page size {page_size}")
        if end <= start:
            raise ValueError(f"vmas[{i}]: end {end:#x} is not above start {start:#x}")
        end = -(-end // page_size) * page_size
        if end > 1 << 62:
            raise ValueError(f"vmas[{i}]: end {end:#x} is beyond the simulated address space")
        if out and start < out[-1][1]:
            what = "overlaps" if start >= out[-1][0] else "is not sorted after"
            raise ValueError(f"vmas[{i}]: [{start:#x}, {end:#x}) {what} the previous VMA "
                             f"[{out[-1][0]:#x}, {out[-1][1]:#x}) (after rounding ends up to "
                             f"page size {page_size})")
        out.append((start, end))
    return out


class ProcessMemory:
    """The pages of one process (a DAMON vaddr target) and their placement state.

    Attributes (numpy arrays, one entry per VMA or per page):

    * ``vma_start``, ``vma_end``, ``vma_page_base``: int64 per VMA.
    * ``vpage_frame``: int64 frame holding the page, -1 if never touched (not allocated).
    * ``vpage_node``: int8 node of that frame, -1 if not allocated (kept in step with
      ``vpage_frame`` by the memory system, so page-order walks need no frame lookup).
    * ``vpage_rate``: float64 accesses/s of the page in the current workload phase.
    * ``vpage_last_move_us``: int64 time of the page's last migration, -1 if never moved.
    * ``vpage_prev_node``: int8 node the page was on before its last migration, -1 if none.
    * ``alive``: False after the process exits (its frames are freed).
    * ``version``: bumped whenever rates, allocation or freeing change this process (not by
      migration), so a vaddr monitor knows when to rebuild its per-page prefix sums.
    """

    def __init__(self, pid: int, vmas: Sequence[tuple[int, int]], page_size: int) -> None:
        norm = normalise_vmas(vmas, page_size)
        self.pid = int(pid)
        self.page_size = page_size
        self.vma_start = np.array([s for s, _ in norm], dtype=np.int64)
        self.vma_end = np.array([e for _, e in norm], dtype=np.int64)
        pages = (self.vma_end - self.vma_start) // page_size
        self.vma_page_base = np.concatenate(([0], np.cumsum(pages)[:-1])).astype(np.int64)
        self.nr_pages = int(pages.sum())
        if self.nr_pages > MAX_PROCESS_PAGES:
            raise ValueError(f"vmas: {self.nr_pages} pages of {page_size} bytes exceed the "
                             f"{MAX_PROCESS_PAGES} pages one process may map; use a bigger "
                             "page_size (e.g. 2 MiB) or smaller VMAs")
        self.vpage_frame = np.full(self.nr_pages, -1, dtype=np.int64)
        self.vpage_node = np.full(self.nr_pages, -1, dtype=np.int8)
        self.vpage_rate = np.zeros(self.nr_pages, dtype=np.float64)
        self.vpage_last_move_us = np.full(self.nr_pages, -1, dtype=np.int64)
        self.vpage_prev_node = np.full(self.nr_pages, -1, dtype=np.int8)
        self.alive = True
        self.version = 0

    def __repr__(self) -> str:
        return (f"ProcessMemory(pid={self.pid}, vmas={len(self.vma_start)}, "
                f"pages={self.nr_pages}, allocated={self.nr_allocated}, alive={self.alive})")

    @property
    def nr_allocated(self) -> int:
        """Pages that have a frame."""
        return int(np.count_nonzero(self.vpage_frame >= 0))

    def check_pages(self, pages: object) -> np.ndarray:
        """``pages`` as an int64 array of valid page indices (ValueError otherwise)."""
        arr = np.asarray(pages)
        if arr.size == 0:
            return np.zeros(0, dtype=np.int64)
        if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
            raise ValueError("pages: expected a 1-D array of integer page indices")
        arr = arr.astype(np.int64, copy=False)
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi >= self.nr_pages:
            bad = lo if lo < 0 else hi
            raise ValueError(f"pages: index {bad} out of range for pid {self.pid} "
                             f"(allowed: 0..{self.nr_pages - 1})")
        return arr

    def vma_of_pages(self, pages: np.ndarray) -> np.ndarray:
        """Index of the VMA holding each page."""
        return np.searchsorted(self.vma_page_base, pages, side="right") - 1

    def page_addresses(self, pages: object) -> np.ndarray:
        """Virtual start address of each page (int64 bytes)."""
        p = self.check_pages(pages)
        j = self.vma_of_pages(p)
        return self.vma_start[j] + (p - self.vma_page_base[j]) * self.page_size

    def pages_of_range(self, start: int, end: int) -> np.ndarray:
        """Indices of the pages overlapping the virtual byte range ``[start, end)`` (ascending;
        pages of the gaps between VMAs do not exist)."""
        if end <= start:
            return np.zeros(0, dtype=np.int64)
        first_vma = int(np.searchsorted(self.vma_end, start, side="right"))
        last_vma = int(np.searchsorted(self.vma_start, end, side="left"))
        parts = []
        ps = self.page_size
        for j in range(first_vma, last_vma):
            vs, ve = int(self.vma_start[j]), int(self.vma_end[j])
            lo, hi = max(start, vs), min(end, ve)
            if lo >= hi:
                continue
            base = int(self.vma_page_base[j])
            parts.append(np.arange(base + (lo - vs) // ps, base + -(-(hi - vs) // ps),
                                   dtype=np.int64))
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
