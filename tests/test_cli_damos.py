"""What DAMOS did, from the command line: the per-interval stats collector, `record
--stats-out/--plot/--topology`, `schemes` (and its sweeps), `export` (read back by the real
damo), `heatmap --nodes`, `--version` and the help."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from damo_tool import DAMO

from damon_gym.cli import main
from damon_gym.cli_damos import scenario_for
from damon_gym.damos_stats import COUNTERS, DamosStatsCollector, fmt_sz, fmt_time_s
from damon_gym.formats.params import load_damon_params
from damon_gym.memory.migration import MigrationCounters
from damon_gym.simulation import Simulation
from damon_gym.units import parse_size

ROOT = Path(__file__).resolve().parents[1]
FIX = ROOT / "tests" / "fixtures"
MEM_TIER = str(FIX / "damo_params" / "mem_tier.json")
WI = str(FIX / "damo_params" / "weighted_interleave.json")
ZIGZAG = str(FIX / "masim" / "zigzag.cfg")
SMALL_DRAM = str(ROOT / "docs" / "tuning_damos" / "small-dram.yaml")


def _check_sums(doc: dict, st: dict) -> None:
    """Per-interval counters add up to stats()'s totals; the matrices to the migrated bytes."""
    by_key = {(c["kdamond_idx"], c["context_idx"]): c for c in st["contexts"]}
    for s in doc["schemes"]:
        tot = by_key[(s["kdamond_idx"], s["context_idx"])]["schemes"][s["scheme_idx"]]
        for c in COUNTERS:
            assert sum(s["intervals"][c]) == tot[c] == s["total"][c], c
        assert len(s["intervals"]["esz"]) == len(doc["times_s"])
        assert s["intervals"]["esz"][-1] == tot["esz"]
    per = np.asarray(doc["migration"]["per_interval"])
    total = np.asarray(doc["migration"]["total"])
    assert (per.sum(axis=0) == total).all()
    assert int(total.sum()) == doc["migration"]["total_bytes"] == st["migrated_bytes"]
    assert (np.diag(total) == 0).all()


def test_migration_counters_total_churn_survives_take():
    m = MigrationCounters(2, 4096)
    m.record_counts(np.array([3, 0]), 1, 0, 0)
    assert m.take()["moved_bytes"] == 3 * 4096
    m.record_counts(np.array([0, 2]), 0, 0, 0)
    assert m.total_churn.tolist() == [[0, 3 * 4096], [2 * 4096, 0]]
    assert int(m.total_churn.sum()) == m.total_moved_bytes
    assert m.churn.tolist() == [[0, 0], [2 * 4096, 0]]  # take() still sees only its step


def test_collector_sums_and_perf_step_undisturbed():
    sc = scenario_for("smoke-zigzag", 5.0, SMALL_DRAM)
    sim = Simulation(sc, 0, damon_params=load_damon_params(WI))
    coll = DamosStatsCollector(sim)
    migrated_by_steps = 0
    for _ in range(5):
        step = sim.step(1.0)
        migrated_by_steps += step.migrated_bytes
        coll.sample(step)
    doc = coll.to_dict()
    _check_sums(doc, sim.stats())
    assert doc["migration"]["total_bytes"] > 0
    assert migrated_by_steps == doc["migration"]["total_bytes"]  # perf_step saw every byte
    assert len(doc["perf"]) == 5 and all(0 < p <= 1.0 + 1e-9 for p in doc["perf"])


def test_collector_real_bytes_on_a_scaled_machine():
    """--topology P2 for a masim config runs at capacity_scale 2^-k with the workload stood up
    2^k times; the collector's bytes are the real machine's (the scale rule)."""
    notes = []
    sc = scenario_for(ZIGZAG, 3.0, "P2", say=notes.append)
    assert sc.capacity_scale < 1 and sc.workload.scale == 1 / sc.capacity_scale
    assert notes and "capacity_scale" in notes[0]
    sim = Simulation(sc, 0, damon_params=load_damon_params(WI))
    coll = DamosStatsCollector(sim)
    for _ in range(3):
        coll.sample(sim.step(1.0))
    doc = coll.to_dict()
    _check_sums(doc, sim.stats())
    assert doc["nodes"][0]["capacity_bytes"] == 256 << 30
    # the real 200 MB/s quota caps what moves, in real bytes (simulated: 1/2^k of that)
    assert 100 << 20 < doc["migration"]["total_bytes"] <= 3 * (200 << 20) * 1.05


