"""The memory system's bookkeeping checked against itself (tests call it after every kind of
change): page tables and frame ownership agree, the free stacks hold exactly the free frames,
used + free = each node's frames, unmovable frames stay put, no node is over capacity.
``MemorySystem.check_invariants`` calls it (typed ``Any`` here so that this module does not
import the one it checks)."""

from __future__ import annotations

from typing import Any

import numpy as np

from damon_gym.memory.frames import FREE, UNMOVABLE


def check_invariants(mem: Any) -> None:
    """Raise AssertionError if a ``MemorySystem``'s frame/page bookkeeping is inconsistent."""
    owner_count = 0
    for i, proc in enumerate(mem.procs):
        pg = np.flatnonzero(proc.vpage_frame >= 0)
        if not proc.alive and len(pg):
            raise AssertionError(f"process {i} exited but maps {len(pg)} pages")
        f = proc.vpage_frame[pg]
        if (mem.frame_proc[f] != i).any() or (mem.frame_vpage[f] != pg).any():
            raise AssertionError(f"process {i}: a page's frame is not owned by it")
        if (proc.vpage_node[pg] != mem.frame_node[f]).any() \
                or (np.delete(proc.vpage_node, pg) != -1).any():
            raise AssertionError(f"process {i}: vpage_node disagrees with vpage_frame")
        owner_count += len(pg)
    owned = np.flatnonzero(mem.frame_proc >= 0)
    if len(owned) != owner_count:
        raise AssertionError(f"{len(owned)} owned frames but {owner_count} mapped pages")
    if (mem.frame_vpage[mem.frame_proc < 0] != -1).any():
        raise AssertionError("a free frame has a page index")
    used = np.bincount(mem.frame_node[owned], minlength=mem.nr_nodes) \
        + mem.unmovable_frames
    if (np.bincount(mem.frame_node[mem.frame_proc == UNMOVABLE], minlength=mem.nr_nodes)
            != mem.unmovable_frames).any():
        raise AssertionError("unmovable frames changed")
    if (used != mem.used_frames).any():
        raise AssertionError(f"used_frames {mem.used_frames} != counted {used}")
    if (mem.used_frames + mem.free_frames != mem.node_nr_frames).any():
        raise AssertionError("used + free != node frames")
    for node in range(mem.nr_nodes):
        fr = mem._free.free_frames_of(node)
        lo, hi = mem.node_start_frame[node], mem.node_start_frame[node + 1]
        if len(np.unique(fr)) != len(fr) or ((fr < lo) | (fr >= hi)).any() \
                or (mem.frame_proc[fr] != FREE).any():
            raise AssertionError(f"node {node}: free stack holds a bad frame")
    if (mem.used_frames * mem.page_size > np.asarray(mem.topology.capacities)).any():
        raise AssertionError("a node is over capacity")
