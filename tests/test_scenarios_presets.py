"""Workload presets (configs/workloads/*.yaml): each loads, builds, fits and runs 10 s."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest

from damon_gym.formats.record import wss_of_snapshot
from damon_gym.memory.topology import load_topology
from damon_gym.recorder import Recorder
from damon_gym.scenario import ScenarioError, load_scenario
from damon_gym.simulation import Simulation, build_workload
from damon_gym.workloads import presets
from damon_gym.workloads.presets import deep_merge, load_preset, preset_names

MiB = 1 << 20
TINY_BYTES = 512 * MiB  # tiny: 256 MiB DRAM + 256 MiB CXL

#: one preset per row of [PM 4] the issue asks for, plus the masim configs
REQUIRED = {"stream", "gups", "gups-hotset-move", "ycsb-zipf", "taobench", "merci",
            "masim-tiering", "masim-stairs", "masim-zigzag", "masim-demo", "masim-100mb",
            "masim-default", "masim-mem-perf", "masim-complicated", "replay-masim-zigzag"}


def test_every_required_preset_exists_with_its_metadata():
    names = set(preset_names())
    assert REQUIRED <= names, REQUIRED - names
    for n in names:
        data = load_preset(n)
        assert data.get("description") and data.get("family") and data.get("regime"), n


def _footprint(wl, page_size: int) -> int:
    return sum(wl.process_pages(i, page_size) for i in range(len(wl.processes))) * page_size


def _scenario_for(name: str):
    """The preset on the tiny machine; when its footprint needs more, on a machine ``scale``
    times tiny's size simulated at 1 / scale (the scale rule: the workload is the real one)."""
    sc = load_scenario({"name": f"preset-{name}", "workload": {"preset": name}, "duration": 10})
    fp = _footprint(build_workload(sc), 4096)
    if fp * 1.25 <= TINY_BYTES:
        return sc
    scale = math.ceil(fp * 1.5 / TINY_BYTES)
    big = load_topology("tiny").model_dump()
    for node in big["nodes"]:
        node["capacity"] *= scale
    return load_scenario({"name": f"preset-{name}", "workload": {"preset": name},
                          "topology": big, "capacity_scale": 1.0 / scale,
                          "page_size": "2 MiB", "duration": 10})


@pytest.mark.parametrize("name", preset_names())
def test_preset_loads_fits_and_runs_10_seconds(name):
    sc = _scenario_for(name)
    assert sc.workload.preset == name and sc.workload.family_name
    sim = Simulation(sc)
    assert sim.memory.nr_frames <= 2**21
    assert _footprint(sim.workload, sc.page_size) <= sum(sim.topology.capacities)
    rec = Recorder(sim)
    sim.run(10.0)
    assert sim.now_us == 10_000_000
    snaps = [s for r in rec.result() for s in r.snapshots]
    assert len(snaps) >= 10 and max(wss_of_snapshot(s) for s in snaps) > 0, name


def test_presets_hold_the_anchor_numbers():
    gups = load_scenario({"workload": {"preset": "gups"}}).workload.params
    assert (gups["hot_fraction"], gups["hot_prob"]) == (0.278, 0.9)
    stream = build_workload(load_scenario({"workload": {"preset": "stream"}}))
    assert stream.u_target >= 0.95 and stream.write_fraction == 0.5
    merci = build_workload(load_scenario({"workload": {"preset": "merci"}}))
    assert merci.u_target >= 0.95
    assert load_scenario({"workload": {"preset": "ycsb-zipf"}}).workload.params["theta"] == 0.99
    move = load_scenario({"workload": {"preset": "gups-hotset-move"}}).workload.params
    assert move["fraction"] == 0.25
    tao = load_scenario({"workload": {"preset": "taobench"}}).workload.params
    assert tao["base"]["params"]["hot_fraction"] == 0.13


def test_hotset_move_changes_the_hot_pages_once():
    wl = build_workload(load_scenario({"workload": {"preset": "gups-hotset-move"}}))
    before, after = wl.rates_at(1.0, 0, 4096), wl.rates_at(6.0, 0, 4096)
    hot_b, hot_a = before > before.mean(), after > after.mean()
    moved = np.count_nonzero(hot_b & ~hot_a) / np.count_nonzero(hot_b)
    assert moved == pytest.approx(0.25, abs=0.02)
    assert len(wl.phases) == 2


def test_overrides_merge_into_the_preset():
    sc = load_scenario({"workload": {"preset": "taobench",
                                     "params": {"base": {"params": {"size": "96 MiB"}}},
                                     "u_target": 0.3}})
    p = sc.workload.params
    assert p["base"]["params"]["size"] == "96 MiB"
    assert p["base"]["params"]["hot_fraction"] == 0.13 and p["period_s"] == 10.0
    wl = build_workload(sc)
    assert wl.u_target == 0.3 and wl.processes[0].size < 100 * MiB
    assert deep_merge({"a": {"b": 1, "c": 2}}, {"a": {"b": 3}}) == {"a": {"b": 3, "c": 2}}


@pytest.mark.parametrize("workload, needle", [
    ({"preset": "no-such-preset"}, "no-such-preset"),
    ({"preset": "gups", "params": {"hot_fractoin": 0.1}}, "hot_fractoin"),
    ({"preset": "gups", "u_target": 1.5}, "u_target"),
    ({"preset": "masim-stairs", "params": {"size": 1}}, "params"),
])
def test_bad_preset_use_is_one_clear_line(workload, needle):
    with pytest.raises(ScenarioError) as e:
        load_scenario({"workload": workload})
    msg = str(e.value)
    assert needle in msg and len(msg.splitlines()) == 1, msg


def test_editing_a_preset_changes_the_scenario_hash(tmp_path, monkeypatch):
    pdir = tmp_path / "workloads"
    shutil.copytree(presets.PRESET_DIR, pdir, ignore=shutil.ignore_patterns("damo_records"))
    monkeypatch.setattr(presets, "PRESET_DIR", pdir)
    spec = {"name": "x", "workload": {"preset": "gups"}}
    h1 = load_scenario(spec).content_hash()
    assert load_scenario(spec).content_hash() == h1  # stable
    text = (pdir / "gups.yaml").read_text()
    (pdir / "gups.yaml").write_text(text.replace("hot_prob: 0.9", "hot_prob: 0.8"))
    assert load_scenario(spec).content_hash() != h1


def test_editing_a_referenced_masim_config_changes_the_hash(tmp_path):
    cfg = tmp_path / "z.cfg"
    cfg.write_text((presets.PRESET_DIR / "masim" / "zigzag.cfg").read_text())
    spec = {"name": "x", "workload": {"masim": str(cfg)}}
    h1 = load_scenario(spec).content_hash()
    cfg.write_text(cfg.read_text().replace("100000000", "90000000"))
    assert load_scenario(spec).content_hash() != h1
