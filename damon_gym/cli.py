"""The ``damon-gym`` command line.

    damon-gym run     [--env ID] [--scenario NAME|PATH] [--policies A,B,...] [--episodes N]
                      [--seed S] [--horizon H] [--quiet] | --list
    damon-gym headroom --task Interleave|Tiering|Joint (--suite NAME [--seeds-per-scenario K]
                      | --scenario NAME [--seed K] ...) [--jobs J] [--out MD] [--json JSON]
    damon-gym eval    --task T (--suite NAME | --scenario NAME ...) --agents A,B,...|all
                      --seeds N --out DIR [--resume] [--jobs K] [--backend local|ray]
    damon-gym replay  DIR/results.jsonl
    damon-gym train   --task T --algo ppo|sac|a2c [--suite train] [--steps N] --out DIR
                      [--resume] [--backend local|ray] [--trials K] [--seed S]  (cli_train.py)
    damon-gym agents  [--reads]                   (every agent name, one line each)
    damon-gym record  --scenario NAME|PATH [--seconds S] [--out FILE] [--damon-params FILE]
                      [--topology NAME|PATH] [--stats-out JSON] [--plot] [--interval S]
    damon-gym heatmap --input FILE --out PNG [--nodes STATS.json]
    damon-gym schemes --scenario S [--damon-params F] [--seconds N] [--sweep FIELD=V1,V2,...]
                      [--plot OUT.png]                                  (cli_damos.py)
    damon-gym export  --scenario S [--damon-params F] [--seconds N] --out FILE  (cli_damos.py)
    damon-gym model   --topology NAME [--u-target U] [--write-fraction W] [--hot-fraction H]
    damon-gym scenarios list | show NAME [list | show NAME [--seed N]]

Bad input (scenario, parameters, trace) ends with one clear ``damon-gym: error:`` line per
problem and exit status 2, not a traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

#: the most simulated seconds one `record` runs (a day): a longer run is a typo, not a plan
MAX_RECORD_S = 86_400.0


def cmd_record(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from damon_gym.build import load_damon_params
    from damon_gym.cli_damos import cli_scenario, record_damos, run_collect, with_topology
    from damon_gym.recorder import Recorder, RecordStreamWriter
    from damon_gym.simulation import Simulation

    if args.seconds is not None and not 0 < args.seconds <= MAX_RECORD_S:
        raise ValueError(f"--seconds: {args.seconds!r}; allowed: more than 0 and at most "
                         f"{MAX_RECORD_S:,.0f} simulated seconds")
    # a terminal's width, else wide enough that piped tables keep one line per row
    console = Console(stderr=False, width=None if sys.stdout.isatty() else 200)
    sc = with_topology(cli_scenario(args.scenario, args.seconds), args.topology,
                       say=(lambda m: None) if args.quiet else print)
    params = load_damon_params(args.damon_params) if args.damon_params else None
    if params is not None and not any(kd.contexts for kd in params.kdamonds):
        raise ValueError(f"{args.damon_params}: kdamonds: no DAMON context, so nothing would "
                         "be recorded; allowed: at least one kdamond with a context")
    sim = Simulation(sc, args.seed, damon_params=params)
    total_s = sc.duration_us / 1e6
    if total_s > MAX_RECORD_S:
        raise ValueError(f"duration: {sc.name} lasts {total_s:,.0f} s; `record` takes at most "
                         f"{MAX_RECORD_S:,.0f} simulated seconds (give --seconds)")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    from tqdm import tqdm

    # snapshots go to disk as they come (memory flat in the duration); the file appears
    # atomically at the end, and an error, Ctrl-C or SIGTERM leaves nothing behind
    with RecordStreamWriter(out) as stream:
        rec = Recorder(sim, stream=stream)
        with tqdm(total=round(total_s, 3), unit="sim s",
                  disable=args.quiet or not sys.stderr.isatty()) as bar:
            # DAMOS stats per --interval (and the node of each region with --stats-out)
            coll = run_collect(sim, total_s, args.interval, node_map=bool(args.stats_out),
                               progress=lambda dt: bar.update(round(dt, 3)))
    wall = time.perf_counter() - t0
    if args.quiet:
        record_damos(args, coll, quiet=True)
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
    record_damos(args, coll, quiet=False)
    return 0


def cmd_model(args: argparse.Namespace) -> int:
    """X and X/X* for all-fast, 1:1, bandwidth-derived weights and the optimum."""
    from damon_gym.build import load_topology
    from damon_gym.perf.table import format_table, model_table

    topo = load_topology(args.topology)
    rows = model_table(topo, u_target=args.u_target, write_fraction=args.write_fraction,
                       hot_fraction=args.hot_fraction)
    print(f"{topo.name}: u_target {args.u_target}, write fraction {args.write_fraction}, "
          f"hot fraction {args.hot_fraction}")
    print(format_table(rows))
    return 0


def cmd_heatmap(args: argparse.Namespace) -> int:
    from damon_gym.cli_damos import heatmap_nodes
    from damon_gym.heatmap import plot_heatmap
    from damon_gym.recorder import read_record

    records = read_record(args.input)
    plot_heatmap(records, args.out, title=args.title or Path(args.input).name,
                 target=args.target, nodes=heatmap_nodes(args))
    print(f"heatmap written to {args.out}")
    return 0


def cmd_scenarios(args: argparse.Namespace) -> int:
    """``scenarios list``: every scenario with one line on what it stresses; ``scenarios show
    NAME [--seed N]``: the resolved scenario as YAML (workload preset expanded, randomised
    values drawn from the seed) and its content hash."""
    from damon_gym.scenario import load_scenario, scenario_names

    if getattr(args, "action", None) in (None, "list"):
        names = scenario_names()
        width = max(map(len, names), default=0) + 2
        for name in names:
            sc = load_scenario(name)
            line = sc.stresses or (sc.description.split(". ")[0] if sc.description else "")
            rnd = " [randomised]" if sc.is_randomized else ""
            print(f"{name:{width}s}{line}{rnd}")
        return 0
    sc = load_scenario(args.name)
    if args.seed is not None or sc.is_randomized:
        sc = sc.resolved(args.seed)
    print(sc.to_yaml(), end="")
    print(f"# content hash: {sc.content_hash()}")
    return 0


def cmd_agents(args: argparse.Namespace) -> int:
    """Every name ``make_agent`` (and ``run --policies``, ``eval --agents``) accepts, one line
    each (agents/registry.py)."""
    from damon_gym.agents.registry import AGENTS

    width = max(map(len, AGENTS))
    for name, e in AGENTS.items():
        print(f"{name:<{width}}  {e.summary}")
        if args.reads:
            print(f"{'':<{width}}    reads: {e.reads}")
            if e.arg:
                print(f"{'':<{width}}    {name}:ARG, ARG = {e.arg}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from damon_gym.cli_damos import add_damos_commands, add_record_options
    from damon_gym.cli_envs import DEFAULT_POLICIES, cmd_headroom, cmd_run
    from damon_gym.cli_help import finish_parser

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
    add_record_options(r)
    r.set_defaults(func=cmd_record)
    h = sub.add_parser("heatmap", help="draw a damo-style access heatmap of a record")
    h.add_argument("--input", required=True)
    h.add_argument("--out", required=True)
    h.add_argument("--title", default=None)
    h.add_argument("--target", type=int, default=0, help="target index in the record")
    h.add_argument("--nodes", default=None, metavar="STATS.json",
                   help="a `record --stats-out` JSON of the same run: draw beside the heatmap "
                   "which node each address range sat on")
    h.set_defaults(func=cmd_heatmap)
    ru = sub.add_parser("run", help="play an episode of a DamonGym env with built-in policies "
                        "side by side")
    ru.add_argument("--env", default="DamonGym/Interleave-v0", help="a DamonGym id (--list)")
    ru.add_argument("--list", action="store_true", help="print the DamonGym ids and exit")
    ru.add_argument("--scenario", default=None,
                    help="scenario name or YAML path (default: the env's own)")
    ru.add_argument("--policies", default=None,
                    help="comma-separated built-in policies "
                    f"(default: {','.join(DEFAULT_POLICIES)})")
    ru.add_argument("--policy", "--agent", dest="policy", default=None,
                    help="one policy (short for --policies NAME), e.g. a trained model: "
                    "ppo:DIR")
    ru.add_argument("--episodes", type=int, default=1, help="episodes (seeds S, S+1, ...)")
    ru.add_argument("--seed", type=int, default=0, help="the first episode's seed (>= 0)")
    ru.add_argument("--horizon", type=int, default=None,
                    help="steps per episode at most (default 300)")
    ru.add_argument("--quiet", action="store_true", help="only the headers and summaries")
    ru.set_defaults(func=cmd_run)
    hr = sub.add_parser("headroom", help="what a learner could gain: reference policies on "
                        "each (scenario, seed)")
    hr.add_argument("--task", required=True, help="Interleave, Tiering or Joint")
    hr.add_argument("--suite", default=None, help="every scenario of this suite meant for the task")
    hr.add_argument("--seeds-per-scenario", type=int, default=1,
                    help="with --suite: the first K seeds of each scenario")
    hr.add_argument("--scenario", action="append", default=[],
                    help="scenario name or YAML path (repeatable)")
    hr.add_argument("--seed", type=int, action="append", default=[],
                    help="with --scenario: the episode seed, once for all or once per --scenario")
    hr.add_argument("--jobs", type=int, default=1, help="worker processes")
    hr.add_argument("--out", default=None, help="write the markdown table here")
    hr.add_argument("--json", default=None, help="write the rows as JSON here")
    hr.set_defaults(func=cmd_headroom)
    from damon_gym.cli_eval import add_parsers as add_eval_parsers

    add_eval_parsers(sub)  # eval, replay
    from damon_gym.cli_train import add_parser as add_train_parser

    add_train_parser(sub)  # train
    from damon_gym.cli_kernel import add_parsers as add_kernel_parsers

    add_kernel_parsers(sub)  # kernel-run, fidelity
    ag = sub.add_parser("agents", help="list every registered agent with one line each")
    ag.add_argument("--reads", action="store_true",
                    help="also say what each agent reads and what NAME:ARG means")
    ag.set_defaults(func=cmd_agents)
    mo = sub.add_parser("model", help="throughput of standard placements vs the optimum")
    mo.add_argument("--topology", default="P1-AMD")
    mo.add_argument("--u-target", type=float, default=0.99)
    mo.add_argument("--write-fraction", type=float, default=0.0)
    mo.add_argument("--hot-fraction", type=float, default=1.0)
    mo.set_defaults(func=cmd_model)
    add_damos_commands(sub)
    s = sub.add_parser("scenarios", help="list the scenarios in configs/scenarios, or show one")
    s.set_defaults(func=cmd_scenarios, action=None)
    ss = s.add_subparsers(dest="action", help="list (the default) or show NAME")
    ss.add_parser("list", help="every scenario with one line on what it stresses")
    sh = ss.add_parser("show", help="the resolved scenario (YAML) and its content hash")
    sh.add_argument("name", help="scenario name or YAML path")
    sh.add_argument("--seed", type=int, default=None,
                    help="episode seed: draws randomised values (default: the scenario's seed)")
    return finish_parser(p)


MAX_ERROR_LINES = 8  # lines of one error message the CLI prints
MAX_ERROR_CHARS = 400  # characters of one line (a pathological value can be megabytes long)


def _say_error(e: BaseException) -> None:
    lines = str(e).splitlines() or [type(e).__name__]
    for line in lines[:MAX_ERROR_LINES]:
        if len(line) > MAX_ERROR_CHARS:
            line = line[:MAX_ERROR_CHARS] + f"... ({len(line):,} characters)"
        print(f"damon-gym: error: {line}", file=sys.stderr)
    if len(lines) > MAX_ERROR_LINES:
        print(f"damon-gym: error: ... and {len(lines) - MAX_ERROR_LINES} more problems",
              file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """The CLI: exit 0 on success, 2 on bad input (one ``damon-gym: error:`` line per
    problem), 130 on Ctrl-C or SIGTERM, 1 on an unexpected error (one line and where to report
    it; ``DAMON_GYM_DEBUG=1`` shows the traceback)."""
    import os
    import signal

    from damon_gym.errors import REPORT_URL

    args = build_parser().parse_args(argv)

    def _term(signum, frame):  # SIGTERM ends a run like Ctrl-C: outputs stay atomic
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, _term) if hasattr(signal, "SIGTERM") else None
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("damon-gym: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into head & co.: not an error of ours
        sys.stderr.close()
        return 0
    except (ValueError, OSError) as e:  # DamonGymError is a ValueError: bad input
        _say_error(e)
        return 2
    except RecursionError:
        print("damon-gym: error: the input nests too deeply to be read", file=sys.stderr)
        return 2
    except Exception as e:  # a bug of ours: one line, not a traceback
        if os.environ.get("DAMON_GYM_DEBUG"):
            raise
        msg = str(e).splitlines()[0][:MAX_ERROR_CHARS] if str(e) else ""
        print(f"damon-gym: internal error: {type(e).__name__}: {msg} -- please report it to "
              f"{REPORT_URL} with the command line (DAMON_GYM_DEBUG=1 shows the traceback)",
              file=sys.stderr)
        return 1
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)


if __name__ == "__main__":
    sys.exit(main())
