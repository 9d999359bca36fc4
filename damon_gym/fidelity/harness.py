"""``damon-gym kernel-run``: a scenario on a real kernel, N guest boots, each parsed into a
damo-format record and a stats JSON.

Output folder (``--out DIR``)::

    DIR/kernel_run.json      what ran: scenario and its content hash, kernel package and
                             version, the command line, the qemu command, per-run status
    DIR/run<i>.json          one run: snapshots, scheme stats, node memory, page counts
    DIR/run<i>.damon.data    the run's region snapshots as a damo record (json_compressed)
    DIR/logs/run<i>.log      the guest's console
    DIR/initramfs.cpio.gz    the initramfs that ran
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from damon_gym.fidelity import HarnessError
from damon_gym.fidelity.console import read_console, run_record
from damon_gym.fidelity.guest import (
    Unmovable,
    build_initramfs,
    init_conf,
    require_tools,
    workload_plan,
)
from damon_gym.fidelity.kernels import DEFAULT_CACHE, KernelFetcher, check_series
from damon_gym.fidelity.qemu import qemu_command
from damon_gym.fidelity.sysfs import format_writes, sysfs_writes
from damon_gym.files import atomic_write_text

#: guest boot and workload set-up on top of the DAMON time (TCG: ~2 s boot, ~5 s populate)
BOOT_MARGIN_S = 120
#: boots per run when the guest dies before reaching the init
BOOT_ATTEMPTS = 3


def scenario_params(scenario):
    from damon_gym.build import default_damon_params
    from damon_gym.formats.params import load_damon_params

    d = scenario.damon
    if d is None:
        return default_damon_params()
    return load_damon_params(scenario.resolve(d) if isinstance(d, str) else d)


def prepare(scenario, *, snap_s: int, flush_us: int, unmovable: list[Unmovable]) -> dict:
    """Everything the guest needs, from the scenario alone (no tools, no network)."""
    dur = scenario.duration_us / 1e6
    if dur != int(dur):
        raise HarnessError(f"duration: {dur} s; the guest runs whole seconds")
    params = scenario_params(scenario)
    writes, nr_schemes = sysfs_writes(params, paddr_nodes=scenario.paddr_nodes)
    plan = workload_plan(scenario, run_s=dur, report_ms=int(snap_s * 1000), unmovable=unmovable)
    ctxs = [k.contexts[0] for k in params.kdamonds]
    # region snapshots from each context's first scheme when it is a stat scheme (it tries
    # every region: the full snapshot); all schemes when no context has one
    snaps = [(i, 0) for i, c in enumerate(ctxs) if c.schemes and c.schemes[0].action == "stat"]
    conf = init_conf(duration_s=int(dur), snap_s=snap_s, flush_us=flush_us, cpu=1,
                     nr_schemes=nr_schemes, snap_schemes=snaps or None)
    return {"plan": plan, "writes": format_writes(writes), "conf": conf,
            "aggr_us": {i: c.intervals.aggr_us for i, c in enumerate(ctxs)},
            "sample_us": {i: c.intervals.sample_us for i, c in enumerate(ctxs)},
            "duration_s": int(dur)}


def kernel_run(scenario_name: str, series: str, runs: int, out: Path, *, snap_s: int = 1,
               flush_us: int = 1000, accel: str = "tcg", unmovable: Sequence[str] = (),
               cache: Path | None = None, argv: list[str] | None = None,
               log=print) -> dict:
    from damon_gym.build import scenario_topology
    from damon_gym.fidelity.qemu import boot
    from damon_gym.formats.record import write_record
    from damon_gym.scenario import load_scenario

    check_series(series)
    if isinstance(runs, bool) or not isinstance(runs, int) or not 1 <= runs <= 100:
        raise HarnessError(f"runs: got {runs!r}; allowed: an int in [1, 100]")
    if not isinstance(snap_s, int) or snap_s < 1:
        raise HarnessError(f"snap: got {snap_s!r}; allowed: whole seconds >= 1")
    if flush_us < 0:
        raise HarnessError(f"flush_us: got {flush_us!r}; allowed: >= 0 (0: no TLB-flush helper)")
    sc = load_scenario(scenario_name)
    unmov = [Unmovable.parse(u) for u in unmovable]
    topo = scenario_topology(sc)
    for u in unmov:
        if u.node >= topo.nr_nodes:
            raise HarnessError(f"unmovable: node {u.node} does not exist (the scenario has "
                               f"{topo.nr_nodes} nodes)")
    guest = prepare(sc, snap_s=snap_s, flush_us=flush_us, unmovable=unmov)
    require_tools()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    log(f"kernel-run: fetching the Debian {series} kernel (cache {cache or DEFAULT_CACHE})")
    img = KernelFetcher(cache or DEFAULT_CACHE).fetch(series)
    initrd = build_initramfs(out / "initramfs.cpio.gz", plan=guest["plan"],
                             writes=guest["writes"], conf=guest["conf"])
    cmd = qemu_command(img.vmlinuz, initrd, topo, accel=accel)
    summary = {"scenario": sc.name, "content_hash": sc.content_hash(), "series": series,
               "kernel_package": img.version, "kernel": None,
               "command": shlex.join(argv or ["damon-gym", "kernel-run", "--scenario",
                                              scenario_name, "--kernel", series, "--runs",
                                              str(runs), "--out", str(out)]),
               "qemu": shlex.join(cmd), "accel": accel, "snap_s": snap_s, "flush_us": flush_us,
               "unmovable": [u.__dict__ for u in unmov], "duration_s": guest["duration_s"],
               "runs": []}
    for i in range(1, runs + 1):
        lp = out / "logs" / f"run{i}.log"
        log(f"kernel-run: run {i}/{runs} on {img.version} ({accel}) ...")
        boot_failures = []
        for _attempt in range(BOOT_ATTEMPTS):
            st = boot(cmd, lp, guest["duration_s"] + BOOT_MARGIN_S)
            try:
                run = read_console(lp)
                break
            except HarnessError as e:
                if "no KR_BOOT" not in str(e):
                    raise
                # the guest died before the init (seen once: a panic in sched_clock_cpu under
                # TCG on a loaded host): a bench failure, not a result; boot again
                tail = lp.read_text(errors="replace").strip().splitlines()[-3:]
                boot_failures.append(" | ".join(tail))
                log(f"kernel-run: run {i}: the guest did not reach the init; booting again")
        else:
            raise HarnessError(f"run {i}: the guest did not reach the init in {BOOT_ATTEMPTS} "
                               f"boots; last console lines: {boot_failures[-1]}")
        entry = {"run": i, **st, "log": str(lp.relative_to(out)),
                 "host_load_1min": round(os.getloadavg()[0], 2)}
        if boot_failures:
            entry["boot_failures"] = boot_failures
        run.update(scenario=sc.name, series=series, run=i, wall_s=st["wall_s"])
        summary["kernel"] = run["kernel"]
        if run["refused"]:
            entry["refused"] = run["refused"]
        elif not run["done"] or st["timed_out"]:
            entry["error"] = ("the guest timed out" if st["timed_out"] else
                              "the guest stopped before KR_DONE")
        atomic_write_text(out / f"run{i}.json", json.dumps(run, separators=(",", ":")) + "\n")
        try:
            recs = run_record(run, guest["aggr_us"], guest["sample_us"])
            if recs:
                write_record(out / f"run{i}.damon.data", recs)
        except ValueError as e:  # keep the run: its JSON has everything the record would
            entry["record_error"] = str(e)
        summary["runs"].append(entry)
        log(f"kernel-run: run {i}: " + (f"refused: {run['refused']}" if run["refused"] else
                                        entry.get("error", f"ok, {st['wall_s']} s wall")))
        if run["refused"]:
            break   # the same kernel refuses the same parameters every time
    atomic_write_text(out / "kernel_run.json", json.dumps(summary, indent=1) + "\n")
    return summary


def main_kernel_run(args) -> int:
    s = kernel_run(args.scenario, args.kernel, args.runs, Path(args.out), snap_s=args.snap,
                   flush_us=args.flush_us, accel=args.accel, unmovable=args.unmovable or [],
                   cache=Path(args.cache) if args.cache else None, argv=["damon-gym", *sys.argv[1:]])
    bad = [r for r in s["runs"] if r.get("refused") or r.get("error")]
    print(f"{s['scenario']} on {s['kernel'] or s['kernel_package']}: {len(s['runs']) - len(bad)} of "
          f"{len(s['runs'])} runs complete; results in {args.out}")
    for r in bad:
        print(f"  run {r['run']}: {r.get('refused') or r.get('error')}", file=sys.stderr)
    return 3 if bad else 0
