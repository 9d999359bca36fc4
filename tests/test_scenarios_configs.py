"""Scenarios (configs/scenarios/*.yaml): validation, content hash, extends, background traces,
domain randomisation, and every scenario running 10 simulated seconds."""

from __future__ import annotations

import numpy as np
import pytest

from damon_gym.randomize import sample
from damon_gym.scenario import SCENARIO_DIR, ScenarioError, load_scenario, scenario_names
from damon_gym.simulation import Simulation, build_workload
from damon_gym.workloads.background import BackgroundTrace


def _footprint(sim: Simulation) -> int:
    ps = sim.memory.page_size
    return sum(sim.workload.process_pages(i, ps) for i in range(len(sim.workload.processes))) * ps


@pytest.mark.parametrize("name", scenario_names())
def test_scenario_loads_fits_and_runs_10_seconds(name):
    sc = load_scenario(name)
    assert sc.name == name, "the file name is the scenario name"
    assert sc.stresses and sc.regime and sc.description, "documented for scenarios list / docs"
    sim = Simulation(sc)
    assert sim.memory.nr_frames <= 2**21
    assert _footprint(sim) <= sum(sim.topology.capacities), "the workload fits the machine"
    assert sc.duration_us >= 5_000_000
    sim.run(10.0)
    assert sim.now_us == 10_000_000
    st = sim.stats()
    assert sum(n["used_bytes"] for n in st["nodes"]) > 0
    assert all(c["nr_aggregations"] > 0 for c in st["contexts"])


def test_content_hash_is_stable_and_about_content():
    a = load_scenario("gups-tiny")
    b = load_scenario(SCENARIO_DIR / "gups-tiny.yaml")
    assert a.content_hash() == b.content_hash() and len(a.content_hash()) == 16
    renamed = a.model_copy(update={"name": "other", "description": "other words"})
    assert renamed.content_hash() == a.content_hash()  # documentation fields are not content
    assert a.model_copy(update={"seed": 1}).content_hash() != a.content_hash()
    assert load_scenario("gups-tiny", duration=61).content_hash() != a.content_hash()
    hashes = {load_scenario(n).content_hash() for n in scenario_names()}
    assert len(hashes) == len(scenario_names())


def test_dump_round_trips():
    for name in ("gups-p2-colloid", "taobench-4node", "ycsb-amd"):
        sc = load_scenario(name)
        again = load_scenario(sc.model_dump(by_alias=True))
        assert again.duration_us == sc.duration_us
        assert again.content_hash() == sc.content_hash()


def test_extends_merges_over_the_parent():
    parent, child = load_scenario("anchor1-stream-spr-dram"), load_scenario("anchor1-stream-spr-1to1")
    assert child.topology == parent.topology and child.capacity_scale == parent.capacity_scale
    assert child.workload.params["mempolicy"] == {"mode": "interleave", "nodes": [0, 1]}
    assert child.workload.params["size"] == parent.workload.params["size"]
    # a workload naming its own preset replaces the parent's instead of merging into it
    merci = load_scenario("merci-4node-pulse")
    assert merci.workload.preset == "merci" and "base" not in merci.workload.params
    assert merci.topology == load_scenario("taobench-4node").topology


@pytest.mark.parametrize("bad, needle", [
    ({"background": "4x"}, "4x"),
    ({"background": {"preset": "vary-pulse5", "speed": 2}}, "speed"),
    ({"background": {"preset": "1x", "time_scale": 0}}, "time_scale"),
    ({"workload": {"preset": "gups", "params": {"hot_fraction": {"range": [0.4, 0.1]}}}},
     "hot_fraction.range"),
    ({"workload": {"preset": "gups", "params": {"theta": 1}}}, "theta"),
    ({"workload": {"replay": "x.data", "generator": "zipf"}}, "exactly one"),
    ({"workload": {"preset": "gups", "u_target": {"choice": []}}}, "u_target.choice"),
    ({"capacity_scale": 0}, "capacity_scale"),
])
def test_bad_fields_are_one_line_naming_field_and_value(bad, needle):
    with pytest.raises(ScenarioError) as e:
        load_scenario("gups-tiny", **bad)
    msg = str(e.value)
    assert needle in msg and len(msg.splitlines()) == 1, msg


