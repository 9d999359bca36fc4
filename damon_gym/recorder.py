"""Record what the simulated kdamonds report, in damo's record format.

A ``Recorder`` hooks every context's aggregation (where the kernel's ``damon_aggregated``
tracepoint fires, just before nr_accesses is reset) and keeps one snapshot per target per
aggregation window, as ``damo record`` does from that tracepoint.
"""

from __future__ import annotations

import numpy as np

from damon_gym.damon.core import Context
from damon_gym.formats.record import DamonRecord, RecordIntervals, RecordSnapshot, wss_of_snapshot
from damon_gym.formats.record import RegionArrays as RecordRegions
from damon_gym.simulation import Simulation

#: records start at a fixed, plausible epoch (damo only uses differences of times)
EPOCH_NS = 1_700_000_000_000_000_000


class Recorder:
    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self.records: dict[tuple[int, int, int], DamonRecord] = {}
        for b in sim.bindings:
            b.context.aggregation_callbacks.append(self._make_cb(b.kdamond_idx, b.context_idx))

    def _make_cb(self, kd: int, ci: int):
        def on_aggregated(ctx: Context) -> None:
            end_ns = EPOCH_NS + ctx.now_us * 1000
            start_ns = EPOCH_NS + ctx.last_aggregation_us * 1000
            a = ctx.attrs
            for ti, t in enumerate(ctx.targets):
                key = (kd, ci, ti)
                rec = self.records.get(key)
                if rec is None:
                    rec = DamonRecord(
                        kdamond_idx=kd, context_idx=ci, scheme_idx=None, target_id=ti,
                        intervals=RecordIntervals(sample_us=a.sample_interval,
                                                  aggr_us=a.aggr_interval,
                                                  ops_update_us=a.ops_update_interval),
                        snapshots=[])
                    self.records[key] = rec
                r = t.regions
                rec.snapshots.append(RecordSnapshot(
                    start_ns=start_ns, end_ns=end_ns,
                    regions=RecordRegions(r.start.copy(), r.end.copy(), r.nr_accesses.copy(),
                                          r.age.copy()),
                    total_bytes=int(r.total_bytes())))
        return on_aggregated

    def result(self) -> list[DamonRecord]:
        return [self.records[k] for k in sorted(self.records)]

    def summary_rows(self) -> list[dict]:
        rows = []
        for (kd, ci, ti), rec in sorted(self.records.items()):
            snaps = rec.snapshots
            nregs = np.array([len(s.regions.start) for s in snaps]) if snaps else np.zeros(1)
            wss = [wss_of_snapshot(s) for s in snaps[-10:]]
            rows.append({"kdamond": kd, "context": ci, "target": ti, "snapshots": len(snaps),
                         "regions_min": int(nregs.min()), "regions_max": int(nregs.max()),
                         "wss_last_bytes": int(np.mean(wss)) if wss else 0})
        return rows
