"""The ``damon-gym`` command line.

    damon-gym run     [--env ID] [--scenario NAME|PATH] [--policies A,B,...] [--episodes N]
                      [--seed S] [--horizon H] [--quiet] | --list
    damon-gym headroom --task Interleave|Tiering|Joint (--suite NAME [--seeds-per-scenario K]
                      | --scenario NAME [--seed K] ...) [--jobs J] [--out MD] [--json JSON]
    damon-gym record  --scenario NAME|PATH [--seconds S] [--out FILE] [--damon-params FILE]
    damon-gym heatmap --input FILE --out PNG
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


DEFAULT_POLICIES = ("random", "bandwidth-weights", "instant-oracle")
ROW_EVERY = 10  # steps between two rows of `damon-gym run`


def _policy_names(args: argparse.Namespace) -> list[str]:
    """``--policy NAME`` (one policy) or ``--policies A,B,...``, each a built-in policy."""
    from agents.simple import check_policy

    if args.policy is not None and args.policies is not None:
        raise ValueError("policy, policies: give one of --policy NAME and --policies LIST")
    if args.policy is not None:
        names = [args.policy.strip()]
    elif args.policies is not None:
        names = [n.strip() for n in args.policies.split(",")]
    else:
        names = list(DEFAULT_POLICIES)
    if not all(names):
        raise ValueError(f"policies: {args.policies!r} has an empty name; expected a "
                         "comma-separated list such as random,instant-oracle")
    for n in names:
        check_policy(n)
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"policies: {', '.join(dup)} given more than once")
    return names


def _damon_ids() -> list[str]:
    import gymnasium as gym

    import damon_gym  # noqa: F401  (registers the ids)

    return [i for i in gym.registry if i.startswith("DamonGym/")]


class _Tally:
    """One policy's steps of an episode."""

    def __init__(self) -> None:
        self.reward: list[float] = []
        self.perf: list[float] = []
        self.migrated: list[int] = []
        self.pingpong: list[int] = []

    def add(self, r: float, info: dict) -> None:
        self.reward.append(float(r))
        self.perf.append(float(info["perf_norm"]))
        self.migrated.append(int(info["migrated_bytes"]))
        self.pingpong.append(int(info["pingpong_bytes"]))


def _summary_line(name: str, width: int, reward, perf, migrated: float, pingpong: float) -> str:
    import numpy as np

    reward, perf = np.asarray(reward, float), np.asarray(perf, float)
    if not reward.size:
        return f"{name:<{width}}  no steps"
    return (f"{name:<{width}}  mean reward {reward.mean():.3f}  mean perf_norm {perf.mean():.3f} "
            f"(p10 {np.percentile(perf, 10):.3f})  migrated {migrated / 2**30:.3f} GiB  "
            f"ping-pong {pingpong / 2**30:.3f} GiB")


