"""The headroom table: what a learner could gain on each scenario of a suite.

For every (scenario, seed) episode of a suite meant for the task, the mean reward of:

* ``random``: uniform actions (seeded by the episode seed);
* every constant of the task's grid (``damon_gym.agents.references.constant_grid``): the best and the
  worst are reported, the best with its label;
* ``bandwidth-weights``: the kernel's weighted-interleave auto weights and the upstream
  tiering settings, held;
* the instant oracle (the model's optimum every step, paying its churn);
* the phase oracle: for each phase of the episode (``env.phase_times()``), from the state the
  earlier phases left, the policy that earns the most over the phase -- among the phase's
  three best constants in the grid's runs, the previous phase's choice and the instant
  oracle at three settings of its move-or-hold rule (``ORACLE_SETTINGS``) -- then the whole
  schedule played live (so it pays for its switches).

Checks per row (docs/headroom.md): an oracle beats the best constant by at least 5 %; two
constants differ by at least 0.1; random is below the best constant.
"""

from __future__ import annotations

import json
import math
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from damon_gym.agents.references import ORACLE_SETTINGS, phase_oracle_schedule

__all__ = ["ORACLE_SETTINGS", "HeadroomRow", "headroom", "headroom_row", "markdown",
           "phase_oracle_schedule", "suite_episodes", "summary"]

ORACLE_GAIN = 0.05
CONSTANT_SPREAD = 0.1


@dataclass
class HeadroomRow:
    task: str
    scenario: str
    seed: int
    scenario_hash: str
    steps: int
    random: float
    best_constant: float
    best_constant_label: str
    worst_constant: float
    bandwidth_weights: float
    instant_oracle: float
    phase_oracle: float
    phase_oracle_labels: list[str] = field(default_factory=list)
    constants: dict[str, float] = field(default_factory=dict)

    @property
    def oracle(self) -> float:
        return max(self.instant_oracle, self.phase_oracle)

    @property
    def oracle_gain(self) -> float:
        """Best oracle over the best constant, minus 1."""
        return self.oracle / self.best_constant - 1.0 if self.best_constant > 0 else math.inf

    @property
    def checks(self) -> dict[str, bool]:
        return {"oracle_gain": self.oracle_gain >= ORACLE_GAIN,
                "constant_spread": self.best_constant - self.worst_constant >= CONSTANT_SPREAD,
                "random_below_best": self.random < self.best_constant}

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(oracle_gain=self.oracle_gain, checks=self.checks)
        return d


def _env(task: str, **kw):
    import gymnasium as gym

    import damon_gym  # noqa: F401  (registers the ids)

    return gym.make(f"DamonGym/{task}-v0", disable_env_checker=True, **kw).unwrapped


def headroom_row(task: str, scenario: str, seed: int, env_kwargs: dict | None = None
                 ) -> HeadroomRow:
    """Every reference policy on the episode (``scenario``, ``seed``) of ``task``."""
    from damon_gym.agents.references import (
        ConstantAgent,
        InstantOracleAgent,
        PhaseOracleAgent,
        constant_grid,
    )
    from damon_gym.agents.simple import BandwidthWeightsAgent, RandomAgent
    from damon_gym.evaluation.rollout import play

    env = _env(task, scenario=scenario, **(env_kwargs or {}))
    opts = {"scenario": scenario, "seed": seed}
    grid = constant_grid(env)
    runs = {label: play(env, ConstantAgent(a, label), options=opts) for label, a in grid}
    ep0 = next(iter(runs.values()))
    oracles = {f"instant-oracle {t:g}/{p}": InstantOracleAgent(env, tolerance=t,
                                                            tier_tolerance=t, patience=p)
               for t, p in ORACLE_SETTINGS}
    schedule, labels = phase_oracle_schedule(env, runs, dict(grid), opts, oracles)
    for _, agent in schedule:  # the copies played on copies of the env: back to this one
        if isinstance(agent, InstantOracleAgent):
            agent.bind(env)
    phase = play(env, PhaseOracleAgent(schedule), options=opts)
    rnd = play(env, RandomAgent(env.action_space), seed=seed, options=opts)
    bw = play(env, BandwidthWeightsAgent(env), options=opts)
    inst = play(env, InstantOracleAgent(env), options=opts)
    means = {k: ep.mean_reward() for k, ep in runs.items()}
    best = max(means, key=lambda k: means[k])
    return HeadroomRow(task=task, scenario=scenario, seed=seed,
                       scenario_hash=ep0.scenario_hash, steps=ep0.steps,
                       random=rnd.mean_reward(), best_constant=means[best],
                       best_constant_label=best, worst_constant=min(means.values()),
                       bandwidth_weights=bw.mean_reward(), instant_oracle=inst.mean_reward(),
                       phase_oracle=phase.mean_reward(), phase_oracle_labels=labels,
                       constants=means)


