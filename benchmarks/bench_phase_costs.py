"""What training on a suite pays per phase: the hotness curve of each workload phase and its X*
solves, on a first pass over some of the `train` suite's episodes and on a second pass over
the same episodes after the curves left the process's curve cache (what a long run meets:
the suite's episodes come back, the 256-curve cache has long turned over).

Per task: µs per env step of each pass (random actions), their ratio, and the share of the
first pass's step time spent building hotness curves and solving X*. The second pass must
replay the first bit for bit (checked).

    python benchmarks/bench_phase_costs.py [--episodes 4] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gymnasium as gym  # noqa: E402

import damon_gym  # noqa: E402,F401
import damon_gym.simulation as simulation  # noqa: E402
from damon_gym.perf import performance  # noqa: E402

TASKS = ("Interleave", "Tiering", "Joint")


class _Clock:
    """Wall time spent inside ``Simulation.hotness`` and ``PerformanceModel._optimum``."""

    def __init__(self) -> None:
        self.t = {"hotness": 0.0, "xstar": 0.0}
        self._orig = (simulation.Simulation.hotness, performance.PerformanceModel._optimum)

    def __enter__(self) -> _Clock:
        hot, opt = self._orig

        def timed(fn, key):
            def wrapper(*a, **k):
                t0 = time.perf_counter()
                try:
                    return fn(*a, **k)
                finally:
                    self.t[key] += time.perf_counter() - t0
            return wrapper

        simulation.Simulation.hotness = timed(hot, "hotness")  # type: ignore[method-assign]
        performance.PerformanceModel._optimum = timed(opt, "xstar")  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc) -> None:
        simulation.Simulation.hotness, performance.PerformanceModel._optimum = self._orig


def _play(env, seeds) -> tuple[str, float, int]:
    h = hashlib.sha256()
    n = 0
    t0 = time.perf_counter()
    for s in seeds:
        env.reset(seed=s)
        env.action_space.seed(s)
        while True:
            obs, r, te, tr, _ = env.step(env.action_space.sample())
            h.update(obs.tobytes() + np.float64(r).tobytes())
            n += 1
            if te or tr:
                break
    return h.hexdigest(), (time.perf_counter() - t0) / n * 1e6, n


def run(episodes: int = 4) -> dict:
    out = {}
    for task in TASKS:
        env = gym.make(f"DamonGym/{task}-v0", suite="train")
        _play(env, [10_000])  # numba and imports warm
        seeds = list(range(1, episodes + 1))
        with _Clock() as clock:
            first, us1, n = _play(env, seeds)
        simulation._HOTNESS.clear()  # the curves evicted; their keys and X* stay cached
        again, us2, _ = _play(env, seeds)
        if again != first:
            raise RuntimeError(f"{task}: the second pass did not replay the first")
        out[task] = {"steps": n, "first_pass_us_per_step": round(us1, 1),
                     "second_pass_us_per_step": round(us2, 1),
                     "second_over_first": round(us2 / us1, 3),
                     "first_pass_share_hotness": round(clock.t["hotness"] / (us1 * n * 1e-6), 3),
                     "first_pass_share_xstar": round(clock.t["xstar"] / (us1 * n * 1e-6), 3)}
        env.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=4)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    res = run(args.episodes)
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        for task, r in res.items():
            print(f"{task:10s} {r['steps']:5d} steps: first pass {r['first_pass_us_per_step']:8.1f}"
                  f" us/step (hotness {r['first_pass_share_hotness']:.1%}, X* "
                  f"{r['first_pass_share_xstar']:.1%}), second {r['second_pass_us_per_step']:8.1f}"
                  f" us/step, ratio {r['second_over_first']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
