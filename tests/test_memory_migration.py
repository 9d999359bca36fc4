"""MemorySystem migration engine, churn accounting, frame change log, random-operation invariants."""

from __future__ import annotations

import numpy as np
import pytest

from damon_gym.memory import LocalPolicy, MemorySystem, WeightedInterleavePolicy, load_topology
from damon_gym.memory.frames import FrameChangeLog
from damon_gym.memory.topology import topology_from_dict

P = 4096
MiB = 1 << 20


def small_topology(pages=(16, 8, 8), latencies=(100, 300, 200)):
    """Nodes of a few 4 KiB pages each, for exact bookkeeping checks."""
    nodes = [{"name": f"n{i}", "kind": "dram" if i == 0 else "cxl", "capacity": p * P,
              "bw_read_gbps": 10, "idle_latency_ns": lat}
             for i, (p, lat) in enumerate(zip(pages, latencies, strict=True))]
    return topology_from_dict({"name": "small", "nodes": nodes})


@pytest.fixture
def ms():
    """16/8/8-page nodes; process 0 has 12 pages on node 0."""
    m = MemorySystem(small_topology())
    idx = m.add_process(1, [(0, 12 * P)])
    m.allocate(idx, np.arange(12))
    return m


def test_vaddr_migration_moves_exactly_the_pages(ms):
    v = ms.procs[0].version
    res = ms.migrate_pages(0, [3, 1, 4], 1, now_us=1000)
    assert (res.nr_moved, res.bytes_moved, res.nr_failed_capacity, res.nr_already_there) == \
        (3, 3 * P, 0, 0)
    assert list(res.bytes_by_src) == [3 * P, 0, 0] and res.sz_applied == 3 * P
    nodes = ms.node_of_pages(0, np.arange(12))
    assert [i for i in range(12) if nodes[i] == 1] == [1, 3, 4]
    # new frames are node 1's lowest, in the order given
    assert list(ms.procs[0].vpage_frame[[3, 1, 4]]) == [16, 17, 18]
    assert list(ms.procs[0].vpage_prev_node[[1, 3, 4]]) == [0, 0, 0]
    assert list(ms.procs[0].vpage_last_move_us[[0, 1]]) == [-1, 1000]
    assert list(ms.used_frames) == [9, 3, 0] and list(ms.free_frames) == [7, 5, 8]
    assert ms.procs[0].version == v  # migration does not bump the version
    ms.check_invariants()


def test_already_there_and_not_present(ms):
    ms.migrate_pages(0, [0, 1], 2, now_us=0)
    idx = ms.add_process(2, [(0, 4 * P)])
    ms.allocate(idx, [0])
    res = ms.migrate_pages(0, [0, 1, 2, 2], 2, now_us=5)
    assert (res.nr_moved, res.nr_already_there) == (1, 2)
    res = ms.migrate_pages(idx, [0, 1, 2], 1, now_us=5)
    assert (res.nr_moved, res.nr_not_present) == (1, 2)
    ms.check_invariants()


def test_capacity_failures_move_in_given_order(ms):
    res = ms.migrate_pages(0, np.arange(11, -1, -1), 1, now_us=0)  # 12 pages, 8 frames free
    assert (res.nr_moved, res.nr_failed_capacity) == (8, 4)
    assert list(ms.node_of_pages(0, np.arange(12))) == [0] * 4 + [1] * 8
    assert ms.migration_failures == 4
    snap = ms.take_churn()
    assert snap["failures"] == 4 and snap["nr_folios"] == 8
    assert ms.migration_failures == 0
    ms.check_invariants()


def test_paddr_migration_ignores_free_frames_and_spans_processes(ms):
    idx = ms.add_process(2, [(0, 2 * P)])
    ms.allocate(idx, [0, 1])  # frames 12, 13
    res = ms.migrate_frames([13, 2, 14, 15, 2], 2, now_us=7)
    assert (res.nr_moved, res.nr_not_present) == (2, 2)
    assert ms.node_of_pages(idx, [1])[0] == 2 and ms.node_of_pages(0, [2])[0] == 2
    assert list(ms.procs[idx].vpage_last_move_us) == [-1, 7]
    assert ms.frame_proc[13] == -1 and ms.frame_proc[2] == -1
    with pytest.raises(ValueError, match="out of range"):
        ms.migrate_frames([ms.nr_frames], 0, 0)
    with pytest.raises(ValueError, match="not a node id"):
        ms.migrate_frames([0], 3, 0)
    ms.check_invariants()


def test_pingpong_counted_only_within_window(ms):
    s = 1_000_000
    ms.migrate_pages(0, [0, 1, 2, 3], 1, now_us=0)
    res = ms.migrate_pages(0, [0], 0, now_us=5 * s)  # back to node 0 within 10 s
    assert res.pingpong_bytes == P
    res = ms.migrate_pages(0, [1], 2, now_us=5 * s)  # on to a third node: not ping-pong
    assert res.pingpong_bytes == 0
    res = ms.migrate_pages(0, [2], 0, now_us=10 * s)  # exactly the window: not "less than"
    assert res.pingpong_bytes == 0
    # page 1 left node 1 at 5 s and returns at 12 s (7 s < 10 s); page 3 is already there
    res = ms.migrate_pages(0, [1, 3], 1, now_us=12 * s)
    assert res.pingpong_bytes == P
    assert res.nr_already_there == 1 and res.nr_moved == 1
    assert ms.procs[0].vpage_prev_node[1] == 2
    assert ms.pingpong_bytes == 2 * P
    res = ms.migrate_pages(0, [1], 2, now_us=30 * s)  # back to node 2 after 18 s: too late
    assert res.pingpong_bytes == 0
    snap = ms.take_churn()
    assert snap["pingpong_bytes"] == 2 * P and ms.pingpong_bytes == 0