def test_background_traces_reach_the_simulation():
    sim = Simulation(load_scenario("gups-p2-colloid"))
    bg = sim.background
    assert isinstance(bg, BackgroundTrace) and bg.name == "vary-10-5-15"
    # Colloid's 200 s @10, 50 s @5, 50 s @15 cores, played at time_scale 0.1
    assert [bg.cores_at(t) for t in (0.0, 19.9, 20.0, 24.9, 25.0, 29.9)] == [10, 10, 5, 5, 15, 15]
    assert bg.bg_at(21.0, 2)[0] == pytest.approx(5 * 7e9)
    assert Simulation(load_scenario("default")).background is None
    scaled = load_scenario("default", background={"preset": "1x", "scale": 2.0}).background_trace()
    assert scaled.cores_at(0.0) == 10
    assert load_scenario("default", background=3).background_trace().cores_at(5.0) == 3
    steps = load_scenario("default", background=[[0, 0], [5, 10]]).background_trace()
    assert steps.cores_at(4.9) == 0 and steps.cores_at(5.0) == 10


def test_randomisation_same_seed_same_sample():
    sc = load_scenario("gups-p2-rand")
    assert sc.is_randomized
    a, b, c = sc.resolved(7), sc.resolved(7), sc.resolved(8)
    assert not a.is_randomized and a.seed == 7
    assert a.sampled == b.sampled and a.content_hash() == b.content_hash()
    assert a.sampled != c.sampled and a.content_hash() != c.content_hash()
    assert set(a.sampled) == {"workload.params.hot_fraction", "workload.params.hot_prob",
                              "workload.u_target", "background"}
    assert a.workload.params["hot_fraction"] == a.sampled["workload.params.hot_fraction"]
    draws = [sc.resolved(s) for s in range(40)]
    hf = [d.workload.params["hot_fraction"] for d in draws]
    assert 0.1 <= min(hf) and max(hf) <= 0.4 and np.std(hf) > 0.05
    assert {d.background for d in draws} == {"0x", "1x", "2x", "3x"}
    # the sample is what the simulation builds and loads
    sim = Simulation(a)
    assert sim.workload.u_target == pytest.approx(a.sampled["workload.u_target"])
    assert sim.background.name == a.sampled["background"]
    # an unresolved randomised scenario is resolved with its own seed
    assert build_workload(sc).u_target == pytest.approx(sc.resolved().workload.u_target)


def test_resolved_scenario_known_concrete_without_a_walk(monkeypatch):
    """resolved() returns a concrete scenario and says so without walking the workload again
    (a reset asks several times); a scenario built otherwise is still walked."""
    import damon_gym.scenario as scenario_mod
    sc = load_scenario("gups-p2-rand")
    a = sc.resolved(3)
    b = a.model_copy(update={"paddr_nodes": [0]})  # what an env's reset may do
    walks = []
    monkeypatch.setattr(scenario_mod, "has_dist", lambda v: walks.append(1) or True)
    assert not a.is_randomized and not b.is_randomized and not walks
    assert sc.is_randomized and walks  # the base still holds its distributions
    assert scenario_mod.Scenario.model_validate(a.model_dump(by_alias=True)).is_randomized
    walks.clear()  # a copy with another workload is walked again
    assert a.model_copy(update={"workload": sc.workload}).is_randomized and walks


def test_randomised_phase_length_and_theta_reach_the_workload():
    sc = load_scenario("masim-tiering-p2")
    for seed in (0, 1):
        r = sc.resolved(seed)
        wl = build_workload(r)
        assert wl.phases[0].duration_s == pytest.approx(r.sampled["workload.params.phase_s"])
        assert 2.0 <= wl.phases[0].duration_s <= 10.0
    y = load_scenario("ycsb-rand").resolved(3)
    assert 0.6 <= y.workload.params["theta"] <= 1.2
    assert y.workload.params["size"] in ("256 MiB", "320 MiB", "384 MiB")


def test_integer_ranges_and_order_independence():
    out: dict = {}
    rng = np.random.default_rng(0)
    v = sample({"b": {"range": [1, 3]}, "a": {"choice": ["x", "y"]}}, rng, "w", out)
    assert v["b"] in (1, 2, 3) and isinstance(v["b"], int) and v["a"] in ("x", "y")
    out2: dict = {}
    v2 = sample({"a": {"choice": ["x", "y"]}, "b": {"range": [1, 3]}},
                np.random.default_rng(0), "w", out2)
    assert v == v2 and out == out2  # key order in the file does not change the draws
