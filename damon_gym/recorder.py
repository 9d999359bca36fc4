"""Record what the simulated kdamonds report, in damo's record format.

A ``Recorder`` hooks every context's aggregation (where the kernel's ``damon_aggregated``
tracepoint fires, just before nr_accesses is reset) and keeps one snapshot per target per
aggregation window, as ``damo record`` does from that tracepoint.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from damon_gym.damon.core import Context
from damon_gym.formats.record import (
    DamonRecord,
    RecordIntervals,
    RecordSnapshot,
    read_record,
    wss_of_snapshot,
)
from damon_gym.formats.record import RegionArrays as RecordRegions
from damon_gym.formats.record_stream import RecordStreamWriter
from damon_gym.simulation import Simulation

#: records start at a fixed, plausible epoch (damo only uses differences of times)
EPOCH_NS = 1_700_000_000_000_000_000


class Recorder:
    """Keeps every snapshot in memory (``result()``), or with ``stream`` (a
    ``RecordStreamWriter``) writes each to disk as it comes and keeps only what
    ``summary_rows`` needs, so memory stays flat however long the recording."""

    def __init__(self, sim: Simulation, stream: RecordStreamWriter | None = None) -> None:
        self.sim = sim
        self.stream = stream
        self.records: dict[tuple[int, int, int], DamonRecord] = {}
        self._stats: dict[tuple[int, int, int], list] = {}  # count, min, max, last 10 wss
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
                snap = RecordSnapshot(
                    start_ns=start_ns, end_ns=end_ns,
                    regions=RecordRegions(r.start.copy(), r.end.copy(), r.nr_accesses.copy(),
                                          r.age.copy()),
                    total_bytes=int(r.total_bytes()))
                st = self._stats.setdefault(key, [0, None, None, deque(maxlen=10)])
                n = len(snap.regions.start)
                st[0] += 1
                st[1] = n if st[1] is None else min(st[1], n)
                st[2] = n if st[2] is None else max(st[2], n)
                st[3].append(wss_of_snapshot(snap))
                if self.stream is not None:
                    self.stream.add(key, rec, snap)
                else:
                    rec.snapshots.append(snap)
        return on_aggregated

    def result(self) -> list[DamonRecord]:
        return [self.records[k] for k in sorted(self.records)]

    def summary_rows(self) -> list[dict]:
        rows = []
        for (kd, ci, ti), (count, lo, hi, wss) in sorted(self._stats.items()):
            rows.append({"kdamond": kd, "context": ci, "target": ti, "snapshots": count,
                         "regions_min": int(lo or 0), "regions_max": int(hi or 0),
                         "wss_last_bytes": int(np.mean(wss)) if wss else 0})
        return rows


#: the recorder, and damo record files for the layers above (the CLI)
__all__ = ["Recorder", "RecordStreamWriter", "read_record", "EPOCH_NS"]
