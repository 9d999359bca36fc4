"""The real-kernel harness without qemu: the runner's plan, the sysfs writes, the console
parser, the mirror and version choice, the initramfs and the missing-tool and bad-input
errors (issue 14). The guest runner itself is compiled and run natively when gcc can build
static programs here."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from damon_gym.cli import main
from damon_gym.fidelity import HarnessError
from damon_gym.fidelity.console import parse_console, run_record
from damon_gym.fidelity.guest import (
    HARNESS_DIR,
    Unmovable,
    build_initramfs,
    missing_tools,
    workload_plan,
)
from damon_gym.fidelity.harness import prepare
from damon_gym.fidelity.kernels import check_series, debian_mirrors, pick_version
from damon_gym.fidelity.qemu import qemu_command
from damon_gym.fidelity.sysfs import format_writes, sysfs_writes
from damon_gym.formats.params import load_damon_params
from damon_gym.formats.record import read_record, write_record
from damon_gym.scenario import load_scenario

CONSOLE = """\
SeaBIOS (version 1.16.2)
KR_BOOT kernel=7.3.4+deb13-amd64 up=4.50 dur=2 snap=1 flush_us=1000 cpu=1
KR_NODE nid=0 start=0 end=536870912 cpus=0-1 memtotal_kb=514376 memfree_kb=486468
KR_NODE nid=1 start=536870912 end=1073741824 cpus= memtotal_kb=468948 memfree_kb=453676
KR_WL_START pid=113 base=4096000 size=12288 up=9.128
KR_WL_REGION name=cold_lo start=4096000 end=4100096 populate=1
KR_WL_REGION name=hot start=4100096 end=4104192 populate=1
KR_WL_REGION name=cold_hi start=4104192 end=4108288 populate=1
KR_PAGES tag=start up=9.151 region=hot none=0 n1=1
KR_PAGES tag=start up=9.151 region=cold_lo none=0 n1=1
KR_WL_READY up=9.504
[    9.6] some kernel message KR_ in the middle is not ours? no: it starts a tag
KR_ON up=10.00 nr_kdamonds=1
KR_SNAP tag=run kd=0 scheme=0 up=11.00 nr=2 total_bytes=12288
KR_R 4096000 4100096 0 3
KR_R 4100096 4108288 20 1
KR_STATS tag=run kd=0 scheme=0 up=11.05 action=stat nr_tried=2 sz_tried=12288 nr_applied=0 sz_applied=0
KR_MEM tag=run nid=0 up=11.10 MemFree_kb=487484 MemUsed_kb=26892
KR_PAGES tag=end up=12.0 region=hot none=0 n0=1
KR_PAGES tag=end up=12.0 region=cold_lo none=0 n1=1
KR_DONE up=12.5
"""


def _console(text: str = CONSOLE) -> str:
    return "\n".join(line for line in text.splitlines() if "some kernel message" not in line)


def test_console_parses_snapshots_stats_pages_relative_to_kdamond_on():
    run = parse_console(_console())
    assert run["kernel"] == "7.3.4+deb13-amd64" and run["done"] and run["refused"] is None
    assert [n["nid"] for n in run["nodes"]] == [0, 1]
    (snap,) = run["snapshots"]
    assert snap["t"] == 1.0 and snap["regions"] == [[4096000, 4100096, 0, 3],
                                                    [4100096, 4108288, 20, 1]]
    assert run["stats"][0]["nr_tried"] == 2 and run["stats"][0]["t"] == 1.05
    assert run["regions"]["hot"] == [4100096, 4104192]
    end = [p for p in run["pages"] if p["tag"] == "end"]
    assert {p["region"]: p["nodes"] for p in end} == {"hot": {0: 1}, "cold_lo": {1: 1}}
    assert end[0]["t"] == 2.0


def test_console_record_is_a_damo_record(tmp_path):
    run = parse_console(_console())
    recs = run_record(run, {0: 100000}, {0: 5000})
    assert len(recs) == 1 and len(recs[0].snapshots) == 1
    snap = recs[0].snapshots[0]
    assert (snap.start_ns, snap.end_ns) == (900_000_000, 1_000_000_000)
    write_record(tmp_path / "r.damon.data", recs)
    back = read_record(tmp_path / "r.damon.data")
    assert back[0].snapshots[0].regions.nr_accesses.tolist() == [0, 20]


@pytest.mark.parametrize("bad, where", [
    ("KR_R 1 2 3", "KR_R before any KR_SNAP"),
    ("KR_BOOT kernel=x up=1\nKR_SNAP kd=0 scheme=0 up=2 nr=1\nKR_R 1 2 x 4", "4 integers"),
    ("KR_BOOT kernel=x up=1\nKR_STATS kd=0 scheme=0 up=2 action", "not key=value"),
    ("KR_BOOT kernel=x up=1\nKR_STATS kd=0 up=2 action=stat", "missing field 'scheme'"),
    ("KR_BOOT kernel=x up=1\nKR_WHAT a=1", "unknown tag KR_WHAT"),
    ("KR_BOOT kernel=x up=1\nKR_SNAP kd=0 scheme=0 up=2 nr=3\nKR_R 1 2 3 4", "announced 3"),
    ("Kernel panic - not syncing", "no KR_BOOT line"),
])
def test_console_errors_name_the_line_and_field(bad, where):
    with pytest.raises(HarnessError, match=where):
        parse_console(bad)


def test_console_keeps_a_refusal():
    run = parse_console("KR_BOOT kernel=6.12.118+deb13-amd64 up=1\n"
                        "KR_UNSUPPORTED path=kdamonds/0/contexts/0/schemes/1/dests/nr_dests "
                        "kernel=6.12.118+deb13-amd64\n"
                        "KR_REFUSED kernel=6.12.118+deb13-amd64 reason=missing_sysfs_file\n"
                        "KR_DONE up=3\n")
    assert run["refused"]["path"].endswith("dests/nr_dests")
    assert run["refused"]["reason"] == "missing_sysfs_file" and run["t_on_up"] is None


def test_sysfs_writes_follow_the_damo_parameters():
    sc = load_scenario("kernel-paddr-migrate")
    writes, nr = sysfs_writes(load_damon_params(sc.damon), paddr_nodes=sc.paddr_nodes)
    w = dict(writes)
    assert nr == [2, 1]
    assert w["kdamonds/nr_kdamonds"] == "2"
    assert w["kdamonds/0/contexts/0/targets/0/regions/0/start"] == "@N1_START@"
    assert w["kdamonds/1/contexts/0/targets/0/regions/0/end"] == "@N0_END@"
    mh = "kdamonds/0/contexts/0/schemes/1"
    assert w[f"{mh}/action"] == "migrate_hot" and w[f"{mh}/target_nid"] == "0"
    assert w[f"{mh}/access_pattern/nr_accesses/min"] == "5"
    assert w[f"{mh}/quotas/bytes"] == str(64 << 20)
    assert w[f"{mh}/quotas/reset_interval_ms"] == "1000"
    mc = "kdamonds/1/contexts/0/schemes/0"
    assert w[f"{mc}/access_pattern/age/min"] == "20"  # 2 s of 100 ms aggregations
    # the kernel reads nr_accesses and age as u32: "max" is clamped, not written as 2**64-1
    assert w["kdamonds/0/contexts/0/schemes/0/access_pattern/age/max"] == str(2**32 - 1)
    # nr_kdamonds before the kdamond's files, nr_schemes before the schemes' files
    paths = [p for p, _ in writes]
    assert paths.index("kdamonds/0/contexts/0/schemes/nr_schemes") < paths.index(f"{mh}/action")
    # an unused optional file is not written (an older kernel would refuse it)
    assert not any("intervals_goal" in p or "dests" in p or "weights" in p for p in paths)


def test_sysfs_writes_dests_vaddr_pid_and_filters():
    sc = load_scenario("kernel-vaddr-dests")
    w = dict(sysfs_writes(load_damon_params(sc.damon))[0])
    assert w["kdamonds/0/contexts/0/targets/0/pid_target"] == "@PID@"
    s = "kdamonds/0/contexts/0/schemes/1"
    assert (w[f"{s}/dests/nr_dests"], w[f"{s}/dests/0/id"], w[f"{s}/dests/1/weight"]) == ("2", "0", "1")
    p = load_damon_params({"kdamonds": [{"contexts": [{"ops": "vaddr", "targets": [{"pid": 1}],
                          "schemes": [{"action": "stat", "filters": [
                              {"filter_type": "addr", "address_range": [0, 4096], "allow": True},
                              {"filter_type": "anon", "matching": False}]}]}]}]})
    w = dict(sysfs_writes(p)[0])
    s = "kdamonds/0/contexts/0/schemes/0"
    assert w[f"{s}/core_filters/0/type"] == "addr" and w[f"{s}/core_filters/0/allow"] == "Y"
    assert w[f"{s}/ops_filters/0/type"] == "anon" and w[f"{s}/ops_filters/0/matching"] == "N"


def test_sysfs_refuses_what_the_guest_cannot_set_up():
    p = load_damon_params({"kdamonds": [{"contexts": [{"ops": "vaddr", "targets": [{"pid": 1}],
                          "schemes": [{"action": "stat", "filters": [
                              {"filter_type": "memcg", "memcg_path": "/a"}]}]}]}]})
    with pytest.raises(HarnessError, match=r"schemes\[0\].filters: memcg"):
        sysfs_writes(p)
    with pytest.raises(HarnessError, match="one non-empty word"):
        format_writes([("a/b", "two words")])


def test_plan_of_the_kernel_scenarios():
    plan = workload_plan(load_scenario("kernel-vaddr-stat"), run_s=10, report_ms=1000)
    lines = plan.splitlines()
    assert "policy bind 1" in lines
    # the simulator's hot block: round(0.1 * 65536) pages at 128 MiB
    assert f"region cold_lo {128 << 20} 1" in lines
    assert f"region hot {6554 * 4096} 1" in lines
    assert f"region cold_hi {(65536 - 32768 - 6554) * 4096} 1" in lines
    assert "pattern hot 0 4096 1000000 wo" in lines
    assert not any(x.startswith("pattern cold") for x in lines)  # hot_prob 1: cold untouched


def test_plan_of_a_masim_config_and_refusals():
    sc = load_scenario("masim-zigzag")
    plan = workload_plan(sc, run_s=10, report_ms=1000,
                         unmovable=[Unmovable.parse("mlock:8MiB@0")]).splitlines()
    assert "unmovable mlock 0 8388608" in plan and "burst 131072" in plan
    assert sum(x.startswith("region ") for x in plan) == 2
    assert sum(x.startswith("phase ") for x in plan) >= 2
    with pytest.raises(HarnessError, match="capacity_scale"):
        workload_plan(load_scenario("gups-p2-rand"), run_s=10, report_ms=1000)
    stream = load_scenario("kernel-vaddr-stat", workload={
        "generator": "stream", "params": {"size": "64 MiB", "total_rate": 1e7}})
    with pytest.raises(HarnessError, match="workload.generator: 'stream'"):
        workload_plan(stream, run_s=10, report_ms=1000)
    zipf = load_scenario("kernel-vaddr-stat", workload={"generator": "hot_cold", "params": {
        "size": "64 MiB", "total_rate": 1e7, "hot_fraction": 0.1, "hot_prob": 0.9}})
    with pytest.raises(HarnessError, match="contiguous"):
        workload_plan(zipf, run_s=10, report_ms=1000)


@pytest.mark.parametrize("text, ok", [
    ("64MiB@0", ("pipe", 0, 64 << 20)), ("mlock:1 GiB@1", ("mlock", 1, 1 << 30)),
    ("64MiB", None), ("swap:1M@0", None), ("0@0", None), ("1M@x", None)])
def test_unmovable_option(text, ok):
    if ok is None:
        with pytest.raises(HarnessError, match="unmovable"):
            Unmovable.parse(text)
    else:
        u = Unmovable.parse(text)
        assert (u.mode, u.node, u.bytes) == ok


def test_mirror_from_apt_sources_only_debian():
    main_, sec = debian_mirrors({
        "/etc/apt/sources.list.d/debian.sources":
            "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm\n\n"
            "Types: deb\nURIs: http://deb.debian.org/debian-security\n",
        "/etc/apt/sources.list.d/other.list":
            "deb https://packages.cloud.google.com/apt cloud-sdk main\n"
            "# deb http://evil.example/debian sid main\n"})
    assert (main_, sec) == ("http://deb.debian.org/debian", "http://deb.debian.org/debian-security")
    m2, s2 = debian_mirrors({"s.list": "deb [arch=amd64] http://ftp.de.debian.org/debian/ bookworm main\n"})
    assert (m2, s2) == ("http://ftp.de.debian.org/debian", None)
    with pytest.raises(HarnessError, match="no Debian mirror"):
        debian_mirrors({"x.list": "deb https://packages.cloud.google.com/apt cloud-sdk main\n"})


def test_kernel_series_and_version_choice():
    vers = ["6.12.90+deb13-amd64", "6.12.118+deb13-amd64", "6.17.13+deb13-amd64",
            "7.2.12+deb13-amd64", "7.3.4+deb13-amd64", "7.10.1+deb13-amd64"]
    assert pick_version("6.12", vers) == "6.12.118+deb13-amd64"   # numeric, not text order
    assert pick_version("7.x", vers) == "7.10.1+deb13-amd64"
    with pytest.raises(HarnessError, match="available series: 6.12, 6.17, 7.2, 7.3, 7.10"):
        pick_version("6.16", vers)
    for bad in ("6.1", "5.x", "latest", "6", ""):
        with pytest.raises(HarnessError, match="kernel: got"):
            check_series(bad)


def test_qemu_command_has_the_scenario_nodes():
    from damon_gym.build import scenario_topology

    topo = scenario_topology(load_scenario("kernel-vaddr-stat"))
    cmd = qemu_command(Path("vmlinuz"), Path("initrd"), topo)
    s = " ".join(cmd)
    assert "-m 1024M" in s and "memory-backend-ram,id=mem1,size=512M" in s
    assert "node,nodeid=0,memdev=mem0,cpus=0-1" in s and "node,nodeid=1,memdev=mem1" in s
    assert "numa_balancing=disable" in s and "dist,src=0,dst=1,val=20" in s
    with pytest.raises(HarnessError, match="accel"):
        qemu_command(Path("v"), Path("i"), topo, accel="xen")


def test_missing_tools_are_named_with_the_apt_line(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on PATH
    miss = missing_tools()
    assert any("qemu-system-x86_64 (Debian package qemu-system-x86)" in m for m in miss)
    assert any("busybox" in m for m in miss) and any("cpio" in m for m in miss)
    with pytest.raises(HarnessError, match="apt-get update && apt-get install -y"):
        build_initramfs(tmp_path / "i.cpio.gz", plan="", writes="", conf="")
    rc = main(["kernel-run", "--scenario", "kernel-vaddr-stat", "--kernel", "6.17", "--runs", "1",
               "--out", str(tmp_path / "o")])
    assert rc == 2


@pytest.mark.parametrize("argv, msg", [
    (["--kernel", "5.4"], "kernel: got '5.4'"),
    (["--runs", "0"], "runs: got 0"),
    (["--unmovable", "1M@7"], "node 7 does not exist"),
    (["--scenario", "no-such-scenario"], "not found"),
])
def test_kernel_run_bad_input(argv, msg, tmp_path, capsys):
    base = {"--scenario": "kernel-vaddr-stat", "--kernel": "6.17", "--runs": "1"}
    args = ["kernel-run", "--out", str(tmp_path / "o")]
    for k, v in base.items():
        if k not in argv:
            args += [k, v]
    rc = main(args + argv)
    assert rc == 2 and msg in capsys.readouterr().err


def test_prepare_checks_durations():
    sc = load_scenario("kernel-vaddr-stat", duration="2500 ms")
    with pytest.raises(HarnessError, match="whole seconds"):
        prepare(sc, snap_s=1, flush_us=1000, unmovable=[])


needs_tools = pytest.mark.skipif(bool(missing_tools()), reason="qemu/busybox-static/cpio/gcc "
                                 "not installed")


@needs_tools
def test_initramfs_holds_init_runner_and_harness_files(tmp_path):
    g = prepare(load_scenario("kernel-vaddr-stat"), snap_s=1, flush_us=1000, unmovable=[])
    out = build_initramfs(tmp_path / "i.cpio.gz", plan=g["plan"], writes=g["writes"],
                          conf=g["conf"])
    raw = gzip.decompress(out.read_bytes())
    listing = subprocess.run(["cpio", "-t", "--quiet"], input=raw, capture_output=True).stdout
    names = set(listing.decode().split())
    assert {"init", "bin/busybox", "bin/runner", "bin/sh", "harness/plan", "harness/writes",
            "harness/conf"} <= names
    assert b"SCHEMES=\"1\"" in raw and b"kdamonds/nr_kdamonds 1" in raw


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")
def test_runner_runs_a_plan_natively(tmp_path):
    exe = tmp_path / "runner"
    subprocess.run(["gcc", "-O2", "-static", "-o", str(exe), str(HARNESS_DIR / "runner.c")],
                   check=True, capture_output=True)
    plan = tmp_path / "plan"
    plan.write_text("report_ms 200\nburst 64\nregion a 65536 1\nregion b 8192 0\n"
                    "phase p 300\npattern b 0 4096 1 wo\n")
    proc = subprocess.Popen([str(exe), str(plan)], stdout=subprocess.PIPE, text=True)
    time.sleep(0.6)  # the phase (0.3 s) ends, the runner idles until stopped
    proc.terminate()
    out = proc.communicate(timeout=5)[0].splitlines()
    start = [x for x in out if x.startswith("KR_PAGES tag=start")]
    end = [x for x in out if x.startswith("KR_PAGES tag=end")]
    # region a is populated (16 pages), b is touched only by its pattern (first touch)
    assert any("region=a none=0 n0=16" in x for x in start)  # the host's node 0
    assert any("region=b none=2" in x for x in start)
    assert any("region=b none=0" in x for x in end)
    assert out[-1].startswith("KR_WL_END bursts=")
    bad = tmp_path / "bad"
    bad.write_text("region a 4096 1\nphase p 10\npattern zz 0 4096 1 wo\n")
    r = subprocess.run([str(exe), str(bad)], capture_output=True, text=True)
    assert r.returncode == 2 and "plan line 3: pattern region" in r.stdout


def test_console_resolves_a_region_split_during_the_apply_walk():
    # 7.3: migrate_hot split a region at its quota's end, so the stat scheme tried the whole
    # region and then its tail; the record shows the state after the split
    run = parse_console("KR_BOOT kernel=7.3.4 up=1\nKR_ON up=2\n"
                        "KR_SNAP kd=0 scheme=0 up=3 nr=3\n"
                        "KR_R 0 100 0 1\nKR_R 100 300 7 0\nKR_R 250 300 7 0\n")
    (s,) = run["snapshots"]
    assert s["regions"] == [[0, 100, 0, 1], [100, 250, 7, 0], [250, 300, 7, 0]]
    assert s["split_overlaps"] == 1
    assert len(run_record(run, {0: 100000}, {0: 5000})[0].snapshots) == 1


def test_init_conf_lists_the_snapshot_schemes():
    g = prepare(load_scenario("kernel-paddr-migrate"), snap_s=1, flush_us=1000, unmovable=[])
    assert 'SCHEMES="2 1"' in g["conf"] and 'SNAPSCHEMES="0:0"' in g["conf"]
    assert "KDCPU=0" in g["conf"] and "CPU=1" in g["conf"]


def test_fetch_offline_uses_an_unpacked_kernel_and_names_what_is_missing(tmp_path, monkeypatch):
    from damon_gym.fidelity.kernels import KernelFetcher

    src = {"d.sources": "Types: deb\nURIs: http://deb.debian.org/debian\n"}
    f = KernelFetcher(tmp_path, sources=src)
    assert "deb http://deb.debian.org/debian trixie-backports main" in f.sources_list()

    def offline(cmd, cwd=None):
        if cmd[:2] == ["apt-get", "update"]:
            raise HarnessError("apt-get update -q failed (exit 100): Could not resolve host")
        return ""

    monkeypatch.setattr(f, "_run", offline)
    with pytest.raises(HarnessError, match="Could not resolve host"):
        f.fetch("7.x")  # nothing unpacked yet: the network error is the message
    vm = tmp_path / "x" / "7.3.4+deb13-amd64" / "usr" / "lib" / "modules" / "7.3.4+deb13-amd64"
    vm.mkdir(parents=True)
    (vm / "vmlinuz").write_bytes(b"kernel")
    (vm / "config").write_text("CONFIG_DAMON=y\n")
    img = f.fetch("7.x")
    assert img.version == "7.3.4+deb13-amd64" and img.vmlinuz.name == "vmlinuz"
    assert img.config is not None and img.config.name == "config"
    with pytest.raises(HarnessError, match="no Debian kernel of series 6.17.*available series: 7.3"):
        f.fetch("6.17")
