"""What a scenario builds before anything runs: the machine (its scaled topology), the workload
(generator, masim config or replayed record, at the machine's scale) and the DAMON parameters
(the scenario's own, or damo's defaults). ``Simulation`` and the envs both use these, so a
scenario resolves to one machine and one workload whoever asks.
"""

from __future__ import annotations

import numpy as np

from damon_gym.formats.params import DamonParams, dump_damon_params, load_damon_params
from damon_gym.memory.placement import InterleavePolicy, LocalPolicy, WeightedInterleavePolicy
from damon_gym.memory.topology import Topology, load_topology, topology_file, topology_from_dict
from damon_gym.scenario import Scenario
from damon_gym.workloads.model import Workload
from damon_gym.workloads.scaling import scaled_workload

__all__ = ["MEMMAP_DIVISOR", "allocation_policy", "background_of", "build_workload", "check_fits",
           "default_damon_params", "scenario_damon_document", "scenario_topology",
           "scenario_unmovable",
           # the machine files, for the layers above the simulation (envs, evaluation, CLI)
           "Topology", "load_topology", "topology_file",
           # and damo's parameter files
           "DamonParams", "load_damon_params", "dump_damon_params"]


def default_damon_params(ops: str = "vaddr") -> DamonParams:
    """damo's defaults: one kdamond, one context, 5 ms / 100 ms / 1 s, 10..1,000 regions."""
    return load_damon_params({"kdamonds": [{"contexts": [{
        "ops": ops,
        "targets": [],
        "intervals": {"sample_us": "5 ms", "aggr_us": "100 ms", "ops_update_us": "1 s"},
        "nr_regions": {"min": 10, "max": 1000},
        "schemes": [],
    }]}]})



def background_of(scenario: Scenario):
    """The scenario's background-load trace (None when it has none)."""
    # Scenario.background_trace handles presets, scale/time_scale and randomised levels
    return scenario.background_trace()


def scenario_topology(scenario: Scenario) -> Topology:
    """The machine the scenario simulates: its topology (a preset name, a YAML path relative
    to the scenario, or an inline mapping) scaled by ``capacity_scale``."""
    topo = scenario.topology
    if isinstance(topo, dict):
        topology = topology_from_dict(topo, f"{scenario.name}: topology")
    elif str(topo).endswith((".yaml", ".yml")):
        topology = load_topology(scenario.resolve(topo))
    else:
        topology = load_topology(topo)
    return topology.scaled(scenario.capacity_scale) if scenario.capacity_scale != 1.0 \
        else topology


def scenario_damon_document(scenario: Scenario) -> dict | None:
    """The scenario's ``damon:`` block as a damo-layout document (a referenced file is read and
    normalised), or None when the scenario leaves DAMON at damo's defaults."""
    d = scenario.damon
    if d is None:
        return None
    if isinstance(d, str):
        from damon_gym.formats.params import dump_damon_params

        return dump_damon_params(load_damon_params(scenario.resolve(d)))
    return d


def build_workload(scenario: Scenario) -> Workload:
    """The scenario's workload: a generator (registry), a masim config or a replayed damo
    record, randomness from ``default_rng(scenario.seed)``; a randomised scenario is resolved
    with its own seed first (``scenario.resolved(seed)`` picks another episode), and
    ``workload.u_target`` overrides the built workload's intensity."""
    import dataclasses

    if scenario.is_randomized:
        scenario = scenario.resolved()
    spec = scenario.workload
    rng = np.random.default_rng(scenario.seed)
    if spec.masim is not None:
        from damon_gym.workloads.masim import masim_workload, read_masim_config

        cfg = read_masim_config(scenario.resolve(spec.masim))
        wl = (masim_workload(cfg) if spec.accesses_per_s is None
              else masim_workload(cfg, accesses_per_s=spec.accesses_per_s))
    elif spec.replay is not None:
        from damon_gym.workloads.replay import replay_workload

        wl = replay_workload(scenario.resolve(spec.replay), target=spec.replay_target,
                             page_size=scenario.page_size, sample_us=spec.sample_us)
    else:
        from damon_gym.workloads import registry

        assert spec.generator is not None  # WorkloadSpec._one_kind: exactly one kind is set
        wl = registry.build(spec.generator, spec.params, rng)
    if isinstance(spec.u_target, list):
        from damon_gym.scenario_workload import intensity_schedule

        sched = intensity_schedule(spec.u_target)
        wl = dataclasses.replace(wl, u_target=sched[0][1], u_schedule=sched)
    elif spec.u_target is not None:
        assert not isinstance(spec.u_target, dict)  # resolved() above drew the distributions
        wl = dataclasses.replace(wl, u_target=float(spec.u_target))
    # the scenario's workload is the real machine's (times its own scale); simulate it at
    # the machine's scale
    return scaled_workload(wl, spec.scale * scenario.capacity_scale)


