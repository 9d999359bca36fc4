"""Replay of real damo records (damon_gym/workloads/replay.py)."""

from __future__ import annotations

import math
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from damon_gym.formats.record import (
    DamonRecord,
    RecordIntervals,
    RecordSnapshot,
    RegionArrays,
    read_record,
    wss_of_snapshot,
)
from damon_gym.recorder import Recorder
from damon_gym.scenario import load_scenario
from damon_gym.simulation import Simulation
from damon_gym.workloads.model import VMA_ALIGN, VMA_MIN_GAP
from damon_gym.workloads.replay import rate_from_count, replay_workload

RECORD = Path(__file__).parent / "fixtures" / "damo_records" / "masim_zigzag_vaddr.damon.data"
WARMUP_S = 1.0


def _wss_series(rec: DamonRecord) -> tuple[np.ndarray, np.ndarray]:
    """(window mid-times in s from the first window's start, WSS bytes) of a record, the WSS
    from formats.record.wss_of_snapshot (damo report wss's definition, nr_accesses >= 1)."""
    t0 = rec.snapshots[0].start_ns
    mids = np.array([((s.start_ns + s.end_ns) / 2 - t0) / 1e9 for s in rec.snapshots])
    return mids, np.array([wss_of_snapshot(s) for s in rec.snapshots], dtype=np.float64)


def test_replayed_record_has_the_recordings_working_set_over_time():
    """Replay the real zigzag record and monitor the replay with the recording's intervals
    (5 ms sampling, damo's default, as the file has none; aggregation = the record's observed
    ~104 ms windows; 10..1000 regions). Both working-set series come from one function
    (wss_of_snapshot) and are compared at matching times: each of our windows against the
    recorded window holding its mid-point, after a 1 s warm-up (both kdamonds start from 10
    coarse regions).

    Tolerance 20 % (the issue's figure) on the median relative error, plus the mean WSS of
    every 5 s phase within 20 %. Why these statistics: the replay can differ from the
    recording only by (1) sampling noise, since a region's count is Binomial(N, p) and a
    low-count region may read 0 in one window; (2) DAMON's adaptive regions, whose random
    splits put boundaries elsewhere, so a region straddling a hot edge counts whole; and
    (3) the 10 phase switches of zigzag, where one or two windows of either series are
    mid-transition. (3) touches ~4 % of windows with ~100 % error, which the median ignores
    and the per-phase mean averages down; (1) and (2) are small for masim's saturated
    regions. Measured (seeds 0-3): median error 0.03 %, mean 3.2 %, per-phase means within
    6 %; 3.8 % of the windows are off by more than 20 %, all at phase switches.
    """
    orig = read_record(RECORD)[0]
    aggr_us = int(round(orig.aggr_us_observed()))
    sc = load_scenario({
        "name": "replay-check", "topology": "tiny", "workload": {"replay": str(RECORD)},
        "damon": {"kdamonds": [{"contexts": [{
            "ops": "vaddr", "targets": [], "schemes": [],
            "intervals": {"sample_us": 5000, "aggr_us": aggr_us, "ops_update_us": 1_000_000},
            "nr_regions": {"min": 10, "max": 1000}}]}]},
        "duration": 60})
    sim = Simulation(sc, seed=0)
    rec = Recorder(sim)
    span_s = (orig.snapshots[-1].end_ns - orig.snapshots[0].start_ns) / 1e9
    sim.run(span_s)
    ours = rec.result()[0]

    t_o, w_o = _wss_series(orig)
    ends_o = np.array([(s.end_ns - orig.snapshots[0].start_ns) / 1e9 for s in orig.snapshots])
    t_r, w_r = _wss_series(ours)
    k = np.searchsorted(ends_o, t_r, side="right")
    keep = (t_r > WARMUP_S) & (k < len(w_o))
    ref, got = w_o[k[keep]], w_r[keep]
    assert keep.sum() > 450
    assert ref.max() > 150e6  # both zigzag regions (2 x 100 MB) once, in the initial phase
    rel = np.abs(got - ref) / np.maximum(ref, 1.0)
    assert np.median(rel) < 0.2, np.median(rel)
    phase = np.floor(t_r[keep] / 5.0)
    for p in np.unique(phase):
        m = phase == p
        assert got[m].mean() == pytest.approx(ref[m].mean(), rel=0.2), (p, got[m].mean(),
                                                                         ref[m].mean())


def test_replay_layout_follows_the_recorded_ranges():
    wl = replay_workload(RECORD)
    (proc,) = wl.processes
    assert not proc.populate and len(proc.vmas) == 3  # heap, mmap area, stack: the 3 regions
    recs = read_record(RECORD)[0]
    for s in recs.snapshots[::50]:
        for a, b in zip(s.regions.start, s.regions.end, strict=True):
            assert any(v.start <= a and b <= v.end for v in proc.vmas)
    for v in proc.vmas:
        assert v.start % VMA_ALIGN == 0
    for a, b in pairwise(proc.vmas):
        assert b.start - a.end >= VMA_MIN_GAP
    assert 400 <= len(wl.phases) <= 543 and wl.duration_s == pytest.approx(56.8, abs=0.1)


def _synthetic(nr: list[int], sample_us: int | None = 5000, aggr_ns: int = 100_000_000):
    base = 0x7F00_0000_0000
    snaps = []
    for i, n in enumerate(nr):
        regions = RegionArrays.from_list([(base, base + (4 << 20), n),
                                          (base + (4 << 20), base + (8 << 20), 0)])
        snaps.append(RecordSnapshot(i * aggr_ns, (i + 1) * aggr_ns, regions))
    iv = None if sample_us is None else RecordIntervals(sample_us, aggr_ns // 1000, 1_000_000)
    return [DamonRecord(0, 0, None, 0, iv, snaps)]


def test_estimator_inverts_the_sampling_probability():
    """nr_accesses 10 of N = 20 samples of 5 ms: p = 0.5, rate = ln 2 / 5 ms per page; a
    saturated count is capped at p = (N - 1/2) / N, rate = ln(2N) / tau; 0 stays 0."""
    r = rate_from_count(np.array([0, 10, 20]), 20, 0.005)
    assert r[0] == 0 and r[1] == pytest.approx(math.log(2) / 0.005)
    assert r[2] == pytest.approx(math.log(40) / 0.005)
    wl = replay_workload(_synthetic([10, 10, 20, 0]))
    assert len(wl.phases) == 3  # the two identical snapshots merged
    pages = wl.rates_at(0.05, 0, 4096)
    hot = pages[pages > 0]
    assert hot.size == 1024 and np.allclose(hot, math.log(2) / 0.005)
    assert wl.rates_at(0.25, 0, 4096).max() == pytest.approx(math.log(40) / 0.005)
    assert wl.rates_at(0.35, 0, 4096).max() == 0
    # the same rate per page at 2 MiB pages: 512 times the rate of one 4 KiB page
    big = wl.rates_at(0.05, 0, 2 << 20)
    assert big.max() == pytest.approx(512 * math.log(2) / 0.005)
    # no intervals in the record: damo's default 5 ms sampling
    assert np.allclose(replay_workload(_synthetic([10], None)).rates_at(0.05, 0, 4096).max(),
                       math.log(2) / 0.005)


def test_replay_errors_are_clear():
    with pytest.raises(ValueError, match="record index"):
        replay_workload(RECORD, target=3)
    with pytest.raises(ValueError, match="no records"):
        replay_workload([])
