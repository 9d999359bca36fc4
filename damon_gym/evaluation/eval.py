"""Scripted evaluation: every (agent, scenario, seed) episode of a task, one JSON row each.

* :class:`Job` names an episode and the agent that plays it; :func:`run_job` plays it on a
  fresh env (deterministic: the same job gives the same row anywhere) and returns the row
  (docs/results_format.md) and, when asked, its step-by-step trace for the plots.
* :func:`damon_gym.evaluation.backends.run_jobs` runs jobs on a backend (``local``: this
  process or ``jobs`` worker processes; ``ray``: Ray tasks) and hands every finished row to one
  writer in this process. When the B2 agent (``b2-bw-weights``) is in the run, every other
  agent's episode is started only after B2's row of the same episode is known, so
  ``speedup_vs_B2`` is filled at once.
* :class:`ResultsFile` is that writer: append, flush and fsync per row, so a killed run loses
  no finished row; :meth:`ResultsFile.open_for_resume` drops a half-written last line.
* :func:`replay` re-runs the rows of a results file and reports those whose reward differs.

Agents come from ``agents.registry`` (``make_agent``, ``agent_names``) and, until it exists,
from ``agents.simple`` (random, bandwidth-weights, instant-oracle).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: the reference every row is compared with (``speedup_vs_B2``) and the summary normalised to
B2 = "b2-bw-weights"
#: what B2 is called by agents.simple (before agents.registry exists)
B2_ALIASES = (B2, "bandwidth-weights")
TASKS = ("Interleave", "Tiering", "Joint")
RESULTS = "results.jsonl"
GIB = float(2**30)


# -- agents -------------------------------------------------------------------------------------
def agent_api() -> tuple[Callable[[], list[str]], Callable[[str, Any], Any]]:
    """``(agent_names, make_agent)``: agents.registry's, or agents.simple's until it exists."""
    try:
        from agents.registry import agent_names, make_agent
    except ModuleNotFoundError as e:
        if e.name not in ("agents.registry",):
            raise
        from agents.simple import POLICIES, make_agent

        return (lambda: list(POLICIES)), make_agent
    return (lambda: list(agent_names())), make_agent


def resolve_agents(spec: str) -> list[str]:
    """``all`` (every registered name) or a comma-separated list of registered names."""
    names_fn, _ = agent_api()
    known = names_fn()
    if spec.strip() == "all":
        return list(known)
    names = [n.strip() for n in spec.split(",")]
    if not all(names):
        raise ValueError(f"agents: {spec!r} has an empty name; expected all or a,b,...")
    bad = [n for n in names if n not in known]
    if bad:
        raise ValueError(f"agents: {', '.join(bad)} not registered; known: {', '.join(known)}")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"agents: {', '.join(dup)} given more than once")
    return names


def b2_name(agents: Iterable[str]) -> str | None:
    """The B2 agent's name among ``agents`` (None: not in the run)."""
    agents = list(agents)
    return next((a for a in B2_ALIASES if a in agents), None)


# -- jobs and rows ------------------------------------------------------------------------------
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

    _, make_agent = agent_api()
    env_id = f"DamonGym/{job.task}-v0"
    sc = _scenario_arg(job)
    t0 = time.perf_counter()
    env = gym.make(env_id, disable_env_checker=True, scenario=sc).unwrapped
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
        "scenario_hash": info["scenario_hash"], "steps": len(cols["r"]),
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


def _pkg_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def provenance() -> dict[str, str | None]:
    """What produced the rows: damon-gym's version, the git commit (``-dirty`` with local
    changes), python and the numeric libraries' versions (None: not installed)."""
    import damon_gym

    root = Path(__file__).resolve().parents[2]
    sha = None
    try:
        sha = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip() or None
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain",
                                "--untracked-files=no"], capture_output=True, text=True,
                               timeout=10).stdout.strip()
        if sha and dirty:
            sha += "-dirty"
    except (OSError, subprocess.SubprocessError):
        pass
    return {"version": damon_gym.__version__, "git_sha": sha,
            "python": ".".join(map(str, sys.version_info[:3])),
            "numpy": np.__version__, "torch": _pkg_version("torch"),
            "gymnasium": _pkg_version("gymnasium")}


