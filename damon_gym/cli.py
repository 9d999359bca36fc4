"""The ``damon-gym`` command line.

    damon-gym record  --scenario NAME|PATH [--seconds S] [--out FILE] [--damon-params FILE]
    damon-gym heatmap --input FILE --out PNG
    damon-gym scenarios

Bad input (scenario, parameters, trace) ends with one clear ``damon-gym: error:`` line per
problem and exit status 2, not a traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def _scenario_for(arg: str, seconds: float | None):
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


def cmd_record(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from damon_gym.formats.params import load_damon_params
    from damon_gym.formats.record import write_record
    from damon_gym.recorder import Recorder
    from damon_gym.simulation import Simulation

    console = Console(stderr=False)
    sc = _scenario_for(args.scenario, args.seconds)
    params = load_damon_params(args.damon_params) if args.damon_params else None
    sim = Simulation(sc, args.seed, damon_params=params)
    rec = Recorder(sim)
    total_s = sc.duration_us / 1e6
    t0 = time.perf_counter()
    step = max(total_s / 20, 0.5)
    from tqdm import tqdm

    with tqdm(total=round(total_s, 3), unit="sim s", disable=args.quiet or not sys.stderr.isatty()) as bar:
        done = 0.0
        while done < total_s - 1e-9:
            dt = min(step, total_s - done)
            sim.run(dt)
            done += dt
            bar.update(round(dt, 3))
    wall = time.perf_counter() - t0
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_record(out, rec.result())
    if args.quiet:
        return 0
    console.print(f"[bold]{sc.name}[/bold]: {total_s:g} s simulated in {wall:.2f} s wall "
                  f"(seed {sim.seed}, scenario hash {sc.content_hash()}) -> {out}")
    t = Table(title="DAMON contexts")
    for c in ("kdamond", "context", "target", "snapshots", "regions min..max", "working set (last 1 s)"):
        t.add_column(c)
    for r in rec.summary_rows():
        t.add_row(str(r["kdamond"]), str(r["context"]), str(r["target"]), str(r["snapshots"]),
                  f"{r['regions_min']}..{r['regions_max']}", f"{r['wss_last_bytes'] / 2**20:.1f} MiB")
    console.print(t)
    nt = Table(title="memory nodes")
    for c in ("node", "name", "capacity", "used", "free"):
        nt.add_column(c)
    st = sim.stats()
    for n in st["nodes"]:
        nt.add_row(str(n["node"]), n["name"], f"{n['capacity_bytes'] / 2**20:.0f} MiB",
                   f"{n['used_bytes'] / 2**20:.1f} MiB", f"{n['free_bytes'] / 2**20:.1f} MiB")
    console.print(nt)
    for c in st["contexts"]:
        for note in c["notes"]:
            console.print(f"note: kdamond {c['kdamond_idx']} context {c['context_idx']}: {note}")
    return 0


def cmd_heatmap(args: argparse.Namespace) -> int:
    from damon_gym.formats.heatmap import plot_heatmap
    from damon_gym.formats.record import read_record

    records = read_record(args.input)
    plot_heatmap(records, args.out, title=args.title or Path(args.input).name,
                 target=args.target)
    print(f"heatmap written to {args.out}")
    return 0


def cmd_scenarios(args: argparse.Namespace) -> int:
    from damon_gym.scenario import load_scenario, scenario_names

    for name in scenario_names():
        sc = load_scenario(name)
        print(f"{name:24s} {sc.description}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="damon-gym", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record", help="simulate a scenario and write a damo record")
    r.add_argument("--scenario", default="default",
                   help="scenario name, scenario YAML, or a masim config file")
    r.add_argument("--seconds", type=float, default=None, help="simulated seconds (default: the scenario's)")
    r.add_argument("--out", default="damon.data", help="record file (damo json_compressed)")
    r.add_argument("--damon-params", default=None,
                   help="a `damo args damon --format json` file replacing the scenario's DAMON parameters")
    r.add_argument("--seed", type=int, default=None)
    r.add_argument("--quiet", action="store_true")
    r.set_defaults(func=cmd_record)
    h = sub.add_parser("heatmap", help="draw a damo-style access heatmap of a record")
    h.add_argument("--input", required=True)
    h.add_argument("--out", required=True)
    h.add_argument("--title", default=None)
    h.add_argument("--target", type=int, default=0, help="target index in the record")
    h.set_defaults(func=cmd_heatmap)
    s = sub.add_parser("scenarios", help="list the scenarios in configs/scenarios")
    s.set_defaults(func=cmd_scenarios)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("damon-gym: interrupted", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, OSError) as e:
        for line in str(e).splitlines() or [type(e).__name__]:
            print(f"damon-gym: error: {line}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
