"""The CLI's error contract (issue 13): bad input is one `damon-gym: error:` line per problem
and exit 2, long messages are cut, an unexpected error is one line saying where to report it
and exit 1, never a traceback."""

from __future__ import annotations

import pytest

from damon_gym import cli
from damon_gym.errors import DamonGymError
from damon_gym.scenario import ScenarioError


def _run(monkeypatch, capsys, exc):
    def boom(args):
        raise exc

    monkeypatch.setattr(cli, "cmd_model", boom)
    rc = cli.main(["model"])
    return rc, capsys.readouterr().err.splitlines()


def test_bad_input_is_one_line_per_problem_and_exit_2(monkeypatch, capsys):
    rc, err = _run(monkeypatch, capsys, ScenarioError("a.yaml: x: bad\na.yaml: y: bad"))
    assert rc == 2 and err == ["damon-gym: error: a.yaml: x: bad", "damon-gym: error: a.yaml: y: bad"]
    assert issubclass(ScenarioError, DamonGymError) and issubclass(DamonGymError, ValueError)


def test_huge_messages_are_cut(monkeypatch, capsys):
    rc, err = _run(monkeypatch, capsys, ValueError("x" * 10_000 + "\n" + "\n".join("p" * 20)))
    assert rc == 2 and len(err) == cli.MAX_ERROR_LINES + 1
    assert all(len(line) < cli.MAX_ERROR_CHARS + 80 for line in err)
    assert "10,000 characters" in err[0] and "more problems" in err[-1]


def test_an_unexpected_error_is_one_line_and_exit_1(monkeypatch, capsys):
    monkeypatch.delenv("DAMON_GYM_DEBUG", raising=False)
    rc, err = _run(monkeypatch, capsys, RuntimeError("kaboom"))
    assert rc == 1 and len(err) == 1
    assert err[0].startswith("damon-gym: internal error: RuntimeError: kaboom") and "report" in err[0]


def test_debug_shows_the_traceback(monkeypatch, capsys):
    monkeypatch.setenv("DAMON_GYM_DEBUG", "1")
    with pytest.raises(RuntimeError):
        _run(monkeypatch, capsys, RuntimeError("kaboom"))


def test_an_inline_topology_error_is_one_line_per_problem():
    from damon_gym.memory.topology import TopologyError
    from damon_gym.scenario import load_scenario
    from damon_gym.simulation import Simulation

    topo = {"name": "x", "cpu_node": 0, "nodes": [
        {"name": "a", "kind": "dram", "capacity": "1 GiB", "bw_read_gbps": "nan",
         "idle_latency_ns": 100},
        {"name": "b", "kind": "cxl", "capacity": "1 GiB", "bw_read_gbps": 1, "idle_latency_ns": 9}]}
    with pytest.raises(TopologyError) as e:
        Simulation(load_scenario({"topology": topo, "workload": {"preset": "gups",
                                                                   "params": {"size": "64 MiB"}}}))
    assert str(e.value) == "scenario: topology: nodes[0].bw_read_gbps: must be a finite number (got 'nan')"


@pytest.mark.parametrize("ops, fields, needle", [
    ("vaddr", {"dests": [{"id": 0, "weight": 1}, {"id": 7, "weight": 1}]}, "dests[1]: node 7"),
    ("vaddr", {"target_nid": 9}, "target_nid: node 9"),
    ("paddr", {"dests": [{"id": 1, "weight": 1}]}, "dests: paddr migration uses target_nid only"),
])
def test_useless_destinations_run_with_a_warning_naming_the_field(ops, fields, needle):
    from damon_gym.errors import DamonGymWarning
    from damon_gym.formats.params import load_damon_params
    from damon_gym.scenario import load_scenario
    from damon_gym.simulation import Simulation

    scheme = {"action": "migrate_hot", "access_pattern": {
        "sz_bytes": {"min": "0 B", "max": "max"}, "nr_accesses": {"min": "0 %", "max": "max"},
        "age": {"min": "0 ns", "max": "max"}}, **fields}
    targets = [{"pid": None, "regions": []}] if ops == "paddr" else []
    doc = {"kdamonds": [{"contexts": [{"ops": ops, "targets": targets, "schemes": [scheme]}]}]}
    with pytest.warns(DamonGymWarning, match=r"schemes\[0\]\." + needle.replace("[", r"\[").replace("]", r"\]")):
        sim = Simulation(load_scenario("smoke-gups"), damon_params=load_damon_params(doc))
    sim.run(1.0)  # and it runs, as the kernel would


