"""Soak test: many env steps in one process with flat memory and no slowdown.

    python benchmarks/soak.py [--steps 1000000] [--env DamonGym/Interleave-v0] [--out FILE]

Plays random actions (episodes reset as they end, every reset a new seed) and samples the
resident set size (RSS, from /proc/self/statm) and the step rate every 1 % of the steps. It
reports the RSS growth from the end of the first 10 % of the steps (after warm-up: numba
compiles, caches filled) to the end, and the step rate of the last 10 % of the steps against
the first 10 %, and writes the samples as JSON (atomically) when ``--out`` is given. Targets
(issue 13): RSS growth under 5 %, the last 10 % within 10 % of the first 10 %'s rate.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

import gymnasium as gym
import numpy as np

import damon_gym  # noqa: F401  (registers the ids)
from damon_gym.files import atomic_write_text

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1_000_000)
    ap.add_argument("--env", default="DamonGym/Interleave-v0")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    env = gym.make(args.env, disable_env_checker=True)
    env.action_space.seed(0)
    env.reset(seed=0)
    every = max(args.steps // 100, 1)
    samples = []
    episodes, t0, t_last = 0, time.perf_counter(), time.perf_counter()
    for i in range(1, args.steps + 1):
        _, _, term, trunc, _ = env.step(env.action_space.sample())
        if term or trunc:
            episodes += 1
            env.reset()
        if i % every == 0:
            now = time.perf_counter()
            samples.append({"step": i, "rss_bytes": rss_bytes(),
                            "steps_per_s": every / (now - t_last), "episodes": episodes})
            t_last = now
    wall = time.perf_counter() - t0
    tenth = max(len(samples) // 10, 1)
    base = samples[tenth - 1]["rss_bytes"]
    growth = samples[-1]["rss_bytes"] / base - 1.0
    first = float(np.mean([s["steps_per_s"] for s in samples[:tenth]]))
    last = float(np.mean([s["steps_per_s"] for s in samples[-tenth:]]))
    result = {"env": args.env, "steps": args.steps, "episodes": episodes, "wall_s": wall,
              "rss_after_first_10pct_mib": base / 2**20,
              "rss_end_mib": samples[-1]["rss_bytes"] / 2**20,
              "rss_growth": growth, "max_rss_mib": resource.getrusage(
                  resource.RUSAGE_SELF).ru_maxrss / 1024,
              "first_10pct_steps_per_s": first, "last_10pct_steps_per_s": last,
              "last_over_first": last / first, "samples": samples}
    print(f"{args.env}: {args.steps:,} steps, {episodes:,} episodes in {wall:.0f} s; RSS "
          f"{result['rss_after_first_10pct_mib']:.1f} -> {result['rss_end_mib']:.1f} MiB "
          f"({100 * growth:+.2f} %, target < 5 %); steps/s first 10 % {first:.0f}, last 10 % "
          f"{last:.0f} (ratio {last / first:.3f}, target >= 0.90)")
    if args.out:
        out = Path(args.out)
        atomic_write_text(out, json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
