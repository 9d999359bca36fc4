"""The damon-gym command line, and the real damo reading what it writes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from damo_tool import DAMO, needs_damo

from damon_gym.formats.record import read_record

FIX = Path(__file__).parent / "fixtures"


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "damon_gym.cli", *args], capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def default_record(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("rec") / "default.damon.data"
    r = run_cli("record", "--scenario", "default", "--seconds", "3", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "default" in r.stdout and "memory nodes" in r.stdout
    return out


def test_record_writes_one_snapshot_per_aggregation(default_record):
    recs = read_record(default_record)
    assert len(recs) == 1
    snaps = recs[0].snapshots
    assert len(snaps) == 30  # 3 s of 100 ms aggregation windows
    assert all(s.end_ns - s.start_ns == 100_000_000 for s in snaps)
    assert recs[0].intervals.sample_us == 5000 and recs[0].intervals.aggr_us == 100_000
    last = snaps[-1].regions
    assert (last.nr_accesses <= 20).all() and (last.nr_accesses > 0).any()


@needs_damo[0]
@needs_damo[1]
def test_real_damo_reads_our_record(default_record):
    rep = subprocess.run([str(DAMO), "report", "access", "--input", str(default_record)],
                         capture_output=True, text=True, timeout=120)
    assert rep.returncode == 0, rep.stderr
    assert "intervals: sample 5 ms aggr 100 ms" in rep.stdout
    recs = read_record(default_record)
    n_regions = sum(len(s.regions.start) for s in recs[0].snapshots)
    region_lines = [ln for ln in rep.stdout.splitlines() if " addr " in ln]
    assert len(region_lines) == n_regions  # damo shows every region of every snapshot
    assert rep.stdout.count("snapshot time:") == len(recs[0].snapshots)
    val = subprocess.run([str(DAMO), "validate", "--input", str(default_record)],
                         capture_output=True, text=True, timeout=120)
    assert val.returncode == 0, val.stdout + val.stderr


def test_record_from_a_masim_config(tmp_path):
    out = tmp_path / "zigzag.damon.data"
    r = run_cli("record", "--scenario", str(FIX / "masim" / "zigzag.cfg"), "--seconds", "2",
                "--out", str(out), "--quiet")
    assert r.returncode == 0, r.stderr
    recs = read_record(out)
    assert len(recs[0].snapshots) == 20


def test_record_with_damo_params_file(tmp_path):
    out = tmp_path / "wi.damon.data"
    r = run_cli("record", "--scenario", "default", "--seconds", "2", "--out", str(out),
                "--damon-params", str(FIX / "damo_params" / "weighted_interleave.json"))
    assert r.returncode == 0, r.stderr
    assert "bound to workload pid" in r.stdout
    assert out.exists()


@pytest.mark.parametrize("args, needle", [
    (("record", "--scenario", "no-such-scenario"), "no-such-scenario"),
    (("record", "--damon-params", "/nonexistent.json"), "nonexistent"),
    (("heatmap", "--input", "/nonexistent.data", "--out", "x.png"), "nonexistent"),
])
def test_bad_input_is_one_clear_error(args, needle, capsys):
    from damon_gym.cli import main

    assert main(list(args)) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines and all(ln.startswith("damon-gym: error:") for ln in lines)
    assert needle in err


def test_bad_input_exits_2_with_one_line_from_the_shell():
    """The same through ``python -m damon_gym.cli`` once (a process each is 1-2 s; the
    cases above call main() in-process): exit status 2, no traceback."""
    r = run_cli("record", "--scenario", "no-such-scenario")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("damon-gym: error:")
    assert "no-such-scenario" in lines[0]


def test_heatmap_png(default_record, tmp_path):
    png = tmp_path / "h.png"
    r = run_cli("heatmap", "--input", str(default_record), "--out", str(png))
    assert r.returncode == 0, r.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
