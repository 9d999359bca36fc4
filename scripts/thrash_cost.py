"""What flipping the dests weights every step costs against holding them (docs/reward.md).

    python scripts/thrash_cost.py [--task Interleave] [--scenario NAME] [--seed 0]

Plays, on the task's default scenario (or ``--scenario``), the weights flipping between 25 %
and 100 % of the fast node every step, holding the middle (62.5 %) and holding 100 %, each at
the middle and at the top of the quota range, and prints mean reward, perf_norm and migrated
GiB of each.
"""

from __future__ import annotations

import argparse

import gymnasium as gym
import numpy as np

import damon_gym  # noqa: F401  (registers the ids)
from damon_gym.agents.references import ConstantAgent, _fast_shares, interleave_action
from damon_gym.evaluation.rollout import play


class FlipAgent:
    """Two actions, alternating every step."""

    def __init__(self, a: np.ndarray, b: np.ndarray) -> None:
        self.a, self.b, self.i = a, b, 0

    def reset(self, seed=None) -> None:
        self.i = 0

    def act(self, obs, info) -> np.ndarray:
        self.i += 1
        return (self.a if self.i % 2 else self.b).copy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="Interleave", choices=["Interleave", "Joint"])
    ap.add_argument("--scenario", default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    kw = {} if args.scenario is None else {"scenario": args.scenario}
    env = gym.make(f"DamonGym/{args.task}-v0", disable_env_checker=True, **kw).unwrapped
    env.reset(seed=args.seed)
    tail = np.zeros(0, np.float32)
    if args.task == "Joint":  # tiering at its starting controls
        from damon_gym.agents.references import tiering_action
        tail = tiering_action(env, env._start_quota(), env._start_quota(),
                              env.START_FREE_BP, env.START_USED_BP)
    rows = []
    for qname, q in (("mid", env._start_quota()), ("max", env.quota_max)):
        def act(share, q=q):
            return np.concatenate([interleave_action(env, _fast_shares(env, share), q), tail])
        for name, agent in ((f"flip 25/100 %, quota {qname}", FlipAgent(act(0.25), act(1.0))),
                            (f"hold 62.5 %, quota {qname}", ConstantAgent(act(0.625))),
                            (f"hold 100 %, quota {qname}", ConstantAgent(act(1.0)))):
            ep = play(env, agent, seed=args.seed)
            rows.append((name, ep.reward.mean(), ep.perf_norm.mean(), ep.migrated.sum() / 2**30))
    print(f"{args.task} on {env.scenario.name} (seed {args.seed}, hash {env.scenario_hash}):")
    print(f"{'policy':32s} {'reward':>7s} {'perf':>7s} {'GiB':>8s}")
    for name, r, p, g in rows:
        print(f"{name:32s} {r:7.3f} {p:7.3f} {g:8.1f}")


if __name__ == "__main__":
    main()
