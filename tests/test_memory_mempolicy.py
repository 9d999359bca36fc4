"""mm/mempolicy.c parity: interleave index, static and dynamic weighted interleave, auto weights
([DS 8], vectors [DS 10.7]; [PM 2.9] anchors)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from damon_gym.memory.mempolicy import (
    interleave_index,
    interleave_nid,
    reduce_interleave_weights,
    weighted_interleave_nid,
    weighted_interleave_nids,
    weighted_interleave_nodes_dynamic,
)


@pytest.mark.parametrize("bw_gbps, expected", [
    ((205, 22.3), [28, 3]),        # P1-SPR
    ((190, 22), [28, 3]),          # P1-SPR with the 1:1 R:W (hmat = min(read, rw)) figures
    ((497, 48), [29, 2]),          # P1-Meta
    ((614, 77), [28, 3]),          # P1-Meta theoretical
    ((72, 26), [23, 8]),           # P1-AMD
    ((140, 60), [22, 9]),          # P2
    ((300, 57, 24), [25, 4, 2]),   # P3
    ((300, 30, 30), [13, 1, 1]),   # DDR + 2 equal CXL (26:2:2 reduced by the GCD)
    ((700, 250), [23, 8]),         # P4
])
def test_auto_weight_anchors(bw_gbps, expected):
    mbps = [int(round(b * 1000)) for b in bw_gbps]
    assert reduce_interleave_weights(mbps) == expected
    # the reduction is scale-free in integer units: GB/s integers give the same answer here
    if all(float(b).is_integer() for b in bw_gbps):
        assert reduce_interleave_weights([int(b) for b in bw_gbps]) == expected


def test_reduce_weights_small_and_unknown_nodes_get_one():
    # 1/32 of the total or less -> 1 (S < 32*bw fails); unknown bandwidth (0) -> 1
    assert reduce_interleave_weights([31, 1]) == [31, 1]
    assert reduce_interleave_weights([1000, 10, 0]) == [31, 1, 1]
    # exactly 1/32 of the total is not "more than": weight 1
    assert reduce_interleave_weights([31, 1], weightiness=32)[1] == 1
    # gcd reduction: 16:16 -> 1:1; a single node -> 1
    assert reduce_interleave_weights([100, 100]) == [1, 1]
    assert reduce_interleave_weights([5]) == [1]
    assert reduce_interleave_weights([3, 1], weightiness=4) == [3, 1]


def test_reduce_weights_rejects_non_integers_and_negatives():
    with pytest.raises(TypeError):
        reduce_interleave_weights([205.0, 22.3])
    with pytest.raises(ValueError):
        reduce_interleave_weights([10, -1])
    with pytest.raises(ValueError):
        reduce_interleave_weights([])


def test_vector_82_static_weighted_interleave():
    # vm_pgoff 0, vm_start 0, dests {n0:3, n1:1}, 4 KiB pages 0..7
    ilx = [interleave_index(0, 0, k * 4096, 0) for k in range(8)]
    assert ilx == list(range(8))
    got = [weighted_interleave_nid(i, [0, 1], [3, 1]) for i in ilx]
    assert got == [0, 0, 0, 1, 0, 0, 0, 1]


def test_vector_89_dynamic_selector():
    assert weighted_interleave_nodes_dynamic([0, 1], [2, 1], 6, il_prev=1, il_weight=0) == \
        [0, 0, 1, 0, 0, 1]


def test_dynamic_selector_state_handling():
    # il_weight left on the current node is used up first
    assert weighted_interleave_nodes_dynamic([0, 1], [2, 1], 5, il_prev=0, il_weight=1) == \
        [0, 1, 0, 0, 1]
    # no previous node: the lowest node first
    assert weighted_interleave_nodes_dynamic([2, 0, 5], [1, 2, 3], 7) == [0, 0, 2, 5, 5, 5, 0]
    # il_prev not in the mask: the next higher node of the mask, wrapping
    assert weighted_interleave_nodes_dynamic([0, 2, 5], [1, 1, 1], 3, il_prev=3, il_weight=4) == \
        [5, 0, 2]
    assert weighted_interleave_nodes_dynamic([0, 2], [1, 1], 2, il_prev=7) == [0, 2]
    with pytest.raises(ValueError):
        weighted_interleave_nodes_dynamic([0, 1], [1, 0], 3)


def test_static_selection_counts_follow_weights_and_given_order():
    ws = [5, 2, 1]
    nodes = [3, 0, 1]  # DAMON dests order is the array order, not the id order
    got = [weighted_interleave_nid(i, nodes, ws) for i in range(8 * 10)]
    assert got[:8] == [3, 3, 3, 3, 3, 0, 0, 1]
    assert [got.count(n) for n in nodes] == [50, 20, 10]


def test_static_selection_zero_weights():
    # a zero-weight destination is never chosen
    got = {weighted_interleave_nid(i, [0, 1, 2], [0, 2, 1]) for i in range(30)}
    assert got == {1, 2}
    # all weights zero: the local-node stand-in nodes[0]
    assert weighted_interleave_nid(17, [4, 2], [0, 0]) == 4
    assert (weighted_interleave_nids(np.arange(5), [4, 2], [0, 0]) == 4).all()


def test_interleave_nid():
    assert [interleave_nid(i, [1, 3, 4]) for i in range(7)] == [1, 3, 4, 1, 3, 4, 1]
    with pytest.raises(ValueError):
        interleave_nid(0, [])
    with pytest.raises(ValueError):
        weighted_interleave_nid(0, [0, 1], [1])


def test_interleave_index_orders():
    # file-like VMA: pgoff 5, page 2 of the VMA
    assert interleave_index(0x10000, 5, 0x12000, 0) == 7
    # anonymous memory (pgoff = vm_start >> 12): the virtual page number
    vm_start = 0x7F0000000000
    addr = vm_start + 37 * 4096
    assert interleave_index(vm_start, vm_start >> 12, addr, 0) == addr >> 12
    # 2 MiB folios (order 9): the virtual 2 MiB-page number for a 2 MiB-aligned VMA
    vm_start2 = 0x40000000
    addr2 = vm_start2 + 3 * (2 << 20)
    assert interleave_index(vm_start2, vm_start2 >> 12, addr2, 9) == addr2 >> 21
    arr = interleave_index(np.int64(0), np.int64(0), np.arange(4, dtype=np.int64) << 21, 9)
    assert list(arr) == [0, 1, 2, 3]


@settings(max_examples=200, deadline=None)
@given(weights=st.lists(st.integers(0, 20), min_size=1, max_size=8),
       ilx=st.lists(st.integers(0, 10**12), min_size=1, max_size=50))
def test_vectorised_equals_scalar(weights, ilx):
    nodes = list(range(10, 10 + len(weights)))[::-1]
    vec = weighted_interleave_nids(np.asarray(ilx, dtype=np.int64), nodes, weights)
    assert list(vec) == [weighted_interleave_nid(i, nodes, weights) for i in ilx]


@settings(max_examples=100, deadline=None)
@given(weights=st.lists(st.integers(1, 9), min_size=1, max_size=6), n=st.integers(0, 60))
def test_dynamic_period_matches_weights(weights, n):
    """Each node is used w times in a row, round-robin: one period is the static sequence."""
    nodes = list(range(len(weights)))
    dyn = weighted_interleave_nodes_dynamic(nodes, weights, n)
    assert dyn == [weighted_interleave_nid(i, nodes, weights) for i in range(n)]
