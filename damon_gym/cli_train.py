"""``damon-gym train``: train a Stable-Baselines3 agent on a DamonGym task (rl-zoo3
conventions), locally or as Ray Tune trials. The parser is added by
``damon_gym.cli.build_parser``; the machinery is in ``damon_gym.training``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EXAMPLES = """examples:
  damon-gym train --task Interleave --algo ppo --suite train --steps 300000 --out models/interleave
  damon-gym train --task Interleave --algo ppo --out models/interleave --resume
  damon-gym train --task Tiering --algo ppo --imitate instant-oracle --steps 0 --out out/bc
  damon-gym train --task Interleave --algo ppo --steps 20000 --out out/tune --backend ray \\
      --trials 4 --sweep learning_rate=1e-4,3e-4
"""


def _sweep(items: list[str]) -> dict[str, list]:
    """``KEY=V1,V2,...`` (repeatable) -> {KEY: [values]}; values are YAML scalars."""
    from damon_gym.safe_yaml import parse_yaml

    out: dict[str, list] = {}
    for item in items:
        key, sep, vals = item.partition("=")
        key = key.strip()
        if not sep or not key or not vals.strip():
            raise ValueError(f"sweep: {item!r}; expected KEY=V1,V2,... such as "
                             "learning_rate=1e-4,3e-4")
        if key in out:
            raise ValueError(f"sweep: {key!r} given twice; allowed: each key once")
        values = []
        for v in vals.split(","):
            if not v.strip():
                raise ValueError(f"sweep: {item!r} has an empty value")
            values.append(parse_yaml(v.strip(), source=f"--sweep {key}"))
        out[key] = values
    return out


def cmd_train(args: argparse.Namespace) -> int:
    from damon_gym.training.train import TrainRun, check_run, resolve_config

    if args.backend not in ("local", "ray"):
        raise ValueError(f"backend: {args.backend!r}; allowed: local, ray")
    if args.trials < 1 or args.trials > 10_000:
        raise ValueError(f"trials: {args.trials}; allowed: an int in [1, 10000]")
    sweep = _sweep(args.sweep)
    if args.backend == "local" and (args.trials > 1 or sweep):
        raise ValueError("trials, sweep: --trials K > 1 and --sweep run as Ray Tune trials; "
                         "add --backend ray")
    run = TrainRun(task=args.task, algo=args.algo, out=Path(args.out), suite=args.suite,
                   steps=args.steps, resume=args.resume, seed=args.seed,
                   config=Path(args.config) if args.config else None,
                   eval_suite=None if args.eval_suite.lower() == "none" else args.eval_suite,
                   eval_freq=args.eval_freq, eval_episodes=args.eval_episodes,
                   checkpoint_freq=args.checkpoint_freq, n_envs=args.n_envs,
                   subproc=args.vec_env == "subproc",
                   progress=not args.no_progress and sys.stderr.isatty(),
                   verbose=args.verbose, threads=args.threads,
                   trained_agent=Path(args.trained_agent) if args.trained_agent else None,
                   imitate=args.imitate, imitate_steps=args.imitate_steps,
                   imitate_epochs=args.imitate_epochs,
                   imitate_balance=args.imitate_balance)
    if args.backend == "ray":
        from damon_gym.training.tune import tune_trials

        rows = tune_trials(run, args.trials, sweep, max_concurrent=args.max_concurrent)
        for r in rows:
            print(f"trial {r['trial']}: seed {r['seed']}"
                  + "".join(f", {k}={v}" for k, v in r["params"].items())
                  + f": eval reward/step {_fmt(r.get('eval_mean_reward_per_step'))} "
                  f"({r['timesteps']} steps) -> {r['out']}")
        print(f"{len(rows)} trials; table in {Path(args.out) / 'trials.json'}")
        return 0
    run = check_run(run)
    res = resolve_config(run)  # bad hyperparameters fail here, before any env is built
    steps = 0 if run.steps == 0 else res.n_timesteps
    imitation = (f"imitating {run.imitate} over {run.imitate_steps:,} steps, then "
                 if run.imitate else "")
    print(f"training {res.algo.upper()} on {run.env_id} (suite {run.suite}, "
          f"{res.n_envs} envs, {imitation}{steps:,} steps{', resumed' if run.resume else ''}) "
          f"-> {run.out}", flush=True)
    from damon_gym.training.train import train

    summary = train(run)
    final = summary.get("final_eval") or {}
    print(f"{summary['timesteps']:,} steps in {summary['wall_s']:.1f} s; "
          + (f"held-out {run.eval_suite}: mean reward/step "
             f"{_fmt(final.get('mean_reward_per_step'))} over {run.eval_episodes} episodes; "
             if final else "")
          + f"model: {run.out / 'model.zip'}")
    if args.json:
        print(json.dumps(summary))
    return 0


def _fmt(x) -> str:
    return "-" if x is None else f"{x:.4f}"


def add_parser(sub) -> None:
    """The ``train`` subcommand (called from ``damon_gym.cli.build_parser``)."""
    from damon_gym.training import ALGOS

    tr = sub.add_parser("train", help="train a Stable-Baselines3 agent on a task (rl-zoo3 "
                        "hyperparameter files; locally or Ray Tune trials)",
                        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    tr.add_argument("--task", required=True, help="Interleave, Tiering or Joint")
    tr.add_argument("--algo", required=True, choices=ALGOS,
                    help="the algorithm; hyperparameters from configs/agents/ALGO.yml")
    tr.add_argument("--suite", default="train", help="the suite training episodes are drawn "
                    "from (default train)")
    tr.add_argument("--steps", type=int, default=None,
                    help="env steps in all (default: n_timesteps of the config)")
    tr.add_argument("--out", required=True, help="output folder (model.zip, vecnormalize.pkl, "
                    "config.yaml, scenarios.json, summary.json, logs/)")
    tr.add_argument("--resume", action="store_true",
                    help="continue the run in --out from its last checkpoint up to --steps")
    tr.add_argument("--backend", default="local", choices=("local", "ray"),
                    help="this process, or Ray Tune trials (local Ray, or RAY_ADDRESS)")
    tr.add_argument("--trials", type=int, default=1,
                    help="with --backend ray: seeds S..S+K-1 (times every --sweep value)")
    tr.add_argument("--sweep", action="append", default=[], metavar="KEY=V1,V2",
                    help="with --backend ray: a hyperparameter grid (repeatable)")
    tr.add_argument("--max-concurrent", type=int, default=None,
                    help="with --backend ray: trials at once (default: as CPUs allow)")
    tr.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    tr.add_argument("-i", "--trained-agent", default=None, metavar="PATH",
                    help="start from this model (.zip, or a training folder's model.zip) and "
                         "train it on with the config's hyperparameters (rl-zoo3's option)")
    tr.add_argument("--imitate", default=None, metavar="AGENT",
                    help="start the new model from AGENT's play (behaviour cloning on the "
                    "training suite; any agent of `damon-gym agents`, NAME:ARG too); "
                    "--steps 0 keeps the cloned policy as it is")
    tr.add_argument("--imitate-steps", type=int, default=20_000,
                    help="with --imitate: steps of the agent's play to learn from (default "
                    "20000)")
    tr.add_argument("--imitate-epochs", type=int, default=30,
                    help="with --imitate: passes over them (default 30)")
    tr.add_argument("--imitate-balance", type=float, default=None, metavar="SHARE",
                    help="with --imitate: the share of the loss carried by the steps where "
                    "the agent leaves the value it holds most of the time (a teacher that "
                    "acts rarely, e.g. burst-oracle; default: every step alike)")
    tr.add_argument("--config", default=None,
                    help="a hyperparameter file in rl-zoo3's format (default "
                    "configs/agents/ALGO.yml)")
    tr.add_argument("--n-envs", type=int, default=None, help="override n_envs of the config")
    tr.add_argument("--vec-env", default="dummy", choices=("dummy", "subproc"),
                    help="the training envs in this process (dummy, default) or one worker "
                    "process each (subproc; worth it when the envs are slower than the update)")
    tr.add_argument("--eval-suite", default="test",
                    help="held-out suite of the evaluations (default test; none: no evaluation)")
    tr.add_argument("--eval-freq", type=int, default=10_000,
                    help="env steps between evaluations (0: only the final one)")
    tr.add_argument("--eval-episodes", type=int, default=5,
                    help="held-out episodes per evaluation (the same ones each time)")
    tr.add_argument("--checkpoint-freq", type=int, default=10_000,
                    help="env steps between checkpoints (checkpoint.zip, for --resume)")
    tr.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    tr.add_argument("--no-progress", action="store_true", help="no progress bar")
    tr.add_argument("--verbose", type=int, default=0, choices=(0, 1, 2),
                    help="SB3's verbosity (1: its statistics on stdout)")
    tr.add_argument("--json", action="store_true", help="also print summary.json's content")
    tr.set_defaults(func=cmd_train)
