"""Reading YAML safely (damon_gym.safe_yaml) wherever the project reads it: duplicate keys,
alias bombs, deep nesting and binary files are refused with one message naming the file."""

from __future__ import annotations

import pytest

from damon_gym.errors import DamonGymError
from damon_gym.memory.topology import TopologyError, load_topology
from damon_gym.safe_yaml import MAX_DEPTH, YamlError, parse_yaml, read_yaml
from damon_gym.scenario import ScenarioError, load_scenario
from damon_gym.suites import SuiteError, load_suite


def test_duplicate_keys_are_refused_naming_the_key_and_lines():
    with pytest.raises(YamlError) as e:
        parse_yaml("a: 1\nb: 2\na: 3\n", "x.yaml")
    msg = str(e.value)
    assert msg.startswith("x.yaml") and "'a'" in msg and "line 1" in msg and "line 3" in msg


def test_anchors_aliases_and_merge_keys_still_work():
    data = parse_yaml("base: &b {x: 1, y: 2}\nother: {<<: *b, y: 3}\nlist: [*b, *b]\n")
    assert data["other"] == {"x": 1, "y": 3} and data["list"] == [{"x": 1, "y": 2}] * 2


def test_an_alias_bomb_is_refused_before_it_expands():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):  # 10 ** 10 leaves if expanded
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    text = "\n".join(lines) + "\n"
    assert len(text) < 1500
    with pytest.raises(YamlError, match="expands to more than"):
        parse_yaml(text, "bomb.yaml")


@pytest.mark.parametrize("depth", [MAX_DEPTH + 5, 600])
def test_deep_nesting_is_refused(depth):
    with pytest.raises(YamlError, match="nesting deeper"):
        parse_yaml("[" * depth + "]" * depth, "deep.yaml")


def test_the_deep_case_is_one_a_plain_reader_crashes_on():
    """600 levels (not 3000: PyYAML's scanner is superlinear in the depth, 3000 took 8 to 20 s)
    already take PyYAML's recursive composer past Python's default recursion limit, which
    is what the refusal above must survive: a plain yaml.compose raises RecursionError."""
    import sys

    import yaml

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)  # Python's default
    try:
        with pytest.raises(RecursionError):
            yaml.compose("[" * 600 + "]" * 600, Loader=yaml.SafeLoader)
    finally:
        sys.setrecursionlimit(limit)


def test_binary_and_invalid_files_name_the_file(tmp_path):
    b = tmp_path / "garbage.yaml"
    b.write_bytes(b"\xff\xfe\x00\x01binary")
    with pytest.raises(DamonGymError, match="garbage.yaml: not UTF-8"):
        read_yaml(b)
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(YamlError, match=r"bad.yaml: line \d+: not valid YAML"):
        read_yaml(bad)


def test_every_reader_uses_it(tmp_path):
    dup = "name: x\nname: y\n"
    for fname, load, err in (("s.yaml", load_scenario, ScenarioError),
                             ("t.yaml", load_topology, TopologyError),
                             ("u.yaml", load_suite, SuiteError)):
        p = tmp_path / fname
        p.write_text(dup)
        with pytest.raises(err, match="duplicate key 'name'"):
            load(p)


def test_extends_is_read_beside_the_scenario_file(tmp_path):
    (tmp_path / "parent.yaml").write_text("extends: smoke-gups\nduration: 7 s\n")
    (tmp_path / "child.yaml").write_text("extends: parent\nseed: 3\n")
    (tmp_path / "child2.yaml").write_text("extends: ./parent.yaml\nseed: 4\n")
    sc = load_scenario(tmp_path / "child.yaml")
    assert sc.duration_us == 7_000_000 and sc.seed == 3
    assert load_scenario(tmp_path / "child2.yaml").duration_us == 7_000_000
    (tmp_path / "self.yaml").write_text("extends: self\n")
    with pytest.raises(ScenarioError, match="cycle"):
        load_scenario(tmp_path / "self.yaml")


def test_a_workload_that_does_not_fit_is_refused_with_both_sizes():
    from damon_gym.simulation import Simulation

    sc = load_scenario({"workload": {"preset": "gups", "params": {"size": "600 MiB"}}})
    # tiny: 2 x 256 MiB, less each node's memmap (4 MiB)
    with pytest.raises(ValueError, match=r"needs 0\.586 GiB .* has 0\.492 GiB \(all nodes, "
                                         r"less 0\.008 GiB of unmovable kernel memory\)"):
        Simulation(sc)


@pytest.mark.parametrize("intervals, field", [
    ({"sample_us": 0, "aggr_us": 0}, "sample_us"),
    ({"sample_us": 5000, "aggr_us": 1000}, "aggr_us"),
    ({"sample_us": 5000, "aggr_us": 10**300}, "aggr_us"),
])
def test_intervals_that_would_hang_or_overflow_are_refused(intervals, field):
    from damon_gym.formats.params import DamoFormatError, load_damon_params

    doc = {"kdamonds": [{"contexts": [{"ops": "vaddr", "targets": [], "intervals": intervals,
                                       "schemes": []}]}]}
    with pytest.raises((DamoFormatError, ValueError), match=f"intervals.{field}"):
        load_damon_params(doc)


@pytest.mark.parametrize("seconds", [float("inf"), float("nan"), -1.0, 1e30])
def test_run_refuses_unbounded_or_negative_time(seconds):
    from damon_gym.simulation import Simulation

    sim = Simulation(load_scenario("smoke-gups"))
    with pytest.raises(ValueError, match="seconds"):
        sim.run(seconds)


def test_a_simulation_over_the_memory_limit_is_refused_with_the_estimate(monkeypatch):
    from damon_gym.simulation import Simulation

    monkeypatch.setenv("DAMON_GYM_MEMORY_LIMIT", "10 MiB")
    with pytest.raises(DamonGymError, match=r"would need about 0\.02 GiB \(131,072 frames"):
        Simulation(load_scenario("smoke-gups"))
    monkeypatch.setenv("DAMON_GYM_MEMORY_LIMIT", "1 GiB")
    Simulation(load_scenario("smoke-gups"))  # the default machines are far below it


@pytest.mark.parametrize("line, needle", [("duration: .inf", "duration"),
                                          ("duration: -3", "duration"),
                                          ("capacity_scale: .inf", "capacity_scale"),
                                          ("capacity_scale: 1.0e+300", "capacity_scale")])
def test_unbounded_durations_and_scales_are_refused(tmp_path, line, needle):
    p = tmp_path / "s.yaml"
    p.write_text(f"extends: smoke-gups\n{line}\n")
    with pytest.raises(ScenarioError, match=needle):
        load_scenario(p)