def test_pingpong_window_is_configurable():
    m = MemorySystem(small_topology(), pingpong_window_us=100)
    idx = m.add_process(1, [(0, 2 * P)])
    m.allocate(idx, [0, 1])
    m.migrate_pages(idx, [0, 1], 1, now_us=0)
    assert m.migrate_pages(idx, [0], 0, now_us=99).pingpong_bytes == P
    assert m.migrate_pages(idx, [1], 0, now_us=100).pingpong_bytes == 0


def test_take_churn_matrix(ms):
    ms.migrate_pages(0, [0, 1, 2], 1, now_us=0)
    ms.migrate_pages(0, [0, 3], 2, now_us=0)
    snap = ms.take_churn()
    assert snap["churn"].tolist() == [[0, 3 * P, P], [0, 0, P], [0, 0, 0]]
    assert list(snap["read_bytes"]) == [4 * P, P, 0]
    assert list(snap["write_bytes"]) == [0, 3 * P, 2 * P]
    assert snap["moved_bytes"] == 5 * P and snap["nr_folios"] == 5 and snap["folio_bytes"] == P
    assert ms.take_churn()["churn"].sum() == 0
    assert ms.total_moved_bytes == 5 * P


def test_change_log_consumers(ms):
    a_frames, a = ms.frame_changes_since(None)
    assert a_frames is None  # first call: rebuild
    b = ms.change_cursor()
    ms.migrate_pages(0, [5], 1, now_us=0)  # frame 5 -> frame 16
    fa, a = ms.frame_changes_since(a)
    assert list(fa) == [5, 16]
    fa, a = ms.frame_changes_since(a)
    assert list(fa) == []
    ms.free_pages(0, [7])
    idx2 = ms.procs[0]
    assert idx2.vpage_frame[7] == -1
    fb, b = ms.frame_changes_since(b)  # B still sees everything since its cursor
    assert list(fb) == [5, 7, 16]
    fa, a = ms.frame_changes_since(a)
    assert list(fa) == [7]
    ms.allocate(0, [7], LocalPolicy(2))
    fa, a = ms.frame_changes_since(a)
    assert list(fa) == [24]
    ms.set_rates(0, np.ones(12))  # new epoch
    fa, a = ms.frame_changes_since(a)
    fb, b = ms.frame_changes_since(b)
    assert fa is None and fb is None
    fa, a = ms.frame_changes_since(a)
    assert list(fa) == []


def test_change_log_is_bounded():
    log = FrameChangeLog(limit=10)
    c = log.cursor()
    log.append(np.arange(6))
    frames, c2 = log.since(c)
    assert list(frames) == list(range(6))
    log.append(np.arange(6))  # 12 > 10 entries: new epoch
    frames, _ = log.since(c2)
    assert frames is None and log.length == 0
    # in the system: many migrations overflow the log of nr_frames entries
    m = MemorySystem(small_topology())
    idx = m.add_process(1, [(0, 4 * P)])
    m.allocate(idx, np.arange(4))
    cur = m.change_cursor()
    for t in range(5):
        m.migrate_pages(idx, np.arange(4), 1 + t % 2, now_us=t)
    assert m.frame_changes_since(cur)[0] is None


def test_random_operations_keep_invariants():
    rng = np.random.default_rng(1234)
    m = MemorySystem(load_topology("P3").scaled(1 / 4096), page_size=2 * MiB)
    alive: list[int] = []
    cursor = m.change_cursor()
    shadow = m.frame_rates()
    now = 0
    for step in range(300):
        op = rng.integers(7)
        now += int(rng.integers(1, 3_000_000))
        if op == 0 or not alive:
            npages = int(rng.integers(1, 200))
            start = int(rng.integers(0, 1000)) * 2 * MiB
            alive.append(m.add_process(step + 100, [(start, start + npages * 2 * MiB)]))
        else:
            idx = int(rng.choice(alive))
            nr = m.procs[idx].nr_pages
            pages = rng.integers(0, nr, size=int(rng.integers(1, nr + 1)))
            if op == 1:
                m.allocate(idx, pages, WeightedInterleavePolicy.auto(m.topology))
            elif op == 2:
                m.allocate(idx, pages, LocalPolicy(int(rng.integers(3))))
            elif op == 3:
                res = m.migrate_pages(idx, pages, int(rng.integers(3)), now)
                assert res.nr_moved + res.nr_failed_capacity + res.nr_already_there \
                    + res.nr_not_present == len(np.unique(pages))
            elif op == 4:
                owned = np.flatnonzero(m.frame_proc >= 0)
                if len(owned):
                    m.migrate_frames(rng.choice(owned, size=min(50, len(owned))),
                                     int(rng.integers(3)), now)
            elif op == 5:
                m.set_rates(idx, rng.random(nr) * 100)
            elif rng.random() < 0.3:
                m.remove_process(idx)
                alive.remove(idx)
            else:
                m.free_pages(idx, pages)
        m.check_invariants()
        # a consumer that patches its per-frame copy from the change log stays exact
        changed, cursor = m.frame_changes_since(cursor)
        if changed is None:
            shadow = m.frame_rates()
        else:
            shadow[changed] = m.frame_rates()[changed]
        assert np.array_equal(shadow, m.frame_rates())
        assert np.allclose(m.node_rate_sums(),
                           np.bincount(m.frame_node, weights=shadow, minlength=3))
    assert m.total_moved_bytes > 0 and m.used_frames.sum() > 0

