"""The DAMON parameters each task runs: the scenario's own ``damon:`` block with the task's
controlled scheme(s) added, in damo's JSON layout (so they can be exported).

* interleave: a ``migrate_hot`` scheme whose ``dests`` are every node (the damo
  ``weighted_interleave.sh`` recipe, docs/damon_semantics.md §9): hot = at least 5 % of the samples,
  any age, apply 1 s, a size quota per 1 s. It is appended to the scenario's first vaddr
  context (whose attributes, targets and other schemes stay as the scenario sets them); a
  scenario without a vaddr context gets one more kdamond with damo's default vaddr context.
  A scenario without a ``damon:`` block runs only the task's contexts.
* tiering: the ``mem_tier.sh`` recipe for the fast node (the CPU's) and the next node of its
  fallback order: ``migrate_cold`` (idle memory, reject young, goal ``node_mem_free_bp`` of the
  fast node) in the paddr context that monitors the fast node, ``migrate_hot`` (>= 5 %, allow
  young, goal ``node_mem_used_bp`` of the fast node, target the fast node) in the one that
  monitors the slow node, both goal-tuned by ``tuner`` (the task's ``goal_tuner``). The
  scenario's paddr contexts are used when they monitor whole nodes (``paddr_nodes``, or no
  regions: the i-th paddr context monitors node i); missing ones are added as kdamonds of
  their own with damo's default attributes.
* joint: both.

A scenario whose ``damon:`` block already migrates pages (any ``migrate_hot`` or
``migrate_cold`` scheme) conflicts with every task: two schemes would move the same pages.
:func:`task_params` refuses it, naming the scheme.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, NamedTuple

from damon_gym.errors import DamonGymError

if TYPE_CHECKING:
    from damon_gym.build import Topology

MiB = 1 << 20
INTERVALS = {"sample_us": "5 ms", "aggr_us": "100 ms", "ops_update_us": "1 s"}
WEIGHTS = {"sz_permil": 1, "nr_accesses_permil": 1, "age_permil": 1}  # damo's default 1/1/1
MIGRATING = ("migrate_hot", "migrate_cold")


class RecipeError(DamonGymError):
    """The scenario's DAMON parameters and the task's schemes cannot run together."""


class SchemeRef(NamedTuple):
    """Where a controlled scheme sits: kdamond, context and scheme index."""

    kdamond: int
    context: int
    scheme: int


def _scheme(action: str, nr: tuple[str, str], *, sz: int, target_nid: int | None = None,
            dests: list[tuple[int, int]] | None = None, goals: list[dict] | None = None,
            filters: list[dict] | None = None, tuner: str = "consist") -> dict[str, Any]:
    return {
        "action": action, "target_nid": target_nid,
        "dests": [{"id": n, "weight": w} for n, w in (dests or [])],
        "access_pattern": {"sz_bytes": {"min": "0 B", "max": "max"},
                           "nr_accesses": {"min": nr[0], "max": nr[1]},
                           "age": {"min": "0 ns", "max": "max"}},
        "apply_interval_us": "1 s",
        "quotas": {"time_ms": "0 ns", "sz_bytes": sz, "reset_interval_ms": "1 s",
                   "goals": goals or [], "goal_tuner": tuner, "weights": WEIGHTS},
        "filters": filters or [],
    }


def _context(ops: str) -> dict[str, Any]:
    targets: list[dict[str, Any]] = [] if ops == "vaddr" else [{"pid": None, "regions": []}]
    return {"ops": ops, "targets": targets, "intervals": dict(INTERVALS),
            "nr_regions": {"min": 10, "max": 1000}, "schemes": []}


def interleave_scheme(weights: list[int], quota_bytes: int) -> dict[str, Any]:
    return _scheme("migrate_hot", ("5 %", "max"), sz=quota_bytes,
                   dests=[(i, w) for i, w in enumerate(weights)])


def tiering_nodes(topology: Topology) -> tuple[int, int]:
    """(fast, slow): the CPU's node and the next node it falls back to."""
    fast = topology.cpu_node
    return fast, topology.fallback_order(fast)[1]


def tiering_schemes(topology: Topology, *, demote_quota: int, promote_quota: int,
                    free_target_bp: int, used_target_bp: int, tuner: str = "consist"
                    ) -> tuple[dict, dict]:
    fast, slow = tiering_nodes(topology)
    demote = _scheme("migrate_cold", ("0 %", "0 %"), sz=demote_quota, target_nid=slow,
                     goals=[{"metric": "node_mem_free_bp", "nid": fast,
                             "target_value": free_target_bp}],
                     filters=[{"filter_type": "young", "matching": True, "allow": False}],
                     tuner=tuner)
    promote = _scheme("migrate_hot", ("5 %", "max"), sz=promote_quota, target_nid=fast,
                      goals=[{"metric": "node_mem_used_bp", "nid": fast,
                              "target_value": used_target_bp}],
                      filters=[{"filter_type": "young", "matching": True, "allow": True}],
                      tuner=tuner)
    return demote, promote


def params_document(contexts: list[dict[str, Any]]) -> dict[str, Any]:
    return {"kdamonds": [{"contexts": [c]} for c in contexts]}


