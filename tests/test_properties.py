"""Property-based tests (hypothesis) of the invariants that must hold after every step, for
random machines, workloads, schemes and action sequences (issue 13):

* every page on exactly one node, no node over capacity, bytes conserved by migration
  (``MemorySystem.check_invariants`` plus the used-bytes sums);
* regions sorted, non-overlapping, inside their target, their count within [min, max] of the
  context (max may be exceeded by at most the split of the last window, as in the kernel:
  merges run before splits) and ``nr_accesses`` at most its maximum;
* observations inside their Box before any clipping, rewards finite and in [0, 1].

Sizes are kept small (a tiny machine, a few seconds) so that each example takes well under a
second; the example counts are set per test.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import damon_gym  # noqa: F401  (registers the ids)
from damon_gym.damon.attrs import max_nr_accesses
from damon_gym.envs import observe
from damon_gym.envs.observe import observation
from damon_gym.envs.spaces import HIGH, LOW

MiB = 1 << 20
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def scenarios(draw):
    """A tiny random scenario: two or three nodes, a phased workload that fits, maybe a
    background."""
    nr_nodes = draw(st.integers(2, 3))
    nodes = []
    for i in range(nr_nodes):
        nodes.append({"name": f"n{i}", "kind": "dram" if i == 0 else "cxl",
                      "capacity": f"{draw(st.sampled_from([64, 96, 128]))} MiB",
                      "bw_read_gbps": draw(st.floats(5, 200)),
                      "idle_latency_ns": draw(st.floats(60, 400))})
    total = sum(int(n["capacity"].split()[0]) for n in nodes)
    size = draw(st.integers(8, int(total * 0.8)))
    phases = []
    for _ in range(draw(st.integers(1, 3))):
        phases.append({"duration_s": draw(st.integers(1, 4)),
                       "footprint": draw(st.floats(0.2, 1.0)),
                       "hot_fraction": draw(st.floats(0.0, 1.0)),
                       "hot_prob": draw(st.floats(0.5, 1.0)),
                       "hot_at": draw(st.one_of(st.floats(0.0, 1.0), st.just("scatter"))),
                       "u_target": draw(st.floats(0.05, 0.99))})
    bg = draw(st.one_of(st.none(), st.just({"steps": [[0, 0], [2, draw(st.integers(1, 20))]]})))
    return {"name": "prop", "topology": {"name": "prop", "cpu_node": 0, "nodes": nodes},
            "workload": {"generator": "phased",
                         "params": {"size": f"{size} MiB", "total_rate": size * 2.0e4,
                                    "phases": phases,
                                    "populate": draw(st.booleans())}},
            "background": bg, "duration": 12, "seed": draw(st.integers(0, 1000))}


def _check_regions(env) -> None:
    for b in env.sim.bindings:
        ctx = b.context
        top = max_nr_accesses(ctx.attrs)
        total = 0
        for t in ctx.targets:
            r = t.regions
            s, e = r.start[: r.n], r.end[: r.n]
            assert (e > s).all(), "empty region"
            assert (s[1:] >= e[:-1]).all(), "regions overlap or are unsorted"
            assert (r.nr_accesses[: r.n] <= top).all() and (r.nr_accesses[: r.n] >= 0).all()
            total += r.n
        if total:
            assert total <= 3 * ctx.attrs.max_nr_regions  # a window's splits after the merge


def _check_memory(env) -> None:
    mem = env.sim.memory
    mem.check_invariants()
    assert (mem.used_frames <= mem.node_nr_frames).all()
    # every used frame holds a process's page or the kernel's own (unmovable) memory
    assert int(mem.used_frames.sum()) == sum(int((p.vpage_frame >= 0).sum()) for p in mem.procs) \
        + int(mem.unmovable_frames.sum())


@settings(max_examples=40, **SETTINGS)
@given(sc=scenarios(), task=st.sampled_from(["Interleave", "Tiering", "Joint"]),
       actions=st.lists(st.lists(st.floats(-1, 1), min_size=13, max_size=13), min_size=1,
                        max_size=8))
def test_invariants_hold_after_every_step(sc, task, actions):
    # the raw vector as the step computes it (recomputed after the step, the tried/applied
    # entries would read the counters the step has just re-based: always 0)
    raws = []

    def keep_raw(env, clip=True):
        raws.append(observation(env, clip=False))
        return observation(env, clip=clip)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(observe, "observation", keep_raw)
        _play_checking_invariants(sc, task, actions, raws)


def _play_checking_invariants(sc, task, actions, raws) -> None:
    env = gym.make(f"DamonGym/{task}-v0", scenario=sc, disable_env_checker=True,
                   max_episode_steps=100).unwrapped
    env.reset(seed=sc["seed"])
    dim = env.action_space.shape[0]
    for a in actions:
        pages_before = sum(int((p.vpage_frame >= 0).sum()) for p in env.sim.memory.procs)
        del raws[:]
        obs, r, term, trunc, info = env.step(np.asarray(a[:dim], np.float32))
        (raw,) = raws
        bad = np.flatnonzero(~((raw >= LOW) & (raw <= HIGH)))
        assert bad.size == 0, {int(i): float(raw[i]) for i in bad}
        assert np.isfinite(r) and 0.0 <= r <= 1.0
        _check_memory(env)
        _check_regions(env)
        # migration moves pages, it neither creates nor drops them (first touch may add)
        pages_after = sum(int((p.vpage_frame >= 0).sum()) for p in env.sim.memory.procs)
        assert pages_after >= pages_before
        if term or trunc:
            break
