"""The evaluation commands of the ``damon-gym`` CLI: ``eval`` (every agent on every episode of
a suite or of the scenarios given, a results file, a summary table and plots) and ``replay``
(re-run a results file's rows and report those that differ). The parser is in
``damon_gym.cli``; the machinery in ``damon_gym.evaluation.eval``."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from damon_gym.cli_envs import TASK_NAMES, _write_atomic


def _task(name: str) -> str:
    task = {t.lower(): t for t in TASK_NAMES}.get(name.lower())
    if task is None:
        raise ValueError(f"task: {name!r}; allowed: {', '.join(TASK_NAMES)}")
    return task


def episodes_for(task: str, suite: str | None, scenarios: list[str], seeds: int
                 ) -> list[tuple[str, int]]:
    """``--suite``: the first ``seeds`` seeds of each of its scenarios meant for ``task``;
    ``--scenario``: seeds 0..seeds-1 of each."""
    from damon_gym.evaluation.headroom import suite_episodes

    if (suite is None) == (not scenarios):
        raise ValueError("suite, scenario: give --suite NAME or one or more --scenario NAME")
    if seeds < 1:
        raise ValueError(f"seeds: {seeds} is not allowed; expected an int >= 1")
    if suite is not None:
        eps = suite_episodes(suite, task, seeds)
        if not eps:
            raise ValueError(f"suite: {suite!r} has no scenario meant for {task}")
        return eps
    from damon_gym.scenario import load_scenario

    for sc in scenarios:
        load_scenario(sc)  # a bad name or file fails here, before any episode
    return [(sc, s) for sc in dict.fromkeys(scenarios) for s in range(seeds)]


def _safe(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9._@-]+", "_", s)


def trace_path(out: Path, task: str, scenario: str, seed: int, agent: str) -> Path:
    return out / "traces" / f"{task}__{_safe(scenario)}__{seed}__{_safe(agent)}.json"


def _save_trace(out: Path, tr: dict) -> None:
    _write_atomic(str(trace_path(out, tr["task"], tr["scenario"], tr["seed"], tr["agent"])),
                  json.dumps(tr) + "\n")


def make_plots(out: Path, task: str, agents: list[str], scenario: str, seed: int) -> list[Path]:
    """Throughput and placement plots of the episode (scenario, seed): the traces the run
    saved, and the missing ones (a resumed run) played here."""
    from damon_gym.evaluation.jobs import Job, run_job
    from damon_gym.evaluation.plots import plot_placement, plot_throughput

    traces = []
    for a in agents:
        p = trace_path(out, task, scenario, seed, a)
        if p.exists():
            traces.append(json.loads(p.read_text()))
        else:
            _, tr = run_job(Job(a, task, scenario, seed, trace=True))
            if tr is None:  # run_job returns the trace whenever the job asks for one
                raise RuntimeError(f"{a}: the episode returned no trace")
            _save_trace(out, tr)
            traces.append(tr)
    tag = f"{task}, {scenario} seed {seed}"
    return [plot_throughput(traces, out / "throughput.png", f"throughput / X*: {tag}"),
            plot_placement(traces, out / "placement.png", f"placement per node: {tag}")]


def run_heatmap(args, task: str, out: Path, agent: str, b2: str) -> Path:
    """The 3 x 3 grid of scenario variants, ``agent`` and B2 on each (DIR/heatmap.jsonl),
    and DIR/heatmap.png: the agent's perf_norm over B2's, minus 1, in %."""
    import numpy as np

    from damon_gym.evaluation.eval import Job, evaluate
    from damon_gym.evaluation.plots import plot_heatmap
    from damon_gym.evaluation.variants import (
        HEATMAP_CORES,
        HEATMAP_LATENCIES_NS,
        heatmap_specs,
        variant_name,
    )

    specs = heatmap_specs(args.heatmap_scenario)
    jobs = [Job(a, task, variant_name(s), 0, spec=s) for s in specs for a in (b2, agent)]
    rows = evaluate(jobs, out / "heatmap.jsonl", resume=args.resume, backend=args.backend,
                    n_jobs=args.jobs, desc="heatmap")
    by = {(r["agent"], r["scenario"]): r for r in rows}
    grid = np.full((len(HEATMAP_CORES), len(HEATMAP_LATENCIES_NS)), np.nan)
    for s in specs:
        r = by.get((agent, variant_name(s)))
        if r is not None and r["speedup_vs_B2"] is not None:
            i = HEATMAP_CORES.index(s["background_cores"])
            j = HEATMAP_LATENCIES_NS.index(s["slow_latency_ns"])
            grid[i, j] = 100.0 * (r["speedup_vs_B2"] - 1.0)
    return plot_heatmap(grid, HEATMAP_CORES, HEATMAP_LATENCIES_NS, out / "heatmap.png",
                        f"{task}: {agent} over {b2}\non {args.heatmap_scenario} variants "
                        "(perf_norm, %)")


def cmd_eval(args: argparse.Namespace) -> int:
    """Every (agent, scenario, seed) episode of the task; results.jsonl, summary.md/.json,
    plots; the summary table on stdout."""
    from rich.console import Console

    from damon_gym.evaluation.eval import (
        Job,
        agent_api,
        b2_name,
        evaluate,
        resolve_agents,
        row_key,
    )
    from damon_gym.evaluation.summary import markdown, rich_table, summarize

    task = _task(args.task)
    if args.jobs < 1:
        raise ValueError(f"jobs: {args.jobs} is not allowed; expected an int >= 1")
    if args.backend not in ("local", "ray"):
        raise ValueError(f"backend: {args.backend!r}; allowed: local, ray")
    if args.backend == "ray":
        try:
            import ray  # noqa: F401
        except ImportError:
            from damon_gym.evaluation.backends import RAY_HINT

            raise ValueError(RAY_HINT) from None
    agents = resolve_agents(args.agents)
    episodes = episodes_for(task, args.suite, args.scenario, args.seeds)
    scenarios = list(dict.fromkeys(sc for sc, _ in episodes))
    plot_sc = args.plot_scenario or scenarios[0]
    if plot_sc not in scenarios:
        raise ValueError(f"plot-scenario: {plot_sc!r} is not in the run; allowed: "
                         f"{', '.join(scenarios)}")
    plot_seed = min(s for sc, s in episodes if sc == plot_sc)
    out = Path(args.out)
    jobs = [Job(a, task, sc, s, trace=not args.no_plots and (sc, s) == (plot_sc, plot_seed))
            for sc, s in episodes for a in agents]
    rows = evaluate(jobs, out / "results.jsonl", resume=args.resume, backend=args.backend,
                    n_jobs=args.jobs, ray_num_cpus=args.jobs if args.jobs > 1 else None,
                    on_trace=lambda tr: _save_trace(out, tr))
    wanted = {j.key for j in jobs}
    seen: set = set()
    kept = []
    for r in rows:  # this run's episodes, each once
        if (k := row_key(r)) in wanted and k not in seen:
            seen.add(k)
            kept.append(r)
    rows = kept
    summary = summarize(rows, task, order=agents)
    where = f"suite {args.suite}" if args.suite else ", ".join(scenarios)
    n_seeds = max(sum(1 for sc2, _ in episodes if sc2 == sc) for sc in scenarios)
    title = f"{task}: {where}, {n_seeds} seed{'s' if n_seeds > 1 else ''} per scenario"
    summary.update(title=title, suite=args.suite, scenarios=scenarios, seeds=args.seeds)
    _write_atomic(str(out / "summary.md"), markdown(summary, title))
    _write_atomic(str(out / "summary.json"), json.dumps(summary, indent=1) + "\n")
    Console(width=None if sys.stdout.isatty() else 160).print(rich_table(summary, title))
    made = []
    if not args.no_plots:
        made += make_plots(out, task, agents, plot_sc, plot_seed)
    if args.heatmap:
        names = agent_api()[0]()
        b2 = b2_name(names)
        if b2 is None:
            raise ValueError("heatmap: no B2 agent (b2-bw-weights) is registered")
        agent = args.heatmap_agent or next(
            (a for a in agents if "colloid" in a), next((a for a in agents if a != b2), None))
        if agent is None or agent not in names:
            raise ValueError(f"heatmap-agent: {agent!r}; give a registered agent other than B2")
        made.append(run_heatmap(args, task, out, agent, b2))
    print(f"{len(rows)} rows in {out / 'results.jsonl'}; summary in {out / 'summary.md'}"
          + (f"; plots: {', '.join(p.name for p in made)}" if made else ""))
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    """Re-run every row of a results file; list the rows whose reward_mean differs (exit 1)."""
    from damon_gym.evaluation.eval import ResultsFile, replay

    if args.jobs < 1:
        raise ValueError(f"jobs: {args.jobs} is not allowed; expected an int >= 1")
    p = Path(args.results)
    if not p.exists():
        raise FileNotFoundError(f"results: {p}: no such file")
    rows = ResultsFile.read(p)
    if not rows:
        raise ValueError(f"results: {p} holds no rows")
    diffs = replay(rows, backend=args.backend, n_jobs=args.jobs)
    for d in diffs:
        r = d["row"]
        hash_note = ("" if d["scenario_hash"] == r.get("scenario_hash") else
                     f" (scenario hash {r.get('scenario_hash')} -> {d['scenario_hash']})")
        print(f"differs: {r['agent']} {r['task']} {r['scenario']} seed {r['seed']}: "
              f"reward_mean {r['reward_mean']!r} on file, {d['reward_mean']!r} replayed"
              + hash_note)
    n = len({(r["agent"], r["task"], r["scenario"], r["seed"]) for r in rows})
    print(f"{n - len(diffs)}/{n} rows reproduced exactly" + (f"; {len(diffs)} differ"
                                                              if diffs else ""))
    return 1 if diffs else 0


def add_parsers(sub) -> None:
    """The ``eval`` and ``replay`` subcommands (called from ``damon_gym.cli.build_parser``)."""
    ev = sub.add_parser("eval", help="every agent on every (scenario, seed) of a suite: "
                        "results.jsonl, summary table, plots")
    ev.add_argument("--task", required=True, help="Interleave, Tiering or Joint")
    ev.add_argument("--suite", default=None, help="the scenarios of this suite meant for the task")
    ev.add_argument("--scenario", action="append", default=[],
                    help="scenario name or YAML path (repeatable; seeds 0..N-1)")
    ev.add_argument("--agents", default="all", help="comma-separated agent names, or all")
    ev.add_argument("--seeds", type=int, default=1,
                    help="the first N seeds of each scenario (default 1)")
    ev.add_argument("--out", required=True, help="output directory")
    ev.add_argument("--resume", action="store_true",
                    help="complete DIR/results.jsonl: skip the episodes already there")
    ev.add_argument("--jobs", type=int, default=1,
                    help="worker processes (local) or CPUs of a local Ray (ray)")
    ev.add_argument("--backend", default="local", choices=("local", "ray"),
                    help="local processes, or Ray tasks (pip install 'damon-gym[ray]')")
    ev.add_argument("--plot-scenario", default=None,
                    help="the scenario of the throughput and placement plots (default: the first)")
    ev.add_argument("--no-plots", action="store_true", help="no throughput/placement plots")
    ev.add_argument("--heatmap", action="store_true",
                    help="also the 3 x 3 heatmap: improvement over B2 across background cores "
                    "x slow-node latency")
    ev.add_argument("--heatmap-agent", default=None,
                    help="the agent of the heatmap (default: a colloid one, else the first "
                    "non-B2 agent)")
    ev.add_argument("--heatmap-scenario", default="smoke-gups",
                    help="the gups-like scenario whose variants the heatmap plays")
    ev.set_defaults(func=cmd_eval)
    rp = sub.add_parser("replay", help="re-run the rows of a results.jsonl and report those "
                        "whose reward differs (exit 1)")
    rp.add_argument("results", help="a results.jsonl of damon-gym eval")
    rp.add_argument("--jobs", type=int, default=1, help="worker processes")
    rp.add_argument("--backend", default="local", choices=("local", "ray"),
                    help="re-run in local worker processes or as Ray tasks (default local)")
    rp.set_defaults(func=cmd_replay)

