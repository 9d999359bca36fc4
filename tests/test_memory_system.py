"""MemorySystem: frames and nodes, processes and VMAs, rates, first-touch allocation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from damon_gym.memory import (
    InterleavePolicy,
    LocalPolicy,
    MemorySystem,
    WeightedInterleavePolicy,
    interleave_nid,
    load_topology,
    topology_from_dict,
    weighted_interleave_nid,
)
from damon_gym.memory.placement import plan_spill

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30


def small_topology(pages=(16, 8, 8), latencies=(100, 300, 200), page_size=4096):
    """Nodes of a few pages each, for exact bookkeeping checks."""
    nodes = [{"name": f"n{i}", "kind": "dram" if i == 0 else "cxl", "capacity": p * page_size,
              "bw_read_gbps": 10, "idle_latency_ns": lat}
             for i, (p, lat) in enumerate(zip(pages, latencies, strict=True))]
    return topology_from_dict({"name": "small", "nodes": nodes})


def test_page_size_validation():
    t = load_topology("tiny")
    for bad in (0, 2048, 3000, 4097, 12288):
        with pytest.raises(ValueError, match="power of two"):
            MemorySystem(t, page_size=bad)
    assert MemorySystem(t, page_size=8192).nr_frames == 2 * 256 * MiB // 8192


def test_frame_limit_points_to_bigger_pages():
    spr = load_topology("P1-SPR")
    with pytest.raises(ValueError, match=r"page_size.*2 MiB"):
        MemorySystem(spr)
    ms = MemorySystem(spr, page_size=2 * MiB)
    assert ms.nr_frames == (128 + 96) * GiB // (2 * MiB)
    with pytest.raises(ValueError, match="below one page"):
        MemorySystem(small_topology(pages=(1, 1, 1)), page_size=8192)


def test_node_layout():
    ms = MemorySystem(load_topology("tiny"), page_size=2 * MiB)
    assert ms.nr_frames == 256 and list(ms.node_start_frame) == [0, 128, 256]
    assert ms.node_phys_range(0) == (0, 256 * MiB)
    assert ms.node_phys_range(1) == (256 * MiB, 512 * MiB)
    assert list(ms.node_of_frames([0, 127, 128, 255])) == [0, 0, 1, 1]
    assert list(ms.frame_node[[0, 127, 128, 255]]) == [0, 0, 1, 1]
    with pytest.raises(ValueError):
        ms.node_of_frames([256])
    # capacity that is not a page multiple is rounded down
    t = topology_from_dict({"name": "odd", "nodes": [
        {"name": "a", "kind": "dram", "capacity": 3 * 4096 + 100, "bw_read_gbps": 1,
         "idle_latency_ns": 1},
        {"name": "b", "kind": "cxl", "capacity": 4096, "bw_read_gbps": 1, "idle_latency_ns": 2}]})
    assert list(MemorySystem(t).node_nr_frames) == [3, 1]


def test_vma_validation():
    ms = MemorySystem(small_topology())
    with pytest.raises(ValueError, match="multiple of the page size"):
        ms.add_process(1, [(100, 8192)])
    with pytest.raises(ValueError, match="overlaps"):
        ms.add_process(1, [(0, 8192), (4096, 16384)])
    with pytest.raises(ValueError, match="not sorted"):
        ms.add_process(1, [(16384, 20480), (0, 4096)])
    with pytest.raises(ValueError, match="not above start"):
        ms.add_process(1, [(4096, 4096)])
    with pytest.raises(ValueError, match="at least one VMA"):
        ms.add_process(1, [])
    # rounding the end up makes [0, 4097) reach 8192, overlapping a VMA starting at 4096
    with pytest.raises(ValueError, match="overlaps"):
        ms.add_process(1, [(0, 4097), (4096, 8192)])
    idx = ms.add_process(1, [(0, 4097), (8192, 12288)])
    assert list(ms.procs[idx].vma_end) == [8192, 12288] and ms.procs[idx].nr_pages == 3
    with pytest.raises(ValueError, match="already a live process"):
        ms.add_process(1, [(0, 4096)])


def test_page_addresses_and_ranges():
    ms = MemorySystem(small_topology())
    idx = ms.add_process(7, [(0x10000, 0x13000), (0x20000, 0x22000)])
    proc = ms.procs[idx]
    assert list(proc.vma_page_base) == [0, 3] and proc.nr_pages == 5
    assert list(ms.page_addresses(idx, [0, 2, 3, 4])) == [0x10000, 0x12000, 0x20000, 0x21000]
    assert list(ms.pages_of_range(idx, 0x11800, 0x20001)) == [1, 2, 3]
    assert list(ms.pages_of_range(idx, 0x13000, 0x20000)) == []  # the gap
    assert list(ms.pages_of_range(idx, 0, 1 << 40)) == [0, 1, 2, 3, 4]
    assert list(ms.pages_of_range(idx, 0x21fff, 0x22000)) == [4]
    with pytest.raises(ValueError, match="out of range"):
        ms.page_addresses(idx, [5])


def test_lowest_frames_first_then_lifo_reuse():
    ms = MemorySystem(small_topology())
    idx = ms.add_process(1, [(0, 10 * 4096)])
    ms.allocate(idx, np.arange(5))
    assert list(ms.procs[idx].vpage_frame[:5]) == [0, 1, 2, 3, 4]
    assert ms.free_pages(idx, [1]) == 1
    assert ms.free_pages(idx, [3, 3]) == 1
    assert ms.free_pages(idx, [3]) == 0
    ms.allocate(idx, [5])
    assert ms.procs[idx].vpage_frame[5] == 3  # most recently freed first
    ms.allocate(idx, [6, 7])
    assert list(ms.procs[idx].vpage_frame[6:8]) == [1, 5]
    ms.check_invariants()


def test_rates():
    ms = MemorySystem(small_topology())
    a = ms.add_process(1, [(0, 4 * 4096)])
    b = ms.add_process(2, [(0, 2 * 4096)])
    v0 = ms.procs[a].version
    with pytest.raises(ValueError, match="shape"):
        ms.set_rates(a, [1.0, 2.0])
    for bad in ([1, 2, -1, 0], [1, 2, np.nan, 0], [1, 2, np.inf, 0]):
        with pytest.raises(ValueError, match="finite and >= 0"):
            ms.set_rates(a, bad)
    ms.set_rates(a, [1.0, 2.0, 3.0, 4.0])
    ms.set_rates(b, [10.0, 20.0])
    assert ms.procs[a].version == v0 + 1
    ms.allocate(a, [0, 1, 3], LocalPolicy(0))
    ms.allocate(b, [1], LocalPolicy(2))
    fr = ms.frame_rates()
    assert fr.shape == (ms.nr_frames,)
    assert list(fr[:3]) == [1.0, 2.0, 4.0] and fr[3:24].sum() == 0
    assert fr[24] == 20.0  # node 2 starts at frame 24
    assert list(ms.node_rate_sums()) == [7.0, 0.0, 20.0]


def test_weighted_interleave_allocation_matches_kernel_rule_4k():
    ms = MemorySystem(load_topology("tiny"))
    # VMAs not starting at 0: the interleave index is the virtual page number
    vmas = [(0x7000, 0x7000 + 100 * 4096), (0x500000, 0x500000 + 57 * 4096)]
    idx = ms.add_process(1, vmas)
    pol = WeightedInterleavePolicy((1, 0), (8, 23))  # given out of order: a nodemask
    assert pol.nodes == (0, 1) and pol.weights == (23, 8)
    res = ms.allocate(idx, np.arange(ms.procs[idx].nr_pages)[::-1], pol)
    addrs = ms.page_addresses(idx, np.arange(ms.procs[idx].nr_pages))
    want = [weighted_interleave_nid(int(a) >> 12, [0, 1], [23, 8]) for a in addrs]
    got = ms.node_of_pages(idx, np.arange(ms.procs[idx].nr_pages))
    assert list(got) == want
    assert res.nr_allocated == 157 and list(res.per_node) == [want.count(0), want.count(1)]
    ms.check_invariants()


def test_weighted_interleave_allocation_matches_kernel_rule_2m():
    ms = MemorySystem(load_topology("P3").scaled(1 / 1024), page_size=2 * MiB)
    idx = ms.add_process(1, [(0x40200000, 0x40200000 + 64 * 2 * MiB)])
    pol = WeightedInterleavePolicy.auto(ms.topology)
    assert pol.weights == (25, 4, 2)
    ms.allocate(idx, np.arange(64), pol)
    addrs = ms.page_addresses(idx, np.arange(64))
    # folio order 9: ilx = vm_pgoff >> 9 + offset in 2 MiB pages = address >> 21
    want = [weighted_interleave_nid(int(a) >> 21, [0, 1, 2], [25, 4, 2]) for a in addrs]
    assert list(ms.node_of_pages(idx, np.arange(64))) == want
    assert list(ms.interleave_index(idx, [0, 1])) == [0x40200000 >> 21, (0x40200000 >> 21) + 1]
    assert set(want) == {0, 1, 2}


def test_interleave_allocation():
    ms = MemorySystem(load_topology("P3").scaled(1 / 1024), page_size=2 * MiB)
    idx = ms.add_process(1, [(6 * MiB, 6 * MiB + 10 * 2 * MiB)])
    ms.allocate(idx, np.arange(10), InterleavePolicy((2, 0)))
    vpn = [int(a) >> 21 for a in ms.page_addresses(idx, np.arange(10))]
    assert list(ms.node_of_pages(idx, np.arange(10))) == [interleave_nid(v, [0, 2]) for v in vpn]


def test_local_policy_spills_along_fallback_order():
    ms = MemorySystem(small_topology())  # 16/8/8 pages, latencies 100/300/200
    idx = ms.add_process(1, [(0, 40 * 4096)])
    res = ms.allocate(idx, np.arange(20))
    assert list(res.per_node) == [16, 0, 4]  # node 2 is closer than node 1
    res = ms.allocate(idx, np.arange(40), LocalPolicy(1))
    assert list(res.per_node) == [0, 8, 4] and res.nr_failed == 8
    assert res.nr_already_allocated == 20 and res.nr_allocated == 12
    assert list(ms.free_frames) == [0, 0, 0] and list(ms.used_frames) == [16, 8, 8]
    assert list(ms.node_of_pages(idx, [0, 15, 16, 20, 28, 32, 39])) == [0, 0, 2, 1, 2, -1, -1]
    ms.check_invariants()


def test_interleave_spill_goes_to_chosen_nodes_fallback():
    ms = MemorySystem(small_topology(pages=(16, 2, 16)))
    idx = ms.add_process(1, [(0, 12 * 4096)])
    ms.allocate(idx, np.arange(12), InterleavePolicy((0, 1)))
    nodes = ms.node_of_pages(idx, np.arange(12))
    assert list(nodes[0::2]) == [0] * 6
    # node 1 holds 2 pages; its other pages fall back along node 1's order [1, 0, 2]
    assert list(nodes[1::2]) == [1, 1, 0, 0, 0, 0]


def test_allocation_errors():
    ms = MemorySystem(small_topology())
    idx = ms.add_process(1, [(0, 4 * 4096)])
    with pytest.raises(ValueError, match="does not exist"):
        ms.allocate(idx, [0], LocalPolicy(3))
    with pytest.raises(ValueError, match="1..255"):
        WeightedInterleavePolicy((0, 1), (0, 1))
    with pytest.raises(ValueError, match="one per node"):
        WeightedInterleavePolicy((0, 1), (1, 2, 3))
    with pytest.raises(ValueError, match="distinct"):
        InterleavePolicy((0, 0))
    with pytest.raises(ValueError, match="not a process index"):
        ms.allocate(5, [0])
    ms.remove_process(idx)
    with pytest.raises(ValueError, match="exited"):
        ms.allocate(idx, [0])


def test_remove_process_frees_frames_and_versions():
    ms = MemorySystem(small_topology())
    a = ms.add_process(1, [(0, 10 * 4096)])
    b = ms.add_process(2, [(0, 10 * 4096)])
    ms.allocate(a, np.arange(10))
    ms.allocate(b, np.arange(10))
    va = ms.procs[a].version
    ms.remove_process(a)
    assert not ms.procs[a].alive and ms.procs[a].version == va + 1
    assert (ms.procs[a].vpage_frame == -1).all()
    assert list(ms.used_frames) == [6, 0, 4] and ms.used_bytes().sum() == 10 * 4096
    assert ms.free_bytes().sum() == (32 - 10) * 4096
    assert ms.add_process(1, [(0, 4096)]) == 2  # pid reusable after exit
    ms.check_invariants()


def _naive_spill(pref, free, fallback):
    free = list(free)
    out = []
    for p in pref:
        for node in fallback[p]:
            if free[node] > 0:
                free[node] -= 1
                out.append(node)
                break
        else:
            out.append(-1)
    return out


@settings(max_examples=200, deadline=None)
@given(data=st.data(), n=st.integers(1, 5))
def test_plan_spill_equals_page_by_page(data, n):
    free = data.draw(st.lists(st.integers(0, 6), min_size=n, max_size=n))
    pref = data.draw(st.lists(st.integers(0, n - 1), max_size=40))
    fallback = [[p, *data.draw(st.permutations([q for q in range(n) if q != p]))]
                for p in range(n)]
    got = plan_spill(np.asarray(pref, dtype=np.int64), np.asarray(free), fallback)
    assert list(got) == _naive_spill(pref, free, fallback)


def test_unmovable_memory_takes_the_lowest_frames_for_good():
    """unmovable_bytes: each node's lowest frames (rounded up to pages) belong to no process,
    count as used, are never handed out by first touch, and a paddr migration of them moves
    nothing (reported as not present); bad values name the field and the allowed range."""
    t = small_topology(pages=(16, 8, 8))
    mem = MemorySystem(t, unmovable_bytes=[3 * 4096 - 1, 0, 4096])
    assert mem.unmovable_frames.tolist() == [3, 0, 1]
    assert mem.used_frames.tolist() == [3, 0, 1] and mem.free_frames.tolist() == [13, 8, 7]
    assert (mem.frame_proc[:3] == -2).all() and mem.frame_proc[16 + 8] == -2
    idx = mem.add_process(1, [(0, 32 * 4096)])
    mem.allocate(idx, np.arange(13), LocalPolicy(node=0))  # fills node 0's free frames
    frames = mem.procs[idx].vpage_frame[:13]
    assert frames.min() == 3 and mem.free_frames[0] == 0  # above the kernel's frames
    mem.check_invariants()
    res = mem.migrate_frames(np.arange(3), 1, now_us=0)  # the unmovable frames themselves
    assert res.nr_moved == 0 and res.nr_not_present == 3 and (mem.frame_proc[:3] == -2).all()
    mem.check_invariants()
    for bad, msg in (([0, 0], r"unmovable: 2 values given; the machine has 3 nodes"),
                     ([16 * 4096, 0, 0], r"unmovable\[0\]: 65536; allowed: 0 <= bytes < the "
                                         r"node's capacity \(65536 B\)"),
                     ([0, -1, 0], r"unmovable\[1\]: -1")):
        with pytest.raises(ValueError, match=msg):
            MemorySystem(t, unmovable_bytes=bad)


def test_scenario_unmovable_is_real_bytes_scaled_to_the_machine():
    """A scenario's ``unmovable`` is in the real machine's bytes: at capacity_scale 1/1024
    96 MiB of kernel memory is 96 KiB (24 pages) of the simulated machine; a size that does not
    parse names the field."""
    from damon_gym.scenario import ScenarioError, load_scenario
    from damon_gym.simulation import Simulation

    sc = load_scenario("interleave-default").model_copy(update={"unmovable": [96 * MiB, 0]})
    sim = Simulation(sc, seed=0)
    assert sim.memory.unmovable_frames.tolist() == [24, 0]
    assert sim.stats()["nodes"][0]["used_bytes"] >= 96 * MiB  # node meminfo counts it
    with pytest.raises((ScenarioError, ValueError), match=r"unmovable\[1\]"):
        load_scenario({**load_scenario("smoke-gups").model_dump(by_alias=True,
                                                                 exclude={"base_dir"}),
                       "unmovable": ["1 MiB", "lots"]})


def test_scenarios_hold_the_kernel_memmap_by_default():
    """Left out, ``unmovable`` is each node's memmap, 1/64 of its capacity (64-byte struct page
    per 4 KiB page), in real bytes whatever the scale: P1-AMD's 256 GiB nodes hold 4 GiB each,
    the simulated machine at 1/1024 4 MiB (1,024 pages); the fit check counts it; ``[0, 0]``
    leaves the machine without kernel memory."""
    from damon_gym.scenario import load_scenario
    from damon_gym.simulation import Simulation

    sc = load_scenario("interleave-default")
    assert sc.unmovable is None and sc.capacity_scale == 1 / 1024
    sim = Simulation(sc, seed=0)
    assert sim.memory.unmovable_frames.tolist() == [1024, 1024]
    used = [n["used_bytes"] for n in sim.stats()["nodes"]]
    assert used[1] == 4 * GiB  # the CXL node holds nothing of the workload at the start
    none = Simulation(sc.model_copy(update={"unmovable": [0, 0]}), seed=0)
    assert none.memory.unmovable_frames.tolist() == [0, 0]
    assert [n["used_bytes"] for n in none.stats()["nodes"]] == [used[0] - 4 * GiB, 0]
