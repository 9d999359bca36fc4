"""Simulation end to end: scenarios, masim workloads seen by DAMON, damo parameter files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from damon_gym.formats.params import load_damon_params
from damon_gym.scenario import ScenarioError, load_scenario
from damon_gym.simulation import Simulation
from damon_gym.workloads.masim import read_masim_config

FIX = Path(__file__).parent / "fixtures"


def _accessed_cover(snap: dict, lo: int, hi: int, min_nr: int) -> tuple[float, int]:
    """Fraction of [lo, hi) covered by regions with nr_accesses >= min_nr, and the bytes such
    regions report in total."""
    acc = snap["last_nr_accesses"] >= min_nr  # the last complete aggregation window
    s, e = snap["start"][acc], snap["end"][acc]
    cover = np.clip(np.minimum(e, hi) - np.maximum(s, lo), 0, None).sum()
    return cover / (hi - lo), int((e - s).sum())


@pytest.mark.parametrize("cfg", ["stairs.cfg", "zigzag.cfg"])
def test_masim_phase_hot_region_is_what_damon_reports_accessed(cfg):
    """In every phase after the initial one, 4 s into the 5 s phase, the regions DAMON reports
    with nr_accesses >= 10 of 20 cover >= 90 % of that phase's hot masim region, and what they
    report in total is at most the hot region plus one sz_limit-sized region per side."""
    sc = load_scenario("default", workload={"masim": str(FIX / "masim" / cfg)}, duration=200)
    sim = Simulation(sc, seed=1)
    masim = read_masim_config(FIX / "masim" / cfg)
    wl = sim.workload
    vmas = wl.processes[0].vmas
    region_vma = {v.name: v for v in vmas}
    t = 0.0
    checked = 0
    for ph in masim.phases:
        dur = ph.duration_ms / 1000
        if len(ph.patterns) != 1:
            t += dur
            continue
        sim.run(t + dur - 1.0 - sim.now_us / 1e6)  # to 1 s before the phase ends
        snap = sim.snapshot()[0]
        v = region_vma[ph.patterns[0].region]
        cover, reported = _accessed_cover(snap, v.start, v.end, 10)
        total = sum(x.end - x.start for x in vmas)
        assert cover >= 0.9, (ph.name, cover)
        assert reported <= (v.end - v.start) + 2 * total // 10, (ph.name, reported)
        checked += 1
        t += dur
        sim.run(t - sim.now_us / 1e6)
    assert checked >= 10


def test_same_seed_same_snapshots():
    def run(seed):
        sim = Simulation.from_config("default", seed=seed)
        sim.run(3.0)
        s = sim.snapshot()[0]
        return np.concatenate([s["start"], s["nr_accesses"], s["age"]])

    assert np.array_equal(run(5), run(5))
    assert not np.array_equal(run(5), run(6))


@pytest.mark.parametrize("name", ["weighted_interleave.json", "mem_tier.json"])
def test_real_damo_parameter_files_run(name):
    params = load_damon_params(FIX / "damo_params" / name)
    sc = load_scenario("default", duration=5)
    sim = Simulation(sc, damon_params=params)
    sim.run(3.0)
    st = sim.stats()
    assert len(st["contexts"]) == sum(len(k.contexts) for k in params.kdamonds)
    for c in st["contexts"]:
        # both files auto-tune intervals (4 % goal); the idle node's sampling slows down
        assert c["nr_aggregations"] >= 5
        assert c["nr_regions"] >= 3
    if name == "mem_tier.json":
        # paddr ranges of the machine damo ran on are mapped onto simulated nodes 0 and 1
        ranges = [(int(s["start"][0]), int(s["end"][-1])) for s in sim.snapshot()]
        assert ranges == [sim.memory.node_phys_range(0), sim.memory.node_phys_range(1)]
        assert all(any("mapped onto" in n for n in c["notes"]) for c in st["contexts"])
    else:
        assert any("bound to workload pid" in n for n in st["contexts"][0]["notes"])


@pytest.mark.parametrize("bad, needle", [
    ({"topology": "nope"}, "nope"),
    ({"page_size": "8 KiB"}, "page_size"),
    ({"duration": "-3 s"}, "duration"),
    ({"seed": -1}, "seed"),
    ({"workload": {"generator": "zipf", "params": {"size": "1 MiB", "thetaa": 1}}}, "thetaa"),
    ({"workload": {"masim": "x.cfg", "generator": "zipf"}}, "exactly one"),
    ({"colour": "blue"}, "colour"),
])
def test_bad_scenarios_give_one_clear_line(bad, needle):
    with pytest.raises((ScenarioError, ValueError)) as e:
        sc = load_scenario("default", **bad)
        Simulation(sc)
    msg = str(e.value)
    assert needle in msg
    assert len(msg.splitlines()) == 1, msg
    assert "Traceback" not in msg


def test_commit_keeps_regions_and_rescales_on_new_attrs():
    sim = Simulation.from_config("default", seed=0)
    sim.run(2.0)
    before = sim.snapshot()[0]
    params = sim.params.model_copy(deep=True)
    sim.commit(params)  # identical parameters: nothing reset
    same = sim.snapshot()[0]
    assert np.array_equal(before["start"], same["start"]) and np.array_equal(before["age"], same["age"])
    ctx = params.kdamonds[0].contexts[0]
    ctx.intervals.aggr_us = 200_000
    sim.commit(params)
    after = sim.snapshot()[0]
    assert np.array_equal(before["start"], after["start"])
    assert np.array_equal(after["age"], before["age"] // 2)
    assert sim.contexts[0].attrs.aggr_interval == 200_000


def test_a_process_that_starts_later_is_monitored_from_its_start():
    """The seed thread's case: DAMON runs before the process exists; when it starts, a vaddr
    target is added online and its hot memory is found."""
    wl = {"generator": "with_processes", "params": {
        "base": {"generator": "hot_cold", "params": {"size": "32 MiB", "hot_fraction": 0.25,
                                                     "hot_prob": 0.99, "total_rate": 2e6,
                                                     "contiguous": True, "duration_s": 60}},
        "start_s": 3.0}}
    sim = Simulation(load_scenario("default", workload=wl), seed=0)
    sim.run(2.0)
    assert sim.snapshot() == []  # nothing to monitor yet
    sim.run(4.0)
    snap = sim.snapshot()
    assert len(snap) == 1 and snap[0]["pid"] == sim.workload.processes[0].pid
    assert (snap[0]["last_nr_accesses"] >= 10).any()


def test_placement_reports_every_page_of_a_process_and_refuses_unknown_pids():
    """Simulation.placement: one node and rate per page of each VMA, in address order, that
    agree with the machine's own per-node usage (all of the process's touched pages), and the
    totals in the real machine's bytes; an unknown pid is refused naming the live ones."""
    sim = Simulation(load_scenario("smoke-gups"), seed=0)
    sim.run(2.0)
    pl = sim.placement()
    mem = sim.memory
    proc = [p for p in mem.procs if p.alive][0]
    assert pl["pid"] == proc.pid and pl["page_size"] == mem.page_size
    nodes = np.concatenate([v["node"] for v in pl["vmas"]])
    rates = np.concatenate([v["rate"] for v in pl["vmas"]])
    assert nodes.shape == rates.shape == proc.vpage_node.shape
    for v in pl["vmas"]:
        assert v["node"].shape[0] == -(-(v["end"] - v["start"]) // mem.page_size)
    # every touched page is on a node; the sums per node equal the frames the process owns
    owned = np.bincount(mem.frame_node[mem.frame_proc == mem.procs.index(proc)],
                        minlength=mem.nr_nodes)
    assert np.array_equal(np.bincount(nodes[nodes >= 0], minlength=mem.nr_nodes), owned)
    assert pl["nodes_bytes"] == [sim.real_bytes(int(c) * mem.page_size) for c in owned]
    pl["vmas"][0]["node"][:] = 99  # a copy: the machine is unchanged
    assert (proc.vpage_node != 99).all()
    with pytest.raises(ValueError, match=rf"pid: 12345 is not a live process; live: {proc.pid}"):
        sim.placement(12345)


def test_aggregated_snapshots_keep_the_last_windows_regions_whenever_taken():
    """snapshot(aggregated=True) taken mid-window gives the regions of the last aggregation
    (merged, with that window's nr_accesses) -- the same arrays an aggregation callback sees
    -- while snapshot() shows the split regions of the window in progress; without
    keep_aggregations() it is refused with the call to make."""
    sim = Simulation(load_scenario("smoke-gups"), seed=0)
    with pytest.raises(ValueError, match=r"call keep_aggregations\(\) before running"):
        sim.snapshot(aggregated=True)
    sim.keep_aggregations()
    seen = []
    sim.bindings[0].context.aggregation_callbacks.append(
        lambda c: seen.append((c.now_us, c.snapshot()[0])))
    sim.run(1.05)  # 10 aggregations of 100 ms and half a window more
    agg = sim.snapshot(aggregated=True)[0]
    t_us, ref = seen[-1]
    assert agg["time_s"] == t_us / 1e6 < sim.now_us / 1e6
    for k in ("start", "end", "nr_accesses", "age"):
        assert np.array_equal(agg[k], ref[k]), k
    now = sim.snapshot()[0]
    assert agg["nr_accesses"].max() > 0 and len(now["start"]) >= len(agg["start"])
    assert now["start"][0] == agg["start"][0] and now["end"][-1] == agg["end"][-1]
