"""One evaluation episode as a job: ``Job`` (agent, task, scenario, seed), ``run_job`` (play it
on a fresh env and return its results row) and the agent registry's API. ``eval`` writes the
rows; ``backends`` runs the jobs (in this process, worker processes or Ray tasks)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

GIB = float(2**30)


def agent_api() -> tuple[Callable[[], list[str]], Callable[[str, Any], Any]]:
    """``(agent_names, make_agent)`` of the agent registry."""
    from damon_gym.agents.registry import agent_names, make_agent

    return (lambda: list(agent_names())), make_agent


@dataclass(frozen=True)
class Job:
    """One episode: ``agent`` plays ``scenario`` (name or path) episode ``seed`` of ``task``.
    ``spec`` (heatmap variants): the scenario is ``variant_scenario(spec)``, named
    ``scenario``."""

    agent: str
    task: str
    scenario: str
    seed: int
    spec: dict | None = field(default=None, compare=False, hash=False)
    trace: bool = field(default=False, compare=False, hash=False)

    @property
    def key(self) -> tuple[str, str, str, int]:
        return (self.agent, self.task, self.scenario, self.seed)

    @property
    def episode(self) -> tuple[str, str, int]:
        return (self.task, self.scenario, self.seed)


def row_key(row: dict) -> tuple[str, str, str, int]:
    return (row["agent"], row["task"], row["scenario"], int(row["seed"]))


def _float(x: float) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def _scenario_arg(job: Job):
    if job.spec is not None:
        from damon_gym.evaluation.variants import variant_scenario

        return variant_scenario(job.spec)
    return job.scenario


def run_job(job: Job) -> tuple[dict, dict | None]:
    """Play ``job`` on a fresh env; the row (without provenance and ``speedup_vs_B2``) and,
    when ``job.trace``, the trace: per step ``t_s``, ``x_over_xstar``, ``perf_norm``,
    ``node_used_gib`` (per node)."""
    import gymnasium as gym

    import damon_gym  # noqa: F401  (registers the ids)
    from damon_gym.envs.base import DamonEnv

    _, make_agent = agent_api()
    env_id = f"DamonGym/{job.task}-v0"
    sc = _scenario_arg(job)
    t0 = time.perf_counter()
    env = gym.make(env_id, disable_env_checker=True, scenario=sc).unwrapped
    if not isinstance(env, DamonEnv):
        raise TypeError(f"env: {env_id} is not a DamonEnv ({type(env).__name__})")
    agent = make_agent(job.agent, env)
    agent.reset(job.seed)
    obs, info = env.reset(seed=job.seed, options={"scenario": sc, "seed": job.seed})
    n = env.nr_nodes
    cols: dict[str, list] = {k: [] for k in ("t", "r", "p", "x", "mig", "pp", "u", "lat",
                                             "used")}
    done = False
    while not done:
        t = float(info["time_s"])
        obs, r, term, trunc, info = env.step(agent.act(obs, info))
        done = term or trunc
        cols["t"].append(t)
        cols["r"].append(float(r))
        cols["p"].append(float(info["perf_norm"]))
        xs = float(info["X_star"])
        cols["x"].append(float(info["X"]) / xs if xs > 0 else 0.0)
        cols["mig"].append(int(info["migrated_bytes"]))
        cols["pp"].append(int(info["pingpong_bytes"]))
        cols["u"].append(np.asarray(info["u"], float)[:n])
        cols["lat"].append(np.asarray(info["latency_ns"], float)[:n])
        cols["used"].append(np.asarray(info["node_used_bytes"], float)[:n] / GIB)
    env.close()
    perf = np.asarray(cols["p"])
    row = {
        "agent": job.agent, "task": job.task, "env_id": env_id, "scenario": job.scenario,
        "scenario_name": info["scenario"], "seed": job.seed,
        "scenario_hash": info["scenario_hash"], "topology": env.topology.name,
        "steps": len(cols["r"]),
        "reward_mean": _float(np.mean(cols["r"])),
        "perf_norm_mean": _float(perf.mean()),
        "perf_norm_p10": _float(np.percentile(perf, 10)),
        "migrated_gib": sum(cols["mig"]) / GIB, "pingpong_gib": sum(cols["pp"]) / GIB,
        "speedup_vs_B2": None,
        "util_mean": [_float(v) for v in np.mean(cols["u"], axis=0)],
        "latency_mean_ns": [_float(v) for v in np.mean(cols["lat"], axis=0)],
        "final_weights": [int(w) for w in np.asarray(info["weights"])[:n]],
        "final_quota_esz": int(info["esz"]),
        "wall_s": round(time.perf_counter() - t0, 3),
    }
    if job.spec is not None:
        row["scenario_spec"] = dict(job.spec)
    trace = None
    if job.trace:
        trace = {"agent": job.agent, "task": job.task, "scenario": job.scenario,
                 "seed": job.seed, "t_s": cols["t"], "x_over_xstar": cols["x"],
                 "perf_norm": cols["p"],
                 "node_used_gib": np.asarray(cols["used"]).tolist()}
    return row, trace
