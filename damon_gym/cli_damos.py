"""The DAMOS-facing commands of ``damon-gym``: what the schemes did, sweeps, export.

    damon-gym schemes --scenario S [--damon-params F] [--seconds N] [--topology T]
                      [--sweep FIELD=V1,V2,...] [--scheme K.C.S] [--plot OUT.png] [--stats-out F]
    damon-gym export  --scenario S [--damon-params F] [--seconds N] [--topology T] --out FILE

and the pieces ``record`` and ``heatmap`` use (``--topology``, ``--stats-out``, ``--plot``,
``--nodes``), the ``--version`` flag, the per-subcommand examples and the help of options
that have none. Tables are plain fixed-width text: a line per row whatever the terminal,
so piping them keeps them whole.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from damon_gym.damos_stats import (
    DamosStatsCollector,
    fmt_nr,
    fmt_sz,
    fmt_time_s,
    format_table,
    migration_lines,
    plot_stats,
    scheme_lines,
    scheme_table,
)

#: largest simulated machine --topology builds at capacity_scale 1 (beyond: scaled down)
MAX_SIM_BYTES = 4 << 30


# ------------------------------------------------------------------ scenario and machine

def cli_scenario(arg: str, seconds: float | None):
    """A scenario by name or YAML path; any other existing file is read as a masim config."""
    from damon_gym.scenario import load_scenario

    p = Path(arg)
    if p.exists() and p.suffix not in (".yaml", ".yml"):
        base = load_scenario("default")
        data = base.model_dump(by_alias=True, exclude={"base_dir"})
        data.update(name=p.stem, description=f"masim config {p.name}",
                    workload={"masim": str(p.resolve())}, damon=None)
        sc = load_scenario(data)
    else:
        sc = load_scenario(arg)
    if seconds is not None:
        sc = sc.model_copy(update={"duration_us": int(round(seconds * 1e6))})
    return sc

def with_topology(sc, topology: str | None, say=print):
    """``sc`` on another machine (a topology preset name or YAML path). A machine bigger than
    4 GiB simulated is run at ``capacity_scale`` 2^-k (simulated <= 1 GiB) and the workload
    stood up 2^k times (``workload.scale``: the same pattern over 2^k times the bytes), as
    the shipped big-machine scenarios do; ``say`` gets a note saying so."""
    if not topology:
        return sc
    from damon_gym.build import load_topology
    from damon_gym.scenario import load_scenario

    topo = load_topology(topology)
    p = Path(topology)
    ref = str(p.resolve()) if p.exists() else topology
    scale = sc.capacity_scale
    wl_scale = sc.workload.scale
    total = sum(n.capacity for n in topo.nodes)
    k = 0
    while total * scale / 2**k > MAX_SIM_BYTES // 4 and total * scale > MAX_SIM_BYTES:
        k += 1
    if k:
        scale, wl_scale = scale / 2**k, wl_scale * 2**k
        say(f"note: {topo.name} ({fmt_sz(total)}) simulated at capacity_scale 1/{2**k} with the "
            f"workload stood up {2**k}x (workload.scale {wl_scale:g}): every byte shown is the "
            "real machine's")
    data = sc.model_dump(by_alias=True)
    data["topology"] = ref
    data["capacity_scale"] = scale
    data["workload"]["scale"] = wl_scale
    data["base_dir"] = sc.base_dir
    out = load_scenario(data) if sc.base_dir is None else type(sc).model_validate(data)
    return out


def scenario_for(arg: str, seconds: float | None, topology: str | None = None, say=print):

    return with_topology(cli_scenario(arg, seconds), topology, say)


# ------------------------------------------------------------------ running with the collector
def run_collect(sim, seconds: float, interval: float, *, node_map: bool = False,
                progress=None) -> DamosStatsCollector:
    """Run ``sim`` for ``seconds`` in steps of ``interval`` (Simulation.step: perf per step),
    sampling a DamosStatsCollector at the end of each step."""
    if not interval > 0:
        raise ValueError(f"--interval: {interval!r} must be > 0 seconds")
    coll = DamosStatsCollector(sim, node_map=node_map)
    done = 0.0
    while done < seconds - 1e-9:
        dt = min(interval, seconds - done)
        coll.sample(sim.step(dt))
        done += dt
        if progress is not None:
            progress(dt)
    return coll


def print_damos_report(doc: dict, out=None) -> None:
    """Per scheme damo's wording, then the node-to-node matrix."""
    out = out or sys.stdout
    for line in scheme_lines(doc) + [""] + migration_lines(doc):
        print(line, file=out)