# -- the results file ---------------------------------------------------------------------------
class ResultsFile:
    """DIR/results.jsonl: one JSON object a line, appended by this one writer (flush + fsync
    per row)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._f = None

    @staticmethod
    def read(path: str | Path) -> list[dict]:
        """The complete rows of a results file (a half-written last line is left out)."""
        p = Path(path)
        if not p.exists():
            return []
        rows = []
        for i, line in enumerate(p.read_text(encoding="utf-8").split("\n")):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line a killed writer left half-written
            if isinstance(obj, dict) and "agent" in obj:
                rows.append(obj)
            else:
                raise ValueError(f"{p}:{i + 1}: not a results row")
        return rows

    def open_for_resume(self) -> list[dict]:
        """Cut a half-written last line off, open for appending; the rows already there."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            data = self.path.read_bytes()
            keep = data.rfind(b"\n") + 1
            if keep < len(data):
                with open(self.path, "r+b") as f:
                    f.truncate(keep)
                    os.fsync(f.fileno())
        rows = self.read(self.path)
        self._f = open(self.path, "a", encoding="utf-8")
        return rows

    def open_new(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists() and self.path.stat().st_size > 0:
            raise ValueError(f"{self.path} already holds rows; pass --resume to complete it "
                             "or choose another --out")
        self._f = open(self.path, "a", encoding="utf-8")

    def append(self, row: dict) -> None:
        self._f.write(json.dumps(row, allow_nan=False) + "\n")
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None


def quiet_progress() -> bool:
    """No progress bar when stderr is not a terminal or under CI=true."""
    return not sys.stderr.isatty() or os.environ.get("CI", "").lower() == "true"


def evaluate(jobs: list[Job], results: str | Path, *, resume: bool = False,
             backend: str = "local", n_jobs: int = 1, ray_num_cpus: int | None = None,
             on_trace: Callable[[dict], None] | None = None, progress: bool = True,
             desc: str = "episodes") -> list[dict]:
    """Run the jobs not yet in ``results`` (with ``resume``) and append their rows; all the
    file's rows afterwards."""
    from tqdm import tqdm

    from damon_gym.evaluation.backends import make_backend, run_jobs

    out = ResultsFile(results)
    have = out.open_for_resume() if resume else (out.open_new() or [])
    try:
        keys = {row_key(r) for r in have}
        todo = [j for j in jobs if j.key not in keys]
        agents = list(dict.fromkeys(j.agent for j in jobs))
        b2 = b2_name(agents)
        b2_perf = {(r["task"], r["scenario"], int(r["seed"])): r["perf_norm_mean"]
                   for r in have if r["agent"] == b2}
        prov = provenance()
        rows = list(have)
        if not todo:
            return rows
        be = make_backend(backend, n_jobs, ray_num_cpus)
        with tqdm(total=len(todo), unit="ep", desc=desc, file=sys.stderr,
                  disable=not progress or quiet_progress()) as bar:
            def on_row(row: dict, trace: dict | None) -> None:
                row.update(prov)
                out.append(row)
                rows.append(row)
                if trace is not None and on_trace is not None:
                    on_trace(trace)
                bar.update(1)

            try:
                run_jobs(todo, be, on_row, b2=b2, b2_perf=b2_perf)
            finally:
                be.close()
        return rows
    finally:
        out.close()


def job_from_row(row: dict) -> Job:
    return Job(row["agent"], row["task"], row["scenario"], int(row["seed"]),
               spec=row.get("scenario_spec"))


def replay(rows: list[dict], *, backend: str = "local", n_jobs: int = 1,
           ray_num_cpus: int | None = None, progress: bool = True) -> list[dict]:
    """Re-run every row; the differences: ``{"row": ..., "reward_mean": replayed,
    "scenario_hash": replayed}`` for each row whose reward_mean (or scenario hash) differs."""
    from tqdm import tqdm

    from damon_gym.evaluation.backends import make_backend, run_jobs

    by_key = {row_key(r): r for r in rows}
    diffs: list[dict] = []
    be = make_backend(backend, n_jobs, ray_num_cpus)
    with tqdm(total=len(by_key), unit="ep", desc="replay", file=sys.stderr,
              disable=not progress or quiet_progress()) as bar:
        def on_row(new: dict, _trace) -> None:
            old = by_key[row_key(new)]
            if new["reward_mean"] != old["reward_mean"] \
                    or new["scenario_hash"] != old.get("scenario_hash"):
                diffs.append({"row": old, "reward_mean": new["reward_mean"],
                              "scenario_hash": new["scenario_hash"]})
            bar.update(1)

        try:
            run_jobs([job_from_row(r) for r in by_key.values()], be, on_row)
        finally:
            be.close()
    return diffs
