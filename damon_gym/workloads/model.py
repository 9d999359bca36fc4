"""The workload model: processes with VMAs, and phases of compact access-rate segments.

A :class:`Workload` is data: which processes exist (their VMAs, when they start and exit, how
their memory is populated and placed) and, per time phase, a few :class:`RateSegment` s that
describe access rates over process-virtual byte ranges. :meth:`Workload.rates_at` expands them
into one float64 array per process (accesses/s per simulation page) with numpy; the rate
convention of every segment kind is in :mod:`damon_gym.workloads.fields`.

Times are float seconds (``_s``) from the start of the simulation, byte addresses are ints,
``proc`` is an index into ``Workload.processes`` (not a pid). Treat the objects as immutable
once a Workload is built: expansions are cached.
"""

from __future__ import annotations

import bisect
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, Literal

import numpy as np

from damon_gym.caches import bounded_put
from damon_gym.errors import DamonGymError
from damon_gym.workloads.fields import KINDS, PageGeometry, expand_segment, normalize_params

VMA_ALIGN = 2 << 20  # every VMA start is 2 MiB aligned, so any page size <= 2 MiB divides it
VMA_MIN_GAP = 2 << 20  # the memory system rounds VMA ends up to its page size (<= 2 MiB)
_CACHE_ENTRIES = 16
# Expanded phase rates shared by every Workload of the process, keyed by what they are made
# of (the process's VMAs, the page size, the phase's segments of that process, in order):
# each reset builds a new Workload, and episodes of a scenario (or of a suite, over a long
# run) meet the same phases again. At most this many arrays and bytes are kept.
_SHARED_ENTRIES = 256
_SHARED_BYTES = 256 << 20
_SHARED_RATES: OrderedDict = OrderedDict()

__all__ = ["VMA_ALIGN", "VMA_MIN_GAP", "KINDS", "VMASpec", "MempolicySpec", "ProcessSpec",
           "RateSegment", "Phase", "Workload"]


def _share_rates(content: tuple, arr: np.ndarray) -> None:
    """Keep ``arr`` in the process-wide LRU, evicting the oldest beyond its bounds."""
    bounded_put(_SHARED_RATES, content, arr, _SHARED_ENTRIES)
    total = sum(a.nbytes for a in _SHARED_RATES.values())
    while total > _SHARED_BYTES and len(_SHARED_RATES) > 1:
        total -= _SHARED_RATES.pop(next(iter(_SHARED_RATES))).nbytes


class WorkloadError(DamonGymError):
    """A workload that does not validate (processes, VMAs, phases, segments)."""


def _err(name: str, value: object, allowed: str) -> WorkloadError:
    return WorkloadError(f"{name}: got {value!r}; allowed: {allowed}")


def _is_int(v: object) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _time(name: str, v: object) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
            or not math.isfinite(float(v)) or float(v) < 0:
        raise _err(name, v, "a finite number of seconds >= 0")
    return float(v)


@dataclass
class VMASpec:
    """A virtual memory area [start, end) in bytes. ``populate`` overrides the process's
    populate flag for this VMA (None: inherit)."""

    start: int
    end: int
    name: str = ""
    populate: bool | None = None

    def __post_init__(self) -> None:
        if not _is_int(self.start) or self.start < 0 or self.start % VMA_ALIGN:
            raise _err("VMASpec.start", self.start, "an int >= 0, a multiple of 2 MiB")
        if not _is_int(self.end) or self.end <= self.start or self.end > 1 << 57:
            raise _err("VMASpec.end", self.end, f"an int in ({self.start}, 2**57]")
        if self.populate is not None and not isinstance(self.populate, bool):
            raise _err("VMASpec.populate", self.populate, "True, False or None")
        self.start, self.end = int(self.start), int(self.end)

    @property
    def size(self) -> int:
        return self.end - self.start


