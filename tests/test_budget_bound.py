"""scripts/budget_bound.py: the best per-scenario mix of evaluated plays within a reference
agent's migrated bytes (issue 12's analysis of its bar)."""

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "budget_bound.py"


def _bound():
    spec = importlib.util.spec_from_file_location("budget_bound", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.bound


def _rows():
    # (scenario, agent) -> [(perf_norm, GiB) per seed]
    plays = {("a", "ref"): [(0.80, 2.0), (0.80, 2.0)], ("b", "ref"): [(0.90, 2.0)],
             ("a", "hog"): [(0.96, 9.0), (0.96, 9.0)], ("b", "hog"): [(0.99, 9.0)],
             ("a", "idle"): [(0.79, 0.0), (0.79, 0.0)], ("b", "idle"): [(0.89, 0.0)],
             ("a", "lean"): [(0.84, 3.0), (0.84, 3.0)], ("b", "lean"): [(0.95, 3.0)]}
    return [{"scenario_name": s, "agent": a, "perf_norm_mean": p, "migrated_gib": g}
            for (s, a), v in plays.items() for p, g in v]


def test_the_best_mix_keeps_within_the_reference_bytes():
    res = _bound()(_rows(), "ref")
    assert res["budget_gib"] == pytest.approx(2.0)
    # 3 episodes (a twice), 6 GiB in all: lean on both needs 9, lean on a with idle on b
    # exactly 6 (0.865), idle on a with lean on b 3 (0.866, the best); hog never fits
    assert {s: c["agent"] for s, c in res["choice"].items()} == {"a": "idle", "b": "lean"}
    assert res["best_gib"] <= 2.0 + 1e-9
    want = max(
        (math.sqrt(pa * pb), ga, gb)
        for pa, ga in ((0.80, 2.0), (0.96, 9.0), (0.79, 0.0), (0.84, 3.0))
        for pb, gb in ((0.90, 2.0), (0.99, 9.0), (0.89, 0.0), (0.95, 3.0))
        if (2 * ga + gb) / 3 <= 2.0)[0]
    assert res["best_geomean"] == pytest.approx(want)
    assert res["best_over_reference"] > 1.0


def test_cli_prints_the_bound_and_refuses_an_unknown_reference(tmp_path):
    f = tmp_path / "results.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in _rows()))
    p = subprocess.run([sys.executable, str(SCRIPT), str(f), "--reference", "ref"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "best mix within that budget" in p.stdout and "b: lean" in p.stdout
    p = subprocess.run([sys.executable, str(SCRIPT), str(f), "--reference", "ref", "--exclude",
                        "lean"], capture_output=True, text=True)
    assert p.returncode == 0 and "lean" not in p.stdout.split("budget:")[-1]
    p = subprocess.run([sys.executable, str(SCRIPT), str(f), "--reference", "b99"],
                       capture_output=True, text=True)
    assert p.returncode != 0 and "--reference: 'b99' is not in the results" in p.stderr
