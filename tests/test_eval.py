"""`damon-gym eval` and `damon-gym replay` on the smoke suite: rows and their documented keys,
resume after a kill, replay, the summary's numbers, plots, and the Ray backend."""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from damon_gym.cli import main
from damon_gym.evaluation.eval import (
    Job,
    ResultsFile,
    agent_api,
    b2_name,
    evaluate,
    resolve_agents,
    row_key,
)
from damon_gym.evaluation.summary import t975

DOC = Path(__file__).parents[1] / "docs" / "results_format.md"
SMOKE = ("smoke-gups", "smoke-stream", "smoke-zigzag")
#: keys that differ between two runs of the same episodes
VOLATILE = ("wall_s", "git_sha")


def _agents() -> list[str]:
    names = agent_api()[0]()
    b2 = b2_name(names)
    assert b2 is not None and "random" in names, names
    return [b2, "random"]


def _eval(out: Path, *extra: str, agents: list[str] | None = None) -> int:
    return main(["eval", "--task", "Interleave", "--agents", ",".join(agents or _agents()),
                 "--out", str(out), *extra])


def _stable(row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in VOLATILE}


def _documented_keys() -> set[str]:
    return set(re.findall(r"^\| `([a-z_A-Z0-9]+)` \|", DOC.read_text(), flags=re.M))


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """One eval of two agents on the smoke suite, 1 seed, no plots."""
    out = tmp_path_factory.mktemp("eval") / "smoke"
    assert _eval(out, "--suite", "smoke", "--seeds", "1", "--no-plots") == 0
    return out, ResultsFile.read(out / "results.jsonl")


def test_rows_cover_every_episode_once_with_the_documented_keys(smoke_run):
    out, rows = smoke_run
    agents = _agents()
    assert sorted(row_key(r) for r in rows) == sorted(
        (a, "Interleave", sc, 0) for a in agents for sc in SMOKE)
    doc = _documented_keys() - {"scenario_spec"}
    for r in rows:
        assert set(r) == doc, set(r) ^ doc
        assert r["env_id"] == "DamonGym/Interleave-v0" and r["steps"] >= 1
        assert len(r["util_mean"]) == len(r["latency_mean_ns"]) == len(r["final_weights"]) == 2
        assert 0.0 <= r["perf_norm_p10"] <= r["perf_norm_mean"] <= 1.0
        assert r["python"] == ".".join(map(str, sys.version_info[:3]))
        assert r["numpy"] == np.__version__
    b2 = b2_name(agents)
    base = {r["scenario"]: r["perf_norm_mean"] for r in rows if r["agent"] == b2}
    for r in rows:
        assert r["speedup_vs_B2"] == pytest.approx(r["perf_norm_mean"] / base[r["scenario"]])
    assert (out / "summary.md").exists() and (out / "summary.json").exists()


def test_summary_matches_a_hand_computation(tmp_path):
    out = tmp_path / "two-seeds"
    assert _eval(out, "--scenario", "smoke-gups", "--scenario", "smoke-stream", "--seeds", "2",
                 "--no-plots") == 0
    rows = ResultsFile.read(out / "results.jsonl")
    assert len(rows) == 2 * 2 * 2
    summary = json.loads((out / "summary.json").read_text())
    b2 = b2_name(_agents())
    assert summary["b2"] == b2
    for s in summary["agents"]:
        rs = [r for r in rows if r["agent"] == s["agent"]]
        for key, col in (("perf_norm_mean", "perf_norm_geomean"), ("speedup_vs_B2", "vs_B2")):
            per_seed = []
            for seed in (0, 1):
                v = [r[key] for r in rs if r["seed"] == seed]
                per_seed.append(math.exp(sum(math.log(x) for x in v) / len(v)))
            m = sum(per_seed) / 2
            sd = math.sqrt(sum((x - m) ** 2 for x in per_seed) / 1)
            assert s[col]["values"] == pytest.approx(per_seed)
            assert s[col]["mean"] == pytest.approx(m)
            assert s[col]["ci95"] == pytest.approx(12.706 * sd / math.sqrt(2))
        assert s["reward_mean"] == pytest.approx(np.mean([r["reward_mean"] for r in rs]))
        assert s["migrated_gib_mean"] == pytest.approx(np.mean([r["migrated_gib"] for r in rs]))
    best = max(summary["agents"], key=lambda s: s["perf_norm_geomean"]["mean"])
    assert summary["best"]["perf_norm_geomean"] == best["agent"]
    md = (out / "summary.md").read_text()
    line = next(ln for ln in md.splitlines() if ln.startswith(f"| {best['agent']} |"))
    assert f"**{best['perf_norm_geomean']['mean']:.3f} ± " in line
    assert t975(1) == 12.706 and t975(10_000) == 1.96
    # per scenario: each agent's mean perf_norm and migrated GiB over the two seeds, and the
    # machine (the held-out topologies read apart from the geomean)
    by = {row["scenario"]: row for row in summary["by_scenario"]}
    assert set(by) == {"smoke-gups", "smoke-stream"}
    for sc, row in by.items():
        assert row["topology"]  # the rows name their machine
        for a, cell in row["agents"].items():
            rs = [r for r in rows if r["agent"] == a and r["scenario"] == sc]
            assert cell["episodes"] == 2
            assert cell["perf_norm_mean"] == pytest.approx(np.mean([r["perf_norm_mean"] for r in rs]))
            assert cell["migrated_gib_mean"] == pytest.approx(np.mean([r["migrated_gib"] for r in rs]))
            assert {r["topology"] for r in rs} == {row["topology"]}
    assert "### Per scenario" in md and f"| smoke-gups ({by['smoke-gups']['topology']}) |" in md