def allocation_policy(spec, topology: Topology):
    """The memory system's allocation policy for a workload's MempolicySpec."""
    if spec.mode == "local":
        return LocalPolicy(spec.nodes[0] if spec.nodes else None)
    nodes = tuple(spec.nodes)
    if spec.mode == "interleave":
        return InterleavePolicy(nodes)
    auto = topology.auto_weights()
    weights = tuple(spec.weights) if spec.weights else tuple(auto[n] for n in nodes)
    return WeightedInterleavePolicy(nodes, weights)


#: the simulation's memory limit (bytes), ``DAMON_GYM_MEMORY_LIMIT`` overrides it
DEFAULT_MEMORY_LIMIT = 8 << 30
#: estimated bytes of simulation state per frame (node, owner, page index, free stack,
#: Fenwick tree) and per process page (frame, node, rate, and the cached phase rates)
BYTES_PER_FRAME, BYTES_PER_PAGE = 32, 160


def memory_limit() -> int:
    """The limit in bytes: ``DAMON_GYM_MEMORY_LIMIT`` (bytes or a size such as "2 GiB")."""
    import os

    from damon_gym.units import parse_size

    v = os.environ.get("DAMON_GYM_MEMORY_LIMIT")
    return DEFAULT_MEMORY_LIMIT if not v else parse_size(v, "DAMON_GYM_MEMORY_LIMIT")


#: the kernel's memmap: one 64-byte ``struct page`` per 4 KiB base page on x86-64 (sizeof(struct
#: page), include/linux/mm_types.h; "The memory map", Documentation/mm/memory-model.rst),
#: allocated on the node whose memory it describes and never migrated: 1/64 of every node
MEMMAP_DIVISOR = 4096 // 64


def scenario_unmovable(scenario: Scenario, topology: Topology) -> list[int]:
    """Unmovable (kernel) bytes per node of the simulated machine (``topology`` is the scaled
    one): the scenario's ``unmovable`` (real bytes) times ``capacity_scale``, or, when the
    scenario leaves it out, each node's memmap (capacity / 64; issue 14: every real node
    holds at least that much of the kernel's own memory, which paddr DAMON monitors and DAMOS
    walks try, and nothing moves)."""
    if scenario.unmovable is not None:  # real bytes -> the scaled machine's
        return [int(b * scenario.capacity_scale) for b in scenario.unmovable]
    return [n.capacity // MEMMAP_DIVISOR for n in topology.nodes]


def check_fits(workload: Workload, topology: Topology, page_size: int,
               byte_scale: float = 1.0, unmovable: list[int] | None = None) -> None:
    """Refuse, before anything is allocated, a workload whose pages exceed the machine's
    memory less its ``unmovable`` bytes (simulated; sizes reported in the real machine's
    bytes) -- the memory system would fail allocations part-way or cap the workload silently
    -- and a simulation whose estimated state exceeds :func:`memory_limit` (the estimate
    named)."""
    from damon_gym.errors import DamonGymError

    ps = page_size
    pages = sum(workload.process_pages(i, ps) for i in range(len(workload.processes)))
    frames = sum(n.capacity // ps for n in topology.nodes)
    kernel = sum(-(-int(b) // ps) for b in unmovable or [])
    need, have = pages * ps, (frames - kernel) * ps
    if need > have:
        def real(b: int) -> str:
            return f"{b * byte_scale / 2**30:,.3f} GiB"
        held = f", less {real(kernel * ps)} of unmovable kernel memory" if kernel else ""
        raise DamonGymError(f"workload: {workload.name} needs {real(need)} of memory; the "
                            f"machine has {real(have)} (all nodes{held}): allowed: a workload "
                            "that fits")
    estimate = frames * BYTES_PER_FRAME + pages * BYTES_PER_PAGE
    limit = memory_limit()
    if estimate > limit:
        raise DamonGymError(f"the simulation would need about {estimate / 2**30:,.2f} GiB "
                            f"({frames:,} frames, {pages:,} pages of {ps} B); the limit is "
                            f"{limit / 2**30:,.2f} GiB (DAMON_GYM_MEMORY_LIMIT): use a smaller "
                            "capacity_scale or 2 MiB pages")