def record_damos(args: argparse.Namespace, coll: DamosStatsCollector, quiet: bool) -> None:
    """``record``'s DAMOS part: --stats-out (and --plot), then the end-of-run report."""
    doc = coll.to_dict()
    if args.stats_out:
        coll.write(args.stats_out)
        if not quiet:
            print(f"DAMOS stats over {len(doc['times_s'])} intervals -> {args.stats_out}")
    if args.plot:
        base = Path(args.stats_out) if args.stats_out else Path(args.out)
        paths = plot_stats(doc, base.with_suffix(".png") if base.suffix != ".png" else base)
        if not quiet:
            print("plots: " + ", ".join(map(str, paths)))
    if not quiet:
        if doc["schemes"]:
            print()
            print_damos_report(doc)
        else:
            print("no DAMOS schemes ran (the DAMON parameters have none)")


# ------------------------------------------------------------------ sweeps
SWEEP_FIELDS = {
    "dests": "per-node weights of vaddr migrate_hot/cold dests, e.g. dests=24:8,16:16",
    "quota.sz": "size quota, e.g. quota.sz=100MiB,1GiB",
    "quota.ms": "time quota in ms (or with a unit), e.g. quota.ms=10,100",
    "quota.reset_interval": "quota reset interval in ms (or with a unit), e.g. quota.reset_interval=100ms,1s",
    "goal.target": "every quota goal's target_value (bp metrics take %), e.g. goal.target=99%,99.7%",
    "apply_interval": "the scheme's apply interval in us (or with a unit), e.g. apply_interval=100ms,1s",
    "aggr_interval": "the context's aggregation interval in us (or with a unit), e.g. aggr_interval=50ms,100ms",
}


def parse_sweep(spec: str) -> tuple[str, list[str]]:
    if "=" not in spec:
        raise ValueError(f"--sweep: {spec!r} is not FIELD=V1,V2,...; fields: "
                         + ", ".join(SWEEP_FIELDS))
    field, vals = spec.split("=", 1)
    field = field.strip()
    if field not in SWEEP_FIELDS:
        raise ValueError(f"--sweep: unknown field {field!r}; allowed: {', '.join(SWEEP_FIELDS)}")
    values = [v.strip() for v in vals.split(",") if v.strip()]
    if not values:
        raise ValueError(f"--sweep: no values given for {field}")
    return field, values


def _scheme_sel(spec: str | None, params) -> list[tuple[int, int, int]]:
    allk = [(ki, ci, si) for ki, kd in enumerate(params.kdamonds)
            for ci, cp in enumerate(kd.contexts) for si in range(len(cp.schemes))]
    if spec is None:
        return allk
    try:
        key = tuple(int(x) for x in spec.split("."))
    except ValueError:
        key = ()
    if len(key) == 1 and 0 <= key[0] < len(allk):
        return [allk[key[0]]]
    if key in allk:
        return [key]
    raise ValueError(f"--scheme: {spec!r} names no scheme; allowed: "
                     + ", ".join(".".join(map(str, k)) for k in allk))


