"""`damon-gym run` (built-in policies side by side) and `damon-gym headroom`, in process."""

from __future__ import annotations

import json

import pytest

from damon_gym.cli import main
from damon_gym.cli_envs import DEFAULT_POLICIES


def test_run_plays_the_default_policies_side_by_side(capsys):
    assert main(["run", "--env", "DamonGym/Interleave-v0", "--scenario", "smoke-gups"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("DamonGym/Interleave-v0, scenario smoke-gups (hash ")
    assert "seed 0" in lines[0] and "4 steps" in lines[0]
    # one row at the episode's last step (4 < 10), one column group per policy
    rows = [ln for ln in lines if ln.lstrip().startswith("4 |")]
    assert len(rows) == 1 and rows[0].count("|") == len(DEFAULT_POLICIES)
    for name in DEFAULT_POLICIES:
        summary = [ln for ln in lines if ln.startswith(f"{name} ")]
        assert len(summary) == 1, out
        assert "mean reward" in summary[0] and "p10" in summary[0]
        assert "GiB" in summary[0] and "ping-pong" in summary[0]


def test_run_policy_is_a_single_policy_shorthand(capsys):
    assert main(["run", "--scenario", "smoke-gups", "--policy", "bandwidth-weights",
                 "--quiet"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[1].startswith("bandwidth-weights  mean reward")


def test_run_list_prints_the_ids(capsys):
    assert main(["run", "--list"]) == 0
    ids = capsys.readouterr().out.splitlines()
    assert "DamonGym/Interleave-v0" in ids
    assert "DamonGym/Tiering-v0" in ids and "DamonGym/Joint-v0" in ids
    assert all(i.startswith("DamonGym/") for i in ids)


@pytest.mark.parametrize("argv, word", [
    (["--episodes", "0"], "episodes"),
    (["--episodes", "-1"], "episodes"),
    (["--policies", "random,nope"], "'nope'"),
    (["--policy", "nope"], "'nope'"),
    (["--env", "DamonGym/Nope-v0"], "damon-gym run --list"),
    (["--scenario", "no-such-scenario"], "no-such-scenario"),
])
def test_run_bad_input_is_one_error_line(capsys, argv, word):
    assert main(["run", *argv]) == 2
    cap = capsys.readouterr()
    err = cap.err.splitlines()
    assert len(err) == 1 and err[0].startswith("damon-gym: error: "), cap.err
    assert word in err[0]
    assert cap.out == ""


def test_headroom_writes_the_table(capsys, tmp_path):
    md, js = tmp_path / "h" / "headroom.md", tmp_path / "headroom.json"
    assert main(["headroom", "--scenario", "smoke-gups", "--task", "Interleave",
                 "--out", str(md), "--json", str(js)]) == 0
    cap = capsys.readouterr()
    text = md.read_text()
    assert "smoke-gups" in text and "best const" in text
    assert cap.out == text
    assert "[1/1] smoke-gups seed 0" in cap.err
    rows = json.loads(js.read_text())
    assert [(r["scenario"], r["seed"], r["task"]) for r in rows] == [
        ("smoke-gups", 0, "Interleave")]
    assert sorted(p.name for p in md.parent.iterdir()) == ["headroom.md"]  # no temp file left


def test_headroom_needs_a_suite_or_scenarios(capsys):
    assert main(["headroom", "--task", "Interleave"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("damon-gym: error: ")
