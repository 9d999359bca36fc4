"""How much of a step no amount of Python glue removal can take away: the time inside the
compiled (numba) calls, per task, in CartPole-v1 steps (issue 11's unit).

Each task's default env plays random actions over whole episodes (resetting without a seed,
as training does). After a warm-up episode (every compiled path loaded), every numba
dispatcher that ``damon_gym``'s modules call from Python is wrapped with a clock, so the step
splits into *compiled* time (the monitoring windows, the fused DAMOS apply, migration, the
closed-loop solve, ...: the same work a batched compiled core would still do per env) and
*the rest* (Python and numpy glue, which such a core would remove). The monitoring kernel
(``run_windows_p``: sampling, merge, split of every aggregation window) is reported apart;
its cost grows with the number of regions DAMON keeps (up to ``max_nr_regions``), which is
the kernel's behaviour, not overhead.

The *shell* is what no simulator can avoid: a Gymnasium env with the task's spaces, made with
``gym.make`` (the same wrappers), whose step checks the action, copies a fixed observation and
returns an info dict of the same keys and per-node arrays as the task's -- no simulation at
all. Compiled calls plus shell is the floor of a step that kept today's compiled work and
removed every line of glue (issue 11's target 1 asks for 20 CartPole steps).

    python benchmarks/bench_kernel_floor.py [--steps 1200] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
from bench_envs import play  # noqa: E402
from numba.core.registry import CPUDispatcher  # noqa: E402

import damon_gym  # noqa: E402,F401
from damon_gym.envs.observe import INFO_KEYS  # noqa: E402

TASKS = ("Interleave", "Tiering", "Joint")
KERNEL = "run_windows_p"


def _play(env: gym.Env, n: int, seed: int) -> float:
    """Thread CPU seconds of ``n`` random steps (``bench_envs.play``)."""
    return play(env, n, seed, clock=time.thread_time)


def _cartpole_rate(n: int = 20000) -> float:
    return n / _play(gym.make("CartPole-v1"), n, 0)


class _Shell(gym.Env):
    """The task's spaces and info layout around no simulation (see the module)."""

    def __init__(self, like: gym.Env) -> None:
        self.observation_space, self.action_space = like.observation_space, like.action_space
        self._obs = np.zeros(self.observation_space.shape, np.float32)
        self._t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._t = 0
        return self._obs.copy(), {}

    def step(self, action):
        a = np.asarray(action, dtype=np.float64)
        if a.shape != self.action_space.shape or not np.isfinite(a).all():
            raise ValueError("action: not in the action space")
        self._t += 1
        f = np.zeros((5, 8))
        i = np.zeros((2, 8), dtype=np.int64)
        vals = (1.0, 1.0, 1.0, 0.9, 0.0, f[0], f[1], f[2], f[3], f[4], 0, 0, i[0], 0, i[1],
                "scenario", "hash", {"perf_norm": 0.9, "churn": 0.0, "reward": 0.9})
        info = dict(zip(INFO_KEYS, vals, strict=True))
        return self._obs.copy(), 0.9, False, self._t >= 300, info


def _shell(like: gym.Env) -> gym.Env:
    gym.register("DamonGymBenchShell-v0", entry_point=lambda: _Shell(like),
                 max_episode_steps=300)
    env = gym.make("DamonGymBenchShell-v0")
    del gym.registry["DamonGymBenchShell-v0"]
    return env


class _Clocks:
    """Replace every numba dispatcher bound in a ``damon_gym`` module's namespace by a clocked
    wrapper (calls between compiled functions stay compiled and are not counted twice)."""

    def __init__(self) -> None:
        self.t: dict[str, float] = defaultdict(float)
        wrappers: dict[int, object] = {}
        for name, mod in list(sys.modules.items()):
            if not name.startswith("damon_gym") or mod is None:
                continue
            for attr, obj in list(vars(mod).items()):
                if isinstance(obj, CPUDispatcher):
                    w = wrappers.get(id(obj))
                    if w is None:
                        w = wrappers[id(obj)] = self._wrap(obj)
                    setattr(mod, attr, w)

    def _wrap(self, fn: CPUDispatcher):
        t, label, clock = self.t, fn.__name__, time.thread_time

        def clocked(*a, **k):
            t0 = clock()
            try:
                return fn(*a, **k)
            finally:
                t[label] += clock() - t0
        return clocked


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1200)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    envs = {t: gym.make(f"DamonGym/{t}-v0") for t in TASKS}
    for env in envs.values():  # warm: every compiled path of a whole episode loaded
        _play(env, 320, 99)
    shell = _shell(envs["Interleave"])
    cp_before = _cartpole_rate()
    shell_s = _play(shell, 20000, 0) / 20000
    clocks = _Clocks()
    times = {}
    for task, env in envs.items():
        clocks.t.clear()
        times[task] = (_play(env, args.steps, 1), dict(clocks.t))
    cp_after = _cartpole_rate()
    # the host's speed drifts during a run: CartPole's rate before and after, averaged
    cp = (cp_before + cp_after) / 2
    shell_s = (shell_s + _play(shell, 20000, 1) / 20000) / 2
    rows = []
    for task, (total, t) in times.items():
        compiled = sum(t.values())
        us = 1e6 / args.steps
        rows.append({"task": task, "step_us": total * us, "compiled_us": compiled * us,
                     "kernel_us": t.get(KERNEL, 0.0) * us,
                     "step_cartpole": total / args.steps * cp,
                     "compiled_cartpole": compiled / args.steps * cp,
                     "kernel_cartpole": t.get(KERNEL, 0.0) / args.steps * cp,
                     "floor_cartpole": (compiled / args.steps + shell_s) * cp,
                     "top": sorted(((k, v * us) for k, v in t.items()),
                                   key=lambda kv: -kv[1])[:5]})
    if args.json:
        print(json.dumps({"cartpole_steps_per_s": [cp_before, cp_after],
                          "shell_us": shell_s * 1e6, "shell_cartpole": shell_s * cp,
                          "rows": rows}))
        return
    print(f"CartPole-v1: {cp_before:,.0f} steps/s before the tasks, {cp_after:,.0f} after "
          "(their mean is the unit)")
    print(f"the Gymnasium shell alone (no simulation): {shell_s * 1e6:.1f} us = "
          f"{shell_s * cp:.2f} CartPole steps")
    print(f"{'task':<11} {'step':>16} {'compiled calls':>20} {'of which windows':>20} "
          f"{'floor: compiled + shell':>24}")
    for r in rows:
        print(f"{r['task']:<11} {r['step_us']:7.0f} us {r['step_cartpole']:5.1f} cp "
              f"{r['compiled_us']:7.0f} us {r['compiled_cartpole']:5.1f} cp "
              f"{100 * r['compiled_us'] / r['step_us']:3.0f}% "
              f"{r['kernel_us']:7.0f} us {r['kernel_cartpole']:5.1f} cp "
              f"{r['floor_cartpole']:13.1f} cp")
        print("            top compiled: " + ", ".join(f"{k} {v:.0f} us" for k, v in r["top"]))


if __name__ == "__main__":
    main()
