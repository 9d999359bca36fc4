"""Kernel-parity pure functions of mm/mempolicy.c: (weighted) interleave node selection.

Everything here is integer arithmetic on node ids and weights, written from the behaviour
described in docs/damon_semantics.md [DS 8] (and [DS 3.5] for DAMON's ``migrate_dests``,
which re-uses the same static rule). No kernel source is reproduced.

Vocabulary:

* ``nodes`` is the policy's nodemask given as a sequence of node ids. The kernel walks a nodemask
  in ascending id order; the functions here walk ``nodes`` in the order given, so a mempolicy
  caller passes ascending ids and DAMON's ``migrate_dests`` passes its ``node_id_arr`` order.
* ``weights`` has one weight per entry of ``nodes`` (the kernel's ``iw_table[nid]`` values, or
  DAMON's ``weight_arr``). Mempolicy weights are 1..255; DAMON dests may use 0 ("never").
* ``ilx`` is the interleave index of a folio (see :func:`interleave_index`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral

import numpy as np
from numba import njit

#: mm/mempolicy.c's "weightiness" of bandwidth-derived (auto mode) weights.
WEIGHTINESS = 32

BASE_PAGE_SHIFT = 12  # PAGE_SHIFT of a 4 KiB base page


def _check_nodes(nodes: Sequence[int]) -> list[int]:
    out = [int(n) for n in nodes]
    if not out:
        raise ValueError("nodes: the nodemask is empty")
    if len(set(out)) != len(out):
        raise ValueError(f"nodes: duplicate node ids in {out}")
    return out


def _check_weights(nodes: Sequence[int], weights: Sequence[int]) -> list[int]:
    ws = [int(w) for w in weights]
    if len(ws) != len(nodes):
        raise ValueError(f"weights: {len(ws)} weights for {len(nodes)} nodes (need one per node)")
    if any(w < 0 for w in ws):
        raise ValueError(f"weights: {ws} has a negative weight (allowed: >= 0)")
    return ws


def interleave_index(vm_start, vm_pgoff, addr, order: int = 0):
    """The interleave index ``ilx`` of the folio of ``order`` at virtual address ``addr`` in a
    VMA (``vma->vm_start``, ``vma->vm_pgoff``), for 4 KiB base pages:
    ``(vm_pgoff >> order) + ((addr - vm_start) >> (PAGE_SHIFT + order))``
    (mempolicy's interleave index for VMA allocations; DAMON vaddr dests use the same).

    Anonymous private memory has ``vm_pgoff = vm_start >> PAGE_SHIFT``, so with order 0 ``ilx``
    is the virtual page number. Works element-wise on numpy int64 arrays too.
    """
    if order < 0:
        raise ValueError(f"order: {order} is negative")
    return (vm_pgoff >> order) + ((addr - vm_start) >> (BASE_PAGE_SHIFT + order))


@njit(cache=True, inline="always")
def weighted_slot(t, bounds):
    """The weighted-interleave rule, the one implementation every caller uses (mempolicy's
    weighted_interleave_nid, DAMON's migrate_dests, the numba dests walk): with ``bounds`` the
    cumulative weights, the slot of position ``t`` (``0 <= t < bounds[-1]``) is the first
    ``i`` with ``t < bounds[i]`` -- walking the slots subtracting weights until ``t < w``; a
    zero-weight slot never wins."""
    i = 0
    while bounds[i] <= t:
        i += 1
    return i


@njit(cache=True)
def _weighted_slots(ilx, bounds, out):
    total = bounds[bounds.shape[0] - 1]
    for k in range(ilx.shape[0]):
        out[k] = weighted_slot(ilx[k] % total, bounds)


def weighted_slots(ilx: object, weights: Sequence[int]) -> np.ndarray:
    """The slot (index into ``weights``) of every interleave index in ``ilx`` under the
    weighted-interleave rule (:func:`weighted_slot` of ``ilx % sum(weights)``); -1 for every
    index when all weights are 0. Weights must be >= 0 and indices >= 0."""
    ws = np.asarray(weights, dtype=np.int64).reshape(-1)
    ix = np.ascontiguousarray(np.asarray(ilx, dtype=np.int64).reshape(-1))
    if ws.size and int(ws.min()) < 0:
        raise ValueError(f"weights: {ws.tolist()} has a negative weight (allowed: >= 0)")
    if ix.size and int(ix.min()) < 0:
        raise ValueError("ilx: negative interleave index")
    out = np.full(ix.shape[0], -1, dtype=np.int64)
    if ws.size and int(ws.sum()) > 0:
        _weighted_slots(ix, np.cumsum(ws), out)
    return out


def interleave_nid(ilx: int, nodes: Sequence[int]) -> int:
    """MPOL_INTERLEAVE static selection (mempolicy ``interleave_nid``): the
    ``(ilx % len(nodes))``-th node of the nodemask."""
    ns = _check_nodes(nodes)
    if ilx < 0:
        raise ValueError(f"ilx: {ilx} is negative")
    return ns[ilx % len(ns)]


def weighted_interleave_nid(ilx: int, nodes: Sequence[int], weights: Sequence[int]) -> int:
    """MPOL_WEIGHTED_INTERLEAVE static (index-based) selection (``weighted_interleave_nid``).

    ``t = ilx % total``; walk the nodes subtracting weights until ``t < w``. A node with weight 0
    is never chosen (DAMON dests semantics; mempolicy weights are never 0, so both agree).
    If all weights are 0 the kernel returns the *local* node; this function, which knows no
    CPU, returns ``nodes[0]`` as the local-node stand-in (DAMON vaddr dests instead skip the
    folio: callers that need that behaviour test ``sum(weights) == 0`` first).
    """
    ns = _check_nodes(nodes)
    ws = _check_weights(ns, weights)
    if ilx < 0:
        raise ValueError(f"ilx: {ilx} is negative")
    if sum(ws) == 0:
        return ns[0]
    return ns[int(weighted_slots([ilx], ws)[0])]


def weighted_interleave_nids(ilx: np.ndarray, nodes: Sequence[int],
                             weights: Sequence[int]) -> np.ndarray:
    """Vectorised :func:`weighted_interleave_nid`: the node of every interleave index in
    ``ilx`` (int64 array), equal to the scalar function element-wise."""
    ns = _check_nodes(nodes)
    ws = _check_weights(ns, weights)
    ilx = np.asarray(ilx, dtype=np.int64)
    if ilx.size and int(ilx.min()) < 0:
        raise ValueError("ilx: negative interleave index")
    if sum(ws) == 0:
        return np.full(ilx.shape, ns[0], dtype=np.int64)
    return np.asarray(ns, dtype=np.int64)[weighted_slots(ilx, ws)].reshape(ilx.shape)


def reduce_interleave_weights(bandwidths: Sequence[int], weightiness: int = WEIGHTINESS) -> list[int]:
    """Auto-mode weights from per-node bandwidth (mempolicy ``reduce_interleave_weights``).

    ``S = sum(bw)``; ``w = weightiness * bw // S`` if ``bw > 0`` and ``S < weightiness * bw``,
    else 1 (a node with at most 1/weightiness of the total, or unknown bandwidth 0, gets 1);
    then every weight is divided by the weights' GCD. Bandwidths are integers (the kernel
    uses MB/s from HMAT/CDAT, ``min(read, write)``).
    """
    bws: list[int] = []
    for b in bandwidths:
        if not isinstance(b, Integral) or isinstance(b, bool):
            raise TypeError(f"bandwidths: {b!r} is not an integer (use MB/s integers)")
        if b < 0:
            raise ValueError(f"bandwidths: {b} is negative")
        bws.append(int(b))
    if not bws:
        raise ValueError("bandwidths: empty")
    if weightiness < 1:
        raise ValueError(f"weightiness: {weightiness} must be >= 1")
    s = sum(bws)
    weights = [weightiness * b // s if b > 0 and s < weightiness * b else 1 for b in bws]
    g = 0
    for w in weights:
        g = math.gcd(g, w)
    return [w // g for w in weights]


def weighted_interleave_nodes_dynamic(nodes: Sequence[int], weights: Sequence[int], n: int,
                                      il_prev: int | None = None,
                                      il_weight: int = 0) -> list[int]:
    """The next ``n`` nodes of the per-task round-robin selector (mempolicy
    ``weighted_interleave_nodes``), used when an allocation has no interleave index.

    The task state is ``il_prev`` (last node used) and ``il_weight`` (allocations left on it).
    Per allocation: if ``il_weight == 0`` or ``il_prev`` is not in the nodemask, move to the
    next node of the mask after ``il_prev`` (wrapping) and set ``il_weight`` to its weight;
    then ``il_weight -= 1`` and return the node. ``nodes`` is a nodemask, walked in ascending
    id order whatever order it is given in; ``il_prev=None`` means "no node yet" (the first
    allocation uses the lowest node). Weights must be >= 1 here, as in the kernel's table.
    """
    ns = _check_nodes(nodes)
    ws = _check_weights(ns, weights)
    if any(w < 1 for w in ws):
        raise ValueError(f"weights: {ws}; mempolicy weights are 1..255 (0 is not allowed)")
    if n < 0:
        raise ValueError(f"n: {n} is negative")
    if il_weight < 0:
        raise ValueError(f"il_weight: {il_weight} is negative")
    order = sorted(range(len(ns)), key=lambda i: ns[i])
    mask = [ns[i] for i in order]
    wt = {ns[i]: ws[i] for i in order}
    out: list[int] = []
    prev, left = il_prev, il_weight
    for _ in range(n):
        if left == 0 or prev not in wt:
            # next_node_in(prev, mask): first node with a larger id, wrapping to the first.
            later = [m for m in mask if prev is None or m > prev]
            prev = later[0] if later else mask[0]
            left = wt[prev]
        left -= 1
        out.append(prev)
    return out
