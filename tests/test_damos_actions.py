"""The folio walk of DAMOS actions against the memory system's own page lookups."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from damon_gym.damos.actions import _ranges_to_items, _vaddr_page_bound
from damon_gym.memory.system import MemorySystem
from damon_gym.memory.topology import load_topology

BASE = 0x7F00_0000_0000


@given(st.lists(st.integers(1, 40), min_size=1, max_size=4), st.integers(0, 2**32),
       st.sampled_from([4096, 2 << 20]))
@settings(max_examples=100, deadline=None)
def test_vectorised_page_ranges_equal_pages_of_range(vma_pages, seed, page_size):
    mem = MemorySystem(load_topology("tiny"), page_size=page_size)
    vmas, a = [], BASE
    for n in vma_pages:
        vmas.append((a, a + n * page_size))
        a += n * page_size + 4 * (2 << 20)
    idx = mem.add_process(1, vmas)
    pm = mem.procs[idx]
    rng = np.random.default_rng(seed)
    lo_a, hi_a = vmas[0][0] - (2 << 20), vmas[-1][1] + (2 << 20)
    cuts = np.sort(rng.integers(lo_a, hi_a, size=12) // 4096 * 4096)
    starts, ends = cuts[:-1], cuts[1:]
    keep = ends > starts
    starts, ends = starts[keep], ends[keep]
    shift = page_size.bit_length() - 1
    pages, rid = _ranges_to_items(_vaddr_page_bound(pm, starts, shift, False),
                                  _vaddr_page_bound(pm, ends, shift, True))
    want, seen = [], set()
    for k, (s, e) in enumerate(zip(starts, ends)):
        for p in mem.pages_of_range(idx, int(s), int(e)).tolist():
            if p not in seen:  # a page shared with an earlier range belongs to that range
                seen.add(p)
                want.append((p, k))
    assert list(zip(pages.tolist(), rid.tolist())) == want
