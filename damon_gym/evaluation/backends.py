"""Where the episodes of an evaluation run: ``local`` (this process, or ``jobs`` worker
processes) or ``ray`` (Ray tasks: the cluster in RAY_ADDRESS, else a local Ray), and
:func:`run_jobs`, which feeds a backend and hands every finished row to the caller in this
process (the one writer)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from damon_gym.evaluation.jobs import Job, run_job

RAY_HINT = ("backend ray: Ray is not installed; install it with `pip install 'damon-gym[ray]'` "
            "(or `pip install ray`)")


class _Serial:
    capacity = 1

    def submit(self, job: Job):
        return run_job(job)

    def wait(self, handles: list) -> tuple[list, list]:
        return handles, []

    def result(self, h):
        return h

    def close(self) -> None:
        pass


class _Pool:
    def __init__(self, jobs: int) -> None:
        from concurrent.futures import ProcessPoolExecutor

        self.pool = ProcessPoolExecutor(max_workers=jobs)
        self.capacity = 2 * jobs

    def submit(self, job: Job):
        return self.pool.submit(run_job, job)

    def wait(self, handles: list) -> tuple[list, list]:
        from concurrent.futures import FIRST_COMPLETED, wait

        done, rest = wait(handles, return_when=FIRST_COMPLETED)
        return list(done), list(rest)

    def result(self, h):
        return h.result()

    def close(self) -> None:
        self.pool.shutdown(cancel_futures=True)


class _Ray:
    """Ray tasks: the cluster in RAY_ADDRESS, else a local Ray with ``num_cpus`` (default:
    the machine's cores)."""

    def __init__(self, num_cpus: int | None = None) -> None:
        try:
            import ray
        except ImportError:
            raise ValueError(RAY_HINT) from None
        self.ray = ray
        self.own = not ray.is_initialized()
        if self.own:
            address = os.environ.get("RAY_ADDRESS") or None
            kw: dict[str, Any] = dict(include_dashboard=False, log_to_driver=False,
                                      configure_logging=False)
            if address is None:
                kw["num_cpus"] = num_cpus or os.cpu_count() or 1
            ray.init(address=address, **kw)
        self.remote = ray.remote(num_cpus=1)(run_job)
        self.capacity = 2 * max(1, int(ray.cluster_resources().get("CPU", 1)))

    def submit(self, job: Job):
        return self.remote.remote(job)

    def wait(self, handles: list) -> tuple[list, list]:
        return self.ray.wait(handles, num_returns=1)

    def result(self, h):
        return self.ray.get(h)

    def close(self) -> None:
        if self.own:
            self.ray.shutdown()


def make_backend(backend: str, jobs: int = 1, ray_num_cpus: int | None = None):
    if backend == "local":
        return _Serial() if jobs <= 1 else _Pool(jobs)
    if backend == "ray":
        return _Ray(ray_num_cpus)
    raise ValueError(f"backend: {backend!r}; allowed: local, ray")


def run_jobs(jobs: list[Job], backend, on_row: Callable[[dict, dict | None], None], *,
             b2: str | None = None, b2_perf: dict | None = None) -> None:
    """Run ``jobs`` on ``backend`` and call ``on_row(row, trace)`` in this process for every
    finished one, its ``speedup_vs_B2`` filled when ``b2`` (the B2 agent's name) is given:
    a job of another agent starts once B2's row of its episode is in ``b2_perf`` (episode ->
    B2's perf_norm_mean; rows already on file may be passed in)."""
    b2_perf = dict(b2_perf or {})
    first = [j for j in jobs if j.agent == b2]
    later = [j for j in jobs if j.agent != b2]
    b2_eps = {j.episode for j in first}
    inflight: list = []

    def ready(j: Job) -> bool:  # no B2 job of the episode in this run: start at once
        return b2 is None or j.episode in b2_perf or j.episode not in b2_eps

    while first or later or inflight:
        while len(inflight) < backend.capacity and (first or later):
            if first:
                j = first.pop(0)
            else:
                i = next((i for i, j in enumerate(later) if ready(j)), None)
                if i is None:
                    break
                j = later.pop(i)
            inflight.append(backend.submit(j))
        if not inflight:
            raise RuntimeError("evaluation: jobs wait for a B2 row that never comes")
        done, inflight = backend.wait(inflight)
        for h in done:
            row, trace = backend.result(h)
            ep = (row["task"], row["scenario"], row["seed"])
            if b2 is not None and row["agent"] == b2:
                b2_perf[ep] = row["perf_norm_mean"]
            base = b2_perf.get(ep) if b2 is not None else None
            if base is not None and row["perf_norm_mean"] is not None and base > 0:
                row["speedup_vs_B2"] = row["perf_norm_mean"] / base
            on_row(row, trace)
