"""Speed of the monitoring core, as ratios measured in one run.

1. Sampler: one aggregation window (20 samples) over the same regions, fast vs reference.
2. Per-aggregation cost at 1 GiB vs 1 TiB of simulated memory with the same attrs
   (5 ms / 100 ms, 10..1000 regions), for paddr (whole memory) and vaddr (one process
   spanning the memory). The fast path touches regions, never pages, so the ratio should be
   close to 1 (the target is within 1.5x).
"""

from __future__ import annotations

import time

import numpy as np

from damon_gym.damon.attrs import Attrs
from damon_gym.damon.core import Context, Target
from damon_gym.damon.ops import PaddrOps, VaddrOps
from damon_gym.damon.sampling import FastSampler, ReferenceSampler
from damon_gym.memory.placement import LocalPolicy
from damon_gym.memory.system import MemorySystem
from damon_gym.memory.topology import Topology

GiB = 1 << 30


def _machine(total_bytes: int, page_size: int) -> MemorySystem:
    half = total_bytes // 2
    topo = Topology.model_validate({
        "name": "bench", "nodes": [
            {"name": "dram", "kind": "dram", "capacity": half, "bw_read_gbps": 72, "idle_latency_ns": 110},
            {"name": "cxl", "kind": "cxl", "capacity": half, "bw_read_gbps": 26, "idle_latency_ns": 250},
        ]})
    return MemorySystem(topo, page_size=page_size)


def _populate(mem: MemorySystem, frac: float = 0.9, seed: int = 0) -> int:
    nbytes = int(mem.nr_frames * frac) * mem.page_size
    start = 0x7F00_0000_0000 - nbytes // (2 << 20) * (2 << 20) - (2 << 20)
    start -= start % (2 << 20)
    heap = (0x5555_5540_0000, 0x5555_5540_0000 + mem.page_size)
    stack = (0x7FFC_0000_0000, 0x7FFC_0000_0000 + mem.page_size)
    idx = mem.add_process(1, [heap, (start, start + nbytes), stack])
    pm = mem.procs[idx]
    mem.allocate(idx, np.arange(pm.nr_pages), LocalPolicy())
    rng = np.random.default_rng(seed)
    # 200 equal blocks with distinct access probabilities per 5 ms sample (0.02 .. 0.98), so
    # DAMON keeps a few hundred regions whatever the memory size
    probs = rng.permutation(np.linspace(0.02, 0.98, 200))
    block = np.minimum(np.arange(pm.nr_pages) * 200 // pm.nr_pages, 199)
    mem.set_rates(idx, -np.log1p(-probs[block]) / 0.005)
    return idx


def _context(mem: MemorySystem, ops: str, idx: int, seed: int = 0) -> Context:
    attrs = Attrs(5000, 100000, 1_000_000, 10, 1000)
    if ops == "paddr":
        t = Target()
        t.regions.set_ranges([(0, mem.nr_frames * mem.page_size)])
        return Context(PaddrOps(mem), attrs, [t], rng=np.random.default_rng(seed))
    return Context(VaddrOps(mem), attrs, [Target(pid=1, proc_idx=idx)],
                   rng=np.random.default_rng(seed))


def per_aggregation_us(total_bytes: int, page_size: int, ops: str, nr_aggr: int = 300) -> dict:
    mem = _machine(total_bytes, page_size)
    idx = _populate(mem)
    ctx = _context(mem, ops, idx)
    ctx.run_until(3_000_000)  # warm up: regions adapt, numba compiled
    t0 = time.perf_counter()
    ctx.run_until(ctx.now_us + nr_aggr * 100_000)
    dt = time.perf_counter() - t0
    return {"memory": f"{total_bytes / GiB:g} GiB", "page_size": page_size, "ops": ops,
            "frames": mem.nr_frames, "regions": ctx.nr_regions(),
            "us_per_aggregation": dt / nr_aggr * 1e6}


def sampler_speed(nr_windows: int = 200) -> dict:
    mem = _machine(GiB, 4096)
    idx = _populate(mem)
    ctx = _context(mem, "vaddr", idx)
    ctx.run_until(3_000_000)
    t = ctx.targets[0]
    out = {"regions": t.regions.n}
    for s in (FastSampler(), ReferenceSampler()):
        rng = np.random.default_rng(0)
        s.sample(ctx, t, 20, rng)
        t0 = time.perf_counter()
        for _ in range(nr_windows):
            s.sample(ctx, t, 20, rng)
        out[f"{s.name}_us_per_window"] = (time.perf_counter() - t0) / nr_windows * 1e6
    out["reference_over_fast"] = out["reference_us_per_window"] / out["fast_us_per_window"]
    return out


def run() -> dict:
    rows = []
    for ops in ("paddr", "vaddr"):
        small = per_aggregation_us(GiB, 4096, ops)
        big = per_aggregation_us(1024 * GiB, 2 << 20, ops)
        rows.append({"ops": ops, "1GiB_us": small["us_per_aggregation"],
                     "1TiB_us": big["us_per_aggregation"],
                     "ratio_1TiB_over_1GiB": big["us_per_aggregation"] / small["us_per_aggregation"],
                     "regions_1GiB": small["regions"], "regions_1TiB": big["regions"]})
    return {"sampler": sampler_speed(), "memory_size": rows}


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
