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

PACE = ("bench: the guest ran DAMON at 35-67 % of the pace its intervals ask (qemu TCG on a "
        "2-core host at load 5-10), so counts per run (applies, the stat scheme's nr/sz_tried) "
        "are that much lower; tried_per_apply, the pace-free view, passes")
TCG_ACCESS = ("bench: under TCG on a loaded host the runner's hot pages are seen in 5-10 of "
              "the 20 samples of an aggregation (vCPU starvation), the simulator's in 20")
KERNEL_MEMORY = ("issue 14 #1, kernel memory: node 0 holds the kernel's unmovable pages and "
                 "migrate_cold's walk charges its quota to them; with the guest's measured "
                 "unmovable memory (kernel-vaddr-stat's `unmovable`) the simulator demotes 0 B "
                 "like every kernel (17 MiB without it), but it tries 9 regions / 144 MiB in "
                 "10 s where 6.12 and 6.17 (at the guest's slower pace, PACE) try 6 / 96-112 MiB")
SPAN = ("issue 14 #3, the vaddr span: the kernel's three-region layout covers 0.35-1.2 GiB; "
        "its mmap-area and stack part is 256-258 MiB like the simulator's, the rest is the gap "
        "from the static runner's text (4 MiB) to its randomly placed brk heap, which the "
        "simulator's processes (no text mapping) do not have")
COARSE = ("issue 14 #3: the kernel's regions around the hot block are larger at apply time "
          "(damo wss 39 MiB for the 25.6 MiB block on 7.3), the simulator's fit the block")
QUOTA_PACE = ("migrate_hot's 64 MiB quota windows are wall-clock on both sides but the guest's "
              "applies fall behind (PACE): the kernel spends the quota in fewer, larger applies; "
              "the pages that end on node 0 agree")

FIRST_SECOND = ("not separated yet: after 1 s the simulator has 3,243-6,554 hot pages on node 0, "
                "6.12 and 6.17 0-2,233 (7.3 agrees), and it has them all there at 1 s where "
                "6.12 takes 3.8 s; the guest's slow pace (fewer aggregations "
                "reach 5 samples in the first second) and TCG's slow page copies (64 MiB in "
                "one apply) both delay the kernel; a quiet-host rerun tells them apart")

FIRST_WINDOW = ("issue 14 #2 closed, what is left: with 6.17's quota rules (no quota until "
                "the first 1 s window ends, `kernel: \"6.17\"`) the simulator promotes every hot "
                "page in that window; 6.17 promoted 3,482-4,249 of the 6,554 in its one "
                "unthrottled apply in two runs and then ramped from nothing like 7.3, so 90 % "
                "never arrived there (6.4 s in the third run); its regions saw part of the "
                "block below 5 samples then (TCG_ACCESS, PACE)")

#: (scenario, kernel series, metric) -> why the simulator and that kernel disagree; made from
#: the fixtures (sim seeds 0..2), checked both ways by the test below
KNOWN_DISAGREEMENTS: dict[tuple[str, str, str], str] = {
    **{(sc, k, m): PACE for sc, k, m in [
        ("kernel-vaddr-stat", "6.12", "applies"),
        ("kernel-vaddr-stat", "6.12", "kd0.s0:stat.nr_tried"),
        ("kernel-vaddr-stat", "6.17", "applies"),
        ("kernel-vaddr-stat", "6.17", "kd0.s0:stat.nr_tried"),
        ("kernel-vaddr-stat", "7.x", "applies"),
        ("kernel-vaddr-stat", "7.x", "kd0.s0:stat.nr_tried"),
        ("kernel-vaddr-stat", "7.x", "kd0.s0:stat.sz_tried"),  # and SPAN: more bytes per apply
        ("kernel-paddr-migrate", "6.12", "applies"),
        ("kernel-paddr-migrate", "6.12", "kd0.s0:stat.nr_tried"),
        ("kernel-paddr-migrate", "6.12", "kd0.s0:stat.sz_tried"),
        ("kernel-paddr-migrate", "6.17", "applies"),
        ("kernel-paddr-migrate", "6.17", "kd0.s0:stat.nr_tried"),
        ("kernel-paddr-migrate", "6.17", "kd0.s0:stat.sz_tried"),
        ("kernel-paddr-migrate", "7.x", "applies"),
        ("kernel-paddr-migrate", "7.x", "kd0.s0:stat.nr_tried"),
        ("kernel-paddr-migrate", "7.x", "kd0.s0:stat.sz_tried"),
        ("kernel-vaddr-dests", "6.17", "applies"),
        ("kernel-vaddr-dests", "6.17", "kd0.s0:stat.nr_tried"),
        ("kernel-vaddr-dests", "7.x", "applies"),
        ("kernel-vaddr-dests", "7.x", "kd0.s0:stat.nr_tried"),
        ("kernel-vaddr-dests", "7.x", "kd0.s1:migrate_hot.sz_tried"),
        # 6.17's unthrottled first window: every apply in it tries the whole hot block, and
        # the guest makes fewer of them (6.17 tries 217 MiB more than 7.3, the simulator 253)
        ("kernel-vaddr-dests", "6.17", "kd0.s1:migrate_hot.sz_tried"),
        ("kernel-paddr-goal", "6.17", "applies"),
        ("kernel-paddr-goal", "6.17", "kd0.s0:stat.nr_tried"),
        ("kernel-paddr-goal", "6.17", "kd0.s0:stat.sz_tried"),
        ("kernel-paddr-goal", "7.x", "applies"),
        ("kernel-paddr-goal", "7.x", "kd0.s0:stat.nr_tried"),
        ("kernel-paddr-goal", "7.x", "kd0.s0:stat.sz_tried"),
    ]},
    **{(sc, k, m): TCG_ACCESS for sc, k, m in [
        ("kernel-vaddr-dests", "7.x", "hot_nr_accesses"),
    ]},
    **{("kernel-paddr-migrate", k, m): KERNEL_MEMORY for k, m in [
        ("6.12", "kd1.s0:migrate_cold.sz_tried"),
        ("6.17", "kd1.s0:migrate_cold.nr_tried"),
        ("6.17", "kd1.s0:migrate_cold.sz_tried"),
    ]},
    **{(sc, "7.x", "target_bytes"): SPAN for sc in ("kernel-vaddr-stat", "kernel-vaddr-dests")},
    ("kernel-vaddr-dests", "7.x", "wss_p50"): COARSE,
    ("kernel-paddr-goal", "6.17", "t_migrated_s"): FIRST_WINDOW,
    ("kernel-paddr-migrate", "6.12", "hot_on_n0_1s"): FIRST_SECOND,
    ("kernel-paddr-migrate", "6.17", "hot_on_n0_1s"): FIRST_SECOND,
    ("kernel-paddr-migrate", "6.12", "t_migrated_s"): FIRST_SECOND,
    **{(sc, k, m): QUOTA_PACE for sc, k, m in [
        ("kernel-vaddr-dests", "6.17", "kd0.s1:migrate_hot.nr_applied"),
    ]},
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
