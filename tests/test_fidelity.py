"""The simulator against real kernels, without qemu: the fixtures under
tests/fixtures/kernel/ are ``damon-gym kernel-run`` outputs (3 runs each of the three kernel-*
scenarios on Debian 6.12, 6.17 and the newest 7.x, made on this project's machine; the
command and kernel are in each kernel_run.json), and ``damon-gym fidelity``'s comparison runs
here on them.

Every metric must pass or be listed in KNOWN_DISAGREEMENTS with what it is; the list is checked
both ways, so a new disagreement fails the test and a fixed one fails it too until it is taken
off the list (docs/fidelity.md carries the same table with the figures)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from damon_gym.cli import main
from damon_gym.fidelity import HarnessError
from damon_gym.fidelity.compare import compare, hot_estimate, timeline_metrics
from damon_gym.fidelity.console import parse_console
from damon_gym.fidelity.report import markdown
from damon_gym.fidelity.verdict import TOLERANCES, _stats, judge

FIX = Path(__file__).parent / "fixtures" / "kernel"
SCENARIOS = ("kernel-vaddr-stat", "kernel-paddr-migrate", "kernel-vaddr-dests",
             "kernel-paddr-goal")
SERIES = ("6.12", "6.17", "7.x")
SIM_RUNS = 3

PACE = ("bench: the guest ran DAMON at 78-92 % of the pace its intervals ask (qemu TCG, no "
        "KVM, on the 2-core host with nothing else running; the first fixtures, at load 6-10, "
        "ran at 35-67 %), so counts per run (applies, the stat scheme's nr/sz_tried) are that "
        "much lower; tried_per_apply, the pace-free view, passes")
SPAN = ("issue 14 #3, the vaddr span: the kernel's three-region layout covers 0.5-1.2 GiB; "
        "its mmap-area and stack part is 256-258 MiB like the simulator's, the rest is the gap "
        "from the static runner's text (4 MiB) to its randomly placed brk heap, which the "
        "simulator's processes (no text mapping) do not have; the stat scheme, which tries "
        "every region, tries that much more each apply (sz_tried)")
DESTS_TRIES = ("not separated yet: on 7.3 with dests, migrate_hot tries the same 640 MiB in 10 s "
               "as the simulator but in 54-61 pieces against 30-42: the kernel's regions it "
               "walks are smaller (split by the quota's end or finer around the hot block); "
               "what lands where agrees (hot pages 3,277 / 3,277)")
FIRST_WINDOW_COLD = ("issue 14 #2 closed, what is left: in 6.17's unthrottled first window "
                     "(`kernel: \"6.17\"`) the kernel promotes 77-145 MiB, the hot block and "
                     "16-30 k cold pages with it, the simulator 38-106 MiB with 3-21 k cold "
                     "pages: how much cold memory rides along depends on the region layout of "
                     "the first second, which 1 s snapshots do not show; the hot pages agree")

#: (scenario, kernel series, metric) -> why the simulator and that kernel disagree; made from
#: the fixtures (sim seeds 0..2), checked both ways by the test below
KNOWN_DISAGREEMENTS: dict[tuple[str, str, str], str] = {
    **{(sc, k, m): PACE for sc, k, m in [
        ("kernel-vaddr-stat", "6.12", "applies"),
        ("kernel-paddr-migrate", "6.12", "applies"),
        ("kernel-paddr-migrate", "6.17", "applies"),
        ("kernel-paddr-migrate", "7.x", "applies"),
        ("kernel-paddr-migrate", "7.x", "kd0.s0:stat.nr_tried"),
        ("kernel-vaddr-dests", "6.17", "applies"),
        ("kernel-vaddr-dests", "7.x", "applies"),
        ("kernel-paddr-goal", "6.17", "applies"),
        ("kernel-paddr-goal", "6.17", "kd0.s0:stat.nr_tried"),
        ("kernel-paddr-goal", "6.17", "kd0.s0:stat.sz_tried"),
        ("kernel-paddr-goal", "7.x", "applies"),
    ]},
    **{(sc, k, m): SPAN for sc, k in [("kernel-vaddr-stat", "6.12"), ("kernel-vaddr-stat", "7.x"),
                                      ("kernel-vaddr-dests", "6.17"),
                                      ("kernel-vaddr-dests", "7.x")]
       for m in ("target_bytes", "kd0.s0:stat.sz_tried")},
    ("kernel-vaddr-dests", "7.x", "kd0.s1:migrate_hot.nr_tried"): DESTS_TRIES,
    **{("kernel-paddr-goal", "6.17", m): FIRST_WINDOW_COLD
       for m in ("kd0.s1:migrate_hot.sz_applied", "cold_on_n0", "cold_on_n1")},
}


def _dirs(scenario: str) -> list[Path]:
    return [FIX / scenario / s for s in SERIES]


@pytest.fixture(scope="module")
def results() -> dict[str, dict]:
    return {sc: compare(_dirs(sc), sc, SIM_RUNS) for sc in SCENARIOS}


def test_fixtures_name_their_kernel_and_command():
    for sc in SCENARIOS:
        for d in _dirs(sc):
            meta = json.loads((d / "kernel_run.json").read_text())
            assert meta["scenario"] == sc and meta["kernel"].startswith(
                meta["series"].replace(".x", "."))
            assert meta["command"].startswith("damon-gym kernel-run --scenario " + sc)
            assert len(meta["runs"]) in (1, 3)  # a refused scenario stops after one boot


def test_fixture_logs_parse_to_the_stored_runs():
    for sc in SCENARIOS:
        for d in _dirs(sc):
            for log in sorted((d / "logs").glob("run*.log.gz")):
                run = parse_console(gzip.decompress(log.read_bytes()).decode(errors="replace"))
                stored = json.loads((d / log.name.replace(".log.gz", ".json")).read_text())
                assert run["snapshots"] == stored["snapshots"]
                assert run["stats"] == stored["stats"] and run["kernel"] == stored["kernel"]


def test_every_metric_passes_or_is_a_known_disagreement(results):
    seen_fail, report = set(), []
    for sc, res in results.items():
        for k in res["kernels"]:
            for row in k["rows"]:
                key = (sc, k["series"], row["metric"])
                if row["verdict"] == "FAIL":
                    seen_fail.add(key)
                    report.append(f"{key}: real {row['real']['median']} sim {row['sim']['median']}")
    new = sorted(seen_fail - set(KNOWN_DISAGREEMENTS))
    fixed = sorted(set(KNOWN_DISAGREEMENTS) - seen_fail)
    print("\n".join(report))  # the disagreements, shown with -s
    assert not new, f"new disagreements with the real kernels: {new}"
    assert not fixed, f"no longer disagreeing (take them off KNOWN_DISAGREEMENTS): {fixed}"


def test_refusals_are_reported_not_compared(results):
    dests = {k["series"]: k for k in results["kernel-vaddr-dests"]["kernels"]}
    r612 = dests["6.12"]
    assert r612["refused"] and "dests" in r612["refused"]["path"]
    assert all(row["verdict"] == "n/a" for row in r612["rows"])
    assert "refused the scenario" in markdown(results["kernel-vaddr-dests"], None)


def test_report_lists_every_kernel_and_verdict(results):
    md = markdown(results["kernel-paddr-migrate"], "x.png")
    for k in results["kernel-paddr-migrate"]["kernels"]:
        assert f"## {k['kernel']}" in md
    assert "| metric | real kernel | simulator | allowed | verdict |" in md and "![" in md


def test_judge_uses_the_kernels_own_spread_as_floor():
    real = _stats([10.0, 20.0, 30.0])
    # allowed = max(abs 3, 30 % of the median 20 = 6, the real spread 30 - 10 = 20)
    assert judge("regions", real, _stats([40.0]))["verdict"] == "pass"   # |40 - 20| = 20
    assert judge("regions", real, _stats([40.5]))["verdict"] == "FAIL"
    assert judge("regions", real, _stats([0.0]))["verdict"] == "pass"
    tight = _stats([100.0, 100.0])
    assert judge("regions", tight, _stats([130.0]))["verdict"] == "pass"  # 30 % of 100
    assert judge("regions", tight, _stats([131.0]))["verdict"] == "FAIL"
    assert judge("regions", _stats([float("nan")]), tight)["verdict"] == "n/a"
    # a time that never came (inf) matches only another "never"
    inf = float("inf")
    assert judge("t_migrated_s", _stats([1.0, 2.0, inf]), _stats([inf]))["verdict"] == "FAIL"
    assert judge("t_migrated_s", _stats([inf, inf, 6.4]), _stats([inf]))["verdict"] == "pass"
    assert judge("t_migrated_s", _stats([inf]), _stats([1.0]))["verdict"] == "FAIL"
    assert judge("t_migrated_s", _stats([2.0, 3.0]), _stats([4.5]))["verdict"] == "pass"  # 2 s
    assert judge("t_migrated_s", _stats([2.0, 3.0]), _stats([4.6]))["verdict"] == "FAIL"
    assert set(TOLERANCES) >= {"regions", "wss_p50", "hot_boundary_err", "hot_nr_accesses",
                               "sz_applied", "hot_on", "cold_on", "t_found_s", "t_migrated_s"}


def test_hot_estimate_ignores_small_hot_regions_outside_the_block():
    import numpy as np

    regs = np.array([[0, 100, 0, 5], [100, 200, 18, 1], [200, 300, 12, 1], [300, 400, 2, 9],
                     [1000, 1001, 20, 0]])
    assert hot_estimate(regs, (100, 300))[:2] == (100, 300)
    assert hot_estimate(regs)[:2] == (1000, 1001)
    tl = {"snaps": {0: [(5.0, regs)]}, "stats_end": {}, "actions": {}, "pages": [],
          "hot_range": (100, 300)}
    m = timeline_metrics(tl, vaddr=True, node0_share=None)
    assert m["hot_boundary_err"] == 0 and m["t_found_s"] == 5.0 and m["regions"] == 5


def test_fidelity_cli_refuses_bad_input(tmp_path, capsys):
    assert main(["fidelity", "--real", str(tmp_path), "--scenario", "kernel-vaddr-stat"]) == 2
    assert "no kernel_run.json" in capsys.readouterr().err
    d = FIX / "kernel-vaddr-stat" / "6.17"
    assert main(["fidelity", "--real", str(d), "--scenario", "kernel-paddr-migrate"]) == 2
    assert "ran scenario 'kernel-vaddr-stat'" in capsys.readouterr().err
    assert main(["fidelity", "--real", str(d), "--scenario", "kernel-vaddr-stat",
                 "--runs", "0"]) == 2
    assert "runs: got 0" in capsys.readouterr().err
    with pytest.raises(HarnessError, match="cannot read the runs"):
        bad = tmp_path / "b"
        bad.mkdir()
        (bad / "kernel_run.json").write_text('{"scenario": "kernel-vaddr-stat", "runs": [{"run": 1}]}')
        compare([bad], "kernel-vaddr-stat", 1)


def test_fidelity_cli_writes_report_and_plot(tmp_path):
    d = FIX / "kernel-vaddr-stat" / "7.x"
    rc = main(["fidelity", "--real", str(d), "--scenario", "kernel-vaddr-stat", "--runs", "1",
               "--out", str(tmp_path), "--json", str(tmp_path / "m.json")])
    assert rc == 0
    assert (tmp_path / "kernel-vaddr-stat.png").stat().st_size > 1000
    md = (tmp_path / "kernel-vaddr-stat.md").read_text()
    assert "| regions |" in md and "| wss_p50 |" in md
    assert json.loads((tmp_path / "m.json").read_text())["scenario"] == "kernel-vaddr-stat"
