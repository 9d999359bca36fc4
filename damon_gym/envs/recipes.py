"""The DAMON parameters each task runs, in damo's JSON layout (so they can be exported).

* interleave: one vaddr context over the workload's processes with one ``migrate_hot`` scheme
  whose ``dests`` are every node (the damo ``weighted_interleave.sh`` recipe, shared/workloads.md
  section 3.1): hot = at least 5 % of the samples, any age, apply 1 s, quota per 1 s;
* tiering: the ``mem_tier.sh`` recipe (section 3.2) for the fast node and the next node of its
  fallback order: a paddr context on the fast node with ``migrate_cold`` (idle memory, reject
  young, goal node_mem_free_bp) and one on the slow node with ``migrate_hot`` (>= 5 %, allow
  young, goal node_mem_used_bp of the fast node);
* joint: both.
"""

from __future__ import annotations

from typing import Any

from damon_gym.memory.topology import Topology

MiB = 1 << 20
INTERVALS = {"sample_us": "5 ms", "aggr_us": "100 ms", "ops_update_us": "1 s"}
WEIGHTS = {"sz_permil": 1, "nr_accesses_permil": 1, "age_permil": 1}  # damo's default 1/1/1


def _scheme(action: str, nr: tuple[str, str], *, sz: int, target_nid: int | None = None,
            dests: list[tuple[int, int]] | None = None, goals: list[dict] | None = None,
            filters: list[dict] | None = None) -> dict[str, Any]:
    return {
        "action": action, "target_nid": target_nid,
        "dests": [{"id": n, "weight": w} for n, w in (dests or [])],
        "access_pattern": {"sz_bytes": {"min": "0 B", "max": "max"},
                           "nr_accesses": {"min": nr[0], "max": nr[1]},
                           "age": {"min": "0 ns", "max": "max"}},
        "apply_interval_us": "1 s",
        "quotas": {"time_ms": "0 ns", "sz_bytes": sz, "reset_interval_ms": "1 s",
                   "goals": goals or [], "goal_tuner": "consist", "weights": WEIGHTS},
        "filters": filters or [],
    }


def interleave_context(weights: list[int], quota_bytes: int) -> dict[str, Any]:
    dests = [(i, w) for i, w in enumerate(weights)]
    return {"ops": "vaddr", "targets": [], "intervals": INTERVALS,
            "nr_regions": {"min": 10, "max": 1000},
            "schemes": [_scheme("migrate_hot", ("5 %", "max"), sz=quota_bytes, dests=dests)]}


def tiering_nodes(topology: Topology) -> tuple[int, int]:
    """(fast, slow): the CPU's node and the next node it falls back to."""
    fast = topology.cpu_node
    return fast, topology.fallback_order(fast)[1]


def tiering_contexts(topology: Topology, *, demote_quota: int, promote_quota: int,
                     free_target_bp: int, used_target_bp: int) -> list[dict[str, Any]]:
    fast, slow = tiering_nodes(topology)
    demote = _scheme("migrate_cold", ("0 %", "0 %"), sz=demote_quota, target_nid=slow,
                     goals=[{"metric": "node_mem_free_bp", "nid": fast,
                             "target_value": free_target_bp}],
                     filters=[{"filter_type": "young", "matching": True, "allow": False}])
    promote = _scheme("migrate_hot", ("5 %", "max"), sz=promote_quota, target_nid=fast,
                      goals=[{"metric": "node_mem_used_bp", "nid": fast,
                              "target_value": used_target_bp}],
                      filters=[{"filter_type": "young", "matching": True, "allow": True}])
    # physical ranges are filled in by the simulation from the node ids (paddr_nodes)
    return [{"ops": "paddr", "targets": [{"pid": None, "regions": []}], "intervals": INTERVALS,
             "nr_regions": {"min": 10, "max": 1000}, "schemes": [s]} for s in (demote, promote)]


def params_document(contexts: list[dict[str, Any]]) -> dict[str, Any]:
    return {"kdamonds": [{"contexts": [c]} for c in contexts]}
