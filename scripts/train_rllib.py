"""Train RLlib's PPO on a DamonGym task (issue 12: scale-out on an existing engine).

    python scripts/train_rllib.py --task Interleave --suite train --iterations 50 \\
        --out out/rllib-interleave [--env-runners 2] [--seed 0]

RLlib (``ray[rllib]``) pins an older Gymnasium than the rest of the project's environment
(Ray 2.60 wants gymnasium==1.2.2), so it lives in a separate environment; damon-gym itself runs
on both (``make test-rllib`` builds ``.venv-rllib`` and runs tests/test_rllib.py there). The
env is registered with Tune under ``damon_gym_<task>`` through a creator that imports
damon_gym in each env runner; every episode is drawn from the suite (``suite=...``).
RLlib's default MLP model sees the flat observation (the node-set policy of
``damon-gym train`` is an SB3 policy). With a cluster in ``RAY_ADDRESS`` the env runners
spread over it. Writes the algorithm's checkpoint to ``OUT/checkpoint`` and one line per
iteration (mean episode return, env steps) to ``OUT/progress.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

TASKS = ("Interleave", "Tiering", "Joint")


def _env_creator(config):
    import gymnasium as gym

    import damon_gym  # noqa: F401  (registers the ids in this env runner)

    kw = dict(config)
    task = kw.pop("task")
    return gym.make(f"DamonGym/{task}-v0", disable_env_checker=True,
                    max_episode_steps=kw.pop("horizon"), **kw)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", default="Interleave", help="Interleave, Tiering or Joint")
    p.add_argument("--suite", default="train", help="suite the episodes are drawn from")
    p.add_argument("--iterations", type=int, default=50, help="training iterations")
    p.add_argument("--batch", type=int, default=4000, help="env steps per iteration")
    p.add_argument("--minibatch", type=int, default=256, help="SGD minibatch size")
    p.add_argument("--epochs", type=int, default=10, help="SGD epochs per iteration")
    p.add_argument("--lr", type=float, default=3e-4, help="learning rate")
    p.add_argument("--gamma", type=float, default=0.95, help="discount")
    p.add_argument("--horizon", type=int, default=300, help="steps per episode at most")
    p.add_argument("--env-runners", type=int, default=1, help="RLlib env runners (processes)")
    p.add_argument("--seed", type=int, default=0, help="seed")
    p.add_argument("--out", required=True, help="output folder")
    args = p.parse_args(argv)
    task = {t.lower(): t for t in TASKS}.get(args.task.lower())
    if task is None:
        p.error(f"--task: {args.task!r}; allowed: {', '.join(TASKS)}")
    args.task = task
    for name, lo in (("iterations", 1), ("batch", 1), ("minibatch", 1), ("epochs", 1),
                     ("horizon", 1), ("env_runners", 0), ("seed", 0)):
        if getattr(args, name) < lo:
            p.error(f"--{name.replace('_', '-')}: {getattr(args, name)}; allowed: an int >= {lo}")
    if not 0 < args.lr < 1:
        p.error(f"--lr: {args.lr}; allowed: in (0, 1)")
    if not 0 < args.gamma <= 1:
        p.error(f"--gamma: {args.gamma}; allowed: in (0, 1]")
    if args.minibatch > args.batch:
        p.error(f"--minibatch: {args.minibatch}; allowed: at most --batch ({args.batch})")
    from damon_gym.suites import load_suite

    try:
        if not load_suite(args.suite, task=args.task):
            p.error(f"--suite: {args.suite!r} has no episode meant for {args.task}")
    except ValueError as e:
        p.error(f"--suite: {e}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    try:
        import ray
        from ray.rllib.algorithms.ppo import PPOConfig
        from ray.tune.registry import register_env
    except ImportError as e:
        print(f"train_rllib: RLlib is not installed here ({e}); install it in a separate "
              "environment: `make test-rllib` builds one (.venv-rllib)", file=sys.stderr)
        return 2
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    name = f"damon_gym_{args.task.lower()}"
    register_env(name, _env_creator)
    if not ray.is_initialized():
        address = os.environ.get("RAY_ADDRESS") or None
        kw = {} if address else {"num_cpus": os.cpu_count() or 1}
        ray.init(address=address, include_dashboard=False, log_to_driver=False, **kw)
    config = (
        PPOConfig()
        .environment(name, env_config={"task": args.task, "suite": args.suite,
                                       "horizon": args.horizon})
        .env_runners(num_env_runners=args.env_runners, num_envs_per_env_runner=1,
                     rollout_fragment_length="auto")
        .training(train_batch_size_per_learner=args.batch, minibatch_size=args.minibatch,
                  num_epochs=args.epochs, lr=args.lr, gamma=args.gamma, lambda_=0.9)
        .debugging(seed=args.seed)
    )
    algo = config.build_algo()
    from damon_gym.files import atomic_write_text

    lines = []
    try:
        for it in range(args.iterations):
            result = algo.train()
            runners = result.get("env_runners", {})
            row = {"iteration": it + 1,
                   "episode_return_mean": runners.get("episode_return_mean"),
                   "episode_len_mean": runners.get("episode_len_mean"),
                   "env_steps": result.get("num_env_steps_sampled_lifetime",
                                           runners.get("num_env_steps_sampled_lifetime"))}
            lines.append(json.dumps(row))
            atomic_write_text(out / "progress.jsonl", "\n".join(lines) + "\n")
            print(f"iteration {row['iteration']}: episode return mean "
                  f"{row['episode_return_mean']}, env steps {row['env_steps']}", flush=True)
        path = algo.save_to_path(str(out / "checkpoint"))
        print(f"checkpoint: {path}")
    finally:
        algo.stop()
        ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
