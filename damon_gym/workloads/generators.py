"""Workload generators: the primitives of [PM 4] and their phase schedules.

Every generator builds a :class:`Workload` with realistic VMAs (heap | data in the mmap area |
stack, see layout.py), takes ``u_target`` and ``write_fraction``, and draws all randomness
from the ``rng`` argument (a ``numpy.random.Generator`` or an int seed) into explicit seeds
stored in the segments: the same seed gives an equal workload and equal rate arrays.

Single-phase primitives: :func:`uniform`, :func:`hot_cold` (two-level mixture, GUPS-like),
:func:`zipf`, :func:`stream`. Schedules: :func:`rotate` (masim stairs), :func:`alternate`
(masim zigzag), :func:`random_rank` (masim tiering_test_config), :func:`partial_shift`
(HeMem GUPS hot-set move), :func:`periodic_swaps` (Taobench-like). Combining:
:func:`with_processes`, :func:`merge`.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import numpy as np

from damon_gym.units import parse_size
from damon_gym.workloads.layout import process_vmas
from damon_gym.workloads.model import (
    MempolicySpec,
    Phase,
    ProcessSpec,
    RateSegment,
    Workload,
)

DEFAULT_TOTAL_RATE = 1e8  # accesses/s of one process; the same order as masim's throughput
DEFAULT_PID = 1000
RngLike = np.random.Generator | int

__all__ = ["DEFAULT_TOTAL_RATE", "uniform", "hot_cold", "zipf", "stream", "rotate", "alternate",
           "random_rank", "partial_shift", "periodic_swaps", "with_processes", "merge"]


def _rng(rng: RngLike) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise ValueError(f"rng: got {rng!r}; allowed: a numpy.random.Generator or an int seed")


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**63 - 1))


def _size(value: object, field: str) -> int:
    n = parse_size(value, field)
    if n <= 0:
        raise ValueError(f"{field}: got {value!r}; allowed: a positive size")
    return n


def _positive(value: float, field: str) -> float:
    if not float(value) > 0:
        raise ValueError(f"{field}: got {value!r}; allowed: a number > 0")
    return float(value)


def _build(name: str, sizes: Sequence[int], names: Sequence[str] | None,
           phase_specs: Sequence[tuple[float, str, list[tuple[int, str, dict]]]], *,
           pid: int, populate: bool, mempolicy: MempolicySpec | None, u_target: float,
           write_fraction: float, description: str,
           phase_wf: Sequence[float | None] | None = None) -> Workload:
    """One process; ``phase_specs`` = (duration_s, phase name, [(data VMA index or -1 for
    all data VMAs, kind, params)]) back to back from t = 0."""
    vmas = process_vmas(sizes, names)
    data = vmas[1:-1]
    proc = ProcessSpec(pid, name, vmas, populate=populate,
                       mempolicy=mempolicy or MempolicySpec())
    phases, t = [], 0.0
    for i, (dur, pname, segs) in enumerate(phase_specs):
        dur = _positive(dur, f"{pname}: duration_s")
        rs = []
        for j, kind, params in segs:
            lo, hi = (data[0].start, data[-1].end) if j < 0 else (data[j].start, data[j].end)
            rs.append(RateSegment(0, lo, hi, kind, params))
        wf = phase_wf[i] if phase_wf is not None else None
        phases.append(Phase(t, t + dur, pname, rs, wf))
        t += dur
    return Workload(name, [proc], phases, write_fraction, u_target, description)


def _split_sizes(size: int, nr_vmas: int) -> list[int]:
    if nr_vmas < 1 or nr_vmas > size:
        raise ValueError(f"nr_vmas: got {nr_vmas!r}; allowed: an int in [1, size]")
    return [size // nr_vmas] * (nr_vmas - 1) + [size - size // nr_vmas * (nr_vmas - 1)]


def _single(name: str, size: object, kind: str, params: dict, *, duration_s: float,
            nr_vmas: int, description: str, **kw: Any) -> Workload:
    sizes = _split_sizes(_size(size, "size"), nr_vmas)
    return _build(name, sizes, None, [(duration_s, name, [(-1, kind, params)])],
                  description=description, **kw)


def uniform(size: int | str, total_rate: float, *, duration_s: float = 60.0,
            nr_vmas: int = 1, u_target: float = 0.5, write_fraction: float = 0.0,
            name: str = "uniform", pid: int = DEFAULT_PID, populate: bool = True,
            mempolicy: MempolicySpec | None = None) -> Workload:
    """Uniform rate over ``size`` bytes (Redis+YCSB uniform keys, MLC)."""
    return _single(name, size, "uniform", {"total_rate": total_rate}, duration_s=duration_s,
                   nr_vmas=nr_vmas, description=f"uniform over {size} B", pid=pid,
                   populate=populate, mempolicy=mempolicy, u_target=u_target,
                   write_fraction=write_fraction)


def hot_cold(size: int | str, hot_fraction: float, hot_prob: float, total_rate: float,
             rng: RngLike, *, contiguous: bool = False, hot_offset: int = 0,
             duration_s: float = 60.0, nr_vmas: int = 1, u_target: float = 0.5,
             write_fraction: float = 0.0, name: str = "hot_cold", pid: int = DEFAULT_PID,
             populate: bool = True, mempolicy: MempolicySpec | None = None) -> Workload:
    """Two-level mixture: ``hot_prob`` of the accesses go uniformly to a hot set of
    ``hot_fraction`` of the pages (scattered by a drawn permutation, or one contiguous block
    at ``hot_offset`` bytes), the rest uniformly to the others (GUPS: 0.278 / 0.9)."""
    params: dict[str, Any] = {"total_rate": total_rate, "hot_fraction": hot_fraction,
                              "hot_prob": hot_prob, "contiguous": contiguous}
    if contiguous:
        params["hot_offset"] = hot_offset
    else:
        params["perm_seed"] = _seed(_rng(rng))
    return _single(name, size, "hot_cold", params, duration_s=duration_s, nr_vmas=nr_vmas,
                   description=f"hot/cold {hot_fraction:g} of {size} B gets {hot_prob:g}",
                   pid=pid, populate=populate, mempolicy=mempolicy, u_target=u_target,
                   write_fraction=write_fraction)


def zipf(size: int | str, theta: float, total_rate: float, rng: RngLike, *,
         contiguous: bool = False, duration_s: float = 60.0, nr_vmas: int = 1,
         u_target: float = 0.5, write_fraction: float = 0.0, name: str = "zipf",
         pid: int = DEFAULT_PID, populate: bool = True,
         mempolicy: MempolicySpec | None = None) -> Workload:
    """Zipf(theta) page popularity (YCSB's default theta is 0.99)."""
    params: dict[str, Any] = {"total_rate": total_rate, "theta": theta,
                              "contiguous": contiguous}
    if not contiguous:
        params["perm_seed"] = _seed(_rng(rng))
    return _single(name, size, "zipf", params, duration_s=duration_s, nr_vmas=nr_vmas,
                   description=f"zipf({theta:g}) over {size} B", pid=pid, populate=populate,
                   mempolicy=mempolicy, u_target=u_target, write_fraction=write_fraction)


def stream(size: int | str, total_rate: float, *, stride: int = 64, duration_s: float = 60.0,
           nr_vmas: int = 1, u_target: float = 0.95, write_fraction: float = 0.5,
           name: str = "stream", pid: int = DEFAULT_PID, populate: bool = True,
           mempolicy: MempolicySpec | None = None) -> Workload:
    """A sequential stream over the footprint, one access per ``stride`` bytes (STREAM triad:
    bandwidth-bound, 2R:1W)."""
    return _single(name, size, "stream", {"total_rate": total_rate, "stride": stride},
                   duration_s=duration_s, nr_vmas=nr_vmas,
                   description=f"stream over {size} B", pid=pid, populate=populate,
                   mempolicy=mempolicy, u_target=u_target, write_fraction=write_fraction)


def _region_params(kind: str, rate: float, stride: int) -> dict:
    return {"total_rate": rate, "stride": stride} if kind == "sequential" \
        else {"total_rate": rate}


def rotate(nr_regions: int, region_size: int | str, phase_s: float,
           total_rate: float = DEFAULT_TOTAL_RATE, *, initial_s: float = 10.0,
           cycles: int = 1, kind: str = "sequential", stride: int = 4096,
           u_target: float = 0.5, write_fraction: float = 1.0, name: str = "rotate",
           pid: int = DEFAULT_PID, populate: bool = False,
           mempolicy: MempolicySpec | None = None) -> Workload:
    """masim ``stairs``: regions r0.. (one VMA each, ascending); an optional initial phase
    shares ``total_rate`` equally, then one region at a time gets all of it for ``phase_s``,
    walking up the address space, ``cycles`` times."""
    size = _size(region_size, "region_size")
    if nr_regions < 1 or cycles < 1 or kind not in ("sequential", "uniform"):
        raise ValueError(f"rotate: nr_regions={nr_regions!r}, cycles={cycles!r} must be >= 1 "
                         f"and kind={kind!r} 'sequential' or 'uniform'")
    specs = []
    if initial_s > 0:
        specs.append((initial_s, "initial phase",
                      [(i, kind, _region_params(kind, total_rate / nr_regions, stride))
                       for i in range(nr_regions)]))
    for c in range(cycles):
        for i in range(nr_regions):
            specs.append((phase_s, f"phase {c * nr_regions + i}",
                          [(i, kind, _region_params(kind, total_rate, stride))]))
    return _build(name, [size] * nr_regions, [f"r{i}" for i in range(nr_regions)], specs,
                  pid=pid, populate=populate, mempolicy=mempolicy, u_target=u_target,
                  write_fraction=write_fraction, description="rotating single hot region")


def alternate(region_size: int | str, phase_s: float, total_rate: float = DEFAULT_TOTAL_RATE,
              *, nr_cycles: int = 6, initial_s: float = 10.0, kind: str = "sequential",
              stride: int = 4096, u_target: float = 0.5, write_fraction: float = 1.0,
              name: str = "alternate", pid: int = DEFAULT_PID, populate: bool = False,
              mempolicy: MempolicySpec | None = None) -> Workload:
    """masim ``zigzag``: regions a and b (one VMA each); an optional initial phase touches
    both, then a alone, b alone, ... ``nr_cycles`` times."""
    w = rotate(2, region_size, phase_s, total_rate, initial_s=initial_s, cycles=nr_cycles,
               kind=kind, stride=stride, u_target=u_target, write_fraction=write_fraction,
               name=name, pid=pid, populate=populate, mempolicy=mempolicy)
    for i, ph in enumerate(w.phases[1 if initial_s > 0 else 0:]):
        ph.name = f"{'low' if i % 2 == 0 else 'high'} phase {i // 2}"
    w.processes[0].vmas[1].name, w.processes[0].vmas[2].name = "a", "b"
    w.description = "two regions alternate"
    return w


def random_rank(memsize: int | str, nr_regions: int, nr_phases: int, phase_s: float,
                rng: RngLike, *, total_rate: float = DEFAULT_TOTAL_RATE,
                u_target: float = 0.5, write_fraction: float = 1.0,
                name: str = "random_rank", pid: int = DEFAULT_PID, populate: bool = False,
                mempolicy: MempolicySpec | None = None) -> Workload:
    """masim tiering_test_config.py: ``nr_regions`` equal regions (memsize // nr_regions
    bytes, one VMA each), uniform random access inside a region; in every phase region i gets
    ``total_rate * w_i / sum(w)`` with w a fresh permutation of 0..n-1 (write-only)."""
    r = _rng(rng)
    memsize = _size(memsize, "memsize")
    if nr_regions < 1 or nr_phases < 1 or memsize // nr_regions < 1:
        raise ValueError(f"random_rank: nr_regions={nr_regions!r} and nr_phases={nr_phases!r}"
                         " must be >= 1 with memsize // nr_regions >= 1")
    specs = []
    for p in range(nr_phases):
        w = r.permutation(nr_regions)
        tot = int(w.sum())
        specs.append((phase_s, f"p{p}", [(i, "uniform", {"total_rate": total_rate * int(wi) / tot})
                                         for i, wi in enumerate(w) if wi > 0]))
    return _build(name, [memsize // nr_regions] * nr_regions,
                  [f"r{i}" for i in range(nr_regions)], specs, pid=pid, populate=populate,
                  mempolicy=mempolicy, u_target=u_target, write_fraction=write_fraction,
                  description="random hotness ranking per phase")


# --- hot-set moves -------------------------------------------------------------------------
def _split_phases(phases: Sequence[Phase], cuts: Sequence[float]) -> list[Phase]:
    out = []
    for ph in phases:
        inner = sorted(t for t in set(cuts) if ph.start_s < t < ph.end_s)
        bounds = [ph.start_s, *inner, ph.end_s]
        for k, (a, b) in enumerate(pairwise(bounds)):
            nm = ph.name if k == 0 else f"{ph.name} (from {a:g} s)"
            out.append(Phase(a, b, nm, list(ph.segments), ph.write_fraction))
    return out


def _covered_bytes(w: Workload, s: RateSegment) -> int:
    return sum(max(0, min(s.end, v.end) - max(s.start, v.start))
               for v in w.processes[s.proc].vmas)


def _with_moves(base: Workload, phases: list[Phase], moves_for: Any) -> Workload:
    """Copy ``base`` with ``phases``, each hot_cold segment's moves extended by
    ``moves_for(phase, segment key)``."""
    new_phases = []
    for ph in phases:
        segs = []
        for s in ph.segments:
            if s.kind == "hot_cold":
                extra = moves_for(ph, (s.proc, s.start, s.end))
                params = {**s.params, "moves": s.params["moves"] + extra}
                s = RateSegment(s.proc, s.start, s.end, s.kind, params)
            segs.append(s)
        new_phases.append(Phase(ph.start_s, ph.end_s, ph.name, segs, ph.write_fraction))
    return Workload(base.name, list(base.processes), new_phases, base.write_fraction,
                    base.u_target, base.description)


def _hot_keys(base: Workload) -> dict[tuple[int, int, int], RateSegment]:
    keys = {(s.proc, s.start, s.end): s for ph in base.phases for s in ph.segments
            if s.kind == "hot_cold"}
    if not keys:
        raise ValueError("base: got a workload without hot_cold segments; allowed: one with "
                         "at least one (see hot_cold())")
    return keys


def partial_shift(base: Workload, fraction: float, at_s: float, rng: RngLike) -> Workload:
    """HeMem GUPS hot-set move: at ``at_s`` a ``fraction`` of every hot set jumps once to cold
    pages (a contiguous hot block moves its tail as one block; a scattered one moves random
    pages to random cold pages). Phases straddling ``at_s`` are split."""
    r = _rng(rng)
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction: got {fraction!r}; allowed: a number in [0, 1]")
    keys = _hot_keys(base)
    move = {k: [_seed(r), int(round(fraction * s.params["hot_fraction"]
                                    * _covered_bytes(base, s))), s.params["contiguous"]]
            for k, s in keys.items()}
    phases = _split_phases(base.phases, [at_s])
    return _with_moves(base, phases,
                       lambda ph, k: [list(move[k])] if ph.start_s >= at_s else [])


def periodic_swaps(base: Workload, period_s: float, swap_bytes: int | str,
                   rng: RngLike) -> Workload:
    """Taobench-like drift: every ``period_s`` from the first phase's start, ``swap_bytes`` of
    random hot pages and as many random cold pages exchange hotness (cumulative)."""
    r = _rng(rng)
    period_s = _positive(period_s, "period_s")
    nbytes = parse_size(swap_bytes, "swap_bytes")
    keys = sorted(_hot_keys(base))
    if not base.phases:
        return base
    t0, t_end = base.phases[0].start_s, base.phases[-1].end_s
    events = []
    t = t0 + period_s
    while t < t_end:
        events.append(t)
        t = t0 + (len(events) + 1) * period_s
    seeds = {k: [_seed(r) for _ in events] for k in keys}
    phases = _split_phases(base.phases, events)

    def moves_for(ph: Phase, k: tuple[int, int, int]) -> list:
        n = sum(1 for e in events if e <= ph.start_s)
        return [[seeds[k][i], nbytes, False] for i in range(n)]

    return _with_moves(base, phases, moves_for)


# --- several processes ---------------------------------------------------------------------
def with_processes(base: Workload, *, start_s: float | None = None,
                   exit_s: float | None = None, pid: int | None = None,
                   name: str | None = None, populate: bool | None = None,
                   mempolicy: MempolicySpec | None = None) -> Workload:
    """A copy whose timeline (process starts and exits, phases) is delayed by ``start_s``, so
    a generated process starts late; ``exit_s`` (absolute) ends every process; ``pid`` and
    ``name`` rename a single-process workload."""
    d = 0.0 if start_s is None else float(start_s)
    if pid is not None and len(base.processes) != 1:
        raise ValueError(f"pid: got {pid!r}; allowed only for a single-process workload")
    procs = []
    for p in base.processes:
        ex = exit_s if exit_s is not None else (None if p.exit_s is None else p.exit_s + d)
        procs.append(ProcessSpec(pid if pid is not None else p.pid, name or p.name,
                                 list(p.vmas), p.start_s + d, ex,
                                 p.populate if populate is None else populate,
                                 mempolicy or p.mempolicy))
    phases = [Phase(ph.start_s + d, ph.end_s + d, ph.name, list(ph.segments), ph.write_fraction)
              for ph in base.phases]
    return Workload(name or base.name, procs, phases, base.write_fraction,
                    base.u_target, base.description)


def merge(workloads: Sequence[Workload], *, name: str | None = None,
          u_target: float | None = None, write_fraction: float | None = None,
          description: str = "") -> Workload:
    """Several workloads as one with all their processes (pids must differ; use
    with_processes(pid=...)). Phases are cut wherever any input's phase or set of live
    processes changes; each merged phase's write fraction is the mean of the inputs',
    weighted by the total rate of their live processes. ``u_target`` defaults
    to the largest input's, ``write_fraction`` to the mean."""
    if not workloads:
        raise ValueError("workloads: got an empty list; allowed: at least one Workload")
    procs: list[ProcessSpec] = []
    offsets: list[int] = []
    for w in workloads:
        offsets.append(len(procs))
        procs.extend(w.processes)
    bounds = sorted({t for w in workloads for t in w.change_times()})
    phases = []
    for a, b in pairwise(bounds):
        segs, names, wsum, wf = [], [], 0.0, []
        for w, off in zip(workloads, offsets, strict=True):
            i = w.phase_index_at(a)
            if i is None:
                continue
            ph = w.phases[i]
            names.append(ph.name)
            segs += [RateSegment(s.proc + off, s.start, s.end, s.kind, dict(s.params))
                     for s in ph.segments]
            rate = sum(ph.total_rate(i) for i in w.live_processes(a))
            wsum += rate
            wf.append((rate, w.write_fraction_at(a)))
        if not names:
            continue
        frac = (sum(r * f for r, f in wf) / wsum) if wsum > 0 else float(np.mean([f for _, f in wf]))
        phases.append(Phase(a, b, " + ".join(names), segs, min(1.0, max(0.0, frac))))
    return Workload(name or "+".join(w.name for w in workloads), procs, phases,
                    float(np.mean([w.write_fraction for w in workloads]))
                    if write_fraction is None else write_fraction,
                    max(w.u_target for w in workloads) if u_target is None else u_target,
                    description)
