"""Callbacks of ``damon-gym train``: the env's ``info`` into SB3's logger (TensorBoard), atomic
checkpoints, and an evaluation on fixed held-out episodes whose best model is saved
atomically."""

from __future__ import annotations

import json
import os
import pickle
from collections import Counter
from pathlib import Path

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback, EvalCallback

from damon_gym.files import atomic_path, atomic_write_text

GIB = float(2**30)


def save_model_atomic(model, path: str | Path) -> None:
    """``model.save`` to ``path`` through a temporary file and ``os.replace``: a reader (or a
    crash) never sees half a zip."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            model.save(f)


def save_vecnormalize_atomic(vec_normalize, path: str | Path) -> None:
    """What ``VecNormalize.save`` writes (the pickled wrapper without its env), atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            pickle.dump(vec_normalize, f)


class InfoLoggerCallback(BaseCallback):
    """Means of the env's ``info`` over the steps since the last dump, recorded with
    ``self.logger.record`` every ``every`` calls (and at each rollout's end): the reward terms
    (``rewards/<term>``), ``env/perf_norm``, ``env/churn``, ``env/migrated_mib`` and
    ``env/pingpong_mib`` per step, and per node ``node<i>/util``, ``node<i>/latency_ewma_ns``,
    ``node<i>/access_share``, ``node<i>/weight`` and ``node<i>/used_gib`` over the steps where
    node ``i`` exists (its EWMA latency is positive). Also counts the episodes per scenario
    hash (``hashes``), which the trainer writes beside the model."""

    NODE_KEYS = (("u", "util", 1.0), ("latency_ewma_ns", "latency_ewma_ns", 1.0),
                 ("shares", "access_share", 1.0), ("weights", "weight", 1.0),
                 ("node_used_bytes", "used_gib", GIB))

    def __init__(self, every: int = 1000) -> None:
        super().__init__()
        self.every = max(1, int(every))
        self.hashes: Counter[str] = Counter()
        self.scenario_of: dict[str, str] = {}
        self._reset_sums()

    def _reset_sums(self) -> None:
        self._n = 0
        self._sums: dict[str, float] = {}
        self._node_sums: dict[str, np.ndarray] = {}
        self._node_n: np.ndarray | None = None

    def _add(self, key: str, v: float) -> None:
        self._sums[key] = self._sums.get(key, 0.0) + float(v)

    def _on_step(self) -> bool:
        infos = self.locals.get("infos") or []
        dones = self.locals.get("dones")
        for i, info in enumerate(infos):
            if "rewards" not in info:
                continue
            self._n += 1
            for k, v in info["rewards"].items():
                self._add(f"rewards/{k}", v)
            for k in ("perf_norm", "churn"):
                self._add(f"env/{k}", info.get(k, 0.0))
            self._add("env/migrated_mib", info.get("migrated_bytes", 0) / 2**20)
            self._add("env/pingpong_mib", info.get("pingpong_bytes", 0) / 2**20)
            present = np.asarray(info.get("latency_ewma_ns", ()), float) > 0
            if self._node_n is None:
                self._node_n = np.zeros(present.shape[0])
            self._node_n[: present.shape[0]] += present
            for key, name, div in self.NODE_KEYS:
                if key not in info:
                    continue
                v = np.where(present, np.asarray(info[key], float) / div, 0.0)
                acc = self._node_sums.setdefault(name, np.zeros_like(v))
                acc[: v.shape[0]] += v
            if dones is not None and bool(dones[i]) and "scenario_hash" in info:
                self.hashes[info["scenario_hash"]] += 1
                self.scenario_of[info["scenario_hash"]] = info.get("scenario", "")
        if self.n_calls % self.every == 0:
            self.dump()
        return True

    def _on_rollout_end(self) -> None:
        self.dump()

    def dump(self) -> None:
        if not self._n:
            return
        for k, s in self._sums.items():
            self.logger.record(k, s / self._n)
        if self._node_n is not None:
            for name, acc in self._node_sums.items():
                for node in np.flatnonzero(self._node_n > 0):
                    self.logger.record(f"node{node}/{name}", acc[node] / self._node_n[node])
        self._reset_sums()


