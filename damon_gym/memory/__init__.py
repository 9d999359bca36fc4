"""damon_gym.memory: the simulated machine (topology, frames, placement, migration).

Imports only ``damon_gym.units`` from the rest of the package.
"""

from __future__ import annotations

from damon_gym.memory.mempolicy import (
    WEIGHTINESS,
    interleave_index,
    interleave_nid,
    reduce_interleave_weights,
    weighted_interleave_nid,
    weighted_interleave_nids,
    weighted_interleave_nodes_dynamic,
)
from damon_gym.memory.migration import DEFAULT_PINGPONG_WINDOW_US, MigrationResult
from damon_gym.memory.placement import (
    AllocResult,
    InterleavePolicy,
    LocalPolicy,
    MemPolicy,
    WeightedInterleavePolicy,
)
from damon_gym.memory.process import ProcessMemory
from damon_gym.memory.system import MAX_FRAMES, MemorySystem
from damon_gym.memory.topology import (
    NodeSpec,
    Topology,
    TopologyError,
    available_topologies,
    load_topology,
    topology_from_dict,
)

__all__ = [
    "WEIGHTINESS", "interleave_index", "interleave_nid", "reduce_interleave_weights",
    "weighted_interleave_nid", "weighted_interleave_nids", "weighted_interleave_nodes_dynamic",
    "DEFAULT_PINGPONG_WINDOW_US", "MigrationResult",
    "AllocResult", "InterleavePolicy", "LocalPolicy", "MemPolicy", "WeightedInterleavePolicy",
    "ProcessMemory", "MAX_FRAMES", "MemorySystem",
    "NodeSpec", "Topology", "TopologyError", "available_topologies", "load_topology",
    "topology_from_dict",
]