def cmd_run(args: argparse.Namespace) -> int:
    """Play episodes of an env with several built-in policies side by side: one env per
    policy, all on the same (scenario, seed), stepped together; a row every ROW_EVERY steps
    and one summary line per policy."""
    if args.list:
        for i in _damon_ids():
            print(i)
        return 0
    import gymnasium as gym
    from tqdm import tqdm

    from agents.simple import make_agent
    from damon_gym.envs.registration import HORIZON

    ids = _damon_ids()
    if args.env not in ids:
        raise ValueError(f"env: {args.env!r} is not a registered DamonGym id; "
                         "`damon-gym run --list` shows the ids")
    if args.episodes < 1:
        raise ValueError(f"episodes: {args.episodes} is not allowed; expected an int >= 1")
    if args.seed < 0:
        raise ValueError(f"seed: {args.seed} is not allowed; expected an int >= 0")
    if args.horizon is not None and args.horizon < 1:
        raise ValueError(f"horizon: {args.horizon} is not allowed; expected an int >= 1")
    names = _policy_names(args)
    kw: dict = {"disable_env_checker": True}
    if args.scenario is not None:
        kw["scenario"] = args.scenario
    if args.scenario is not None or args.horizon is not None:
        # the registered step limit is the id's own scenario's; the env truncates itself
        kw["max_episode_steps"] = args.horizon or HORIZON
    if args.horizon is not None:
        kw["horizon"] = args.horizon
    envs = [gym.make(args.env, **kw) for _ in names]
    agents = [make_agent(n, e) for n, e in zip(names, envs, strict=True)]

    out = sys.stdout
    cell_w = 24  # "reward perf migr MiB" below
    widths = [max(cell_w, len(n)) for n in names]
    name_w = max(map(len, names))
    totals = {n: _Tally() for n in names}
    for ep in range(args.episodes):
        seed = args.seed + ep
        last = []  # (obs, info) of each policy's env
        for agent, env in zip(agents, envs, strict=True):
            agent.reset(seed)
            last.append(env.reset(seed=seed))
        info0 = last[0][1]
        base = envs[0].unwrapped
        steps = base.max_steps
        tag = f"episode {ep + 1}/{args.episodes}: " if args.episodes > 1 else ""
        out.write(f"{tag}{args.env}, scenario {info0['scenario']} "
                  f"(hash {info0['scenario_hash']}), seed {seed}, {steps} steps of "
                  f"{base.step_s:g} s\n")
        if not args.quiet:
            out.write(f"rows every {ROW_EVERY} steps: reward and perf_norm of the step, MiB "
                      "migrated since the previous row\n")
            groups = " | ".join(f"{n:<{w}}" for n, w in zip(names, widths, strict=True))
            out.write(f"{'':>5} | {groups}".rstrip() + "\n")
            sub = f"{'reward':>7} {'perf':>6} {'migr MiB':>9}"
            out.write(f"{'step':>5} | " + " | ".join(f"{sub:>{w}}" for w in widths) + "\n")
            out.flush()
        tallies = [_Tally() for _ in names]
        done = [False] * len(names)
        last_row = 0
        with tqdm(total=steps, unit="step", file=sys.stderr, leave=False,
                  disable=args.quiet or not sys.stderr.isatty()) as bar:
            while not all(done):
                for i, (agent, env) in enumerate(zip(agents, envs, strict=True)):
                    if done[i]:
                        continue
                    obs, r, term, trunc, info = env.step(agent.act(*last[i]))
                    last[i] = (obs, info)
                    tallies[i].add(r, info)
                    done[i] = term or trunc
                n = max(len(t.reward) for t in tallies)
                bar.update(1)
                if not args.quiet and (n % ROW_EVERY == 0 or all(done)):
                    cells = []
                    for t, w in zip(tallies, widths, strict=True):
                        if len(t.reward) < n:  # this policy's episode ended earlier
                            cells.append(f"{'-':>{w}}")
                            continue
                        mib = sum(t.migrated[last_row:]) / 2**20
                        cell = f"{t.reward[-1]:7.3f} {t.perf[-1]:6.3f} {mib:9.1f}"
                        cells.append(f"{cell:>{w}}")
                    out.write(f"{n:>5} | " + " | ".join(cells) + "\n")
                    out.flush()
                    last_row = n
        for name, t in zip(names, tallies, strict=True):
            out.write(_summary_line(name, name_w, t.reward, t.perf, sum(t.migrated),
                                    sum(t.pingpong)) + "\n")
            tot = totals[name]
            for k in ("reward", "perf", "migrated", "pingpong"):
                getattr(tot, k).extend(getattr(t, k))
        out.flush()
    if args.episodes > 1:
        out.write(f"all {args.episodes} episodes (seeds {args.seed}.."
                  f"{args.seed + args.episodes - 1}), per-step means and totals:\n")
        for name, t in totals.items():
            out.write(_summary_line(name, name_w, t.reward, t.perf, sum(t.migrated),
                                    sum(t.pingpong)) + "\n")
    for env in envs:
        env.close()
    return 0


TASK_NAMES = ("Interleave", "Tiering", "Joint")


