"""Cost of one DAMOS apply pass: 1,000 regions, 3 schemes (vaddr).

Schemes: migrate_hot with weighted dests (quota 64 MiB/s, hotness priority), migrate_cold to
the slow node (quota 16 MiB/s, coldness priority), and stat. Each pass re-draws the regions'
counters so the walk, the histogram and the migrations do real work every time.
"""

from __future__ import annotations

import time

import numpy as np

from damon_gym.damon.attrs import Attrs
from damon_gym.damon.core import Context, Target
from damon_gym.damon.ops import VaddrOps
from damon_gym.damos.engine import DamosEngine
from damon_gym.damos.scheme import AccessPattern, Quota, Scheme
from damon_gym.memory.placement import LocalPolicy
from damon_gym.memory.system import MemorySystem
from damon_gym.memory.topology import load_topology

MiB = 1 << 20


def _setup(nr_regions: int = 1000, seed: int = 0):
    mem = MemorySystem(load_topology("tiny"), page_size=4096)
    base = 0x7F00_0000_0000
    pages = 32768  # 128 MiB
    idx = mem.add_process(1, [(base, base + pages * 4096)])
    mem.allocate(idx, np.arange(pages), LocalPolicy())
    rng = np.random.default_rng(seed)
    mem.set_rates(idx, rng.uniform(0, 100, pages))
    t = Target(pid=1, proc_idx=idx)
    bounds = base + np.linspace(0, pages, nr_regions + 1).astype(np.int64) * 4096
    t.regions.set_ranges(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True))
    ctx = Context(VaddrOps(mem), Attrs(5000, 100000, 1_000_000, 10, 2000), [t],
                  rng=np.random.default_rng(seed))
    schemes = [
        Scheme("migrate_hot", AccessPattern(min_nr_accesses=1), quota=Quota(
            sz=64 * MiB, reset_interval_ms=1000, weight_nr_accesses=1, weight_age=1),
            dests=[(0, 23), (1, 8)]),
        Scheme("migrate_cold", AccessPattern(max_nr_accesses=0), quota=Quota(
            sz=16 * MiB, reset_interval_ms=1000, weight_nr_accesses=1, weight_age=1), target_nid=1),
        Scheme("stat"),
    ]
    ctx.schemes = DamosEngine(mem, schemes)
    return ctx, rng


def apply_pass_us(nr_regions: int = 1000, passes: int = 200) -> dict:
    ctx, rng = _setup(nr_regions)
    eng = ctx.schemes
    r = ctx.targets[0].regions
    total = 0.0
    for i in range(passes + 10):
        r.nr_accesses[:] = rng.integers(0, 21, r.n)
        r.nr_accesses_bp[:] = r.nr_accesses * 10000
        r.age[:] = rng.integers(0, 50, r.n)
        ctx.now_us += 1_000_000
        for s in eng.schemes:
            s.next_apply_sis = 0
        t0 = time.perf_counter()
        eng.apply(ctx)
        if i >= 10:
            total += time.perf_counter() - t0
    return {"regions_after": r.n, "schemes": len(eng.schemes),
            "us_per_apply_pass": total / passes * 1e6,
            "migrated_MiB": int(ctx.ops.memory.churn.sum()) / MiB}


def run() -> dict:
    return apply_pass_us()


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