class AtomicCheckpointCallback(BaseCallback):
    """Every ``save_freq`` env steps (over all envs): ``DIR/checkpoint.zip``, its
    ``checkpoint_vecnormalize.pkl`` and ``checkpoint.json`` (the step count), each replaced
    atomically, so ``--resume`` always finds a whole checkpoint; ``keep`` also keeps
    ``checkpoints/model_<steps>.zip``."""

    def __init__(self, out: Path, save_freq: int, keep: bool = False) -> None:
        super().__init__()
        self.out, self.save_freq, self.keep = Path(out), max(1, int(save_freq)), keep
        self._last = 0

    def _on_step(self) -> bool:
        if self.num_timesteps - self._last >= self.save_freq:
            self.save()
        return True

    def save(self) -> None:
        self._last = self.num_timesteps
        write_checkpoint(self.model, self.out)
        if self.keep:
            save_model_atomic(self.model, self.out / "checkpoints" /
                              f"model_{self.num_timesteps}.zip")


def write_checkpoint(model, out: Path) -> None:
    """The resumable state: model (with its optimiser), VecNormalize statistics and the step
    count, in that order (checkpoint.json last: a checkpoint is complete once it names it)."""
    out.mkdir(parents=True, exist_ok=True)
    save_model_atomic(model, out / "checkpoint.zip")
    vn = model.get_vec_normalize_env()
    if vn is not None:
        save_vecnormalize_atomic(vn, out / "checkpoint_vecnormalize.pkl")
    atomic_write_text(out / "checkpoint.json",
                      json.dumps({"num_timesteps": int(model.num_timesteps)}) + "\n")


class HeldOutEvalCallback(EvalCallback):
    """An ``EvalCallback`` on held-out episodes that plays the same episodes at every
    evaluation (the eval env is re-seeded with ``eval_seed`` first, so a suite env draws the
    same (scenario, seed) entries), judges by the mean reward *per step* (episodes of different
    scenarios have different lengths), logs ``eval/mean_reward`` (per episode),
    ``eval/mean_reward_per_step`` and ``eval/mean_ep_length``, keeps ``history`` and saves the
    best model atomically as ``best_dir/best_model.zip`` with ``best_vecnormalize.pkl``."""

    def __init__(self, eval_env, *, eval_seed: int, best_dir: Path | None, eval_freq: int,
                 n_eval_episodes: int) -> None:
        super().__init__(eval_env, eval_freq=eval_freq, n_eval_episodes=n_eval_episodes,
                         deterministic=True, best_model_save_path=None, log_path=None,
                         warn=False)
        self.eval_seed, self.best_dir = int(eval_seed), best_dir
        self.history: list[dict[str, float]] = []
        self.best_per_step = -np.inf

    def _on_step(self) -> bool:
        if self.eval_freq > 0 and self.n_calls % self.eval_freq == 0:
            self.evaluate()
        return True

    def evaluate(self) -> dict[str, float]:
        from stable_baselines3.common.evaluation import evaluate_policy
        from stable_baselines3.common.vec_env import sync_envs_normalization

        if self.model.get_vec_normalize_env() is not None:
            sync_envs_normalization(self.training_env, self.eval_env)
        self.eval_env.seed(self.eval_seed)
        returns, lengths = evaluate_policy(self.model, self.eval_env,
                                           n_eval_episodes=self.n_eval_episodes,
                                           deterministic=True, return_episode_rewards=True,
                                           warn=False)
        row = {"timesteps": int(self.num_timesteps), "mean_reward": float(np.mean(returns)),
               "std_reward": float(np.std(returns)), "mean_ep_length": float(np.mean(lengths)),
               "mean_reward_per_step": float(np.sum(returns) / max(1, np.sum(lengths)))}
        self.history.append(row)
        self.last_mean_reward = row["mean_reward"]
        for k in ("mean_reward", "mean_reward_per_step", "mean_ep_length"):
            self.logger.record(f"eval/{k}", row[k])
        self.logger.dump(self.num_timesteps)
        if row["mean_reward_per_step"] > self.best_per_step:
            self.best_per_step = row["mean_reward_per_step"]
            self.best_mean_reward = row["mean_reward"]
            if self.best_dir is not None:
                save_model_atomic(self.model, self.best_dir / "best_model.zip")
                vn = self.model.get_vec_normalize_env()
                if vn is not None:
                    save_vecnormalize_atomic(vn, self.best_dir / "best_vecnormalize.pkl")
        return row


def remove_partial(out: Path) -> None:
    """Leftover temporary files of an interrupted save (``.tmp-*``)."""
    for p in Path(out).glob(".tmp-*"):
        try:
            os.unlink(p)
        except OSError:
            pass
