"""Suites (configs/suites/*.yaml) and the ``damon-gym scenarios`` command."""

from __future__ import annotations

import pytest
import yaml

from damon_gym import cli
from damon_gym.memory.topology import load_topology
from damon_gym.scenario import load_scenario, scenario_names
from damon_gym.simulation import Simulation
from damon_gym.suites import (
    SuiteEntry,
    SuiteError,
    load_suite,
    suite_names,
    suite_scenarios,
    suite_summary,
)


def test_shipped_suites_load():
    assert {"smoke", "train", "test", "anchors"} <= set(suite_names())
    for name in suite_names():
        entries = load_suite(name)
        assert entries and all(isinstance(e, SuiteEntry) for e in entries)
        assert len(set(entries)) == len(entries)


def test_smoke_suite_is_short_and_runs_to_its_end():
    """Short scenarios (at most 20 simulated seconds each) that run to their end; how fast
    they run is measured in benchmarks/, not asserted here."""
    entries = load_suite("smoke")
    assert len(entries) == 3
    for sc in suite_scenarios("smoke"):
        assert sc.duration_us <= 20_000_000
        sim = Simulation(sc)
        sim.run(sc.duration_us / 1e6)
        assert sim.now_us == sc.duration_us, sc.name


def test_train_and_test_measure_generalisation():
    """Disjoint seeds; at least two workload families and one topology only in test; every
    task has train and test episodes."""
    train, test = suite_summary("train"), suite_summary("test")
    assert not set(train["seeds"]) & set(test["seeds"])
    assert len(set(test["families"]) - set(train["families"])) >= 2, (train, test)
    assert len(set(test["topologies"]) - set(train["topologies"])) >= 1
    assert set(train["families"]) & set(test["families"])
    for task in ("Interleave", "Tiering", "Joint"):
        assert load_suite("train", task=task) and load_suite("test", task=task), task
    counts = set()
    for n in train["scenarios"] + test["scenarios"]:
        t = load_scenario(n).topology
        counts.add(len(t["nodes"]) if isinstance(t, dict) else load_topology(t).nr_nodes)
    assert {2, 3, 4} <= counts  # 2 to 4 nodes


def test_train_deep_is_train_plus_deep_drops_and_keeps_test_held_out():
    """train-deep: every train episode, plus episodes on a machine whose node values train
    already shows (P1-SPR's, for Interleave) and none of test's episodes or held-out
    topologies."""
    train, deep = set(load_suite("train")), set(load_suite("train-deep"))
    assert train < deep
    test = suite_summary("test")
    assert not {s for _, s in deep} & set(test["seeds"])
    held_out = set(test["topologies"]) - set(suite_summary("train")["topologies"])
    assert held_out and not held_out & set(suite_summary("train-deep")["topologies"])
    spr = load_topology("P1-SPR")
    for name in dict.fromkeys(n for n, _ in deep - train):
        nodes = load_scenario(name).topology["nodes"]
        assert [(n["bw_read_gbps"], n["idle_latency_ns"]) for n in nodes] == \
            [(n.bw_read_gbps, n.idle_latency_ns) for n in spr.nodes], name


def test_anchor_suite_covers_the_four_calibration_checks():
    names = suite_summary("anchors")["scenarios"]
    for check, topo in ((1, "P1-SPR"), (2, "P1-AMD"), (3, "P2"), (4, "P1-Meta")):
        mine = [n for n in names if n.startswith(f"anchor{check}-")]
        assert len(mine) >= 2, check
        assert all(load_scenario(n).topology == topo for n in mine)
    bgs = {load_scenario(n).background for n in names if n.startswith("anchor3-")}
    assert bgs == {"0x", "1x", "2x", "3x"}
    knee = sorted(load_scenario(n).workload.params["hot_fraction"]
                  for n in names if n.startswith("anchor4-"))
    assert knee == [0.75, 0.8, 1.0]
    for n in names:
        sc = load_scenario(n)
        if n.startswith(("anchor1-", "anchor2-")):
            assert sc.workload.u_target == 0.99  # bandwidth-bound (large N)


def test_every_suite_scenario_is_a_shipped_scenario_and_resolves():
    for name in suite_names():
        for sc in suite_scenarios(name):
            assert sc.name in scenario_names() and not sc.is_randomized


@pytest.mark.parametrize("text, needle", [
    ("entries: [{scenario: nope, seeds: [0]}]", "nope"),
    ("entries: [{scenario: default, seeds: [-1]}]", "seeds"),
    ("entries: [{scenario: default, seeds: [0]}, {scenario: default, seeds: [0]}]", "twice"),
    ("entries: [{scenario: default, seed: 0}]", "seed"),
    ("entries: []", "entries"),
])
def test_bad_suites_are_refused(tmp_path, text, needle):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(SuiteError) as e:
        load_suite(p)
    assert needle in str(e.value)
    with pytest.raises(SuiteError, match="not found"):
        load_suite("no-such-suite")


def test_seed_ranges_expand():
    entries = load_suite("train")
    rand = [s for n, s in entries if n == "interleave-amd-rand"]
    assert rand == list(range(32))


def test_train_and_test_scenarios_change_their_regime_within_the_episode():
    """The suites' scenarios are the situations where the right answer changes (issue 9):
    each has an intensity that changes, a background that changes, or a hot set that moves
    (a workload with several phases), within its duration."""
    for suite in ("train", "train-deep", "test"):
        for name in dict.fromkeys(n for n, _ in load_suite(suite)):
            sc = load_scenario(name).resolved(1000 if suite == "test" else 0)
            sim = Simulation(sc)
            end = sc.duration_us / 1e6
            wl = sim.workload
            intensities = {wl.u_target_at(t) for t in range(int(end))}
            bg = sim.background
            levels = set() if bg is None else {float(bg.bg_at(t, 8).sum()) for t in range(int(end))}
            changes = [t for t in wl.change_times() if 0 < t < end]
            assert len(intensities) > 1 or len(levels) > 1 or len(changes) >= 2, name


def test_cli_scenarios_list(capsys):
    assert cli.main(["scenarios", "list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == len(scenario_names())
    for name, line in zip(scenario_names(), out, strict=True):
        assert line.startswith(name) and len(line.split()) > 2
    assert any("[randomised]" in ln for ln in out)
    assert cli.main(["scenarios"]) == 0  # bare: lists too
    assert len(capsys.readouterr().out.splitlines()) == len(scenario_names())


def test_cli_scenarios_show(capsys):
    assert cli.main(["scenarios", "show", "gups-p2-rand", "--seed", "5"]) == 0
    out = capsys.readouterr().out
    body, last = out.rsplit("# content hash: ", 1)
    data = yaml.safe_load(body)
    sc = load_scenario("gups-p2-rand").resolved(5)
    assert last.strip() == sc.content_hash()
    assert data["seed"] == 5 and data["sampled"] == sc.sampled
    assert load_scenario(data).content_hash() == sc.content_hash()  # the YAML loads back
    assert cli.main(["scenarios", "show", "anchor1-stream-spr-1to1"]) == 0
    data = yaml.safe_load(capsys.readouterr().out)
    assert data["workload"]["generator"] == "stream"  # the preset, expanded


def test_cli_scenarios_show_unknown_is_one_error_line(capsys):
    assert cli.main(["scenarios", "show", "no-such-scenario"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("damon-gym: error:") and "no-such-scenario" in err[0]
