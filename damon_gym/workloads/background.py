"""Background (antagonist) memory traffic over time, as a workload input [PM 2.10].

Colloid's CacheLib runs drive a number of streaming antagonist cores on the default tier second
by second [C S6 workloads/cachelib/bg]; its GUPS runs hold 0/5/10/15 cores ("0x".."3x") for a
whole run [C S6]. A :class:`BackgroundTrace` is a piecewise-constant core count on one node,
each core adding ``bytes_per_core_s`` bytes/s (default 7 GB/s, a choice [U] the spec leaves
configurable). :meth:`BackgroundTrace.bg_at` gives the per-node traffic in bytes/s that the
performance model adds to the node's demand (``bg_i`` of [PM 2.1]).

Presets (:func:`background_preset`): ``vary-10-5-15``, ``vary-pulse5``, ``vary-pulse5-400``,
``0x``, ``1x``, ``2x``, ``3x``, and ``none``.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np

DEFAULT_BYTES_PER_CORE_S = 7e9  # one streaming antagonist core [U], [PM 2.1]
CORES_PER_X = 5  # Colloid's 1x/2x/3x = 5/10/15 antagonist cores [C S6]


def _pulses(lead_s: float) -> list[tuple[float, int]]:
    # lead at 0 cores, then 30 s pulses at 5 / 0 / 10 / 0 / 15 / 0 cores [C S6]
    levels = [5, 0, 10, 0, 15, 0]
    return [(0.0, 0)] + [(lead_s + 30.0 * i, c) for i, c in enumerate(levels)]


#: preset name -> (start_s, cores) steps; each level holds until the next start
PRESETS: dict[str, list[tuple[float, int]]] = {
    "none": [(0.0, 0)],
    "vary-10-5-15": [(0.0, 10), (200.0, 5), (250.0, 15)],  # 200 s @10, 50 s @5, 50 s @15
    "vary-pulse5": _pulses(200.0),
    "vary-pulse5-400": _pulses(400.0),
    **{f"{x}x": [(0.0, CORES_PER_X * x)] for x in range(4)},
}
#: length of the Colloid traces (s); after it the last level holds
PRESET_DURATION_S = {"vary-10-5-15": 300.0, "vary-pulse5": 380.0, "vary-pulse5-400": 580.0}


@dataclass(frozen=True)
class BackgroundTrace:
    """Antagonist cores over time on ``node``: ``steps`` is a list of ``(start_s, cores)``
    sorted by start (the first at 0 s); each level holds until the next start, the last one
    forever (or, with ``period_s``, the trace repeats every ``period_s`` seconds)."""

    steps: tuple[tuple[float, float], ...]
    node: int = 0
    bytes_per_core_s: float = DEFAULT_BYTES_PER_CORE_S
    period_s: float | None = None
    name: str = ""
    _starts: list[float] = field(default_factory=list, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        steps = tuple((float(s), float(c)) for s, c in self.steps)
        if not steps or steps[0][0] != 0.0:
            raise ValueError("BackgroundTrace.steps: need (start_s, cores) pairs, the first at 0 s")
        for (s0, _), (s1, _) in pairwise(steps):
            if not s1 > s0:
                raise ValueError(f"BackgroundTrace.steps: starts must increase ({s0} -> {s1})")
        if any(c < 0 or not math.isfinite(c) for _, c in steps):
            raise ValueError("BackgroundTrace.steps: core counts must be finite and >= 0")
        if not isinstance(self.node, (int, np.integer)) or self.node < 0:
            raise ValueError(f"BackgroundTrace.node: {self.node!r} must be a node id >= 0")
        if not self.bytes_per_core_s >= 0 or not math.isfinite(self.bytes_per_core_s):
            raise ValueError("BackgroundTrace.bytes_per_core_s: must be finite and >= 0")
        if self.period_s is not None and not self.period_s > steps[-1][0]:
            raise ValueError("BackgroundTrace.period_s: must exceed the last start")
        object.__setattr__(self, "steps", steps)
        object.__setattr__(self, "_starts", [s for s, _ in steps])

    def cores_at(self, t_s: float) -> float:
        """Antagonist cores active at ``t_s`` (seconds)."""
        if self.period_s is not None:
            t_s = math.fmod(max(t_s, 0.0), self.period_s)
        i = bisect.bisect_right(self._starts, t_s) - 1
        return self.steps[max(i, 0)][1]

    def bg_at(self, t_s: float, nr_nodes: int = 2) -> np.ndarray:
        """Background traffic per node (bytes/s, float64 array of ``nr_nodes``) at ``t_s``."""
        if self.node >= nr_nodes:
            raise ValueError(f"BackgroundTrace.node: {self.node} not below nr_nodes={nr_nodes}")
        out = np.zeros(nr_nodes)
        out[self.node] = self.cores_at(t_s) * self.bytes_per_core_s
        return out

    def change_times(self, until_s: float) -> list[float]:
        """Times in ``(0, until_s]`` where the level changes (for event-driven simulation)."""
        starts = [s for s, _ in self.steps[1:]]
        if self.period_s is None:
            return [s for s in starts if s <= until_s]
        out: list[float] = []
        k = 0
        while k * self.period_s <= until_s:
            base = k * self.period_s
            for s in ([0.0] if k else []) + starts:
                if base + s <= until_s:
                    out.append(base + s)
            k += 1
        return out

    def time_scaled(self, factor: float) -> BackgroundTrace:
        """The same levels with every start time (and the period) multiplied by ``factor``
        (e.g. 0.1 runs Colloid's 300 s trace in 30 s of simulated time)."""
        if not factor > 0 or not math.isfinite(factor):
            raise ValueError(f"time_scale: {factor!r} must be a finite number > 0")
        period = None if self.period_s is None else self.period_s * factor
        return BackgroundTrace(tuple((s * factor, c) for s, c in self.steps), self.node,
                               self.bytes_per_core_s, period, self.name)

    def scaled(self, factor: float) -> BackgroundTrace:
        """The same trace with ``factor`` times the cores (e.g. for sweeps)."""
        return BackgroundTrace(tuple((s, c * factor) for s, c in self.steps), self.node,
                               self.bytes_per_core_s, self.period_s, self.name)


@dataclass(frozen=True)
class BackgroundLoad:
    """Several traces (e.g. one per node); ``bg_at`` sums them."""

    traces: tuple[BackgroundTrace, ...]

    def bg_at(self, t_s: float, nr_nodes: int = 2) -> np.ndarray:
        out = np.zeros(nr_nodes)
        for t in self.traces:
            out += t.bg_at(t_s, nr_nodes)
        return out

    def change_times(self, until_s: float) -> list[float]:
        return sorted({x for t in self.traces for x in t.change_times(until_s)})


def background_preset(name: str, *, node: int = 0,
                      bytes_per_core_s: float = DEFAULT_BYTES_PER_CORE_S) -> BackgroundTrace:
    """A preset trace (``vary-10-5-15``, ``vary-pulse5``, ``vary-pulse5-400``, ``0x``..``3x``,
    ``none``) on ``node`` (default 0, the default tier)."""
    if name not in PRESETS:
        raise ValueError(f"background trace {name!r}: unknown; presets: {', '.join(PRESETS)}")
    return BackgroundTrace(tuple(PRESETS[name]), node, bytes_per_core_s, name=name)


def background_from_spec(spec: str | float | Sequence | dict | None, *, node: int = 0,
                         bytes_per_core_s: float = DEFAULT_BYTES_PER_CORE_S
                         ) -> BackgroundTrace:
    """A trace from a config value: a preset name, a constant number of cores, a list of
    ``[start_s, cores]`` pairs, or a mapping with ``steps``/``preset`` (or ``cores``) and
    optional ``node``, ``bytes_per_core_s``, ``period_s``, ``time_scale`` (start times and
    period multiplied by it). ``None`` means no background."""
    if spec is None:
        return background_preset("none", node=node, bytes_per_core_s=bytes_per_core_s)
    if isinstance(spec, str):
        return background_preset(spec, node=node, bytes_per_core_s=bytes_per_core_s)
    if isinstance(spec, (int, float)) and not isinstance(spec, bool):
        return BackgroundTrace(((0.0, float(spec)),), node, bytes_per_core_s)
    if isinstance(spec, dict):
        known = {"preset", "steps", "cores", "node", "bytes_per_core_s", "period_s",
                 "time_scale", "name"}
        extra = sorted(set(spec) - known)
        if extra:
            raise ValueError(f"background: unknown keys {extra}; allowed: {sorted(known)}")
        node = int(spec.get("node", node))
        bpc = float(spec.get("bytes_per_core_s", bytes_per_core_s))
        if "preset" in spec:
            steps = background_preset(str(spec["preset"]), node=node).steps
        elif "cores" in spec:
            steps = ((0.0, float(spec["cores"])),)
        else:
            steps = tuple(tuple(p) for p in spec.get("steps", [(0.0, 0)]))
        tr = BackgroundTrace(steps, node, bpc, spec.get("period_s"),
                             name=str(spec.get("preset", spec.get("name", ""))))
        return tr.time_scaled(float(spec["time_scale"])) if "time_scale" in spec else tr
    if isinstance(spec, Sequence):
        return BackgroundTrace(tuple(tuple(p) for p in spec), node,
                               bytes_per_core_s)
    raise ValueError(f"background: cannot make a trace from {spec!r}")
