"""The env-facing commands of the ``damon-gym`` CLI: ``run`` (built-in policies side by side
on one episode) and ``headroom`` (reference policies over a suite, docs/headroom.md). The
parser and the other commands are in ``damon_gym.cli``."""

from __future__ import annotations

import argparse
import sys
import time
from typing import SupportsFloat

DEFAULT_POLICIES = ("random", "bandwidth-weights", "instant-oracle")
ROW_EVERY = 10  # steps between two rows of `damon-gym run`


def _policy_names(args: argparse.Namespace) -> list[str]:
    """``--policy NAME`` (one policy) or ``--policies A,B,...``, each a built-in policy."""
    from damon_gym.agents.registry import check_policy

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

    def add(self, r: SupportsFloat, info: dict) -> None:
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
        for env_id in _damon_ids():
            print(env_id)
        return 0
    import gymnasium as gym
    from tqdm import tqdm

    from damon_gym.agents.registry import make_agent
    from damon_gym.envs.base import DamonEnv
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
        if not isinstance(base, DamonEnv):
            raise TypeError(f"env: {args.env} is not a DamonEnv ({type(base).__name__})")
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
    """``text`` to ``path`` atomically (a reader never sees half a file)."""
    from damon_gym.files import atomic_write_text

    atomic_write_text(path, text)


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


