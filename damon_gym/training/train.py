"""One training run of a Stable-Baselines3 agent on a DamonGym task (``damon-gym train``).

The output folder ``DIR`` holds, when the run ends:

* ``model.zip`` (the algorithm's ``save``) and ``vecnormalize.pkl`` (the ``VecNormalize``
  statistics, which ``ppo:DIR`` agents apply to their observations);
* ``config.yaml``: the resolved hyperparameters, the file they came from and the command's
  arguments; ``scenarios.json``: the content hash of every (scenario, seed) episode of the
  training and evaluation suites, and how many episodes of each hash training played;
* ``summary.json``: steps, wall time, the evaluations on the held-out suite (mean reward per
  episode and per step) and the final one;
* ``best_model.zip`` / ``best_vecnormalize.pkl`` (the best evaluation so far),
  ``checkpoint.zip`` / ``checkpoint_vecnormalize.pkl`` / ``checkpoint.json`` (what ``--resume``
  continues from), ``logs/run_<k>/`` (TensorBoard events and progress.csv: SB3's training
  statistics, the reward terms and per-node metrics from ``info``, the evaluations).

Every file is written through a temporary name and ``os.replace``: an interrupted run leaves
whole files (or none), never half of one.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from damon_gym.training import ALGOS, check_learned_spec, is_learned_spec
from damon_gym.training.config import (
    Resolved,
    TrainConfigError,
    default_config_path,
    load_hyperparams,
)

TASKS = ("Interleave", "Tiering", "Joint")
MAX_SEED = 2**31 - 1


@dataclass
class TrainRun:
    """What ``damon-gym train`` was asked for (see the CLI's help for each field)."""

    task: str
    algo: str
    out: Path
    suite: str = "train"
    steps: int | None = None
    resume: bool = False
    seed: int = 0
    config: Path | None = None
    eval_suite: str | None = "test"
    eval_freq: int = 10_000
    eval_episodes: int = 5
    eval_seed: int = 12_345
    checkpoint_freq: int = 10_000
    n_envs: int | None = None
    subproc: bool = False
    progress: bool = True
    verbose: int = 0
    threads: int = 1
    trained_agent: Path | None = None
    imitate: str | None = None
    imitate_steps: int = 20_000
    imitate_epochs: int = 30
    imitate_balance: float | None = None
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def env_id(self) -> str:
        return f"DamonGym/{self.task}-v0"


def task_name(name: str) -> str:
    task = {t.lower(): t for t in TASKS}.get(str(name).lower())
    if task is None:
        raise TrainConfigError(f"task: {name!r}; allowed: {', '.join(TASKS)}")
    return task


def check_run(run: TrainRun) -> TrainRun:
    """``run`` with its task spelled as registered; a TrainConfigError naming the first bad
    field otherwise (before anything is built)."""
    from damon_gym.suites import load_suite

    run = dataclasses.replace(run, task=task_name(run.task), out=Path(run.out))
    if run.algo not in ALGOS:
        raise TrainConfigError(f"algo: {run.algo!r}; allowed: {', '.join(ALGOS)}")

    def whole(name: str, v: Any, lo: int, hi: int, none_ok: bool = False) -> None:
        if v is None and none_ok:
            return
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise TrainConfigError(f"{name}: {v!r}; allowed: an int in [{lo}, {hi:,}]")

    # --steps 0: the imitation alone (the cloned policy, no reinforcement learning after it)
    whole("steps", run.steps, 0 if run.imitate else 1, 10**9, none_ok=True)
    whole("seed", run.seed, 0, MAX_SEED)
    whole("eval-freq", run.eval_freq, 0, 10**9)
    whole("eval-episodes", run.eval_episodes, 1, 10_000)
    whole("checkpoint-freq", run.checkpoint_freq, 1, 10**9)
    whole("n-envs", run.n_envs, 1, 64, none_ok=True)
    whole("threads", run.threads, 1, 256)
    for name, suite in (("suite", run.suite), ("eval-suite", run.eval_suite)):
        if suite is None:  # only eval-suite may be None (no held-out evaluation)
            continue
        try:
            entries = load_suite(suite, task=run.task)
        except ValueError as e:
            raise TrainConfigError(f"{name}: {e}") from None
        if not entries:
            raise TrainConfigError(f"{name}: suite {suite!r} has no episode meant for "
                                   f"{run.task}")
    if run.trained_agent is not None:
        ta = Path(run.trained_agent)
        if ta.is_dir():
            ta = ta / "model.zip"
        if ta.suffix != ".zip" or not ta.is_file():
            raise TrainConfigError(f"trained-agent: {run.trained_agent}: not a model .zip or a "
                                   "training folder holding model.zip")
        if run.resume:
            raise TrainConfigError("trained-agent: not with --resume (a resumed run continues "
                                   "its own checkpoint)")
        run = dataclasses.replace(run, trained_agent=ta)
    if run.imitate is not None:
        _check_imitation(run)
        whole("imitate-steps", run.imitate_steps, 1, 10**7)
        whole("imitate-epochs", run.imitate_epochs, 1, 1000)
    b = run.imitate_balance
    if b is not None and (run.imitate is None or isinstance(b, bool)
                          or not isinstance(b, (int, float)) or not 0.0 < b < 1.0):
        raise TrainConfigError(f"imitate-balance: {b!r}; allowed: a share in (0, 1), with "
                               "--imitate")
    if run.config is not None and not Path(run.config).is_file():
        raise TrainConfigError(f"config: {run.config}: no such file")
    out = run.out
    if out.exists() and not out.is_dir():
        raise TrainConfigError(f"out: {out} exists and is not a folder")
    has_run = (out / "checkpoint.json").exists() or (out / "model.zip").exists()
    if run.resume and not (out / "checkpoint.json").exists():
        raise TrainConfigError(f"resume: {out} holds no checkpoint (checkpoint.json) to resume; "
                               "run without --resume to start a new run there")
    if has_run and not run.resume:
        raise TrainConfigError(f"out: {out} already holds a training run; give --resume to "
                               "continue it, or another --out")
    return run


def _check_imitation(run: TrainRun) -> None:
    """--imitate: an on-policy algorithm, a fresh model, and an agent the registry makes."""
    from damon_gym.training.imitation import IMITATE_ALGOS

    if run.algo not in IMITATE_ALGOS:
        raise TrainConfigError(f"imitate: not with --algo {run.algo}; allowed with "
                               f"{', '.join(IMITATE_ALGOS)} (a policy with an action mean)")
    if run.resume or run.trained_agent is not None:
        raise TrainConfigError("imitate: only for a new model (not with --resume or "
                               "--trained-agent, whose policy is trained already)")
    from damon_gym.agents.registry import check_spec

    spec = str(run.imitate)
    try:
        check_spec(spec)
    except ValueError as e:
        raise TrainConfigError(f"imitate: {str(e).removeprefix('agent: ')}") from None
    if is_learned_spec(spec):
        try:
            check_learned_spec(spec)
        except ValueError as e:
            raise TrainConfigError(f"imitate: {str(e).removeprefix('agent: ')}") from None


def resolve_config(run: TrainRun) -> Resolved:
    raw = load_hyperparams(run.algo, run.env_id, run.config)
    raw.update(run.overrides)
    if run.n_envs is not None:
        raw["n_envs"] = run.n_envs
    # --steps 0 (imitation alone) learns nothing after it; the config's budget stays resolved
    res = Resolved(run.algo, raw).with_steps(run.steps or None)
    if res.normalize is not None and "gamma" in res.algo_kwargs:
        res.normalize.setdefault("gamma", res.algo_kwargs["gamma"])  # as rl-zoo3 does
    return res


def _vec_env(env_id: str, n: int, seed: int, suite: str, subproc: bool = False,
             env_kwargs: dict[str, Any] | None = None):
    """``n`` envs of ``env_id`` drawing their episodes from ``suite``, in SB3's VecMonitor.
    The id's registered step limit is its own scenario's; a suite's episodes end where each
    env truncates itself, so the limit is lifted to the envs' horizon. ``env_kwargs``: the
    hyperparameter file's reward terms (as rl-zoo3, the held-out evaluation uses them too)."""
    from stable_baselines3.common.vec_env import VecMonitor

    from damon_gym.envs.registration import HORIZON
    from damon_gym.envs.vector import make_sb3_vec_env

    return VecMonitor(make_sb3_vec_env(env_id, n, seed=seed, subproc=subproc, suite=suite,
                                       max_episode_steps=HORIZON, disable_env_checker=True,
                                       **(env_kwargs or {})))


def scenario_hashes(suite: str, task: str) -> list[dict[str, Any]]:
    """Every episode of ``suite`` meant for ``task`` with its concrete scenario's hash."""
    from damon_gym.scenario import load_scenario
    from damon_gym.suites import load_suite

    cache: dict[str, Any] = {}
    rows = []
    for name, seed in load_suite(suite, task=task):
        base = cache.get(name) or cache.setdefault(name, load_scenario(name))
        rows.append({"scenario": name, "seed": seed,
                     "hash": base.resolved(seed).content_hash()})
    return rows


def _logger(out: Path, verbose: int):
    """SB3 logger writing TensorBoard events (when tensorboard is installed) and a CSV to a
    new ``logs/run_<k>`` (a resumed run gets the next k)."""
    from stable_baselines3.common.logger import configure

    k = 0
    while (out / "logs" / f"run_{k}").exists():
        k += 1
    folder = out / "logs" / f"run_{k}"
    formats = ["csv"]
    try:
        import tensorboard  # noqa: F401

        formats.append("tensorboard")
    except ImportError:
        print("damon-gym train: tensorboard is not installed; logging to CSV only "
              "(pip install 'damon-gym[rl]')", file=sys.stderr)
    if verbose:
        formats.append("stdout")
    return configure(str(folder), formats), folder


def train(run: TrainRun, report=None) -> dict[str, Any]:
    """Train (or resume) ``run``; returns the summary written to ``summary.json``.
    ``report(row)`` is called after every evaluation (Ray Tune reports through it)."""
    import torch as th
    from stable_baselines3.common.vec_env import VecNormalize

    from damon_gym.files import atomic_write_text
    from damon_gym.training.callbacks import (
        AtomicCheckpointCallback,
        HeldOutEvalCallback,
        InfoLoggerCallback,
        remove_partial,
        save_model_atomic,
        save_vecnormalize_atomic,
        write_checkpoint,
    )
    from damon_gym.training.config import algo_class

    run = check_run(run)
    res = resolve_config(run)
    out = run.out
    out.mkdir(parents=True, exist_ok=True)
    remove_partial(out)
    th.set_num_threads(run.threads)
    cls = algo_class(run.algo)
    t0 = time.perf_counter()

    venv = _vec_env(run.env_id, res.n_envs, run.seed, run.suite, run.subproc, res.env_kwargs)
    if run.resume and (out / "checkpoint_vecnormalize.pkl").exists():
        venv = VecNormalize.load(str(out / "checkpoint_vecnormalize.pkl"), venv)
        venv.training = True
    elif res.normalize is not None:
        venv = VecNormalize(venv, **res.normalize)
    eval_env = None
    if run.eval_suite is not None:
        eval_env = _vec_env(run.env_id, 1, run.eval_seed, run.eval_suite,
                            env_kwargs=res.env_kwargs)
        if isinstance(venv, VecNormalize):
            eval_env = VecNormalize(eval_env, training=False, norm_obs=venv.norm_obs,
                                    norm_reward=False, clip_obs=venv.clip_obs)

    logger, log_dir = _logger(out, run.verbose)
    if run.resume:
        model = cls.load(str(out / "checkpoint.zip"), env=venv, device="cpu")
        done_steps = int(model.num_timesteps)
    elif run.trained_agent is not None:
        # rl-zoo3's --trained-agent: the saved policy (and its optimiser) goes on training with
        # this file's hyperparameters on this run's envs; the step count starts again at 0
        model = cls.load(str(run.trained_agent), env=venv, device="cpu", seed=run.seed,
                         verbose=run.verbose, **res.algo_kwargs)
        done_steps = 0
    else:
        model = cls(res.policy, venv, seed=run.seed, device="cpu", verbose=run.verbose,
                    policy_kwargs=res.policy_kwargs or None, **res.algo_kwargs)
        done_steps = 0
    model.set_logger(logger)
    imitation = None
    if run.imitate is not None:
        from damon_gym.training.imitation import imitate

        imitation = imitate(model, run.env_id, run.imitate, run.suite, run.imitate_steps,
                            run.imitate_epochs, run.seed, res.env_kwargs,
                            balance=run.imitate_balance)

    info_cb = InfoLoggerCallback(every=max(1, 1000 // res.n_envs))
    callbacks: list = [info_cb, AtomicCheckpointCallback(out, run.checkpoint_freq)]
    eval_cb = None
    if eval_env is not None:
        eval_cb = HeldOutEvalCallback(eval_env, eval_seed=run.eval_seed, best_dir=out,
                                      eval_freq=max(1, run.eval_freq // res.n_envs)
                                      if run.eval_freq else 0,
                                      n_eval_episodes=run.eval_episodes)
        callbacks.append(eval_cb)
        if report is not None:
            callbacks.append(_ReportCallback(eval_cb, report))
    remaining = (0 if run.steps == 0 else res.n_timesteps) - done_steps
    try:
        if remaining > 0:
            model.learn(total_timesteps=remaining, callback=callbacks,
                        reset_num_timesteps=not run.resume, progress_bar=run.progress)
    except KeyboardInterrupt:
        write_checkpoint(model, out)  # a whole checkpoint to --resume from
        raise
    write_checkpoint(model, out)
    if eval_cb is not None and remaining <= 0:
        eval_cb.init_callback(model)  # learn() did not run (--steps 0, or nothing left)
    final = eval_cb.evaluate() if eval_cb is not None else None
    if report is not None and final is not None:
        report(dict(final, final=True))
    save_model_atomic(model, out / "model.zip")
    vn = model.get_vec_normalize_env()
    if vn is not None:
        save_vecnormalize_atomic(vn, out / "vecnormalize.pkl")
    wall = time.perf_counter() - t0

    import yaml

    cfg = {"command": {k: (str(v) if isinstance(v, Path) else v)
                       for k, v in dataclasses.asdict(run).items()},
           "env_id": run.env_id,
           "config_file": str(run.config or default_config_path(run.algo)),
           "resolved": res.describe()}
    atomic_write_text(out / "config.yaml", yaml.safe_dump(cfg, sort_keys=False))
    old = {}
    if (out / "scenarios.json").exists():
        old = json.loads((out / "scenarios.json").read_text()).get("played", {})
    played = {h: {"scenario": info_cb.scenario_of[h],
                  "episodes": n + old.get(h, {}).get("episodes", 0)}
              for h, n in info_cb.hashes.items()}
    for h, v in old.items():
        played.setdefault(h, v)
    scen = {"train_suite": run.suite, "train": scenario_hashes(run.suite, run.task),
            "eval_suite": run.eval_suite,
            "eval": scenario_hashes(run.eval_suite, run.task) if run.eval_suite else [],
            "played": played}
    atomic_write_text(out / "scenarios.json", json.dumps(scen, indent=1) + "\n")
    prev = {}
    if (out / "summary.json").exists():
        prev = json.loads((out / "summary.json").read_text())
    history = list(prev.get("evaluations", [])) + (eval_cb.history if eval_cb else [])
    summary = {"task": run.task, "algo": run.algo, "env_id": run.env_id, "seed": run.seed,
               "timesteps": int(model.num_timesteps), "target_timesteps": res.n_timesteps,
               "wall_s": round(wall + float(prev.get("wall_s", 0.0)), 2),
               "resumed": bool(run.resume),
               "trained_agent": str(run.trained_agent) if run.trained_agent else
               prev.get("trained_agent"),
               "imitation": imitation if imitation is not None else prev.get("imitation"),
               "train_suite": run.suite,
               "eval_suite": run.eval_suite, "eval_episodes": run.eval_episodes,
               "evaluations": history, "final_eval": final,
               "log_dir": str(log_dir.relative_to(out)),
               "versions": _versions()}
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=1) + "\n")
    venv.close()
    if eval_env is not None:
        eval_env.close()
    return summary


class _ReportCallback:
    """Calls ``report(row)`` after each evaluation of ``eval_cb`` (Ray Tune)."""

    def __new__(cls, eval_cb, report):
        from stable_baselines3.common.callbacks import BaseCallback

        class _CB(BaseCallback):
            def __init__(self) -> None:
                super().__init__()
                self._seen = 0

            def _on_step(self) -> bool:
                if len(eval_cb.history) > self._seen:
                    self._seen = len(eval_cb.history)
                    report(dict(eval_cb.history[-1], final=False))
                return True

        return _CB()


def _versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {}
    for name in ("damon-gym", "stable-baselines3", "torch", "gymnasium"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


__all__ = ["TrainRun", "train", "check_run", "resolve_config", "scenario_hashes", "TASKS"]