def _row_job(args: tuple) -> HeadroomRow:
    return headroom_row(*args)


def headroom(task: str, episodes: list[tuple[str, int]], *, jobs: int = 1,
             env_kwargs: dict | None = None, progress=None) -> list[HeadroomRow]:
    """Rows for every (scenario, seed) of ``episodes``, in order; ``jobs`` processes."""
    args = [(task, sc, seed, env_kwargs) for sc, seed in episodes]
    if jobs <= 1:
        out = []
        for a in args:
            out.append(_row_job(a))
            if progress:
                progress(out[-1])
        return out
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        out = []
        for row in pool.map(_row_job, args):
            out.append(row)
            if progress:
                progress(row)
        return out


def suite_episodes(suite: str, task: str, seeds_per_scenario: int = 1) -> list[tuple[str, int]]:
    """The first ``seeds_per_scenario`` seeds of every scenario of the suite meant for
    ``task``."""
    from damon_gym.suites import load_suite

    out: list[tuple[str, int]] = []
    count: dict[str, int] = {}
    for name, seed in load_suite(suite, task=task):
        if count.get(name, 0) < seeds_per_scenario:
            out.append((name, seed))
            count[name] = count.get(name, 0) + 1
    return out


def summary(rows: list[HeadroomRow]) -> dict[str, Any]:
    """How many rows pass each check."""
    n = len(rows)
    passed = {k: sum(r.checks[k] for r in rows) for k in ("oracle_gain", "constant_spread",
                                                            "random_below_best")}
    return {"rows": n, "passed": passed,
            "oracle_gain_share": passed["oracle_gain"] / n if n else float("nan")}


def markdown(rows: list[HeadroomRow], title: str) -> str:
    """The table of docs/headroom.md."""
    head = ("| task | scenario | seed | steps | random | worst const | best const | bw-weights "
            "| instant oracle | phase oracle | oracle gain | checks |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|---|\n")
    lines = []
    for r in rows:
        marks = "".join("✓" if ok else "✗" for ok in r.checks.values())
        lines.append(f"| {r.task} | {r.scenario} | {r.seed} | {r.steps} | {r.random:.3f} | "
                     f"{r.worst_constant:.3f} | {r.best_constant:.3f} ({r.best_constant_label})"
                     f" | {r.bandwidth_weights:.3f} | {r.instant_oracle:.3f} | "
                     f"{r.phase_oracle:.3f} | {100 * r.oracle_gain:+.1f} % | {marks} |")
    s = summary(rows)
    foot = (f"\n{s['passed']['oracle_gain']}/{s['rows']} rows: an oracle beats the best constant"
            f" by >= {100 * ORACLE_GAIN:.0f} %; {s['passed']['constant_spread']}/{s['rows']}: two"
            f" constants differ by >= {CONSTANT_SPREAD}; {s['passed']['random_below_best']}/"
            f"{s['rows']}: random below the best constant. Checks column: oracle gain, constant"
            " spread, random below best.\n")
    return f"## {title}\n\n" + head + "\n".join(lines) + "\n" + foot


def rows_json(rows: list[HeadroomRow]) -> str:
    return json.dumps([r.to_dict() for r in rows], indent=1, default=float)