def test_resume_after_a_kill_writes_no_duplicate_and_completes_the_set(smoke_run, tmp_path):
    _, full = smoke_run
    out = tmp_path / "killed"
    out.mkdir()
    lines = [json.dumps(r) for r in full]
    # a run killed while writing its third row: two rows and half a line
    (out / "results.jsonl").write_text("\n".join(lines[:2]) + "\n" + lines[2][:40])
    assert len(ResultsFile.read(out / "results.jsonl")) == 2
    # without --resume an existing results file is refused
    assert _eval(out, "--suite", "smoke", "--seeds", "1", "--no-plots") == 2
    assert _eval(out, "--suite", "smoke", "--seeds", "1", "--no-plots", "--resume") == 0
    text = (out / "results.jsonl").read_text()
    assert text.endswith("\n")
    rows = [json.loads(ln) for ln in text.splitlines()]  # every line whole
    keys = [row_key(r) for r in rows]
    assert len(keys) == len(set(keys)) == len(full)
    assert rows[:2] == full[:2]  # the rows there were kept as they were
    want = {row_key(r): _stable(r) for r in full}
    assert {row_key(r): _stable(r) for r in rows} == want
    # a second resume has nothing to do
    assert _eval(out, "--suite", "smoke", "--seeds", "1", "--no-plots", "--resume") == 0
    assert (out / "results.jsonl").read_text() == text


def test_replay_reproduces_the_rows_and_reports_a_tampered_one(smoke_run, tmp_path, capsys):
    out, rows = smoke_run
    assert main(["replay", str(out / "results.jsonl")]) == 0
    assert f"{len(rows)}/{len(rows)} rows reproduced exactly" in capsys.readouterr().out
    bad = [dict(r) for r in rows]
    bad[1]["reward_mean"] += 1e-12
    p = tmp_path / "results.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in bad))
    assert main(["replay", str(p)]) == 1
    text = capsys.readouterr().out
    diff = [ln for ln in text.splitlines() if ln.startswith("differs:")]
    assert len(diff) == 1
    assert f"{bad[1]['agent']} Interleave {bad[1]['scenario']} seed 0" in diff[0]


def test_plots_and_heatmap_are_written(tmp_path):
    out = tmp_path / "plots"
    agents = _agents()
    assert _eval(out, "--scenario", "smoke-gups", "--seeds", "1", "--heatmap",
                 "--heatmap-agent", "random", agents=agents) == 0
    for name in ("throughput.png", "placement.png", "heatmap.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    heat = ResultsFile.read(out / "heatmap.jsonl")
    assert len(heat) == 9 * 2
    assert {r["scenario_spec"]["background_cores"] for r in heat} == {0, 4, 8}
    assert len({r["scenario_hash"] for r in heat}) == 9


def test_bad_input_is_one_error_line(tmp_path, capsys, monkeypatch):
    assert _eval(tmp_path / "x", "--suite", "smoke", "--agents", "no-such-agent") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no-such-agent" in err[0]
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    assert _eval(tmp_path / "y", "--suite", "smoke", "--backend", "ray") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install" in err[0] and "ray" in err[0]


def test_agent_specs_with_an_argument_are_accepted_and_checked():
    """NAME:ARG as the registry defines it (instant-oracle:0.1 is one agent, not a model)."""
    assert resolve_agents("instant-oracle:0.1,b4-colloid,b2m-bw-weights-migrate:50") == [
        "instant-oracle:0.1", "b4-colloid", "b2m-bw-weights-migrate:50"]
    for bad, says in (("instant-oracle:x", "positive number"), ("instant-oracle:-1", "positive"),
                      ("b4-colloid:2", "takes no argument"), ("nope:2", "not registered")):
        with pytest.raises(ValueError, match=says):
            resolve_agents(bad)


@pytest.mark.slow
def test_ray_backend_gives_the_local_rows(smoke_run, tmp_path):
    pytest.importorskip("ray")
    _, local = smoke_run
    # the two agents' episodes of one scenario (a row's speedup_vs_B2 needs B2's episode),
    # one per Ray worker at once: the backend only carries jobs and rows, the same for every
    # job, and Ray's start (about 10 s) is most of the cost, so the other four episodes of
    # the smoke run would only add time
    local = [r for r in local if r["scenario"] == local[0]["scenario"]]
    assert len({r["agent"] for r in local}) == len(local) == 2
    jobs = [Job(r["agent"], r["task"], r["scenario"], r["seed"]) for r in local]
    rows = evaluate(jobs, tmp_path / "results.jsonl", backend="ray", ray_num_cpus=2,
                    progress=False)
    assert {row_key(r): _stable(r) for r in rows} == {row_key(r): _stable(r) for r in local}


def test_a_real_sigkill_loses_no_finished_row(tmp_path):
    """SIGKILL a running eval once it has written some rows; every line on file is whole but
    maybe the last, and --resume completes the set without duplicates."""
    import os
    import signal
    import subprocess
    import time

    out = tmp_path / "sigkill"
    agents = agent_api()[0]()[:8]
    cmd = [sys.executable, "-m", "damon_gym.cli", "eval", "--task", "Interleave", "--suite",
           "smoke", "--agents", ",".join(agents), "--out", str(out), "--no-plots"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = out / "results.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if results.exists() and results.read_text().count("\n") >= 3:
            break
        time.sleep(0.02)
    killed = proc.poll() is None
    if killed:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = ResultsFile.read(results)
    assert len(before) >= 3
    assert _eval(out, "--suite", "smoke", "--seeds", "1", "--no-plots", "--resume",
                 agents=agents) == 0
    rows = [json.loads(ln) for ln in results.read_text().splitlines()]
    keys = [row_key(r) for r in rows]
    assert len(keys) == len(set(keys)) == len(agents) * len(SMOKE)
    assert rows[:len(before)] == before
