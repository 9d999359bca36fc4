"""The scale rule for workloads: a workload described in the real machine's bytes, simulated on
a machine ``capacity_scale`` times its size.

A scenario at ``capacity_scale`` s stands for the full-size machine (README "One scale rule"):
workload sizes and rates in scenario files are the real workload's. Simulating it, every byte
of a process becomes s bytes: each VMA keeps its start (so starts stay 2 MiB aligned and the
gaps between VMAs only grow) and its size is multiplied by s; every rate segment's byte range
is mapped into the shrunken VMAs proportionally; byte quantities inside segment parameters
(``hot_offset``, the bytes of hot/cold ``moves``) shrink by s, and every segment's
``total_rate`` too, so that the access rate of each simulated page -- which DAMON's sampling
sees -- equals the rate of one page of the real workload. A simulated page then stands for
1/s real pages: time and traffic computed from simulated bytes are multiplied by 1/s
(perf.performance, damos).

A workload's own ``scale`` (scenario field ``workload.scale``) stands a workload written for a
small machine -- a masim config, a replayed damo record -- up for a big one: the same access
pattern over ``scale`` times the bytes. The simulation applies ``scale * capacity_scale`` in
one go, so a recording replayed with ``scale: 1024`` on a machine at 1/1024 is simulated
byte for byte as recorded.
"""

from __future__ import annotations

import bisect
import dataclasses
import math

from damon_gym.workloads.model import VMA_ALIGN, ProcessSpec, RateSegment, VMASpec, Workload

__all__ = ["scaled_workload"]


def _check_factor(factor: float) -> float:
    f = float(factor)
    if not (math.isfinite(f) and 0.0 < f):
        raise ValueError(f"capacity_scale: got {factor!r}; allowed: a finite number > 0")
    return f


def _scaled_vmas(p: ProcessSpec, f: float) -> list[VMASpec]:
    """Shrinking (f <= 1): every VMA keeps its start. Growing (f > 1): the first VMA keeps its
    start and each next one starts its original gap after the previous (grown) one, 2 MiB
    aligned, so the VMAs cannot overlap."""
    out: list[VMASpec] = []
    for v in p.vmas:
        start = v.start
        if f > 1.0 and out:
            prev_old = p.vmas[len(out) - 1]
            gap = v.start - prev_old.end
            start = -(-(out[-1].end + gap) // VMA_ALIGN) * VMA_ALIGN
        out.append(VMASpec(start, start + max(1, int(round(v.size * f))), v.name, v.populate))
    return out


class _AddressMap:
    """Maps a process-virtual address of the real workload into the scaled VMAs: inside VMA j
    proportionally from its start; in a gap (or before the first VMA) to the next VMA's start;
    after the last VMA to its scaled end."""

    def __init__(self, old: list[VMASpec], new: list[VMASpec], f: float) -> None:
        self.starts = [v.start for v in old]
        self.old, self.new, self.f = old, new, f

    def __call__(self, addr: int) -> int:
        j = bisect.bisect_right(self.starts, addr) - 1
        if j < 0:
            return self.new[0].start
        o, n = self.old[j], self.new[j]
        if addr >= o.end:
            return self.new[j + 1].start if j + 1 < len(self.new) else n.end
        return min(n.start + int(round((addr - o.start) * self.f)), n.end)


def _scaled_params(params: dict, f: float) -> dict:
    out = dict(params)
    out["total_rate"] = float(params["total_rate"]) * f
    if "hot_offset" in out:
        out["hot_offset"] = int(round(out["hot_offset"] * f))
    if out.get("moves"):
        out["moves"] = [[seed, int(round(nbytes * f)), contiguous]
                        for seed, nbytes, contiguous in out["moves"]]
    return out


def _scaled_segment(s: RateSegment, amap: _AddressMap, f: float) -> RateSegment:
    a, b = amap(s.start), amap(s.end)
    if b <= a:
        b = a + 1  # a range that shrank below a byte keeps one (its rate is what matters)
    return RateSegment(s.proc, a, b, s.kind, _scaled_params(s.params, f))


def scaled_workload(wl: Workload, factor: float) -> Workload:
    """``wl`` with every byte multiplied by ``factor`` (the scenario's ``capacity_scale``
    times its workload's ``scale``): sizes, ranges, byte parameters and total rates, per-page
    rates unchanged; the same workload when ``factor`` is 1."""
    f = _check_factor(factor)
    if f == 1.0:
        return wl
    procs, maps = [], []
    for p in wl.processes:
        vmas = _scaled_vmas(p, f)
        procs.append(dataclasses.replace(p, vmas=vmas))
        maps.append(_AddressMap(p.vmas, vmas, f))
    phases = [dataclasses.replace(ph, segments=[_scaled_segment(s, maps[s.proc], f)
                                                for s in ph.segments])
              for ph in wl.phases]
    return dataclasses.replace(wl, processes=procs, phases=phases)