def _write_atomic(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same directory and
    ``os.replace``, so a reader never sees half a file."""
    import os
    import tempfile

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file 0600: give it the mode an ordinary open() would
        if target.exists():
            mode = target.stat().st_mode & 0o7777
        else:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cmd_headroom(args: argparse.Namespace) -> int:
    """The headroom table of a task over a suite's scenarios or the scenarios given."""
    from damon_gym.evaluation.headroom import headroom, markdown, rows_json, suite_episodes

    task = {t.lower(): t for t in TASK_NAMES}.get(args.task.lower())
    if task is None:
        raise ValueError(f"task: {args.task!r}; allowed: {', '.join(TASK_NAMES)}")
    if (args.suite is None) == (not args.scenario):
        raise ValueError("suite, scenario: give --suite NAME or one or more --scenario NAME")
    if args.jobs < 1:
        raise ValueError(f"jobs: {args.jobs} is not allowed; expected an int >= 1")
    if args.suite is not None:
        if args.seed:
            raise ValueError("seed: --seed goes with --scenario; a suite brings its own seeds "
                             "(--seeds-per-scenario K takes the first K)")
        if args.seeds_per_scenario < 1:
            raise ValueError(f"seeds-per-scenario: {args.seeds_per_scenario} is not allowed; "
                             "expected an int >= 1")
        episodes = suite_episodes(args.suite, task, args.seeds_per_scenario)
        if not episodes:
            raise ValueError(f"suite: {args.suite!r} has no scenario meant for {task}")
        title = f"{task}: suite {args.suite}"
    else:
        seeds = args.seed or [0]
        if len(seeds) == 1:
            seeds = seeds * len(args.scenario)
        if len(seeds) != len(args.scenario):
            raise ValueError(f"seed: {len(args.seed)} --seed for {len(args.scenario)} --scenario;"
                             " give one (for all) or one per --scenario, in order")
        if any(s < 0 for s in seeds):
            raise ValueError(f"seed: {min(seeds)} is not allowed; expected ints >= 0")
        episodes = list(zip(args.scenario, seeds, strict=True))
        title = f"{task}: " + ", ".join(f"{sc} seed {sd}" for sc, sd in episodes)

    t0 = time.perf_counter()
    done = [0]

    def progress(row) -> None:
        done[0] += 1
        print(f"[{done[0]}/{len(episodes)}] {row.scenario} seed {row.seed}: {row.steps} steps, "
              f"best const {row.best_constant:.3f} ({row.best_constant_label}), oracle "
              f"{row.oracle:.3f} ({100 * row.oracle_gain:+.1f} %)  "
              f"{time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)

    rows = headroom(task, episodes, jobs=args.jobs, progress=progress)
    md = markdown(rows, title)
    sys.stdout.write(md)
    if args.out:
        _write_atomic(args.out, md)
    if args.json:
        _write_atomic(args.json, rows_json(rows) + "\n")
    return 0


def cmd_model(args: argparse.Namespace) -> int:
    """X and X/X* for all-fast, 1:1, bandwidth-derived weights and the optimum."""
    from damon_gym.memory.perf_table import format_table, model_table
    from damon_gym.memory.topology import load_topology

    topo = load_topology(args.topology)
    rows = model_table(topo, u_target=args.u_target, write_fraction=args.write_fraction,
                       hot_fraction=args.hot_fraction)
    print(f"{topo.name}: u_target {args.u_target}, write fraction {args.write_fraction}, "
          f"hot fraction {args.hot_fraction}")
    print(format_table(rows))
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
    ru = sub.add_parser("run", help="play an episode of a DamonGym env with built-in policies "
                        "side by side")
    ru.add_argument("--env", default="DamonGym/Interleave-v0", help="a DamonGym id (--list)")
    ru.add_argument("--list", action="store_true", help="print the DamonGym ids and exit")
    ru.add_argument("--scenario", default=None,
                    help="scenario name or YAML path (default: the env's own)")
    ru.add_argument("--policies", default=None,
                    help="comma-separated built-in policies "
                    f"(default: {','.join(DEFAULT_POLICIES)})")
    ru.add_argument("--policy", default=None,
                    help="one built-in policy (short for --policies NAME)")
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
    mo = sub.add_parser("model", help="throughput of standard placements vs the optimum")
    mo.add_argument("--topology", default="P1-AMD")
    mo.add_argument("--u-target", type=float, default=0.99)
    mo.add_argument("--write-fraction", type=float, default=0.0)
    mo.add_argument("--hot-fraction", type=float, default=1.0)
    mo.set_defaults(func=cmd_model)
    s = sub.add_parser("scenarios", help="list the scenarios in configs/scenarios, or show one")
    s.set_defaults(func=cmd_scenarios, action=None)
    ss = s.add_subparsers(dest="action")
    ss.add_parser("list", help="every scenario with one line on what it stresses")
    sh = ss.add_parser("show", help="the resolved scenario (YAML) and its content hash")
    sh.add_argument("name", help="scenario name or YAML path")
    sh.add_argument("--seed", type=int, default=None,
                    help="episode seed: draws randomised values (default: the scenario's seed)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("damon-gym: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into head & co.: not an error of ours
        sys.stderr.close()
        return 0
    except (ValueError, FileNotFoundError, OSError) as e:
        for line in str(e).splitlines() or [type(e).__name__]:
            print(f"damon-gym: error: {line}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