@dataclass
class MempolicySpec:
    """set_mempolicy() of a process: ``local`` (first-touch on ``nodes[0]`` if given, else the
    CPU's node), ``interleave`` over ``nodes``, or ``weighted_interleave`` over ``nodes`` with
    ``weights`` (None: the kernel's auto weights)."""

    mode: Literal["local", "interleave", "weighted_interleave"] = "local"
    nodes: list[int] | None = None
    weights: list[int] | None = None

    def __post_init__(self) -> None:
        modes = ("local", "interleave", "weighted_interleave")
        if self.mode not in modes:
            raise _err("MempolicySpec.mode", self.mode, f"one of {modes}")
        if self.nodes is not None:
            self.nodes = list(self.nodes)
            if not self.nodes or not all(_is_int(n) and n >= 0 for n in self.nodes) \
                    or len(set(self.nodes)) != len(self.nodes):
                raise _err("MempolicySpec.nodes", self.nodes, "distinct node ids >= 0")
        if self.mode == "local" and self.nodes is not None and len(self.nodes) != 1:
            raise _err("MempolicySpec.nodes", self.nodes, "None or one node for mode 'local'")
        if self.mode != "local" and self.nodes is None:
            raise _err("MempolicySpec.nodes", None, f"a node list for mode {self.mode!r}")
        if self.weights is not None:
            if self.mode != "weighted_interleave":
                raise _err("MempolicySpec.weights", self.weights,
                           "None unless mode is 'weighted_interleave'")
            self.weights = list(self.weights)
            if len(self.weights) != len(self.nodes or []) \
                    or not all(_is_int(w) and 1 <= w <= 255 for w in self.weights):
                raise _err("MempolicySpec.weights", self.weights,
                           "one integer in [1, 255] per node")