@pytest.mark.parametrize("argv, needle", [
    (["record", "--scenario", "smoke-gups", "--seconds", "0"], "--seconds: 0.0"),
    (["record", "--scenario", "smoke-gups", "--seconds", "-5"], "--seconds: -5.0"),
    (["record", "--scenario", "smoke-gups", "--seconds", "1e30"], "at most 86,400"),
    (["record", "--scenario", "smoke-gups", "--seconds", "inf"], "--seconds: inf"),
])
def test_record_refuses_durations_it_cannot_honour(argv, needle, tmp_path, capsys):
    rc = cli.main([*argv, "--out", str(tmp_path / "r.damon.data"), "--quiet"])
    err = capsys.readouterr().err.splitlines()
    assert rc == 2 and len(err) == 1 and needle in err[0]
    assert not list(tmp_path.iterdir())  # nothing written


def test_record_refuses_parameters_without_a_context_and_heatmap_a_missing_target(tmp_path, capsys):
    empty = tmp_path / "empty.json"
    empty.write_text('{"kdamonds": []}')
    rec = tmp_path / "r.damon.data"
    assert cli.main(["record", "--scenario", "smoke-gups", "--seconds", "1", "--damon-params",
                     str(empty), "--out", str(rec), "--quiet"]) == 2
    assert "no DAMON context" in capsys.readouterr().err and not rec.exists()
    assert cli.main(["record", "--scenario", "smoke-gups", "--seconds", "2", "--out", str(rec),
                     "--quiet"]) == 0
    assert cli.main(["heatmap", "--input", str(rec), "--out", str(tmp_path / "h.png"),
                     "--target", "5"]) == 2
    assert "target: 5 is not a target of the record; allowed: 0..0" in capsys.readouterr().err


def test_a_streamed_record_equals_the_in_memory_one_and_keeps_no_snapshot(tmp_path):
    """record streams snapshots to disk (issue 13: memory flat in the duration): the file is
    the same JSON as write_record of the same records, and the recorder holds none of them."""
    import json
    import zlib

    from damon_gym.formats.record import write_record
    from damon_gym.formats.record_stream import RecordStreamWriter
    from damon_gym.recorder import Recorder
    from damon_gym.scenario import load_scenario
    from damon_gym.simulation import Simulation

    def record(stream):
        sim = Simulation(load_scenario("smoke-zigzag"), 0)
        rec = Recorder(sim, stream=stream)
        sim.run(3.0)
        return rec

    mem = record(None)
    write_record(tmp_path / "a.damon.data", mem.result())
    with RecordStreamWriter(tmp_path / "b.damon.data") as w:
        streamed = record(w)
        assert all(not r.snapshots for r in streamed.records.values())
    a, b = ((tmp_path / n).read_bytes() for n in ("a.damon.data", "b.damon.data"))
    assert json.loads(zlib.decompress(a)) == json.loads(zlib.decompress(b))
    assert streamed.summary_rows() == mem.summary_rows()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.damon.data", "b.damon.data"]


def test_an_interrupted_stream_leaves_nothing(tmp_path):
    from damon_gym.formats.record_stream import RecordStreamWriter
    from damon_gym.recorder import Recorder
    from damon_gym.scenario import load_scenario
    from damon_gym.simulation import Simulation

    with pytest.raises(KeyboardInterrupt):
        with RecordStreamWriter(tmp_path / "c.damon.data") as w:
            sim = Simulation(load_scenario("smoke-zigzag"), 0)
            Recorder(sim, stream=w)
            sim.run(1.0)
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_a_module_prefixed_id_makes_in_a_fresh_interpreter():
    """gym.make("damon_gym:DamonGym/...") imports the package itself and registers the ids.
    (That importing the simulator loads no gymnasium, and that the ids register whichever of
    damon_gym and gymnasium comes first, is tests/test_layers.py's, which also checks what
    each import loads.)"""
    import subprocess
    import sys

    code = "import gymnasium as gym; print(gym.make('damon_gym:DamonGym/Joint-v0').spec.id)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip().splitlines()[-1] == "DamonGym/Joint-v0"