def apply_sweep_value(params, field: str, value: str, keys: list[tuple[int, int, int]]):
    """A copy of ``params`` with ``field`` set to ``value`` in the schemes ``keys`` (their
    contexts for ``aggr_interval``), validated as a damo file is."""
    from damon_gym.build import dump_damon_params, load_damon_params
    from damon_gym.units import parse_size, parse_time

    p = params.model_copy(deep=True)
    for ki, ci, si in keys:
        cp = p.kdamonds[ki].contexts[ci]
        sp = cp.schemes[si]
        if field == "dests":
            try:
                ws = [int(w) for w in value.split(":")]
            except ValueError:
                raise ValueError(f"--sweep dests: {value!r} is not weights like 24:8") from None
            sp.dests = [(n, w) for n, w in enumerate(ws)]
        elif field == "quota.sz":
            sp.quotas.sz_bytes = parse_size(value, "quota.sz")
        elif field == "quota.ms":
            sp.quotas.time_ms = parse_time(value, "quota.ms", unit="ms")
        elif field == "quota.reset_interval":
            sp.quotas.reset_interval_ms = parse_time(value, "quota.reset_interval", unit="ms")
        elif field == "goal.target":
            if not sp.quotas.goals:
                raise ValueError(f"--sweep goal.target: scheme {ki}.{ci}.{si} has no quota goal")
            for g in sp.quotas.goals:
                v = value.strip()
                g.target_value = int(round(float(v[:-1]) * 100)) if v.endswith("%") else int(v)
        elif field == "apply_interval":
            sp.apply_interval_us = parse_time(value, "apply_interval", unit="us")
        elif field == "aggr_interval":
            cp.intervals.aggr_us = parse_time(value, "aggr_interval", unit="us")
    return load_damon_params(dump_damon_params(p))