@dataclass
class ProcessSpec:
    """A process: sorted VMAs (>= 2 MiB apart), alive in [start_s, exit_s). ``populate``: all
    pages are allocated when it starts; otherwise a page is allocated at first touch (when it
    first gets a non-zero rate)."""

    pid: int
    name: str
    vmas: list[VMASpec]
    start_s: float = 0.0
    exit_s: float | None = None
    populate: bool = True
    mempolicy: MempolicySpec = field(default_factory=MempolicySpec)

    def __post_init__(self) -> None:
        if not _is_int(self.pid) or self.pid <= 0:
            raise _err("ProcessSpec.pid", self.pid, "an int > 0")
        self.vmas = list(self.vmas)
        if not self.vmas:
            raise _err("ProcessSpec.vmas", self.vmas, "at least one VMASpec")
        for a, b in pairwise(self.vmas):
            if b.start - a.end < VMA_MIN_GAP:
                raise _err(f"ProcessSpec.vmas ({a.name or hex(a.start)} -> "
                           f"{b.name or hex(b.start)})", (hex(a.end), hex(b.start)),
                           "VMAs sorted by address with a gap of at least 2 MiB")
        self.start_s = _time("ProcessSpec.start_s", self.start_s)
        if self.exit_s is not None:
            self.exit_s = _time("ProcessSpec.exit_s", self.exit_s)
            if self.exit_s <= self.start_s:
                raise _err("ProcessSpec.exit_s", self.exit_s, f"None or > start_s={self.start_s}")
        if not isinstance(self.populate, bool):
            raise _err("ProcessSpec.populate", self.populate, "True or False")

    def alive_at(self, t_s: float) -> bool:
        return self.start_s <= t_s and (self.exit_s is None or t_s < self.exit_s)

    def vma_ranges(self, page_size: int) -> list[tuple[int, int]]:
        """(start, end rounded up to page_size) per VMA, as the memory system maps them."""
        return [(v.start, -(-v.end // page_size) * page_size) for v in self.vmas]

    def vma_populated(self, j: int) -> bool:
        p = self.vmas[j].populate
        return self.populate if p is None else p

    @property
    def size(self) -> int:
        return sum(v.size for v in self.vmas)


@dataclass
class RateSegment:
    """An access-rate field of process ``proc`` over the virtual byte range [start, end)."""

    proc: int
    start: int
    end: int
    kind: str
    params: dict[str, Any]

    def __post_init__(self) -> None:
        if not _is_int(self.proc) or self.proc < 0:
            raise _err("RateSegment.proc", self.proc, "a process index >= 0")
        if not _is_int(self.start) or self.start < 0:
            raise _err("RateSegment.start", self.start, "an int >= 0")
        if not _is_int(self.end) or self.end <= self.start:
            raise _err("RateSegment.end", self.end, f"an int > start={self.start}")
        self.start, self.end = int(self.start), int(self.end)
        self.params = normalize_params(self.kind, self.params)

    @property
    def total_rate(self) -> float:
        return float(self.params["total_rate"])


@dataclass
class Phase:
    """[start_s, end_s): the segments (rates add up where they overlap) and an optional
    write fraction and intensity (``u_target``, [PM 2.4]) overriding the
    workload's: a phase with ``u_target`` 0.99 is bandwidth-bound even if the workload's
    other phases are latency-bound."""

    start_s: float
    end_s: float
    name: str = ""
    segments: list[RateSegment] = field(default_factory=list)
    write_fraction: float | None = None
    u_target: float | None = None

    def __post_init__(self) -> None:
        self.start_s = _time("Phase.start_s", self.start_s)
        self.end_s = _time("Phase.end_s", self.end_s)
        if self.end_s <= self.start_s:
            raise _err(f"Phase({self.name!r}).end_s", self.end_s, f"> start_s={self.start_s}")
        self.segments = list(self.segments)
        if self.write_fraction is not None:
            self.write_fraction = _fraction(f"Phase({self.name!r}).write_fraction",
                                            self.write_fraction)
        if self.u_target is not None:
            self.u_target = _intensity(f"Phase({self.name!r}).u_target", self.u_target)

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    def total_rate(self, proc: int | None = None) -> float:
        """Sum of the segments' total_rate (of one process, or all)."""
        return sum(s.total_rate for s in self.segments if proc is None or s.proc == proc)


def _intensity(name: str, v: object) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
            or not 0.0 < float(v) <= 0.99:
        raise _err(name, v, "a number in (0, 0.99]")
    return float(v)


def _fraction(name: str, v: object) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
            or not 0.0 <= float(v) <= 1.0:
        raise _err(name, v, "a number in [0, 1]")
    return float(v)


@dataclass
class Workload:
    """Processes and phases. Gaps between phases have zero rates; ``write_fraction`` is the
    default for phases without one; ``u_target`` is the intensity of [PM 2.4] (the
    fast node's utilisation with every page there), ``u_schedule`` its changes over time."""

    name: str
    processes: list[ProcessSpec]
    phases: list[Phase]
    write_fraction: float = 0.0
    u_target: float = 0.5
    description: str = ""
    u_schedule: tuple = ()  # ((start_s, u_target), ...): the intensity over time, if it changes
    _cache: OrderedDict = field(default_factory=OrderedDict, init=False, repr=False,
                                compare=False)
    _geoms: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.processes, self.phases = list(self.processes), list(self.phases)
        if not self.processes:
            raise _err("Workload.processes", self.processes, "at least one ProcessSpec")
        pids = [p.pid for p in self.processes]
        if len(set(pids)) != len(pids):
            raise _err("Workload.processes[*].pid", pids, "distinct pids")
        for a, b in pairwise(self.phases):
            if b.start_s < a.end_s:
                raise _err(f"Workload.phases ({a.name!r} -> {b.name!r})",
                           (a.start_s, a.end_s, b.start_s),
                           "phases sorted by start_s and not overlapping")
        for ph in self.phases:
            for s in ph.segments:
                if s.proc >= len(self.processes):
                    raise _err(f"Phase({ph.name!r}).segments[*].proc", s.proc,
                               f"a process index < {len(self.processes)}")
        self.write_fraction = _fraction("Workload.write_fraction", self.write_fraction)
        self.u_target = _intensity("Workload.u_target", self.u_target)
        self.u_schedule = tuple((_time("Workload.u_schedule start", t),
                                 _intensity("Workload.u_schedule u", u))
                                for t, u in self.u_schedule)
        self._u_starts = [t for t, _ in self.u_schedule]
        self._starts = [p.start_s for p in self.phases]

    # --- time structure -------------------------------------------------------------------
    @property
    def duration_s(self) -> float:
        """End of the last phase or the last process exit, whichever is later."""
        ends = [self.phases[-1].end_s] if self.phases else []
        ends += [p.exit_s for p in self.processes if p.exit_s is not None]
        return max(ends, default=0.0)

    def change_times(self) -> list[float]:
        """Sorted times (s) where rates or the set of live processes change."""
        ts = {t for ph in self.phases for t in (ph.start_s, ph.end_s)}
        ts |= {p.start_s for p in self.processes}
        ts |= {p.exit_s for p in self.processes if p.exit_s is not None}
        ts |= {t for t, _ in self.u_schedule[1:]}
        return sorted(ts)

    def phase_index_at(self, t_s: float) -> int | None:
        i = bisect.bisect_right(self._starts, t_s) - 1
        if i >= 0 and t_s < self.phases[i].end_s:
            return i
        return None

    def phase_at(self, t_s: float) -> Phase | None:
        i = self.phase_index_at(t_s)
        return None if i is None else self.phases[i]

    def live_processes(self, t_s: float) -> list[int]:
        return [i for i, p in enumerate(self.processes) if p.alive_at(t_s)]

    def write_fraction_at(self, t_s: float) -> float:
        ph = self.phase_at(t_s)
        if ph is None or ph.write_fraction is None:
            return self.write_fraction
        return ph.write_fraction

    def u_target_at(self, t_s: float) -> float:
        """The intensity at ``t_s``: the phase's ``u_target`` if it sets one, else the
        workload's schedule (``u_schedule``) at ``t_s``, else its ``u_target``."""
        ph = self.phase_at(t_s)
        if ph is not None and ph.u_target is not None:
            return ph.u_target
        if self.u_schedule:
            i = max(bisect.bisect_right(self._u_starts, t_s) - 1, 0)
            return self.u_schedule[i][1]
        return self.u_target

    # --- page index space -----------------------------------------------------------------
    def _check_proc(self, proc: int) -> None:
        if not _is_int(proc) or not 0 <= proc < len(self.processes):
            raise _err("proc", proc, f"a process index in [0, {len(self.processes)})")

    def geometry(self, proc: int, page_size: int) -> PageGeometry:
        self._check_proc(proc)
        key = (proc, page_size)
        g = self._geoms.get(key)
        if g is None:
            vmas = [(v.start, v.end) for v in self.processes[proc].vmas]
            g = self._geoms[key] = PageGeometry(vmas, page_size)
        return g

    def process_pages(self, proc: int, page_size: int) -> int:
        """Pages of the process: sum over VMAs of ceil((end - start) / page_size)."""
        return self.geometry(proc, page_size).nr_pages

    def vma_page_bases(self, proc: int, page_size: int) -> np.ndarray:
        """int64 index of each VMA's first page in the process's page index space."""
        return self.geometry(proc, page_size).page_base.copy()

    def populate_pages(self, proc: int, page_size: int) -> np.ndarray:
        """int64 indices of the pages allocated when the process starts (its populated
        VMAs); the others are allocated at first touch."""
        g = self.geometry(proc, page_size)
        parts = [np.arange(g.page_base[j], g.page_base[j] + g.vma_pages[j], dtype=np.int64)
                 for j in range(len(g.page_base)) if self.processes[proc].vma_populated(j)]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    # --- rates ----------------------------------------------------------------------------
    def phase_rates(self, phase_index: int | None, proc: int, page_size: int) -> np.ndarray:
        """Read-only float64 accesses/s per page of ``proc`` during a phase (None: a gap).
        Cached per (phase, proc, page_size) in a small LRU."""
        g = self.geometry(proc, page_size)
        key = (phase_index, proc, page_size)
        arr = self._cache.get(key)
        if arr is not None:
            self._cache.move_to_end(key)
            return arr
        segs = () if phase_index is None else tuple(
            s for s in self.phases[phase_index].segments if s.proc == proc)
        # the params are normalised (floats, ints, bools, lists of them): their repr is
        # exact and tells 1 from 1.0 and True
        content = (page_size, tuple(tuple(v.tolist()) for v in (g.vma_start, g.vma_end)),
                   tuple((s.kind, s.start, s.end, repr(sorted(s.params.items())))
                         for s in segs))
        arr = _SHARED_RATES.get(content)
        if arr is not None:
            _SHARED_RATES.move_to_end(content)
        else:
            arr = np.zeros(g.nr_pages, dtype=np.float64)
            for s in segs:
                idx, r = expand_segment(g, s.kind, s.params, s.start, s.end)
                arr[idx] += r  # indices are unique within one segment
            arr.flags.writeable = False
            _share_rates(content, arr)
        return bounded_put(self._cache, key, arr, _CACHE_ENTRIES)

    def rates_at(self, t_s: float, proc: int, page_size: int) -> np.ndarray:
        """Read-only float64 accesses/s of every page of ``proc`` at time ``t_s`` (zeros when
        the process is not alive or no phase covers ``t_s``). Copy it before changing it."""
        self._check_proc(proc)
        if not self.processes[proc].alive_at(t_s):
            return self.phase_rates(None, proc, page_size)
        return self.phase_rates(self.phase_index_at(t_s), proc, page_size)
