"""``phased``: one process whose regime changes phase by phase -- the generator of the task
scenarios, where the best placement changes within an episode.

Each phase is a mapping (every key but ``duration_s`` optional)::

    {duration_s: 30,          # seconds
     footprint: 0.5,          # the phase touches the first 50 % of the data (default 1.0)
     hot_fraction: 0.2,       # of the touched bytes (default 1.0: no hot subset)
     hot_prob: 0.9,           # share of the accesses that go to the hot set (default 0.9)
     hot_at: 0.25,            # where a contiguous hot block starts, as a fraction of the
                              # touched bytes; "scatter" draws a fresh scattered hot set
     u_target: 0.99,          # intensity [PM 2.4]: 0.3 latency-, 0.99
                              # bandwidth-bound (default: the workload's)
     write_fraction: 0.5,     # default: the workload's
     rate: 2.0}               # multiplies the accesses/s DAMON sees (default 1.0)

``cycles`` repeats the list. With ``populate: false`` pages are allocated at first touch, so a
growing ``footprint`` grows the working set phase by phase (pages once touched stay
allocated). Rates follow hot_cold's convention (workloads/fields.py): ``hot_prob`` of
``total_rate * rate`` spread uniformly over the hot bytes, the rest over the others.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, overload

import numpy as np

from damon_gym.units import parse_size
from damon_gym.workloads.layout import process_vmas
from damon_gym.workloads.model import MempolicySpec, Phase, ProcessSpec, RateSegment, Workload

PHASE_KEYS = ("duration_s", "footprint", "hot_fraction", "hot_prob", "hot_at", "u_target",
              "write_fraction", "rate")
DEFAULT_PID = 1000


@overload
def _number(ph: Mapping[str, Any], key: str, default: float, lo: float, hi: float,
            where: str) -> float: ...
@overload
def _number(ph: Mapping[str, Any], key: str, default: None, lo: float, hi: float,
            where: str) -> float | None: ...
def _number(ph: Mapping[str, Any], key: str, default: float | None, lo: float, hi: float,
            where: str) -> float | None:
    v = ph.get(key)
    if v is None:  # absent or null: the default
        return default
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
            or not lo <= float(v) <= hi:
        raise ValueError(f"{where}.{key}: got {v!r}; allowed: a number in [{lo}, {hi}]")
    return float(v)


def _phase(ph: Any, i: int, size: int, start: int, rng: np.random.Generator, t: float,
           total_rate: float) -> Phase:
    where = f"workload.params.phases[{i}]"
    if not isinstance(ph, Mapping):
        raise ValueError(f"{where}: got {ph!r}; allowed: a mapping with duration_s and "
                         f"optional {', '.join(PHASE_KEYS[1:])}")
    extra = sorted(set(ph) - set(PHASE_KEYS))
    if extra:
        raise ValueError(f"{where}.{extra[0]}: not a phase key; allowed: {', '.join(PHASE_KEYS)}")
    dur = _number(ph, "duration_s", None, 1e-6, 1e9, where)
    if dur is None:
        raise ValueError(f"{where}.duration_s: required (seconds > 0)")
    foot = _number(ph, "footprint", 1.0, 1e-9, 1.0, where)
    hot_fraction = _number(ph, "hot_fraction", 1.0, 0.0, 1.0, where)
    hot_prob = _number(ph, "hot_prob", 0.9, 0.0, 1.0, where)
    rate = _number(ph, "rate", 1.0, 0.0, 1e9, where)
    u = _number(ph, "u_target", None, 1e-9, 0.99, where)
    wf = _number(ph, "write_fraction", None, 0.0, 1.0, where)
    touched = max(1, int(round(size * foot)))
    params: dict[str, Any] = {"total_rate": total_rate * rate, "hot_fraction": hot_fraction,
                              "hot_prob": hot_prob}
    at = ph.get("hot_at", 0.0)
    if at == "scatter":
        params.update(contiguous=False, perm_seed=int(rng.integers(0, 2**63 - 1)))
    else:
        at = _number(ph, "hot_at", 0.0, 0.0, 1.0, where)
        params.update(contiguous=True, hot_offset=int(at * touched))
    seg = RateSegment(0, start, start + touched, "hot_cold", params)
    return Phase(t, t + dur, f"p{i}", [seg], wf, u)


def phased(size: int | str, total_rate: float, phases: Sequence[Mapping[str, Any]],
           rng: np.random.Generator, *, cycles: int = 1, u_target: float = 0.5,
           write_fraction: float = 0.0, name: str = "phased", pid: int = DEFAULT_PID,
           populate: bool = True, mempolicy: MempolicySpec | None = None) -> Workload:
    """One data VMA of ``size`` bytes; ``phases`` (repeated ``cycles`` times) back to back from
    t = 0 (see the module docstring for the phase keys)."""
    nbytes = parse_size(size, "size")
    if nbytes <= 0:
        raise ValueError(f"workload.params.size: got {size!r}; allowed: a positive size")
    if not isinstance(phases, Sequence) or isinstance(phases, str) or not phases:
        raise ValueError("workload.params.phases: allowed: a non-empty list of phase mappings")
    if isinstance(cycles, bool) or not isinstance(cycles, int) or cycles < 1:
        raise ValueError(f"workload.params.cycles: got {cycles!r}; allowed: an int >= 1")
    if not float(total_rate) > 0:
        raise ValueError(f"workload.params.total_rate: got {total_rate!r}; allowed: > 0")
    vmas = process_vmas([nbytes], ["data"])
    start = vmas[1].start
    out, t = [], 0.0
    for c in range(cycles):
        for i, ph in enumerate(phases):
            p = _phase(ph, i, nbytes, start, rng, t, float(total_rate))
            p.name = f"c{c}p{i}"
            out.append(p)
            t = p.end_s
    proc = ProcessSpec(pid, name, vmas, populate=populate, mempolicy=mempolicy or MempolicySpec())
    return Workload(name, [proc], out, write_fraction, u_target,
                    f"{len(phases)} phases x {cycles} over {size}")