def _esz_over_time(iv: dict, times: list[float]) -> str:
    esz = iv["esz"]
    if not esz:
        return "-"
    marks = sorted({len(esz) // 4, len(esz) // 2, (3 * len(esz)) // 4, len(esz) - 1})
    return " ".join(f"{fmt_sz(esz[i])}@{times[i]:g}s" for i in marks)


def _mean_perf(doc: dict) -> float | None:
    ps = [p for p in doc.get("perf") or [] if p is not None]
    return sum(ps) / len(ps) if ps else None


def cmd_schemes(args: argparse.Namespace) -> int:
    """Run a scenario and print what each DAMOS scheme did; with --sweep one row per value."""
    from damon_gym.build import load_damon_params
    from damon_gym.simulation import Simulation

    sc = scenario_for(args.scenario, args.seconds, args.topology)
    seconds = sc.duration_us / 1e6
    params = load_damon_params(args.damon_params) if args.damon_params else None
    if args.sweep is None:
        sim = Simulation(sc, args.seed, damon_params=params)
        coll = run_collect(sim, seconds, args.interval)
        doc = coll.to_dict()
        if args.stats_out:
            coll.write(args.stats_out)
        mp = _mean_perf(doc)
        print(f"{sc.name} on {sim.topology.name}: {fmt_time_s(seconds)} simulated, seed {sim.seed}, "
              f"mean X/X* {mp:.3f}" if mp is not None else "")
        for b in sim.bindings:
            for note in b.notes:
                print(f"note: kdamond {b.kdamond_idx} context {b.context_idx}: {note}")
        if not doc["schemes"]:
            print("no DAMOS schemes ran (the DAMON parameters have none)")
            return 0
        print(scheme_table(doc))
        print()
        print_damos_report(doc)
        if args.plot:
            print("plots: " + ", ".join(map(str, plot_stats(doc, args.plot))))
        return 0
    field, values = parse_sweep(args.sweep)
    base = params if params is not None else Simulation(sc, args.seed).params
    keys = _scheme_sel(args.scheme, base)
    if not keys:
        raise ValueError("--sweep: the DAMON parameters have no scheme to sweep")
    rows, docs = [], []
    for v in values:
        p = apply_sweep_value(base, field, v, keys)
        sim = Simulation(sc, args.seed, damon_params=p)
        doc = run_collect(sim, seconds, args.interval).to_dict()
        docs.append(doc)
        sel = [s for s in doc["schemes"]
               if (s["kdamond_idx"], s["context_idx"], s["scheme_idx"]) in keys]
        mp = _mean_perf(doc)
        rows.append([f"{field}={v}", f"{mp:.3f}" if mp is not None else "-",
                     fmt_sz(doc["migration"]["total_bytes"]),
                     fmt_sz(sum(s["total"]["sz_applied"] for s in sel)),
                     fmt_nr(sum(s["total"]["qt_exceeds"] for s in sel)),
                     " | ".join(_esz_over_time(s["intervals"], doc["times_s"]) for s in sel)])
    print(f"{sc.name} on {docs[0]['topology']}: {fmt_time_s(seconds)} simulated per value, seed "
          f"{docs[0]['seed']}; swept scheme(s) "
          + ", ".join(".".join(map(str, k)) for k in keys))
    print(format_table(["value", "mean X/X*", "migrated", "sz_applied", "qt_exceeds",
                        "effective quota over time (esz@t)"], rows, right={1, 2, 3, 4}))
    if args.stats_out:
        from damon_gym.files import atomic_path

        with atomic_path(args.stats_out) as tmp, open(tmp, "w") as f:
            json.dump({"field": field, "values": values, "runs": docs}, f, indent=1)
    if args.plot:
        print(f"plot: {plot_sweep(field, values, docs, keys, args.plot)}")
    return 0


def plot_sweep(field: str, values: list[str], docs: list[dict], keys, out_png) -> Path:
    """X/X* and the (first swept scheme's) effective quota over time, one line per value."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from damon_gym.files import atomic_path

    fig = Figure(figsize=(8, 5.5), dpi=90)
    FigureCanvasAgg(fig)
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    for v, doc in zip(values, docs, strict=True):
        t = np.asarray(doc["times_s"])
        if doc.get("perf"):
            ax1.plot(t, [np.nan if p is None else p for p in doc["perf"]], label=f"{field}={v}")
        s = next(s for s in doc["schemes"]
                 if (s["kdamond_idx"], s["context_idx"], s["scheme_idx"]) == keys[0])
        ax2.step(t, np.maximum(np.asarray(s["intervals"]["esz"], float), 1.0), where="post",
                 label=f"{field}={v}")
    ax1.set_ylabel("X / X*")
    ax1.set_title(f"sweep of {field} on {docs[0]['scenario']} ({docs[0]['topology']})")
    ax2.set_yscale("log")
    ax2.set_ylabel(f"esz of scheme {'.'.join(map(str, keys[0]))} (bytes)")
    ax2.set_xlabel("time (s)")
    for ax in (ax1, ax2):
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp, open(tmp, "wb") as f:
        fig.savefig(f, format="png")
    return out


# ------------------------------------------------------------------ export
def running_quota(sim) -> dict:
    """The running effective quota of every scheme (what `damo status` shows as the third
    figure of its quota line), with the goals' current and target values."""
    return {
        "time_s": sim.now_us / 1e6, "scenario": sim.scenario.name, "seed": sim.seed,
        "schemes": [
            {"kdamond_idx": b.kdamond_idx, "context_idx": b.context_idx, "scheme_idx": si,
             "action": s.action, "quota_set": bool(s.quota_set),
             "effective_sz_bytes": int(s.qstate.esz), "effective_sz": fmt_sz(s.qstate.esz),
             "sz_bytes": int(s.quota.sz), "time_ms": int(s.quota.ms),
             "goals": [{"metric": g.metric, "target_value": int(g.target_value),
                        "current_value": int(g.current_value)} for g in s.quota.goals]}
            for b in sim.bindings for si, s in enumerate(b.context.schemes.schemes)],
    }


def cmd_export(args: argparse.Namespace) -> int:
    """Run a scenario, then write the running DAMON parameters for `damo start FILE`."""
    from damon_gym.build import load_damon_params
    from damon_gym.files import atomic_path
    from damon_gym.simulation import Simulation

    sc = scenario_for(args.scenario, args.seconds, args.topology)
    params = load_damon_params(args.damon_params) if args.damon_params else None
    sim = Simulation(sc, args.seed, damon_params=params)
    sim.run(sc.duration_us / 1e6)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    sim.export_damon_params(out)
    quota_path = Path(args.quota_out) if args.quota_out else out.with_name(out.stem + ".quota.json")
    rq = running_quota(sim)
    with atomic_path(quota_path) as tmp, open(tmp, "w") as f:
        json.dump(rq, f, indent=1)
        f.write("\n")
    print(f"{sc.name}: running DAMON parameters after {fmt_time_s(rq['time_s'])} -> {out} "
          f"(for `damo start {out}`)")
    print(f"running effective quotas -> {quota_path}")
    for s in rq["schemes"]:
        goals = "; ".join(f"goal {g['metric']} target {fmt_nr(g['target_value'])} current "
                          f"{fmt_nr(g['current_value'])}" for g in s["goals"])
        q = s["effective_sz"] if s["quota_set"] else "no quota"
        print(f"  kdamond {s['kdamond_idx']} context {s['context_idx']} scheme {s['scheme_idx']} "
              f"{s['action']}: effective quota {q}" + (f"; {goals}" if goals else ""))
    return 0


# ------------------------------------------------------------------ parser pieces
def add_record_options(r: argparse.ArgumentParser) -> None:
    r.add_argument("--topology", default=None,
                   help="the machine: a topology preset (tiny, P1-AMD, P2, ...) or YAML path "
                   "(default: the scenario's; `tiny` for a masim config)")
    r.add_argument("--stats-out", default=None,
                   help="write every scheme's stats per interval, the node-to-node migration "
                   "matrix and the node of each region (for `heatmap --nodes`) to this JSON")
    r.add_argument("--plot", action="store_true",
                   help="draw PNGs beside --stats-out (or --out): effective quota and sz_applied "
                   "over time per scheme, and the migration matrix (<stem>-migration.png)")
    r.add_argument("--interval", type=float, default=1.0,
                   help="seconds of simulated time per stats interval (default 1)")


def _common(sp: argparse.ArgumentParser, out_required: bool = False) -> None:
    sp.add_argument("--scenario", default="smoke-zigzag",
                    help="scenario name, scenario YAML, or a masim config file (default smoke-zigzag)")
    sp.add_argument("--damon-params", default=None,
                    help="a `damo args damon --format json` file replacing the scenario's DAMON "
                    "parameters")
    sp.add_argument("--seconds", type=float, default=None,
                    help="simulated seconds (default: the scenario's duration)")
    sp.add_argument("--topology", default=None,
                    help="the machine: a topology preset or YAML path (default: the scenario's)")
    sp.add_argument("--seed", type=int, default=None, help="episode seed (default: the scenario's)")


def add_damos_commands(sub) -> None:
    s = sub.add_parser("schemes", help="run a scenario and print what each DAMOS scheme did "
                       "(stats, effective quota, goals, node-to-node migration); --sweep a field")
    _common(s)
    s.add_argument("--sweep", default=None, metavar="FIELD=V1,V2,...",
                   help="one run per value, one row each (X/X*, migrated bytes, effective quota "
                   "over time); FIELD is one of: " + "; ".join(
                       f"{k} ({v})" for k, v in SWEEP_FIELDS.items()).replace("%", "%%"))
    s.add_argument("--scheme", default=None, metavar="K.C.S|N",
                   help="with --sweep: the scheme to change, as kdamond.context.scheme or a flat "
                   "index (default: every scheme)")
    s.add_argument("--interval", type=float, default=1.0,
                   help="seconds of simulated time per stats interval (default 1)")
    s.add_argument("--plot", default=None, metavar="OUT.png",
                   help="draw effective quota and sz_applied over time (with --sweep: X/X* and "
                   "effective quota per value) and, without --sweep, <stem>-migration.png")
    s.add_argument("--stats-out", default=None,
                   help="write the per-interval stats JSON (with --sweep: one per value)")
    s.set_defaults(func=cmd_schemes)
    e = sub.add_parser("export", help="run a scenario, then write the running DAMON parameters "
                       "as a `damo args damon --format json` file for `damo start FILE`")
    _common(e)
    e.add_argument("--out", required=True, help="the damo JSON to write (.yaml/.yml: YAML)")
    e.add_argument("--quota-out", default=None,
                   help="where the running effective quotas go (default: <out stem>.quota.json)")
    e.set_defaults(func=cmd_export)


def heatmap_nodes(args: argparse.Namespace) -> dict | None:
    """The ``node_map`` of a --stats-out JSON given to ``heatmap --nodes``."""
    if not getattr(args, "nodes", None):
        return None
    doc: Any = json.loads(Path(args.nodes).read_text())
    if not isinstance(doc, dict) or "node_map" not in doc:
        raise ValueError(f"--nodes: {args.nodes} has no node_map; write it with "
                         "`damon-gym record ... --stats-out FILE`")
    return doc