def test_damo_units():
    assert fmt_sz(200 << 20) == "200.000 MiB" and fmt_sz(3) == "3 B" and fmt_sz(1024) == "1024 B"
    assert fmt_sz(int(1.5 * 2**30)) == "1.500 GiB" and fmt_sz(2**64 - 1) == "max"
    assert fmt_time_s(1.5) == "1.500 s" and fmt_time_s(1) == "1 s" and fmt_time_s(0.1) == "100 ms"


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """`record` of masim zigzag on the small-DRAM machine with mem_tier.json (paddr) and with
    weighted_interleave.json (vaddr), 4 s each, with --stats-out and --plot."""
    d = tmp_path_factory.mktemp("rec")
    out = {}
    for name, params in (("tier", MEM_TIER), ("wi", WI)):
        rec, stats = d / f"{name}.damon.data", d / f"{name}.stats.json"
        import contextlib
        import io

        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            rc = main(["record", "--scenario", ZIGZAG, "--topology", SMALL_DRAM, "--seconds", "4",
                       "--damon-params", params, "--out", str(rec), "--stats-out", str(stats),
                       "--plot"])
        assert rc == 0
        out[name] = (rec, stats, buf.getvalue())
    return out


def test_record_stats_out_json_and_summary(recorded):
    rec, stats, text = recorded["tier"]
    doc = json.loads(stats.read_text())
    assert doc["format"] == "damon-gym/damos-stats-v1" and doc["topology"] == "small-dram"
    assert len(doc["times_s"]) == 4 and len(doc["schemes"]) == 2
    assert [s["action"] for s in doc["schemes"]] == ["migrate_cold", "migrate_hot"]
    for s in doc["schemes"]:
        assert sum(s["intervals"]["sz_applied"]) == s["total"]["sz_applied"]
        assert [len(g) for g in s["intervals"]["goals_current_value"]] == [1] * 4
    per = np.asarray(doc["migration"]["per_interval"])
    assert per.shape == (4, 2, 2) and per.sum() == doc["migration"]["total_bytes"]
    # damo's wording and units in the end-of-run summary
    assert "quotas: 0 ns / 200.000 MiB / " in text and "per 1 s" in text
    assert "goal 0: metric node_mem_used_bp (nid 0) target 9,970 current" in text
    assert "stats: tried" in text and "quota exceeded" in text
    assert "node-to-node migration in 4 s" in text and "from 0 dram" in text
    # rich tables are not wrapped when stdout is not a terminal
    assert "working set (last 1 s)" in text
    for png in (stats.with_suffix(".png"), stats.with_name(stats.stem + "-migration.png")):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_heatmap_nodes(recorded, tmp_path):
    from damon_gym.formats.record import read_record
    from damon_gym.heatmap import compute_heatmap, node_grid

    rec, stats, _ = recorded["wi"]
    png = tmp_path / "nodes.png"
    assert main(["heatmap", "--input", str(rec), "--out", str(png), "--nodes", str(stats)]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"
    doc = json.loads(stats.read_text())
    records = read_record(rec)
    grid = node_grid(compute_heatmap(records, 20, 20), doc["node_map"], records[0])
    assert set(np.unique(grid).tolist()) <= {-2, -1, 0, 1} and (grid != -1).mean() > 0.5
    # a stats file without a node map is refused with one clear line
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    assert main(["heatmap", "--input", str(rec), "--out", str(png), "--nodes", str(bad)]) == 2


def test_schemes_table(capsys, tmp_path):
    rc = main(["schemes", "--scenario", ZIGZAG, "--topology", SMALL_DRAM, "--damon-params",
               MEM_TIER, "--seconds", "3", "--plot", str(tmp_path / "s.png"),
               "--stats-out", str(tmp_path / "s.json")])
    assert rc == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    head = next(i for i, ln in enumerate(lines) if ln.startswith("scheme "))
    assert "sz_ops_filter_passed" in lines[head] and "esz (last)" in lines[head]
    assert lines[head + 2].startswith("0.0.0   migrate_cold")
    assert lines[head + 3].startswith("1.0.0   migrate_hot")
    assert "effective quota over time:" in out
    assert (tmp_path / "s.png").exists() and (tmp_path / "s-migration.png").exists()
    assert len(json.loads((tmp_path / "s.json").read_text())["times_s"]) == 3


def _sweep_rows(out: str, field: str) -> list[str]:
    return [ln for ln in out.splitlines() if ln.startswith(field + "=")]


@pytest.mark.parametrize("argv, field, n", [
    (["--scenario", "smoke-zigzag", "--damon-params", WI, "--sweep", "dests=1:1,3:1,1:0"],
     "dests", 3),
    (["--scenario", "smoke-zigzag", "--damon-params", WI, "--sweep", "quota.sz=10MiB,1GiB"],
     "quota.sz", 2),
    (["--scenario", "smoke-zigzag", "--damon-params", WI, "--sweep", "quota.ms=1,1000"],
     "quota.ms", 2),
    (["--scenario", ZIGZAG, "--topology", SMALL_DRAM, "--damon-params", MEM_TIER,
      "--scheme", "1.0.0", "--sweep", "goal.target=99%,9990"], "goal.target", 2),
])
def test_schemes_sweep_one_row_per_value(capsys, tmp_path, argv, field, n):
    rc = main(["schemes", "--seconds", "3", *argv, "--plot", str(tmp_path / "sw.png")])
    assert rc == 0
    out = capsys.readouterr().out
    rows = _sweep_rows(out, field)
    assert len(rows) == n, out
    assert "mean X/X*" in out and "effective quota over time" in out
    assert (tmp_path / "sw.png").exists()
    if field == "dests":
        migrated = [r.split()[2:4] for r in rows]
        assert migrated[2] == ["0", "B"] and migrated[0] != ["0", "B"]  # 1:0 moves nothing
    if field == "quota.sz":
        small, big = (parse_size(" ".join(r.split()[2:4])) for r in rows)
        assert 0 < small <= 10 * 3 << 20 < big  # 10 MiB per 1 s quota interval caps it


def test_bad_sweep_is_one_clear_error(capsys):
    assert main(["schemes", "--sweep", "bogus=1,2", "--seconds", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("damon-gym: error: --sweep: unknown field 'bogus'")


@pytest.mark.damo
@pytest.mark.skipif(not DAMO.exists(), reason=f"the damo executable is missing ({DAMO})")
def test_export_read_back_by_real_damo(capsys, tmp_path):
    out = tmp_path / "tuned.json"
    rc = main(["export", "--scenario", "smoke-zigzag", "--topology", SMALL_DRAM,
               "--damon-params", MEM_TIER, "--seconds", "3", "--out", str(out)])
    assert rc == 0
    assert "effective quota" in capsys.readouterr().out
    quota = json.loads((tmp_path / "tuned.quota.json").read_text())
    assert quota["time_s"] == 3.0 and len(quota["schemes"]) == 2
    r = subprocess.run([str(DAMO), "args", "damon", str(out), "--format", "json"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    back = json.loads(r.stdout)
    schemes = [s for kd in back["kdamonds"] for c in kd["contexts"] for s in c["schemes"]]
    assert [s["action"] for s in schemes] == ["migrate_cold", "migrate_hot"]
    for s, q in zip(schemes, quota["schemes"], strict=True):
        assert parse_size(s["quotas"]["effective_sz_bytes"]) == q["effective_sz_bytes"]
        assert parse_size(s["quotas"]["sz_bytes"]) == 200 << 20
    assert [g["metric"] for s in schemes for g in s["quotas"]["goals"]] == \
        ["node_mem_free_bp", "node_mem_used_bp"]
    assert any(q["effective_sz_bytes"] > 0 for q in quota["schemes"])


def test_version_examples_and_help_for_every_option(capsys):
    import argparse

    from damon_gym.cli import build_parser

    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.startswith("damon-gym ")
    p = build_parser()
    subs = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
    for name, sp in subs.choices.items():
        if name not in ("record", "heatmap", "run", "headroom", "model", "scenarios", "schemes",
                        "export"):
            continue  # commands other engineers own
        assert sp.epilog and "damon-gym" in sp.epilog, name
        for a in sp._actions:
            if a.option_strings and a.dest != "help":
                assert a.help, f"{name} {a.option_strings}"


