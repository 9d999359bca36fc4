"""Allocation-time placement: the task mempolicy that decides where first-touch pages go.

Policies mirror the kernel's ``set_mempolicy(2)`` modes: MPOL_LOCAL (default first touch),
MPOL_INTERLEAVE and MPOL_WEIGHTED_INTERLEAVE with its static, index-based node choice
[DS 8]. When the chosen node has no free frame the allocation falls
back along that node's zonelist (:meth:`Topology.fallback_order`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from damon_gym.memory.mempolicy import weighted_interleave_nids

if TYPE_CHECKING:
    from damon_gym.memory.topology import Topology


def _nodemask(nodes: tuple[int, ...], what: str) -> tuple[int, ...]:
    ns = tuple(int(n) for n in nodes)
    if not ns:
        raise ValueError(f"{what}.nodes: empty nodemask")
    if len(set(ns)) != len(ns) or any(n < 0 for n in ns):
        raise ValueError(f"{what}.nodes: {ns} must be distinct node ids >= 0")
    return ns


@dataclass(frozen=True)
class LocalPolicy:
    """MPOL_LOCAL / default policy: fill ``node`` (None = the topology's ``cpu_node``), then
    spill along its fallback order (Linux first-touch)."""

    node: int | None = None


@dataclass(frozen=True)
class InterleavePolicy:
    """MPOL_INTERLEAVE: page with interleave index ``ilx`` goes to the ``ilx % len(nodes)``-th
    node of the nodemask (ascending ids)."""

    nodes: tuple[int, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "nodes", tuple(sorted(_nodemask(self.nodes, "InterleavePolicy"))))


@dataclass(frozen=True)
class WeightedInterleavePolicy:
    """MPOL_WEIGHTED_INTERLEAVE with per-node weights (the ``weighted_interleave/nodeN`` values,
    1..255). Nodes are a nodemask: stored in ascending id order, weights permuted alongside."""

    nodes: tuple[int, ...]
    weights: tuple[int, ...] = field(default=())

    def __post_init__(self) -> None:
        ns = _nodemask(self.nodes, "WeightedInterleavePolicy")
        ws = tuple(int(w) for w in self.weights) if self.weights else (1,) * len(ns)
        if len(ws) != len(ns):
            raise ValueError(f"WeightedInterleavePolicy.weights: {len(ws)} weights for "
                             f"{len(ns)} nodes (need one per node)")
        if any(not 1 <= w <= 255 for w in ws):
            raise ValueError(f"WeightedInterleavePolicy.weights: {ws}; each must be 1..255 "
                             "(as the kernel's weighted_interleave/nodeN accepts)")
        order = sorted(range(len(ns)), key=lambda i: ns[i])
        object.__setattr__(self, "nodes", tuple(ns[i] for i in order))
        object.__setattr__(self, "weights", tuple(ws[i] for i in order))

    @classmethod
    def auto(cls, topology: Topology) -> WeightedInterleavePolicy:
        """All nodes with the kernel's auto-mode (bandwidth-derived) weights."""
        return cls(tuple(range(topology.nr_nodes)), tuple(topology.auto_weights()))


MemPolicy = LocalPolicy | InterleavePolicy | WeightedInterleavePolicy


@dataclass(frozen=True)
class AllocResult:
    """Outcome of a first-touch allocation: pages given a frame, pages that found every node
    full, pages skipped because they already had a frame, and pages placed per node."""

    nr_allocated: int
    nr_failed: int
    per_node: np.ndarray
    nr_already_allocated: int = 0


def policy_nodes(policy: MemPolicy, nr_nodes: int, cpu_node: int) -> tuple[int, ...]:
    """The nodes a policy names, validated against the machine."""
    if isinstance(policy, LocalPolicy):
        nodes: tuple[int, ...] = (cpu_node if policy.node is None else int(policy.node),)
    elif isinstance(policy, (InterleavePolicy, WeightedInterleavePolicy)):
        nodes = policy.nodes
    else:
        raise TypeError(f"policy: {policy!r} is not a LocalPolicy, InterleavePolicy or "
                        "WeightedInterleavePolicy")
    for n in nodes:
        if not 0 <= n < nr_nodes:
            raise ValueError(f"policy: node {n} does not exist (allowed: 0..{nr_nodes - 1})")
    return nodes


def preferred_nodes(policy: MemPolicy, ilx: np.ndarray, nr_nodes: int,
                    cpu_node: int) -> np.ndarray:
    """The node each page's policy picks, from the pages' interleave indices (int64)."""
    nodes = policy_nodes(policy, nr_nodes, cpu_node)
    if isinstance(policy, LocalPolicy):
        return np.full(len(ilx), nodes[0], dtype=np.int64)
    if isinstance(policy, InterleavePolicy):
        return np.asarray(nodes, dtype=np.int64)[ilx % len(nodes)]
    return weighted_interleave_nids(ilx, policy.nodes, policy.weights)


def plan_spill(pref: np.ndarray, free: np.ndarray, fallback: list[list[int]]) -> np.ndarray:
    """Node actually used by each page when pages are allocated one by one in the given order,
    each on the first node of ``fallback[pref]`` that still has a free frame; -1 when all
    nodes are full.

    Vectorised by stages: between two "node becomes full" events the target of every page is
    fixed, so each stage is a few numpy passes and there are at most ``len(free)`` stages.
    """
    n = len(free)
    free = np.asarray(free, dtype=np.int64).copy()
    out = np.full(len(pref), -1, dtype=np.int64)
    pos = 0
    while pos < len(pref):
        target_of = np.full(n, -1, dtype=np.int64)
        for p in range(n):
            for node in fallback[p]:
                if free[node] > 0:
                    target_of[p] = node
                    break
        if not (free > 0).any():  # every node full: the rest fail
            break
        t = target_of[pref[pos:]]
        cut = len(t)
        for j in range(n):
            idx = np.flatnonzero(t == j)
            if len(idx) > free[j]:
                cut = min(cut, int(idx[free[j]]))
        out[pos:pos + cut] = t[:cut]
        placed = t[:cut]
        free -= np.bincount(placed[placed >= 0], minlength=n)
        pos += cut
    return out