class TaskParams:
    """The scenario's DAMON parameter document with the task's schemes added, and where they
    went. ``doc`` is damo's layout; ``paddr_nodes`` the node each paddr context monitors (None:
    the scenario's own binding rules apply unchanged); ``refs`` maps a role ("interleave",
    "demote", "promote") to its :class:`SchemeRef`; ``observed`` lists the flat context indices
    (kdamond-major order, as ``Simulation.bindings``) whose regions feed the hotness features."""

    def __init__(self, damon: dict | None, topology: Topology, scenario_name: str,
                 paddr_nodes: list[int] | None) -> None:
        self.doc = copy.deepcopy(damon) if damon else {"kdamonds": []}
        self.topology = topology
        self.name = scenario_name
        self.paddr_nodes = None if paddr_nodes is None else list(paddr_nodes)
        self.refs: dict[str, SchemeRef] = {}
        self.observed: list[int] = []
        self._check_no_migration()

    # -- reading the scenario's document -------------------------------------------------------
    def _contexts(self) -> list[tuple[int, int, dict]]:
        return [(ki, ci, c) for ki, kd in enumerate(self.doc.get("kdamonds") or [])
                for ci, c in enumerate(kd.get("contexts") or [])]

    def _flat_index(self, ki: int, ci: int) -> int:
        return [(a, b) for a, b, _ in self._contexts()].index((ki, ci))

    def _check_no_migration(self) -> None:
        for ki, ci, c in self._contexts():
            for si, s in enumerate(c.get("schemes") or []):
                if s.get("action") in MIGRATING:
                    raise RecipeError(
                        f"scenario {self.name}: damon: kdamonds[{ki}].contexts[{ci}]."
                        f"schemes[{si}] ({s.get('action')}) would move the pages the task's "
                        "own schemes move; the tasks add their migration schemes themselves "
                        "(allowed in the scenario: stat schemes, monitoring-only contexts)")

    def _add_context(self, ctx: dict) -> tuple[int, int]:
        self.doc.setdefault("kdamonds", []).append({"contexts": [ctx]})
        return len(self.doc["kdamonds"]) - 1, 0

    def _append_scheme(self, ki: int, ci: int, scheme: dict) -> SchemeRef:
        schemes = self.doc["kdamonds"][ki]["contexts"][ci].setdefault("schemes", [])
        schemes.append(scheme)
        return SchemeRef(ki, ci, len(schemes) - 1)

    # -- the tasks' additions ------------------------------------------------------------------
    def add_interleave(self, weights: list[int], quota_bytes: int) -> None:
        vaddr = [(ki, ci) for ki, ci, c in self._contexts() if c.get("ops", "vaddr") == "vaddr"]
        ki, ci = vaddr[0] if vaddr else self._add_context(_context("vaddr"))
        self.refs["interleave"] = self._append_scheme(ki, ci, interleave_scheme(weights,
                                                                                quota_bytes))
        self.observed.append(self._flat_index(ki, ci))

    def _paddr_node_map(self) -> dict[tuple[int, int], int]:
        """(kdamond, context) -> node of every paddr context of the document."""
        paddr = [(ki, ci, c) for ki, ci, c in self._contexts() if c.get("ops") == "paddr"]
        out = {}
        for order, (ki, ci, c) in enumerate(paddr):
            if self.paddr_nodes is not None:
                if order >= len(self.paddr_nodes):
                    raise RecipeError(f"scenario {self.name}: paddr_nodes gives no node for "
                                      f"paddr context {order}")
                out[(ki, ci)] = self.paddr_nodes[order]
                continue
            regions = [r for t in c.get("targets") or [] for r in t.get("regions") or []]
            if regions:
                raise RecipeError(
                    f"scenario {self.name}: damon: kdamonds[{ki}].contexts[{ci}] monitors "
                    "physical ranges of its own; the Tiering task needs paddr contexts that "
                    "monitor whole nodes (no regions, or the scenario's paddr_nodes)")
            if order < self.topology.nr_nodes:
                out[(ki, ci)] = order
        return out

    def add_tiering(self, *, demote_quota: int, promote_quota: int, free_target_bp: int,
                    used_target_bp: int, tuner: str = "consist") -> None:
        fast, slow = tiering_nodes(self.topology)
        demote, promote = tiering_schemes(self.topology, demote_quota=demote_quota,
                                          promote_quota=promote_quota,
                                          free_target_bp=free_target_bp,
                                          used_target_bp=used_target_bp, tuner=tuner)
        nodes = self._paddr_node_map()
        self.paddr_nodes = [nodes[k] for k in sorted(nodes, key=lambda k: self._flat_index(*k))]
        for role, node, scheme in (("demote", fast, demote), ("promote", slow, promote)):
            where = [k for k, n in nodes.items() if n == node]
            if where:
                ki, ci = min(where, key=lambda k: self._flat_index(*k))
            else:
                ki, ci = self._add_context(_context("paddr"))
                self.paddr_nodes.append(node)
            self.refs[role] = self._append_scheme(ki, ci, scheme)
            self.observed.append(self._flat_index(ki, ci))
