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

Agents come from ``damon_gym.agents.registry`` (``make_agent``, ``agent_names``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TextIO

import numpy as np

from damon_gym.evaluation.jobs import Job, agent_api, row_key

#: the reference every row is compared with (``speedup_vs_B2``) and the summary normalised to
B2 = "b2-bw-weights"
TASKS = ("Interleave", "Tiering", "Joint")
RESULTS = "results.jsonl"
GIB = float(2**30)


# -- agents -------------------------------------------------------------------------------------
def resolve_agents(spec: str) -> list[str]:
    """``all`` (every registered name) or a comma-separated list of registered names, their
    ``NAME:ARG`` forms (``instant-oracle:0.1``; ``damon-gym agents`` says which take one) and
    trained models (``ppo:PATH``, agents/learned.py)."""
    names_fn, _ = agent_api()
    known = names_fn()
    if spec.strip() == "all":
        return list(known)
    names = [n.strip() for n in spec.split(",")]
    if not all(names):
        raise ValueError(f"agents: {spec!r} has an empty name; expected all or a,b,...")
    from damon_gym.agents.registry import check_spec
    from damon_gym.training import check_learned_spec, is_learned_spec

    names = [check_learned_spec(n) if is_learned_spec(n) else n for n in names]
    bad = [n for n in names if n not in known and not is_learned_spec(n)
           and n.partition(":")[0] not in known]
    if bad:
        raise ValueError(f"agents: {', '.join(bad)} not registered; known: {', '.join(known)}")
    for n in names:
        if ":" in n and not is_learned_spec(n):
            try:
                check_spec(n)
            except ValueError as e:
                raise ValueError(f"agents: {str(e).removeprefix('agent: ')}") from None
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"agents: {', '.join(dup)} given more than once")
    return names


def b2_name(agents: Iterable[str]) -> str | None:
    """The B2 agent's name among ``agents`` (None: not in the run)."""
    agents = list(agents)
    return B2 if B2 in agents else None


# -- jobs and rows: damon_gym.evaluation.jobs -----------------------------------------------------
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
        self._f: TextIO | None = None

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
        f = self._f
        if f is None:
            raise ValueError(f"{self.path}: not open (open_new or open_for_resume first)")
        f.write(json.dumps(row, allow_nan=False) + "\n")
        f.flush()
        os.fsync(f.fileno())

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
    if resume:
        have = out.open_for_resume()
    else:
        out.open_new()
        have = []
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
