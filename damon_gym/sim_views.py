"""What a running Simulation shows: DAMON's view of hotness per node, the schemes' totals and
stats, a process's page placement, region snapshots (now, or as of each context's last
aggregation) and the machine's counters. ``Simulation`` mixes this in; it reads the machine,
the bindings, the clock and the last performance step from it, and changes nothing but the
aggregation copies ``keep_aggregations`` asks for.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from damon_gym.damon_view import hotness_by_node
from damon_gym.online import damos_engine

if TYPE_CHECKING:
    from damon_gym.damon.core import Context
    from damon_gym.damos.scheme import Scheme
    from damon_gym.memory.system import MemorySystem
    from damon_gym.memory.topology import Topology
    from damon_gym.online import ContextBinding
    from damon_gym.perf.performance import PerfStep

US = 1_000_000  # microseconds per second (as in simulation.py)


def _scheme_stats(s: Scheme) -> dict:
    st = s.stats
    return {"action": s.action, "nr_tried": st.nr_tried, "sz_tried": st.sz_tried,
            "nr_applied": st.nr_applied, "sz_applied": st.sz_applied,
            "sz_ops_filter_passed": st.sz_ops_filter_passed, "qt_exceeds": st.qt_exceeds,
            "nr_snapshots": st.nr_snapshots, "esz": s.qstate.esz, "min_score": s.qstate.min_score,
            "active": s.wmark_active,
            "goals": [{"metric": g.metric, "current_value": g.current_value,
                       "target_value": g.target_value} for g in s.quota.goals]}



class SimulationViews:
    # provided by Simulation, which mixes this class in
    memory: MemorySystem
    bindings: list[ContextBinding]
    topology: Topology
    now_us: int
    last_perf: PerfStep | None
    _aggregated: dict[int, list[dict]] | None
    _aggregated_at: dict[int, float]

    if TYPE_CHECKING:
        def real_bytes(self, sim_bytes: int | float) -> int: ...

    def hotness_by_node(self, contexts: Sequence[int] | None = None, *,
                        reference: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """DAMON's view of hotness per node (damon_gym/damon_view.py): (bytes in regions at
        >= 5 % of the samples, (4, nodes) bytes per nr_accesses band: idle, up to 25 %, up to
        50 %, more) over the contexts ``contexts`` (indices of ``bindings``; default all), in
        the simulated machine's bytes, no node credited with more than it holds."""
        idx = range(len(self.bindings)) if contexts is None else contexts
        return hotness_by_node(self.memory, self.bindings, idx, reference=reference)

    def scheme_totals(self) -> tuple[int, int]:
        """(sz_tried, sz_applied) of every scheme of every context since the start, the real
        machine's bytes."""
        tried = applied = 0
        for b in self.bindings:
            for s in damos_engine(b.context).schemes:
                tried += s.stats.sz_tried
                applied += s.stats.sz_applied
        return tried, applied

    def placement(self, pid: int | None = None) -> dict:
        """Where a process's pages are: the live process with ``pid`` (default: the first
        live one). Returns ``pid``, ``page_size`` and per VMA ``start``/``end`` (addresses as
        :meth:`snapshot` gives them) with per page ``node`` (int8; -1: never touched) and
        ``rate`` (accesses/s in the current phase), in address order -- copies, so the caller
        may keep them. ``nodes_bytes`` sums the touched pages per node (the real machine's
        bytes, the scale rule). Raises ValueError naming the live pids for an unknown one."""
        mem = self.memory
        live = [p for p in mem.procs if p.alive]
        if pid is None:
            if not live:
                raise ValueError("placement: no live process")
            proc = live[0]
        else:
            found = [p for p in live if p.pid == pid]
            if not found:
                raise ValueError(f"pid: {pid!r} is not a live process; live: "
                                 f"{', '.join(str(p.pid) for p in live) or 'none'}")
            proc = found[0]
        vmas = []
        for j in range(len(proc.vma_start)):
            lo = int(proc.vma_page_base[j])
            n = -(-(int(proc.vma_end[j]) - int(proc.vma_start[j])) // mem.page_size)
            vmas.append({"start": int(proc.vma_start[j]), "end": int(proc.vma_end[j]),
                         "node": proc.vpage_node[lo:lo + n].copy(),
                         "rate": proc.vpage_rate[lo:lo + n].copy()})
        touched = proc.vpage_node[proc.vpage_node >= 0].astype(np.int64)
        per_node = np.bincount(touched, minlength=mem.nr_nodes) * mem.page_size
        return {"pid": proc.pid, "page_size": mem.page_size, "vmas": vmas,
                "nodes_bytes": [self.real_bytes(int(b)) for b in per_node]}

    def snapshot(self, aggregated: bool = False) -> list[dict]:
        """Per context and target: regions with start, end, nr_accesses, age (numpy arrays).

        ``aggregated=False``: the regions now, whose ``nr_accesses`` counts the samples of the
        window in progress (and ``last_nr_accesses`` the last complete window's). Between two
        aggregations the regions are already split for the next window.

        ``aggregated=True``: the regions as they were at each context's last aggregation
        (merged, before the split), with that window's ``nr_accesses`` -- what the kernel
        reports (damo records, tried regions) whenever it is asked. Needs
        :meth:`keep_aggregations` called before running (it keeps a copy per aggregation,
        which costs the fused fast path); contexts that did not aggregate yet are left out."""
        if not aggregated:
            out = []
            for b in self.bindings:
                for tsnap in b.context.snapshot():
                    tsnap.update(kdamond_idx=b.kdamond_idx, context_idx=b.context_idx,
                                 ops=b.ops)
                    out.append(tsnap)
            return out
        if self._aggregated is None:
            raise ValueError("snapshot(aggregated=True): call keep_aggregations() before "
                             "running, so the simulation keeps the regions of each aggregation")
        out = []
        for i, b in enumerate(self.bindings):
            for tsnap in self._aggregated.get(i, []):
                tsnap = {k: (v.copy() if isinstance(v, np.ndarray) else v)
                         for k, v in tsnap.items()}
                tsnap.update(kdamond_idx=b.kdamond_idx, context_idx=b.context_idx, ops=b.ops,
                             time_s=self._aggregated_at[i])
                out.append(tsnap)
        return out

    def keep_aggregations(self) -> None:
        """From now on keep a copy of every context's regions at each aggregation, for
        ``snapshot(aggregated=True)`` (idempotent)."""
        if self._aggregated is not None:
            return
        self._aggregated = {}
        self._aggregated_at = {}

        def keeper(i: int):
            def on_aggregation(ctx: Context) -> None:
                assert self._aggregated is not None
                self._aggregated[i] = ctx.snapshot()
                self._aggregated_at[i] = ctx.now_us / US
            return on_aggregation

        for i, b in enumerate(self.bindings):
            b.context.aggregation_callbacks.append(keeper(i))

    def stats(self) -> dict:
        """Per-node memory, migration counters and per-context monitoring state."""
        mem = self.memory
        real = self.real_bytes
        return {
            "time_s": self.now_us / US,
            "nodes": [
                {"node": i, "name": n.name, "capacity_bytes": real(n.capacity),
                 "used_bytes": real(int(mem.used_frames[i]) * mem.page_size),
                 "free_bytes": real(int(mem.free_frames[i]) * mem.page_size)}
                for i, n in enumerate(self.topology.nodes)
            ],
            "migrated_bytes": real(mem.total_moved_bytes),
            "pingpong_bytes": real(mem.total_pingpong_bytes),
            "performance": None if self.last_perf is None else self.last_perf.to_dict(),
            "contexts": [
                {"kdamond_idx": b.kdamond_idx, "context_idx": b.context_idx, "ops": b.ops,
                 "nr_regions": b.context.nr_regions(),
                 "schemes": [_scheme_stats(s) for s in damos_engine(b.context).schemes],
                 "sample_interval_us": b.context.attrs.sample_interval,
                 "aggr_interval_us": b.context.attrs.aggr_interval,
                 "nr_aggregations": b.context.nr_aggregations, "notes": list(b.notes)}
                for b in self.bindings
            ],
        }
