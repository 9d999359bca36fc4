"""Pass or fail of one fidelity metric: the tolerances, each with the reason it is what it is,
and the rule ``|median(sim) - median(real)| <= max(abs_tol, rel_tol * |median(real)|,
spread(real))`` (the kernel's own run-to-run spread is the floor; see ``compare``)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MIB = 1 << 20


@dataclass(frozen=True)
class Tolerance:
    abs_tol: float
    rel_tol: float
    why: str


#: metric family -> tolerance and its justification
TOLERANCES: dict[str, Tolerance] = {
    "regions": Tolerance(3, 0.30, "DAMON splits at random each aggregation and merges by "
                         "threshold; the count moves by a few regions from one second to the next"),
    "wss_p50": Tolerance(4 * MIB, 0.20, "one boundary region of a few MiB counted in or out "
                         "changes damo's wss by that much; 20 % of the 25.6 MiB hot set"),
    "hot_boundary_err": Tolerance(64, 0.0, "64 pages (256 KiB): a region edge random splits "
                                  "land within a few dozen pages of the true edge"),
    "hot_nr_accesses": Tolerance(3, 0.0, "3 of the 20 samples per aggregation (15 %), "
                                 "sampling noise on a region whose pages are all hot"),
    "target_bytes": Tolerance(4 * MIB, 0.10, "the monitored span is set by the target's "
                              "mappings (vaddr) or the node's range (paddr): 10 %"),
    "applies": Tolerance(2, 0.10, "DAMON aggregates every 100 ms: 100 applies in 10 s, "
                         "10 % for start-up and the last window"),
    "tried_per_apply": Tolerance(2, 0.30, "regions at apply time: the region-count tolerance"),
    "nr_tried": Tolerance(2, 0.25, "scheme walks follow the region count (same tolerance)"),
    "sz_tried": Tolerance(16 * MIB, 0.25, "sizes tried follow the regions' extent; 25 %"),
    "nr_applied": Tolerance(1, 0.25, "one apply more or less is one quota window"),
    "sz_applied": Tolerance(4 * MIB, 0.25, "a quota window's worth of bytes is the unit; "
                            "4 MiB (1,024 pages) or 25 %"),
    "hot_on": Tolerance(328, 0.0, "5 % of the 6,554 hot pages"),
    "cold_on": Tolerance(2949, 0.25, "5 % of the 58,982 cold pages, or 25 % of the count"),
    "t_found_s": Tolerance(2.0, 0.0, "two snapshot periods (the snapshots are 1 s apart)"),
    "t_migrated_s": Tolerance(2.0, 0.0, "two snapshot periods, two quota windows"),
}


def _family(metric: str) -> str:
    for key in ("nr_tried", "sz_tried", "nr_applied", "sz_applied"):
        if metric.endswith("." + key):
            return key
    if metric.startswith("hot_on_"):
        return "hot_on"
    if metric.startswith("cold_on_"):
        return "cold_on"
    return metric


def _stats(vals: list[float]) -> dict:
    v = [x for x in vals if not (isinstance(x, float) and math.isnan(x))]
    if not v:
        return {"n": 0, "median": None, "min": None, "max": None, "values": vals}
    return {"n": len(v), "median": float(np.median(v)), "min": float(min(v)),
            "max": float(max(v)), "values": vals}


def judge(metric: str, real: dict, sim: dict) -> dict:
    """pass / FAIL / n/a; a time that never came within the run (``inf``) equals only another
    ``inf``."""
    tol = TOLERANCES[_family(metric)]
    if real["n"] == 0 or sim["n"] == 0:
        return {"verdict": "n/a", "allowed": None}
    fin = [v for v in real["values"] if isinstance(v, (int, float)) and math.isfinite(v)]
    spread = (max(fin) - min(fin)) if fin else 0.0
    base = real["median"] if math.isfinite(real["median"]) else 0.0
    allowed = max(tol.abs_tol, tol.rel_tol * abs(base), spread)
    if math.isinf(sim["median"]) or math.isinf(real["median"]):
        diff = 0.0 if sim["median"] == real["median"] else math.inf
        return {"verdict": "pass" if diff == 0.0 else "FAIL", "allowed": allowed, "diff": diff}
    diff = abs(sim["median"] - real["median"])
    return {"verdict": "pass" if diff <= allowed else "FAIL", "allowed": allowed, "diff": diff}
