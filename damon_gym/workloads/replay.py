"""Replay a real ``damo record`` as a workload: per-range access rates that follow the recorded
``nr_accesses`` over time.

Estimator
---------
In one aggregation window DAMON checks each region once per sampling interval ``tau``: it
picks a random page of the region and reports whether that page was accessed since the last
check. A region's ``nr_accesses`` over the window's ``N`` samples is therefore a
Binomial(N, p) count whose ``p`` is the per-sample access probability of the region's pages.
We take the maximum-likelihood estimate ``p = nr_accesses / N`` and, assuming accesses arrive
as a Poisson process of rate ``r`` per page (the simulator's own model:
``P(accessed in tau) = 1 - exp(-r * tau)``), invert it::

    r = -ln(1 - p) / tau        accesses/s per page, uniform over the region

``p = 1`` (every sample hit) would give an infinite rate, so ``p`` is capped at
``(N - 1/2) / N``: the count is then read as "between N - 1 and N hits", the continuity
correction of the largest observable value, giving the finite cap ``r_max = ln(2N) / tau``
(about 750 /s per page for 5 ms sampling and N = 21). Monitoring the replay with the same
intervals then expects ``N - 1/2`` hits for a saturated region, and exactly the recorded count
elsewhere. ``N`` is the window length divided by ``tau`` (rounded), or the largest count in
the snapshot if that is larger (real kdamonds overrun their windows a little).

``tau`` is the record's ``intervals.sample_us``, else the snapshot's ``sample_interval_us``,
else damo's default 5 ms (records converted from damo's old binary format carry no
intervals); pass ``sample_us`` to override. The rate is per simulation page of ``page_size``
(4 KiB reproduces the recording; with 2 MiB pages a page holding several recorded regions
gets the sum of their rates, a coarser picture).

Layout: one process; its VMAs are the union of all recorded regions (so the address ranges
DAMON saw), each start aligned down to 2 MiB and ranges closer than 2 MiB joined, as the
workload model requires. Memory is populated at first touch. One phase per snapshot, from its
start to the next snapshot's start (so gaps in snapshot-mode records hold the last rates);
consecutive snapshots with identical rates are merged into one phase.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from damon_gym.formats.record import DamonRecord, RecordSnapshot, read_record
from damon_gym.workloads.layout import align_down
from damon_gym.workloads.model import (
    VMA_ALIGN,
    VMA_MIN_GAP,
    Phase,
    ProcessSpec,
    RateSegment,
    VMASpec,
    Workload,
)

DEFAULT_SAMPLE_US = 5000  # damo's default sampling interval

__all__ = ["DEFAULT_SAMPLE_US", "rate_from_count", "record_vmas", "replay_workload"]


def rate_from_count(nr_accesses: np.ndarray, nr_samples: int, tau_s: float) -> np.ndarray:
    """Accesses/s per page from counts out of ``nr_samples``: ``-ln(1 - p) / tau`` with
    ``p = nr / N`` capped at ``(N - 1/2) / N`` (see the module docstring)."""
    if nr_samples < 1 or not tau_s > 0:
        raise ValueError(f"nr_samples={nr_samples!r} must be >= 1 and tau_s={tau_s!r} > 0")
    p = np.clip(np.asarray(nr_accesses, dtype=np.float64) / nr_samples, 0.0,
                (nr_samples - 0.5) / nr_samples)
    return -np.log1p(-p) / tau_s


def record_vmas(snapshots: Sequence[RecordSnapshot]) -> list[VMASpec]:
    """VMAs covering every recorded region: 2 MiB-aligned starts, >= 2 MiB apart."""
    starts = np.concatenate([s.regions.start for s in snapshots])
    ends = np.concatenate([s.regions.end for s in snapshots])
    keep = ends > starts
    order = np.argsort(starts[keep], kind="stable")
    spans: list[list[int]] = []
    for a, b in zip(starts[keep][order].tolist(), ends[keep][order].tolist(), strict=True):
        a = align_down(a, VMA_ALIGN)
        if spans and a - spans[-1][1] < VMA_MIN_GAP:
            spans[-1][1] = max(spans[-1][1], b)
        else:
            spans.append([a, b])
    if not spans:
        raise ValueError("record: no regions in any snapshot; nothing to replay")
    return [VMASpec(a, b, f"rec{i}") for i, (a, b) in enumerate(spans)]


def _sample_us(rec: DamonRecord, snap: RecordSnapshot, override: int | None) -> int:
    if override is not None:
        return int(override)
    if rec.intervals is not None and rec.intervals.sample_us > 0:
        return rec.intervals.sample_us
    if snap.sample_interval_us:
        return int(snap.sample_interval_us)
    return DEFAULT_SAMPLE_US


def _segments(rec: DamonRecord, snap: RecordSnapshot, page_size: int,
              sample_us: int | None) -> list[RateSegment]:
    tau_us = _sample_us(rec, snap, sample_us)
    r = snap.regions
    n = max(1, int(round(snap.duration_ns / (tau_us * 1000))),
            int(r.nr_accesses.max()) if len(r) else 0)
    hot = np.flatnonzero((r.nr_accesses > 0) & (r.end > r.start))
    per_page = rate_from_count(r.nr_accesses[hot], n, tau_us / 1e6)
    return [RateSegment(0, int(r.start[i]), int(r.end[i]), "uniform",
                        {"total_rate": float(rp * (r.end[i] - r.start[i]) / page_size)})
            for i, rp in zip(hot.tolist(), per_page.tolist(), strict=True)]


def replay_workload(source: str | os.PathLike[str] | Sequence[DamonRecord], *,
                    target: int = 0, page_size: int = 4096, sample_us: int | None = None,
                    u_target: float = 0.5, write_fraction: float = 0.0, pid: int = 1000,
                    name: str | None = None) -> Workload:
    """The workload replaying record number ``target`` of a damo record file (or of records
    already read), rates estimated as the module docstring says."""
    if isinstance(source, (str, os.PathLike)):
        records, label = read_record(source), Path(os.fspath(source)).name
    else:
        records, label = list(source), "records"
    if not records:
        raise ValueError(f"replay: {label} holds no records")
    if not isinstance(target, int) or not 0 <= target < len(records):
        raise ValueError(f"replay target: got {target!r}; allowed: a record index in "
                         f"[0, {len(records)})")
    if page_size <= 0 or page_size & (page_size - 1):
        raise ValueError(f"page_size: got {page_size!r}; allowed: a power of two")
    rec = records[target]
    snaps = sorted((s for s in rec.snapshots if s.end_ns > s.start_ns), key=lambda s: s.start_ns)
    if not snaps:
        raise ValueError(f"replay: record {target} of {label} has no snapshots with a duration")
    vmas = record_vmas(snaps)
    t0 = snaps[0].start_ns
    phases: list[Phase] = []
    prev_key: tuple | None = None
    for k, s in enumerate(snaps):
        end_ns = snaps[k + 1].start_ns if k + 1 < len(snaps) else s.end_ns
        if end_ns <= s.start_ns:
            continue
        segs = _segments(rec, s, page_size, sample_us)
        key = tuple((g.start, g.end, g.total_rate) for g in segs)
        a, b = (s.start_ns - t0) / 1e9, (end_ns - t0) / 1e9
        if phases and key == prev_key and math.isclose(phases[-1].end_s, a):
            last = phases[-1]
            phases[-1] = Phase(last.start_s, b, last.name, last.segments)
        else:
            phases.append(Phase(a, b, f"snapshot {k}", segs))
        prev_key = key
    proc = ProcessSpec(pid, name or f"replay:{label}", vmas, populate=False)
    return Workload(name or f"replay:{label}", [proc], phases, write_fraction, u_target,
                    f"replay of {label} record {target} ({len(snaps)} snapshots)")
