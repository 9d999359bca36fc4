"""``damon-gym train --backend ray``: training runs as Ray Tune trials.

The trials are a grid: seeds ``S .. S+K-1`` (``--trials K``) times every combination of the
``--sweep KEY=V1,V2`` values (hyperparameters of the algorithm's config file, overridden per
trial). Each trial is one ordinary training run (``damon_gym.training.train.train``) writing
its own folder ``DIR/trial_<k>`` (model, statistics, summary, as a local run), reporting every
held-out evaluation to Tune; Ray runs as many at once as it has CPUs (one CPU per trial): a
local Ray over this machine's cores, or the cluster in ``RAY_ADDRESS``. ``DIR/trials.json``
lists the trials with their parameters and final evaluation; Tune's own records are in
``DIR/ray``.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
from pathlib import Path
from typing import Any

from damon_gym.training.config import TrainConfigError
from damon_gym.training.train import TrainRun, check_run, resolve_config

RAY_TUNE_HINT = ("backend ray: Ray Tune is not installed; install it with "
                 "`pip install 'damon-gym[ray]'` (or `pip install 'ray[tune]'`)")


def trial_grid(run: TrainRun, trials: int, sweep: dict[str, list]) -> list[dict[str, Any]]:
    """One dict per trial: ``trial`` (its index), ``seed`` and ``params`` (the overrides)."""
    keys = list(sweep)
    rows = []
    for combo in itertools.product(*(sweep[k] for k in keys)):
        for i in range(trials):
            rows.append({"seed": run.seed + i, "params": dict(zip(keys, combo, strict=True))})
    for k, r in enumerate(rows):
        r["trial"] = k
    return rows


def _trial_run(run: TrainRun, row: dict[str, Any]) -> TrainRun:
    return dataclasses.replace(run, seed=row["seed"], out=run.out / f"trial_{row['trial']}",
                               overrides=dict(run.overrides, **row["params"]), progress=False,
                               verbose=0)


def tune_trials(run: TrainRun, trials: int, sweep: dict[str, list], *,
                max_concurrent: int | None = None) -> list[dict[str, Any]]:
    """Run the grid as Ray Tune trials; the rows of ``DIR/trials.json``."""
    try:
        import ray
        from ray import tune
    except ImportError:
        raise TrainConfigError(RAY_TUNE_HINT) from None
    if max_concurrent is not None and not 1 <= max_concurrent <= 10_000:
        raise TrainConfigError(f"max-concurrent: {max_concurrent}; allowed: an int in "
                               "[1, 10000]")
    run = dataclasses.replace(run, out=Path(run.out).resolve())  # trials run in other folders
    grid = trial_grid(run, trials, sweep)
    # every trial's arguments and hyperparameters are checked here, before Ray starts
    for row in grid:
        r = check_run(_trial_run(run, row))
        resolve_config(r)
    run.out.mkdir(parents=True, exist_ok=True)

    def trainable(config: dict[str, Any]) -> None:
        from ray import tune as rtune

        from damon_gym.training.train import train

        row = grid[config["trial"]]

        def report(ev: dict[str, Any]) -> None:
            rtune.report({"eval_mean_reward_per_step": ev["mean_reward_per_step"],
                          "eval_mean_reward": ev["mean_reward"],
                          "timesteps": ev["timesteps"], "final": bool(ev.get("final"))})

        summary = train(_trial_run(run, row), report=report)
        if summary.get("final_eval") is None:  # no evaluation: report the end all the same
            rtune.report({"timesteps": summary["timesteps"], "final": True})

    own = not ray.is_initialized()
    if own:
        address = os.environ.get("RAY_ADDRESS") or None
        kw: dict[str, Any] = dict(include_dashboard=False, log_to_driver=False,
                                  configure_logging=False)
        if address is None:
            kw["num_cpus"] = os.cpu_count() or 1
        ray.init(address=address, **kw)
    try:
        tuner = tune.Tuner(
            tune.with_resources(trainable, {"cpu": 1}),
            param_space={"trial": tune.grid_search([r["trial"] for r in grid])},
            tune_config=tune.TuneConfig(max_concurrent_trials=max_concurrent),
            run_config=tune.RunConfig(name="tune", storage_path=str(run.out / "ray"),
                                      verbose=0))
        results = tuner.fit()
    finally:
        if own:
            ray.shutdown()
    # ResultGrid is a sequence by __len__/__getitem__ only
    errors = [r for r in (results[i] for i in range(len(results))) if r.error is not None]
    rows = []
    for row in grid:
        summary_p = run.out / f"trial_{row['trial']}" / "summary.json"
        s = json.loads(summary_p.read_text()) if summary_p.exists() else {}
        final = s.get("final_eval") or {}
        rows.append({**row, "out": str(run.out / f"trial_{row['trial']}"),
                     "timesteps": s.get("timesteps"),
                     "eval_mean_reward_per_step": final.get("mean_reward_per_step"),
                     "eval_mean_reward": final.get("mean_reward"),
                     "best_eval_mean_reward_per_step": max(
                         (e["mean_reward_per_step"] for e in s.get("evaluations", [])),
                         default=None),
                     "ok": bool(s)})
    from damon_gym.files import atomic_write_text

    atomic_write_text(run.out / "trials.json", json.dumps(
        {"task": run.task, "algo": run.algo, "trials": rows}, indent=1) + "\n")
    if errors:
        first = str(errors[0].error).strip().splitlines()
        raise RuntimeError(f"{len(errors)} of {len(grid)} Ray Tune trials failed; the first: "
                           f"{first[-1] if first else errors[0].error!r} (trials.json lists "
                           "the others)")
    return rows
