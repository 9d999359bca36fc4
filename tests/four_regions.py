"""A small DAMOS walk bench the quota tests share: four 16 KiB hot regions of one process on
node 0 of the ``tiny`` machine and a migrate_hot scheme to node 1 (tests/test_damos_walk.py,
tests/test_damos_kernel_rules.py)."""

from __future__ import annotations

import numpy as np

from damon_gym.damon.attrs import Attrs
from damon_gym.damon.core import Context, Target
from damon_gym.damon.ops import VaddrOps
from damon_gym.damos.engine import DamosEngine
from damon_gym.damos.quota import KernelRules
from damon_gym.damos.scheme import AccessPattern, Quota, Scheme
from damon_gym.memory.placement import LocalPolicy
from damon_gym.memory.system import MemorySystem
from damon_gym.memory.topology import load_topology

BASE = 0x7F00_0000_0000
REGION = 4 * 4096


def four_hot_regions(quota: Quota, kernel: str | None = None):
    """(context, scheme, memory): the regions have nr_accesses 10 (bp 100000) and age 7; the
    engine follows ``kernel``'s quota rules (None: the newest kernel's)."""
    mem = MemorySystem(load_topology("tiny"), page_size=4096)
    idx = mem.add_process(1, [(BASE, BASE + 16 * 4096)])
    mem.allocate(idx, np.arange(16), LocalPolicy())
    mem.set_rates(idx, np.full(16, 100.0))
    t = Target(pid=1, proc_idx=idx)
    t.regions.set_ranges([(BASE + i * REGION, BASE + (i + 1) * REGION) for i in range(4)])
    t.regions.nr_accesses[:] = 10
    t.regions.nr_accesses_bp[:] = 100000
    t.regions.age[:] = 7
    ctx = Context(VaddrOps(mem), Attrs(5000, 100000, 1_000_000, 3, 1000), [t],
                  rng=np.random.default_rng(0))
    s = Scheme("migrate_hot", AccessPattern(min_nr_accesses=1), quota=quota, target_nid=1)
    ctx.schemes = DamosEngine(mem, [s], kernel=KernelRules.of(kernel))
    ctx.start(0)
    return ctx, s, mem
